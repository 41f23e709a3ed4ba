// CONTRACT §3, row by row: first matching attribute wins; span attributes before resource
// attributes.
#include "operators/normalize.h"

#include <gtest/gtest.h>

#include <cmath>

#include "batch_builder.h"

namespace spanpipe {
namespace {

using testing::BatchBuilder;
using KV = std::vector<std::pair<std::string, otlp::AnyValue>>;

class NormalizeTest : public ::testing::Test {
 protected:
  // Normalises one span with the given span and resource attributes.
  SpanRecord One(const KV& span_attrs, const KV& resource_attrs = {},
                 std::string_view header = "") {
    // Keep the arena: the arguments' strings (made by S()) live there.
    batch_.kvs.clear();
    batch_.spans.clear();
    batch_.resources.clear();
    BatchBuilder bb(&batch_);
    uint32_t r = bb.Resource(resource_attrs);
    bb.Span(r, 0x11, 0x22, span_attrs);
    out_.clear();
    rejects_.clear();
    normalizer_.Normalize(&batch_, header, &out_, &rejects_);
    EXPECT_EQ(out_.size(), 1u);
    EXPECT_TRUE(rejects_.empty()) << (rejects_.empty() ? "" : rejects_[0].reason);
    return out_.empty() ? SpanRecord{} : out_[0];
  }
  otlp::AnyValue S(std::string s) { return BatchBuilder::Str(&batch_, std::move(s)); }

  otlp::Batch batch_;
  Normalizer normalizer_{NormalizeOptions{}};
  std::vector<SpanRecord> out_;
  std::vector<SpanReject> rejects_;
};

TEST_F(NormalizeTest, ModelPrefersResponseOverRequestAndOtherDialects) {
  EXPECT_EQ(One({{"gen_ai.request.model", S("req")}, {"gen_ai.response.model", S("resp")}}).model,
            "resp");
  EXPECT_EQ(
      One({{"llm.request.model_name", S("c")}, {"langfuse.observation.model.name", S("lf")}}).model,
      "lf");
  EXPECT_EQ(One({{"llm.response.model_name", S("b")}, {"llm.model_name", S("a")}}).model, "a");
  EXPECT_EQ(One({{"llm.request.model_name", S("only")}}).model, "only");
  EXPECT_EQ(One({}).model, "");
}

TEST_F(NormalizeTest, EmptyValueDoesNotShadowALaterCandidate) {
  EXPECT_EQ(One({{"gen_ai.response.model", S("")}, {"gen_ai.request.model", S("gpt-4o")}}).model,
            "gpt-4o");
}

TEST_F(NormalizeTest, ProviderIsLowerCasedInContractOrder) {
  EXPECT_EQ(
      One({{"gen_ai.system", S("OpenAI")}, {"gen_ai.provider.name", S("Azure.OpenAI")}}).provider,
      "azure.openai");
  EXPECT_EQ(One({{"llm.system", S("x")}, {"llm.provider", S("Anthropic")}}).provider, "anthropic");
}

TEST_F(NormalizeTest, OperationFallsBackToSpanName) {
  EXPECT_EQ(
      One({{"openinference.span.kind", S("LLM")}, {"gen_ai.operation.name", S("chat")}}).operation,
      "chat");
  EXPECT_EQ(One({{"openinference.span.kind", S("LLM")}}).operation, "LLM");
  EXPECT_EQ(One({}).operation, "span");
}

TEST_F(NormalizeTest, TokensFromEachDialectAndStringNumbers) {
  auto a = One({{"gen_ai.usage.prompt_tokens", BatchBuilder::Int(7)},
                {"gen_ai.usage.input_tokens", BatchBuilder::Int(10)},
                {"llm.token_count.completion", S("42")}});
  EXPECT_EQ(a.input_tokens, 10);
  EXPECT_EQ(a.output_tokens, 42);
  auto b = One({{"llm.usage.prompt_tokens", BatchBuilder::Dbl(3.0)},
                {"gen_ai.usage.completion_tokens", BatchBuilder::Int(5)}});
  EXPECT_EQ(b.input_tokens, 3);
  EXPECT_EQ(b.output_tokens, 5);
}

TEST_F(NormalizeTest, CostAttributeWinsOverPriceTable) {
  auto s = One({{"gen_ai.request.model", S("gpt-4o")},
                {"gen_ai.usage.input_tokens", BatchBuilder::Int(1000)},
                {"llm.cost.total", BatchBuilder::Dbl(0.5)},
                {"gen_ai.usage.cost", BatchBuilder::Dbl(0.25)}});
  EXPECT_DOUBLE_EQ(s.cost_usd, 0.25);
}

TEST_F(NormalizeTest, CostComputedFromShippedPrices) {
  // gpt-4o: 2.50 input, 10.00 output per million tokens (operators/default_prices.cpp).
  auto s = One({{"gen_ai.request.model", S("gpt-4o-2024-08-06")},
                {"gen_ai.usage.input_tokens", BatchBuilder::Int(1000)},
                {"gen_ai.usage.output_tokens", BatchBuilder::Int(200)}});
  EXPECT_NEAR(s.cost_usd, (1000 * 2.5 + 200 * 10.0) / 1e6, 1e-12);
}

TEST_F(NormalizeTest, ThreadUserEnvironmentInContractOrder) {
  auto s = One({{"thread.id", S("t6")},
                {"session.id", S("t2")},
                {"enduser.id", S("u2")},
                {"langfuse.environment", S("e3")}},
               {{"deployment.environment", S("e2")}, {"user.id", S("u-res")}});
  EXPECT_EQ(s.thread_id, "t2");
  EXPECT_EQ(s.user_id, "u2");      // span attribute beats the resource's higher-priority key
  EXPECT_EQ(s.environment, "e3");  // likewise
  auto t = One({{"traceloop.association.properties.session_id", S("tl")}, {"thread_id", S("x")}});
  EXPECT_EQ(t.thread_id, "tl");
}

TEST_F(NormalizeTest, ResourceAttributesFillWhatTheSpanLacks) {
  auto s = One({}, {{"service.name", S("checkout")},
                    {"deployment.environment.name", S("prod")},
                    {"user.id", S("u1")},
                    {"gen_ai.system", S("openai")}});
  EXPECT_EQ(s.service, "checkout");
  EXPECT_EQ(s.environment, "prod");
  EXPECT_EQ(s.user_id, "u1");
  EXPECT_EQ(s.provider, "openai");
}

TEST_F(NormalizeTest, ProjectFromHeaderThenResourceThenConfig) {
  EXPECT_EQ(One({}, {{"spanpipe.project", S("res")}}, "hdr").project, "hdr");
  EXPECT_EQ(One({}, {{"spanpipe.project", S("res")}}).project, "res");
  EXPECT_EQ(One({}).project, "default");
}

TEST_F(NormalizeTest, ErrorFromStatusOrErrorType) {
  EXPECT_TRUE(One({{"error.type", S("timeout")}}).error);
  batch_.Clear();
  out_.clear();
  BatchBuilder bb(&batch_);
  bb.Span(bb.Resource({}), 1, 2, {}).status_code = 2;
  out_.clear();
  normalizer_.Normalize(&batch_, "", &out_, &rejects_);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_TRUE(out_[0].error);
  EXPECT_FALSE(One({}).error);
}

TEST_F(NormalizeTest, InvalidSpansAreRejectedAloneWithAReasonNamingThem) {
  BatchBuilder bb(&batch_);
  uint32_t r = bb.Resource({});
  bb.Span(r, 1, 1, {{"gen_ai.usage.input_tokens", BatchBuilder::Int(-3)}});
  bb.Span(r, 1, 2, {{"gen_ai.usage.cost", BatchBuilder::Dbl(std::nan(""))}});
  bb.Span(r, 1, 3, {{"gen_ai.usage.output_tokens", S("lots")}});
  bb.Span(r, 1, 4, {}).invalid = "end before start";
  bb.Span(r, 1, 5, {{"gen_ai.usage.input_tokens", BatchBuilder::Int(3)}});
  normalizer_.Normalize(&batch_, "", &out_, &rejects_);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].input_tokens, 3);
  ASSERT_EQ(rejects_.size(), 4u);
  EXPECT_NE(rejects_[0].reason.find("0101010101010101"), std::string::npos);  // names the span id
  EXPECT_NE(rejects_[0].reason.find("non-negative"), std::string::npos);
  EXPECT_NE(rejects_[1].reason.find("cost"), std::string::npos);
  EXPECT_NE(rejects_[2].reason.find("not a number"), std::string::npos);
  EXPECT_NE(rejects_[3].reason.find("end before start"), std::string::npos);
}

TEST(PriceTable, ExactThenLongestPrefixThenZero) {
  PriceTable t;
  ASSERT_TRUE(PriceTable::Parse(R"({"gpt-4": {"input_per_mtok": 30, "output_per_mtok": 60},
                                     "gpt-4o": {"input_per_mtok": 2.5, "output_per_mtok": 10},
                                     "gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}})",
                                &t)
                  .ok());
  EXPECT_DOUBLE_EQ(t.Find("gpt-4o")->input_per_mtok, 2.5);
  EXPECT_DOUBLE_EQ(t.Find("gpt-4o-mini-2024-07-18")->input_per_mtok, 0.15);
  EXPECT_DOUBLE_EQ(t.Find("gpt-4o-2024")->input_per_mtok, 2.5);
  EXPECT_DOUBLE_EQ(t.Find("gpt-4-turbo")->input_per_mtok, 30);
  EXPECT_EQ(t.Find("claude"), nullptr);
  EXPECT_DOUBLE_EQ(t.Cost("claude", 100, 100), 0);
  EXPECT_DOUBLE_EQ(t.Cost("gpt-4", 1000000, 500000), 30 + 30);
}

TEST(PriceTable, RejectsMalformedEntriesNamingThem) {
  PriceTable t;
  Status s = PriceTable::Parse(R"({"m": {"input_per_mtok": -1}})", &t);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("m.input_per_mtok"), std::string::npos);
  EXPECT_FALSE(PriceTable::Parse("[1,2]", &t).ok());
  EXPECT_FALSE(PriceTable::Parse("{", &t).ok());
}

TEST(PriceTable, ShippedTableParses) {
  EXPECT_GT(PriceTable::Default().size(), 20u);
}

}  // namespace
}  // namespace spanpipe
