// The streaming job end to end through a real Kafka-protocol broker (`spanpipe broker`, 4
// partitions), as users run it: a separate producer writes the shared fixtures, a shuffled and
// duplicated multi-project corpus with unkeyed messages (so a trace's spans land on several
// partitions), a trace split explicitly over all four partitions, and bad input; `spanpipe run`
// processes it; a separate consumer reads the output topics back. Expected values come from the
// fixture files (read by hand) and from sums the test computes over the corpus it wrote.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <regex>

#include "connectors/kafka_sink.h"
#include "expected_outputs.h"
#include "kafka_util.h"

namespace spanpipe {
namespace {

using nlohmann::json;


std::string SplitSpan(const std::string& trace, const std::string& span, const std::string& attrs, int64_t start_ms) {
  return "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":"
         "\"split\"}},{\"key\":\"spanpipe.project\",\"value\":{\"stringValue\":\"delta\"}}]},\"scopeSpans\":[{"
         "\"spans\":[{\"traceId\":\"" +
         trace + "\",\"spanId\":\"" + span + "\",\"name\":\"step\",\"startTimeUnixNano\":\"" +
         std::to_string(start_ms * 1000000) + "\",\"endTimeUnixNano\":\"" + std::to_string((start_ms + 10) * 1000000) +
         "\",\"attributes\":[" + attrs + "]}]}]}]}";
}

std::string IntAttr(const std::string& k, int v) {
  return "{\"key\":\"" + k + "\",\"value\":{\"intValue\":\"" + std::to_string(v) + "\"}}";
}
std::string StrAttr(const std::string& k, const std::string& v) {
  return "{\"key\":\"" + k + "\",\"value\":{\"stringValue\":\"" + v + "\"}}";
}

TEST(KafkaPipeline, FixturesCorpusSplitTraceAndBadInputThroughTheBroker) {
  std::string dir = testutil::TempDir("kafka_pipeline");
  testutil::BrokerProcess broker(dir, 3, 4);
  ASSERT_FALSE(broker.brokers.empty()) << testutil::Slurp(dir + "/broker.log");

  testutil::Corpus corpus = testutil::MakeCorpus(120, 4242, testutil::RecentCorpusBaseMs(), 0.3, 3 * 3600000);
  kafka::SinkOptions so;
  so.brokers = broker.brokers;
  std::unique_ptr<kafka::KafkaSink> producer;
  ASSERT_TRUE(kafka::KafkaSink::Create(so, &producer).ok());
  for (const auto& m : corpus.messages) ASSERT_TRUE(producer->Produce("otlp_spans", "", m.payload).ok());

  // The fixtures; the spec example carries an x-project-id header, which wins over everything.
  std::string fixtures = std::string(SPANPIPE_SHARED_DIR) + "/fixtures/otlp/";
  for (const char* f : {"genai-interlingua_litellm_in.json", "genai-interlingua_openinference_in.json",
                        "genai-interlingua_openllmetry_in.json"})
    ASSERT_TRUE(producer->Produce("otlp_spans", "", testutil::Slurp(fixtures + f)).ok());
  ASSERT_TRUE(producer
                  ->Produce("otlp_spans", "5b8efff798038103d269b633813fc60c",
                            testutil::Slurp(fixtures + "opentelemetry-proto_examples_trace.json"),
                            {{"x-project-id", "gamma"}})
                  .ok());

  // One trace, one span per partition; the thread id arrives on the last partition only.
  const std::string split = "00000000000000000000000000abcdef";
  int64_t t0 = testutil::RecentCorpusBaseMs() + 3600000;
  const std::string model = StrAttr("gen_ai.request.model", "gpt-4o");
  ASSERT_TRUE(producer->Produce("otlp_spans", "", SplitSpan(split, "1000000000000001", model + "," + IntAttr("gen_ai.usage.input_tokens", 100), t0), {}, 0).ok());
  ASSERT_TRUE(producer->Produce("otlp_spans", "", SplitSpan(split, "1000000000000002", model + "," + IntAttr("gen_ai.usage.input_tokens", 20), t0 + 1), {}, 1).ok());
  ASSERT_TRUE(producer->Produce("otlp_spans", "", SplitSpan(split, "1000000000000003", IntAttr("gen_ai.usage.output_tokens", 3), t0 + 2), {}, 2).ok());
  ASSERT_TRUE(producer->Produce("otlp_spans", "", SplitSpan(split, "1000000000000004", StrAttr("session.id", "conv-9"), t0 + 3), {}, 3).ok());

  // Bad input: four undecodable messages, and one message with two bad spans beside a good one.
  const std::vector<std::string> bad_messages = {"{\"resourceSpans\": [", "not json at all", "",
                                                 "{\"resourceSpans\": \"nope\"}"};
  for (size_t i = 0; i < bad_messages.size(); ++i) {
    std::vector<std::pair<std::string, std::string>> h;
    if (i == 1) h = {{"x-project-id", "gamma"}};
    ASSERT_TRUE(producer->Produce("otlp_spans", "", bad_messages[i], h).ok());
  }
  ASSERT_TRUE(producer
                  ->Produce("otlp_spans", "",
                            "{\"resourceSpans\":[{\"resource\":{\"attributes\":[" + StrAttr("spanpipe.project", "delta") +
                                "]},\"scopeSpans\":[{\"spans\":["
                                "{\"traceId\":\"0102\",\"spanId\":\"0102030405060708\",\"name\":\"short-id\"},"
                                "{\"traceId\":\"000000000000000000000000000000aa\",\"spanId\":\"0102030405060708\","
                                "\"name\":\"backwards\",\"startTimeUnixNano\":\"2000\",\"endTimeUnixNano\":\"1000\"},"
                                "{\"traceId\":\"000000000000000000000000000000bb\",\"spanId\":\"0102030405060708\","
                                "\"name\":\"good\",\"startTimeUnixNano\":\"" +
                                std::to_string(t0 * 1000000) + "\",\"endTimeUnixNano\":\"" +
                                std::to_string((t0 + 1) * 1000000) + "\"}]}]}]}")
                  .ok());
  ASSERT_TRUE(producer->Flush(30000).ok());
  const size_t kDlq = bad_messages.size() + 2;

  pid_t job = testutil::SpawnJob(dir, broker.brokers);

  size_t corpus_spans = 0;
  for (const auto& [id, t] : corpus.traces) corpus_spans += static_cast<size_t>(t.span_count);
  const size_t kSpans = corpus_spans + 6 + 4 + 1;  // corpus, fixtures, split trace, the good span
  auto want_rollups = testutil::ExpectRollups(corpus);
  auto want_threads = testutil::ExpectThreads(corpus);
  auto filtered = [](std::map<std::string, json> m) {
    std::erase_if(m, [](const auto& kv) { return kv.first.rfind("alpha|", 0) != 0 && kv.first.rfind("beta|", 0) != 0; });
    return m;
  };
  auto done = [&](const std::vector<testutil::OwnedMessage>& all) {
    std::set<std::string> spans;
    size_t dlq = 0;
    for (const auto& m : all) {
      if (m.topic == "spanpipe.spans") spans.insert(m.key + "/" + json::parse(m.value)["span_id"].get<std::string>());
      if (m.topic == "spanpipe.dlq") ++dlq;
    }
    return spans.size() >= kSpans && dlq >= kDlq && testutil::NewestOf(all, "spanpipe.traces").size() >= corpus.traces.size() + 4 &&
           testutil::DiffRollups(want_rollups, filtered(testutil::NewestOf(all, "spanpipe.rollups")), 1).empty() &&
           testutil::DiffThreads(want_threads, filtered(testutil::NewestOf(all, "spanpipe.threads")), 1).empty() &&
           testutil::DiffTraces(corpus.traces, [&] {
             auto t = testutil::NewestOf(all, "spanpipe.traces");
             std::erase_if(t, [&](const auto& kv) { return !corpus.traces.count(kv.first); });
             return t;
           }()).empty();
  };
  auto all = testutil::ReadTopics(broker.brokers,
                                  {"spanpipe.spans", "spanpipe.dlq", "spanpipe.traces", "spanpipe.rollups", "spanpipe.threads"},
                                  done, 120);
  kill(job, SIGTERM);
  int status = testutil::Reap(job);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testutil::Slurp(dir + "/job.log").substr(0, 3000);

  // spanpipe.spans: each distinct span exactly once (duplicates delivered twice count once).
  std::map<std::string, json> spans;
  size_t span_records = 0;
  for (const auto& m : all) {
    if (m.topic != "spanpipe.spans") continue;
    json j = json::parse(m.value);
    EXPECT_EQ(m.key, j["trace_id"]);
    spans[j["trace_id"].get<std::string>() + "/" + j["span_id"].get<std::string>()] = j;
    ++span_records;
  }
  std::map<std::string, std::vector<std::string>> where;  // span -> partition/offset of each record
  for (const auto& m : all)
    if (m.topic == "spanpipe.spans")
      where[m.key + "/" + json::parse(m.value)["span_id"].get<std::string>()].push_back(
          std::to_string(m.partition) + "/" + std::to_string(m.offset));
  std::string twice;
  for (const auto& [k, w] : where)
    if (w.size() > 1) {
      twice += k + " at";
      for (const auto& x : w) twice += " " + x;
      twice += "\n";
    }
  EXPECT_EQ(spans.size(), kSpans) << testutil::Slurp(dir + "/job.log").substr(0, 3000);
  EXPECT_EQ(span_records, kSpans) << "a span was published twice:\n"
                                  << twice.substr(0, 3000) << "job log:\n"
                                  << testutil::Slurp(dir + "/job.log").substr(0, 6000);

  // Fixtures, values read off the files (see replay_fixtures_test.cpp).
  const json& litellm = spans.at("b1d8ae1b3fb8f0217735e4f3496c3bdf/a5f632a15409374f");
  EXPECT_EQ(litellm["model"], "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(litellm["provider"], "openai");
  EXPECT_EQ(litellm["input_tokens"], 412);
  EXPECT_EQ(litellm["output_tokens"], 27);
  EXPECT_DOUBLE_EQ(litellm["cost_usd"].get<double>(), 5.88e-05);
  EXPECT_EQ(spans.at("5b8efff798038103d269b633813fc60c/eee19b7ec3c1b174")["project"], "gamma");

  // The split trace: one record with all four spans, late-bound thread, tokens summed.
  auto traces = testutil::NewestOf(all, "spanpipe.traces");
  ASSERT_TRUE(traces.count(split));
  const json& st = traces.at(split);
  EXPECT_EQ(st["span_count"], 4);
  EXPECT_EQ(st["llm_calls"], 2);
  EXPECT_EQ(st["input_tokens"], 120);
  EXPECT_EQ(st["output_tokens"], 3);
  EXPECT_EQ(st["thread_id"], "conv-9");
  EXPECT_EQ(st["project"], "delta");
  // spanpipe.spans is published as spans arrive: a record carries the thread known at that moment
  // (docs/trace-resolution.md, "Late binding"); the binding itself reaches traces, threads, rollups.
  EXPECT_EQ(spans.at(split + "/1000000000000004")["thread_id"], "conv-9");

  // The corpus: traces, rollups (all granularities) and threads equal the test's own sums.
  traces.erase(split);
  std::erase_if(traces, [&](const auto& kv) { return !corpus.traces.count(kv.first); });
  for (const auto& d : testutil::DiffTraces(corpus.traces, traces)) ADD_FAILURE() << d;
  for (const auto& d : testutil::DiffRollups(want_rollups, filtered(testutil::NewestOf(all, "spanpipe.rollups")))) ADD_FAILURE() << d;
  for (const auto& d : testutil::DiffThreads(want_threads, filtered(testutil::NewestOf(all, "spanpipe.threads")))) ADD_FAILURE() << d;

  // spanpipe.dlq: one record per bad message and per bad span, each with a reason and its source.
  std::vector<testutil::OwnedMessage> dlq;
  for (const auto& m : all)
    if (m.topic == "spanpipe.dlq") dlq.push_back(m);
  ASSERT_EQ(dlq.size(), kDlq);
  std::regex source(R"(otlp_spans/[0-3]/[0-9]+)");
  std::multiset<std::string> payloads;
  size_t span_level = 0;
  for (const auto& m : dlq) {
    ASSERT_TRUE(m.headers.count("spanpipe.error")) << m.value;
    EXPECT_FALSE(m.headers.at("spanpipe.error").empty());
    EXPECT_EQ(m.headers.at("spanpipe.error").find('\n'), std::string::npos);
    ASSERT_TRUE(m.headers.count("spanpipe.source"));
    EXPECT_TRUE(std::regex_match(m.headers.at("spanpipe.source"), source)) << m.headers.at("spanpipe.source");
    payloads.insert(m.value);
    if (m.headers.at("spanpipe.error").find("short-id") != std::string::npos ||
        m.headers.at("spanpipe.error").find("backwards") != std::string::npos ||
        m.value.find("short-id") != std::string::npos || m.value.find("backwards") != std::string::npos)
      ++span_level;
  }
  for (const auto& b : bad_messages) EXPECT_EQ(payloads.count(b), 1u) << "whole bad message kept: " << b;
  size_t with_project = 0;
  for (const auto& m : dlq) with_project += m.headers.count("x-project-id") && m.headers.at("x-project-id") == "gamma";
  EXPECT_EQ(with_project, 1u) << "the input's headers travel with its dead letter";
  EXPECT_EQ(span_level, 2u) << "one DLQ record per bad span, naming it";
}

}  // namespace
}  // namespace spanpipe
