// Job: the streaming topology against a Kafka cluster (`run`, and `demo` on the embedded broker).
//
// One consumer in the group reads the input topic (stage 1: decode + normalise), the repartition
// topic (stage 2: the tasks that own traces) and the partials topics (stage 3: merge); one
// idempotent producer writes every output. Checkpoint cycle (DESIGN.md), every interval and on
// revoke/shutdown:
//   1. content packs flushed durably (TaskStage::PrepareCheckpoint);
//   2. buffered outputs produced and every delivery confirmed (Flush);
//   3. state changes and consumed offsets committed in one RocksDB write (made crash-safe by an
//      atomic flush every checkpoint.persist_interval_ms, and always on revoke and shutdown);
//   4. offsets committed to Kafka once step 3 is crash-safe (monitoring, and the start of a
//      partition whose state has no offsets: it must never be ahead of the state).
// A crash anywhere replays from the last checkpoint; span de-duplication and total-valued records
// make the replay invisible downstream.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "common/status.h"
#include "connectors/kafka_admin.h"
#include "connectors/kafka_sink.h"
#include "connectors/kafka_source.h"
#include "connectors/object_store.h"
#include "operators/price_table.h"
#include "state/state_db.h"
#include "topology/config.h"
#include "topology/ingest_stage.h"
#include "topology/task_stage.h"

namespace spanpipe {

// Every topic the job reads or writes, with its partition count and topic config. The job creates
// the missing ones at start; the embedded broker pre-creates them (its mock has no controller for
// CreateTopics when it runs more than one broker).
std::vector<kafka::TopicSpec> JobTopics(const Config& cfg);

struct JobStats {
  uint64_t consumed = 0;
  uint64_t consumed_bytes = 0;
  uint64_t spans_in = 0;
  uint64_t spans_out = 0;
  uint64_t produced = 0;
  uint64_t dlq = 0;
  uint64_t duplicates = 0;
  uint64_t late_spans = 0;
  uint64_t checkpoints = 0;
  int64_t lag = 0;
  double last_checkpoint_seconds = 0;
};

class Job {
 public:
  Job(Config cfg, MetricsRegistry* metrics);
  ~Job();
  // Opens state and the content store, creates missing topics, joins the consumer group.
  Status Open();
  // Runs until *stop is true, then checkpoints and leaves the group. Returns a runtime failure
  // (e.g. a delivery that failed after retries): the process exits 1 and a restart resumes
  // from the last checkpoint.
  Status Run(const std::atomic<bool>* stop);
  JobStats stats() const;

 private:
  Status RunLoop(const std::atomic<bool>* stop);
  void OnAssign(const std::vector<kafka::TopicPartition>& tps, std::vector<int64_t>* offsets);
  void OnRevoke(const std::vector<kafka::TopicPartition>& tps);
  // A poll's messages, in order. The repartitioned spans are decoded first, so that the task
  // reads their traces' state in one batched read (TaskStage::Prefetch).
  Status ProcessBatch(const std::vector<kafka::Message>& batch, int64_t now_ms);
  struct DecodedSpan;  // a repartitioned span decoded ahead of its turn
  Status ProcessMessage(const kafka::Message& m, int64_t now_ms, DecodedSpan* decoded);
  // persist: make this checkpoint crash-safe before returning (revoke, shutdown).
  Status Checkpoint(int64_t now_ms, bool persist = false);
  using Offsets = std::vector<std::pair<kafka::TopicPartition, int64_t>>;
  // Step 4: commits offsets to Kafka once their checkpoint is crash-safe.
  Status CommitOffsetsWhenPersisted(Offsets offsets, bool persist);
  // Step 3's periodic flush, of the commits before the one about to be sealed (when due).
  Status PersistEarlierCommits();
  void CommitToKafka(const Offsets& offsets);
  void UpdateMetrics();

  class BufferedOutput;
  class KafkaDeadLetters;

  Config cfg_;
  MetricsRegistry* metrics_;
  PriceTable prices_;
  std::unique_ptr<state::StateDb> db_;
  std::unique_ptr<ObjectStore> objects_;
  std::unique_ptr<kafka::KafkaSink> sink_;
  std::unique_ptr<kafka::KafkaSource> source_;
  std::unique_ptr<IngestStage> ingest_;
  std::unique_ptr<TaskStage> task_;
  std::unique_ptr<MergeStage> merge_;
  std::unique_ptr<BufferedOutput> out_;
  std::unique_ptr<KafkaDeadLetters> dlq_;
  std::map<kafka::TopicPartition, int64_t> next_offsets_;  // consumed, not yet committed
  // A persist in flight and the offsets of the checkpoint it makes crash-safe.
  bool persisting_ = false;
  Offsets persisting_offsets_;
  Offsets last_committed_;  // the last checkpoint's offsets, until a flush covers them
  std::chrono::steady_clock::time_point last_persist_ = std::chrono::steady_clock::now();
  std::vector<int32_t> task_partitions_;
  std::string task_topic_;
  Status deferred_;      // an error raised inside a rebalance callback
  bool failed_ = false;  // Run returned an error: no more checkpoints
  mutable std::mutex stats_mu_;
  JobStats stats_;
  std::string scratch_;
  struct DecodedSpan {
    otlp::Batch batch;  // what span's views point into
    SpanRecord span;
    Status status;
  };
  std::vector<DecodedSpan> decoded_;  // by position in the poll's batch (reused)
  std::vector<const SpanRecord*> prefetch_;
};

}  // namespace spanpipe
