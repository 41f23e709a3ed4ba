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

TEST(KafkaOffsets, CommittedToKafkaOnlyOnceTheirCheckpointIsOnDisk) {
  std::string dir = testutil::TempDir("kafka_offsets");
  testutil::BrokerProcess broker(dir, 1, 4);
  ASSERT_FALSE(broker.brokers.empty()) << testutil::Slurp(dir + "/broker.log");

  testutil::Corpus corpus =
      testutil::MakeCorpus(40, 99, testutil::RecentCorpusBaseMs(), 0, 3600000);
  kafka::SinkOptions so;
  so.brokers = broker.brokers;
  std::unique_ptr<kafka::KafkaSink> producer;
  ASSERT_TRUE(kafka::KafkaSink::Create(so, &producer).ok());
  int32_t partition = 0;
  for (const auto& m : corpus.messages)  // every partition gets messages
    ASSERT_TRUE(producer->Produce("otlp_spans", "", m.payload, {}, partition++ % 4).ok());
  ASSERT_TRUE(producer->Flush(30000).ok());
  size_t spans = 0;
  for (const auto& [id, t] : corpus.traces) spans += static_cast<size_t>(t.span_count);

  pid_t job = testutil::SpawnJob(dir, broker.brokers, ", persist_interval_ms: 3600000");
  auto all = testutil::ReadTopics(
      broker.brokers, {"spanpipe.spans"},
      [&](const std::vector<testutil::OwnedMessage>& got) { return got.size() >= spans; }, 120);
  const auto job_log = [&] { return testutil::Slurp(dir + "/job.log").substr(0, 3000); };
  ASSERT_GE(all.size(), spans) << job_log();
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

}  // namespace
}  // namespace spanpipe
