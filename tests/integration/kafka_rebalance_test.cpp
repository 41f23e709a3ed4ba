// Consumer-group sessions lost on a starved machine (the process or the broker frozen past
// session.timeout.ms), from both sides of the topics.
//
// The integration tests' reader of output topics (testutil::ReadTopics) must return each record
// once even when its own consumer group rebalances. It commits nothing, so before it tracked what
// it had read, a session lost on a starved machine made librdkafka re-assign every partition from
// the earliest offset and the tests saw every record twice ("a span was published twice" in
// KafkaPipeline, dlq 12 instead of 6). Here the broker process is frozen for longer than the
// reader's session timeout (6 s) in the middle of a read, which loses the session for certain.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <map>
#include <set>
#include <thread>

#include "connectors/kafka_sink.h"
#include "expected_outputs.h"
#include "kafka_util.h"

namespace spanpipe {
namespace {

using nlohmann::json;

TEST(KafkaTestReader, ReturnsEachRecordOnceAcrossItsOwnGroupsRebalance) {
  std::string dir = testutil::TempDir("kafka_reader");
  testutil::BrokerProcess broker(dir, 1, 4);
  ASSERT_FALSE(broker.brokers.empty()) << testutil::Slurp(dir + "/broker.log");

  kafka::SinkOptions so;
  so.brokers = broker.brokers;
  std::unique_ptr<kafka::KafkaSink> producer;
  ASSERT_TRUE(kafka::KafkaSink::Create(so, &producer).ok());
  constexpr int kRecords = 200;
  for (int i = 0; i < kRecords; ++i)
    ASSERT_TRUE(producer->Produce("spanpipe.spans", "k", std::to_string(i), {}, i % 4).ok());
  ASSERT_TRUE(producer->Flush(30000).ok());

  // Once everything has been read, freeze the broker past the session timeout, then keep reading
  // until the lost session has been noticed and the partitions re-assigned, and a little longer
  // (a reader that restarted from the earliest offset would have read everything again by then).
  using Clock = std::chrono::steady_clock;
  bool frozen = false;
  int reassigned = 0;
  Clock::time_point reassigned_at{};
  auto done = [&](const std::vector<testutil::OwnedMessage>& all) {
    if (!frozen && all.size() >= static_cast<size_t>(kRecords)) {
      kill(broker.pid, SIGSTOP);
      std::this_thread::sleep_for(std::chrono::seconds(8));
      kill(broker.pid, SIGCONT);
      frozen = true;
    }
    if (reassigned == 0) return false;
    if (reassigned_at == Clock::time_point{}) reassigned_at = Clock::now();
    return Clock::now() - reassigned_at > std::chrono::seconds(3);
  };
  auto all = testutil::ReadTopics(broker.brokers, {"spanpipe.spans"}, done, 120, &reassigned);

  ASSERT_TRUE(frozen) << "never read the " << kRecords << " records";
  EXPECT_GE(reassigned, 1) << "the frozen broker did not make the reader's group rebalance";
  std::set<std::string> values;
  for (const auto& m : all) values.insert(m.value);
  EXPECT_EQ(values.size(), static_cast<size_t>(kRecords));
  EXPECT_EQ(all.size(), static_cast<size_t>(kRecords))
      << "records returned twice after the rebalance";
}

// The job itself starved past its session (frozen with SIGSTOP for 9 s) while input keeps
// arriving: librdkafka revokes its partitions as lost and re-assigns them after it re-joins. The
// job checkpoints on the revocation and resumes from its RocksDB offsets, so every span is
// published exactly once (CONTRACT §4) and the traces equal the corpus' own sums.
TEST(KafkaPipeline, JobStarvedPastItsSessionPublishesEachSpanOnce) {
  std::string dir = testutil::TempDir("kafka_job_starved");
  testutil::BrokerProcess broker(dir, 1, 4);
  ASSERT_FALSE(broker.brokers.empty()) << testutil::Slurp(dir + "/broker.log");
  testutil::Corpus corpus =
      testutil::MakeCorpus(80, 77, testutil::RecentCorpusBaseMs(), 0.3, 3600000);
  size_t spans_total = 0;
  for (const auto& [id, t] : corpus.traces) spans_total += static_cast<size_t>(t.span_count);

  kafka::SinkOptions so;
  so.brokers = broker.brokers;
  std::unique_ptr<kafka::KafkaSink> producer;
  ASSERT_TRUE(kafka::KafkaSink::Create(so, &producer).ok());
  const size_t half = corpus.messages.size() / 2;
  for (size_t i = 0; i < half; ++i)
    ASSERT_TRUE(producer->Produce("otlp_spans", "", corpus.messages[i].payload).ok());
  ASSERT_TRUE(producer->Flush(30000).ok());

  pid_t job = testutil::SpawnJob(dir, broker.brokers);

  // Phase 1: the job has published something. Then it is frozen, the second half is produced,
  // and it is thawed. Phase 2: every span and every trace is out, the job has been re-assigned
  // its partitions, and a few seconds more have passed for any re-publication to show.
  auto assignments = [&] {
    std::string log = testutil::Slurp(dir + "/job.log");
    size_t n = 0;
    for (size_t at = 0; (at = log.find("assigned otlp_spans[0]", at)) != std::string::npos; ++at)
      ++n;
    return n;
  };
  bool frozen = false;
  std::chrono::steady_clock::time_point complete{};
  auto done = [&](const std::vector<testutil::OwnedMessage>& all) {
    std::set<std::string> spans;
    for (const auto& m : all)
      if (m.topic == "spanpipe.spans")
        spans.insert(m.key + "/" + json::parse(m.value)["span_id"].get<std::string>());
    if (!frozen && !spans.empty()) {
      kill(job, SIGSTOP);
      for (size_t i = half; i < corpus.messages.size(); ++i)
        EXPECT_TRUE(producer->Produce("otlp_spans", "", corpus.messages[i].payload).ok());
      EXPECT_TRUE(producer->Flush(30000).ok());
      std::this_thread::sleep_for(std::chrono::seconds(9));
      kill(job, SIGCONT);
      frozen = true;
    }
    bool out = frozen && spans.size() >= spans_total && assignments() >= 2 &&
               testutil::NewestOf(all, "spanpipe.traces").size() >= corpus.traces.size();
    if (!out) return false;
    if (complete == std::chrono::steady_clock::time_point{})
      complete = std::chrono::steady_clock::now();
    return std::chrono::steady_clock::now() - complete > std::chrono::seconds(3);
  };
  auto all = testutil::ReadTopics(broker.brokers, {"spanpipe.spans", "spanpipe.traces"}, done, 150);
  kill(job, SIGTERM);
  int status = testutil::Reap(job);
  std::string log = testutil::Slurp(dir + "/job.log");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log.substr(0, 3000);
  ASSERT_TRUE(frozen);
  EXPECT_GE(assignments(), 2u) << "the job never lost its session; job log:\n"
                               << log.substr(0, 3000);

  std::map<std::string, size_t> records;  // span -> records published
  for (const auto& m : all)
    if (m.topic == "spanpipe.spans")
      ++records[m.key + "/" + json::parse(m.value)["span_id"].get<std::string>()];
  EXPECT_EQ(records.size(), spans_total);
  for (const auto& [span, n] : records) EXPECT_EQ(n, 1u) << span << " published " << n << " times";
  auto traces = testutil::NewestOf(all, "spanpipe.traces");
  for (const auto& d : testutil::DiffTraces(corpus.traces, traces)) ADD_FAILURE() << d;
}

}  // namespace
}  // namespace spanpipe
