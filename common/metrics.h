// MetricsRegistry: the pipeline's own health in Prometheus text format (DESIGN.md "Observability
// of the pipeline itself"). The job publishes a snapshot once per checkpoint; /metrics renders it.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace spanpipe {

namespace metric_names {
inline constexpr char kConsumedRecords[] = "spanpipe_consumed_records_total";
inline constexpr char kConsumedBytes[] = "spanpipe_consumed_bytes_total";
inline constexpr char kProducedRecords[] = "spanpipe_produced_records_total";
inline constexpr char kProducedBytes[] = "spanpipe_produced_bytes_total";
inline constexpr char kConsumerLag[] = "spanpipe_consumer_lag";
inline constexpr char kDlqRecords[] = "spanpipe_dlq_records_total";
inline constexpr char kLateSpans[] = "spanpipe_late_spans_total";
inline constexpr char kCheckpointSeconds[] = "spanpipe_checkpoint_duration_seconds";
inline constexpr char kStateSizeBytes[] = "spanpipe_state_size_bytes";
inline constexpr char kContentDedupRatio[] = "spanpipe_content_dedup_ratio";
inline constexpr char kObjectStoreRequests[] = "spanpipe_object_store_requests_total";
inline constexpr char kObjectStoreErrors[] = "spanpipe_object_store_errors_total";
inline constexpr char kRollupOverflow[] = "spanpipe_rollup_overflow_total";
inline constexpr char kSpansIn[] = "spanpipe_spans_in_total";
inline constexpr char kSpansOut[] = "spanpipe_spans_out_total";
inline constexpr char kDuplicateSpans[] = "spanpipe_duplicate_spans_total";
}  // namespace metric_names

struct PartitionLag {
  std::string topic;
  int32_t partition;
  int64_t lag;
};

struct PipelineSnapshot {
  uint64_t consumed_records = 0, consumed_bytes = 0;
  uint64_t produced_records = 0, produced_bytes = 0;
  uint64_t dlq_records = 0, late_spans = 0, rollup_overflow = 0;
  uint64_t spans_in = 0, spans_out = 0, duplicate_spans = 0;
  uint64_t state_size_bytes = 0;
  double content_dedup_ratio = 0;
  uint64_t object_store_puts = 0, object_store_gets = 0, object_store_errors = 0;
  std::vector<PartitionLag> lag;
};

class MetricsRegistry {
 public:
  void UpdatePipeline(const PipelineSnapshot& s);
  void ObserveCheckpoint(double seconds);
  // Prometheus text exposition format 0.0.4.
  std::string Render() const;

 private:
  mutable std::mutex mu_;
  PipelineSnapshot snap_;
  double checkpoint_last_ = 0, checkpoint_sum_ = 0;
  uint64_t checkpoint_count_ = 0;
};

}  // namespace spanpipe
