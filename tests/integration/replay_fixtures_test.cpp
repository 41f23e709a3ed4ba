// `spanpipe replay` over the shared OTLP/JSON fixtures (issue "Done when"): one spanpipe.spans
// record per span (6), with model, provider, tokens and cost read off the fixture files by hand.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "process_util.h"

namespace spanpipe {
namespace {

using nlohmann::json;

TEST(ReplayFixtures, OneSpanRecordPerSpanWithNormalisedFields) {
  std::string out = testutil::TempDir("replay_fixtures");
  testutil::RunResult r = testutil::Run({SPANPIPE_BINARY, "replay", "--input",
                                         std::string(SPANPIPE_SHARED_DIR) + "/fixtures/otlp", "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  std::map<std::string, json> by_span;
  for (const json& rec : testutil::ReadJsonLines(out + "/spanpipe.spans.jsonl")) by_span[rec["span_id"]] = rec;
  ASSERT_EQ(by_span.size(), 6u);

  // LiteLLM: response model wins; cost from gen_ai.cost.total_cost.
  const json& litellm = by_span.at("a5f632a15409374f");
  EXPECT_EQ(litellm["trace_id"], "b1d8ae1b3fb8f0217735e4f3496c3bdf");
  EXPECT_EQ(litellm["model"], "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(litellm["provider"], "openai");
  EXPECT_EQ(litellm["input_tokens"], 412);
  EXPECT_EQ(litellm["output_tokens"], 27);
  EXPECT_DOUBLE_EQ(litellm["cost_usd"].get<double>(), 5.88e-05);
  EXPECT_EQ(litellm["environment"], "production");
  EXPECT_EQ(litellm["service"], "capture");
  EXPECT_EQ(litellm["operation"], "chat");
  EXPECT_EQ(litellm["kind"], 1);  // SPAN_KIND_INTERNAL given by name

  // OpenInference: llm.* dialect; no cost attribute, so the shipped price of the gpt-4o-mini prefix
  // (0.15 / 0.60 USD per million tokens): (412 * 0.15 + 27 * 0.60) / 1e6.
  const json& oi = by_span.at("e9856d6fe698c4f2");
  EXPECT_EQ(oi["model"], "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(oi["provider"], "openai");
  EXPECT_EQ(oi["operation"], "LLM");
  EXPECT_EQ(oi["input_tokens"], 412);
  EXPECT_NEAR(oi["cost_usd"].get<double>(), 7.8e-05, 1e-12);

  // OpenLLMetry: gen_ai.provider.name; status absent.
  const json& ol = by_span.at("76a26812b532f640");
  EXPECT_EQ(ol["model"], "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(ol["provider"], "openai");
  EXPECT_EQ(ol["output_tokens"], 27);
  EXPECT_NEAR(ol["cost_usd"].get<double>(), 7.8e-05, 1e-12);
  EXPECT_EQ(ol["kind"], 3);  // SPAN_KIND_CLIENT

  // Spans without a model are not LLM calls and cost nothing.
  for (const char* id : {"6987f0201482f19b", "aaa24d5a6cca68bf"}) {
    EXPECT_EQ(by_span.at(id)["model"], "") << id;
    EXPECT_EQ(by_span.at(id)["cost_usd"], 0) << id;
  }
  // The spec example: uppercase hex ids come out lowercase.
  const json& spec = by_span.at("eee19b7ec3c1b174");
  EXPECT_EQ(spec["trace_id"], "5b8efff798038103d269b633813fc60c");
  EXPECT_EQ(spec["service"], "my.service");
  EXPECT_EQ(spec["project"], "default");
  for (const auto& [id, rec] : by_span) {
    EXPECT_EQ(rec["trace_uuid"].get<std::string>().size(), 36u) << id;
    EXPECT_TRUE(rec["attributes"].is_object()) << id;
  }
  // No bad input in the fixtures: nothing dead-lettered.
  EXPECT_TRUE(testutil::ReadJsonLines(out + "/spanpipe.dlq.jsonl").empty());
}

TEST(ReplayFixtures, MissingInputIsAUsageError) {
  testutil::RunResult r = testutil::Run({SPANPIPE_BINARY, "replay", "--input", "/nonexistent/x.json", "--out",
                                         testutil::TempDir("replay_missing")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent/x.json"), std::string::npos) << r.err;
}

TEST(ReplayFixtures, UnknownConfigKeyExitsTwoNamingIt) {
  std::string dir = testutil::TempDir("replay_badcfg");
  std::ofstream(dir + "/c.yaml") << "rollups:\n  allowed_latenes_ms: 5\n";
  testutil::RunResult r =
      testutil::Run({SPANPIPE_BINARY, "replay", "--config", dir + "/c.yaml", "--input",
                     std::string(SPANPIPE_SHARED_DIR) + "/fixtures/otlp", "--out", dir + "/out"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("rollups.allowed_latenes_ms"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace spanpipe
