// The job on input that the collector already keys by trace id (`input.keyed_by_trace: true`,
// CONTRACT §1): each trace's spans arrive on one partition, in several messages, some twice, and
// the task that reads the input resolves them itself, with no repartition hop. Expected values
// are sums the test computes over the corpus it wrote.
#include <gtest/gtest.h>

#include <set>

#include "connectors/kafka_sink.h"
#include "expected_outputs.h"
#include "kafka_util.h"

namespace spanpipe {
namespace {

using nlohmann::json;

TEST(KafkaKeyedInput, TracesKeyedByTheCollectorAreResolvedWithoutTheRepartitionTopic) {
  std::string dir = testutil::TempDir("kafka_keyed_input");
  testutil::BrokerProcess broker(dir, 3, 4);
  ASSERT_FALSE(broker.brokers.empty()) << testutil::Slurp(dir + "/broker.log");

  // Each corpus message holds spans of one trace: keyed by its trace id, as the collector's
  // partition_traces_by_id does, so that a trace's messages share a partition.
  testutil::Corpus corpus = testutil::MakeCorpus(150, 777, testutil::RecentCorpusBaseMs(), 0.3);
  kafka::SinkOptions so;
  so.brokers = broker.brokers;
  std::unique_ptr<kafka::KafkaSink> producer;
  ASSERT_TRUE(kafka::KafkaSink::Create(so, &producer).ok());
  std::set<std::string> keys;
  for (const auto& m : corpus.messages) {
    const std::string trace =
        json::parse(m.payload)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"];
    keys.insert(trace);
    ASSERT_TRUE(producer->Produce("otlp_spans", trace, m.payload).ok());
  }
  ASSERT_EQ(keys.size(), corpus.traces.size());
  ASSERT_TRUE(producer->Flush(30000).ok());

  pid_t job = testutil::SpawnJob(dir, broker.brokers, "", "input: {keyed_by_trace: true}\n");
  size_t corpus_spans = 0;
  for (const auto& [id, t] : corpus.traces) corpus_spans += static_cast<size_t>(t.span_count);
  auto distinct_spans = [](const std::vector<testutil::OwnedMessage>& all) {
    std::set<std::string> spans;
    for (const auto& m : all) {
      if (m.topic == "spanpipe.spans") {
        spans.insert(m.key + "/" + json::parse(m.value)["span_id"].get<std::string>());
      }
    }
    return spans.size();
  };
  auto done = [&](const std::vector<testutil::OwnedMessage>& all) {
    return distinct_spans(all) >= corpus_spans &&
           testutil::DiffTraces(corpus.traces, testutil::NewestOf(all, "spanpipe.traces")).empty();
  };
  auto all = testutil::ReadTopics(broker.brokers, {"spanpipe.spans", "spanpipe.traces"}, done, 120);
  kill(job, SIGTERM);
  int status = testutil::Reap(job);
  const std::string log = testutil::Slurp(dir + "/job.log");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log.substr(0, 3000);

  size_t span_records = 0;
  for (const auto& m : all) span_records += m.topic == "spanpipe.spans";
  EXPECT_EQ(distinct_spans(all), corpus_spans) << log.substr(0, 3000);
  EXPECT_EQ(span_records, corpus_spans) << "a duplicate was published again";
  const auto traces = testutil::NewestOf(all, "spanpipe.traces");
  EXPECT_EQ(traces.size(), corpus.traces.size());
  for (const auto& d : testutil::DiffTraces(corpus.traces, traces)) ADD_FAILURE() << d;
  // No repartition hop: the job neither created nor read the internal topic.
  EXPECT_EQ(log.find("spanpipe-repartition"), std::string::npos) << log.substr(0, 3000);
  EXPECT_NE(log.find("assigned otlp_spans["), std::string::npos) << log.substr(0, 3000);
}

}  // namespace
}  // namespace spanpipe
