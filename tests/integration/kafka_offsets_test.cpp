// The offsets the job commits to Kafka never run ahead of crash-safe state: they are where a
// partition whose state holds no offsets starts (docs/kafka.md), so committing the offsets of a
// checkpoint that a crash could still take back would skip its spans. With checkpoints made
// crash-safe only at shutdown (checkpoint.persist_interval_ms of an hour), a running job commits
// nothing to Kafka however many checkpoints it makes; SIGTERM persists the last checkpoint and
// commits every consumed offset.
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <thread>

#include "connectors/kafka_sink.h"
#include "expected_outputs.h"
#include "kafka_util.h"

namespace spanpipe {
namespace {

// The "spanpipe" group's committed offsets of otlp_spans' partitions
// (RdKafka::Topic::OFFSET_INVALID where none), read without joining the group.
std::vector<int64_t> CommittedOffsets(const std::string& brokers, int partitions) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", brokers, err);
  conf->set("group.id", "spanpipe", err);
  conf->set("enable.auto.commit", "false", err);
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  std::vector<int64_t> out;
  if (!c) return out;
  std::vector<RdKafka::TopicPartition*> tps;
  for (int p = 0; p < partitions; ++p)
    tps.push_back(RdKafka::TopicPartition::create("otlp_spans", p));
  if (c->committed(tps, 15000) == RdKafka::ERR_NO_ERROR)
    for (auto* tp : tps) out.push_back(tp->err() == RdKafka::ERR_NO_ERROR ? tp->offset() : -2);
  RdKafka::TopicPartition::destroy(tps);
  c->close();
  return out;
}

// Writes a corpus over all four partitions of otlp_spans; returns its span count.
size_t ProduceCorpus(const std::string& brokers, const testutil::Corpus& corpus) {
  kafka::SinkOptions so;
  so.brokers = brokers;
  std::unique_ptr<kafka::KafkaSink> producer;
  EXPECT_TRUE(kafka::KafkaSink::Create(so, &producer).ok());
  if (!producer) return 0;
  int32_t partition = 0;
  for (const auto& m : corpus.messages)  // every partition gets messages
    EXPECT_TRUE(producer->Produce("otlp_spans", "", m.payload, {}, partition++ % 4).ok());
  EXPECT_TRUE(producer->Flush(30000).ok());
  size_t spans = 0;
  for (const auto& [id, t] : corpus.traces) spans += static_cast<size_t>(t.span_count);
  return spans;
}

// Reads spanpipe.spans until `spans` records are out (or two minutes pass); returns how many.
size_t SpansOut(const std::string& brokers, size_t spans) {
  return testutil::ReadTopics(
             brokers, {"spanpipe.spans"},
             [&](const std::vector<testutil::OwnedMessage>& got) { return got.size() >= spans; },
             120)
      .size();
}

TEST(KafkaOffsets, CommittedToKafkaOnlyOnceTheirCheckpointIsOnDisk) {
  std::string dir = testutil::TempDir("kafka_offsets");
  testutil::BrokerProcess broker(dir, 1, 4);
  ASSERT_FALSE(broker.brokers.empty()) << testutil::Slurp(dir + "/broker.log");
  testutil::Corpus corpus =
      testutil::MakeCorpus(40, 99, testutil::RecentCorpusBaseMs(), 0, 3600000);
  const size_t spans = ProduceCorpus(broker.brokers, corpus);

  pid_t job = testutil::SpawnJob(dir, broker.brokers, ", persist_interval_ms: 3600000");
  const auto job_log = [&] { return testutil::Slurp(dir + "/job.log").substr(0, 3000); };
  ASSERT_GE(SpansOut(broker.brokers, spans), spans) << job_log();
  // Every span is out, so the job has checkpointed; a few more checkpoints (every 300 ms).
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const std::vector<int64_t> during = CommittedOffsets(broker.brokers, 4);
  EXPECT_EQ(during.size(), 4u) << "the group's committed offsets could not be read";
  for (int64_t offset : during)
    EXPECT_EQ(offset, RdKafka::Topic::OFFSET_INVALID)
        << "committed before its checkpoint was on disk\n"
        << job_log();

  kill(job, SIGTERM);
  int status = testutil::Reap(job);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << job_log();
  const std::vector<int64_t> after = CommittedOffsets(broker.brokers, 4);
  ASSERT_EQ(after.size(), 4u) << "the group's committed offsets could not be read";
  int64_t consumed = 0;
  for (int64_t offset : after) {
    EXPECT_GT(offset, 0);
    consumed += offset;
  }
  EXPECT_EQ(consumed, static_cast<int64_t>(corpus.messages.size())) << job_log();
}

// With a flush every 500 ms, a running job commits its offsets to Kafka: each flush covers the
// checkpoints before the one it starts with, and their offsets go to Kafka once it lands. Once
// the input is consumed, the committed offsets reach its end while the job still runs.
TEST(KafkaOffsets, CommittedWhileRunningOnceAPeriodicFlushCoversThem) {
  std::string dir = testutil::TempDir("kafka_offsets_running");
  testutil::BrokerProcess broker(dir, 1, 4);
  ASSERT_FALSE(broker.brokers.empty()) << testutil::Slurp(dir + "/broker.log");
  testutil::Corpus corpus =
      testutil::MakeCorpus(40, 98, testutil::RecentCorpusBaseMs(), 0, 3600000);
  const size_t spans = ProduceCorpus(broker.brokers, corpus);

  pid_t job = testutil::SpawnJob(dir, broker.brokers, ", persist_interval_ms: 500");
  const auto job_log = [&] { return testutil::Slurp(dir + "/job.log").substr(0, 3000); };
  ASSERT_GE(SpansOut(broker.brokers, spans), spans) << job_log();
  int64_t committed = -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    committed = 0;
    for (int64_t offset : CommittedOffsets(broker.brokers, 4))
      committed += std::max<int64_t>(offset, 0);
    if (committed == static_cast<int64_t>(corpus.messages.size())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_EQ(committed, static_cast<int64_t>(corpus.messages.size())) << job_log();
  EXPECT_EQ(waitpid(job, nullptr, WNOHANG), 0) << "the job stopped\n" << job_log();
  kill(job, SIGTERM);
  int status = testutil::Reap(job);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << job_log();
}

}  // namespace
}  // namespace spanpipe
