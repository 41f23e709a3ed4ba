// Bad input never stops the pipeline and is never silently dropped (CONTRACT §2): every bad message
// becomes one DLQ record with a reason and its source; a message with some invalid spans keeps its
// valid spans and dead-letters one record per bad span.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "process_util.h"

namespace spanpipe {
namespace {

using nlohmann::json;

std::string Span(const std::string& trace, const std::string& span, const std::string& extra = "",
                 const std::string& start = "\"1700000000000000000\"", const std::string& end = "\"1700000001000000000\"") {
  return "{\"traceId\":\"" + trace + "\",\"spanId\":\"" + span + "\",\"name\":\"s\",\"startTimeUnixNano\":" + start +
         ",\"endTimeUnixNano\":" + end + (extra.empty() ? "" : "," + extra) + "}";
}
std::string Msg(const std::string& spans) {
  return "{\"resourceSpans\":[{\"resource\":{},\"scopeSpans\":[{\"spans\":[" + spans + "]}]}]}";
}
const std::string kT = "0102030405060708090a0b0c0d0e0f10";
std::string Attr(const std::string& key, const std::string& value) {
  return "\"attributes\":[{\"key\":\"" + key + "\",\"value\":" + value + "}]";
}

TEST(ReplayBadInput, EveryBadMessageOrSpanIsDeadLetteredAndGoodSpansFlow) {
  // Whole messages that cannot be decoded: one DLQ record each.
  std::vector<std::string> bad_messages = {
      "{\"resourceSpans\": [",                          // truncated JSON
      "{\"resourceSpans\": \"nope\"}",                  // wrong type at the top
      "{\"resourceSpans\": [{\"scopeSpans\": 5}]}",     // wrong type one level down
      "{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": {}}]}]}",  // spans an object
      Msg("{\"traceId\": 12, \"spanId\": \"0102030405060708\"}"),   // id of the wrong type
      Msg(Span(kT, "0102030405060708", "\"attributes\": 7")),       // attributes a number
      Msg(Span(kT, "0102030405060708", "\"attributes\":[{\"key\":\"a\",\"value\":{\"intValue\":\"x1\"}}]")),
      "[1, 2, 3]",                                      // neither object nor protobuf
      "not json at all",
      std::string("{\"resourceSpans\":[") + std::string(20000, '[') ,  // deep nesting, truncated
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[" + Span(kT, "0102030405060708") + "]}]}]",  // missing brace
      std::string("{\"a\":\"\xff\xfe\"") ,               // invalid UTF-8 and truncated
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[" + Span(kT, "0102030405060708", "\"kind\":\"SPAN_KIND_WHAT\"") + "]}]}]}",
  };
  // Messages that decode but carry one invalid span next to a valid one: one DLQ record per bad span.
  std::vector<std::string> bad_spans = {
      Span("0102", "0102030405060708"),                                    // trace id too short
      Span(kT + "00", "0102030405060708"),                                 // trace id too long
      Span("zz02030405060708090a0b0c0d0e0f10", "0102030405060708"),        // non-hex
      Span("00000000000000000000000000000000", "0102030405060708"),        // all-zero trace id
      Span(kT, "0000000000000000"),                                        // all-zero span id
      Span(kT, "01020304"),                                                // span id too short
      Span(kT, "0102030405060708", "", "\"1700000001000000000\"", "\"1700000000000000000\""),  // end before start
      Span(kT, "0102030405060709", Attr("gen_ai.usage.input_tokens", "{\"intValue\":\"-5\"}")),
      Span(kT, "010203040506070a", Attr("gen_ai.usage.output_tokens", "{\"doubleValue\":-1.5}")),
      Span(kT, "010203040506070b", Attr("gen_ai.usage.cost", "{\"doubleValue\":\"NaN\"}")),
      Span(kT, "010203040506070c", Attr("gen_ai.usage.cost", "{\"doubleValue\":\"Infinity\"}")),
      Span(kT, "010203040506070d", Attr("gen_ai.usage.input_tokens", "{\"stringValue\":\"many\"}")),
      Span(kT, "010203040506070e", "\"parentSpanId\":\"0102\""),           // parent id of the wrong length
  };
  std::string dir = testutil::TempDir("replay_bad");
  std::ofstream in(dir + "/input.jsonl");
  int good = 0;
  for (const auto& m : bad_messages) in << m << "\n";
  for (size_t i = 0; i < bad_spans.size(); ++i) {
    char id[17];
    std::snprintf(id, sizeof id, "%016zx", 0x1000 + i);
    in << Msg(bad_spans[i] + "," + Span("aa" + kT.substr(2), id)) << "\n";
    ++good;
  }
  // A huge string value is not an error: it is content.
  in << Msg(Span("bb" + kT.substr(2), "0fffffffffffffff", Attr("input.value", "{\"stringValue\":\"" + std::string(3 << 20, 'x') + "\"}"))) << "\n";
  ++good;
  in.close();
  // An empty file and a corrupt .gz are bad inputs too.
  std::ofstream(dir + "/empty.json") << "";
  std::ofstream(dir + "/corrupt.json.gz") << "this is not gzip";

  std::string out = dir + "/out";
  testutil::RunResult r = testutil::Run({SPANPIPE_BINARY, "replay", "--input", dir, "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  auto dlq = testutil::ReadJsonLines(out + "/spanpipe.dlq.jsonl");
  size_t expected = bad_messages.size() + bad_spans.size() + 2;
  EXPECT_EQ(dlq.size(), expected);
  std::set<std::string> sources;
  for (const auto& d : dlq) {
    EXPECT_FALSE(d["error"].get<std::string>().empty()) << d.dump().substr(0, 300);
    EXPECT_EQ(d["error"].get<std::string>().find('\n'), std::string::npos);
    EXPECT_FALSE(d["source"].get<std::string>().empty());
    EXPECT_TRUE(d.contains("payload"));
    sources.insert(d["source"]);
  }
  // Per-span records name the span.
  size_t naming = 0;
  for (const auto& d : dlq)
    if (d["error"].get<std::string>().find("span ") != std::string::npos) ++naming;
  EXPECT_GE(naming, bad_spans.size() - 3);  // ids too short/non-hex cannot be printed as ids

  auto spans = testutil::ReadJsonLines(out + "/spanpipe.spans.jsonl");
  EXPECT_EQ(spans.size(), static_cast<size_t>(good));
}

}  // namespace
}  // namespace spanpipe
