#include "common/metrics.h"

#include <fmt/format.h>

namespace spanpipe {

void MetricsRegistry::UpdatePipeline(const PipelineSnapshot& s) {
  std::lock_guard<std::mutex> lock(mu_);
  snap_ = s;
}

void MetricsRegistry::ObserveCheckpoint(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  checkpoint_last_ = seconds;
  checkpoint_sum_ += seconds;
  checkpoint_count_++;
}

std::string MetricsRegistry::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  auto emit = [&](const char* name, const char* type, const char* help, const std::string& samples) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n{}", name, help, name, type, samples);
  };
  auto one = [](const char* name, auto v) { return fmt::format("{} {}\n", name, v); };
  using namespace metric_names;
  emit(kConsumedRecords, "counter", "Records consumed from Kafka.", one(kConsumedRecords, snap_.consumed_records));
  emit(kConsumedBytes, "counter", "Bytes consumed from Kafka.", one(kConsumedBytes, snap_.consumed_bytes));
  emit(kProducedRecords, "counter", "Records delivered to Kafka.", one(kProducedRecords, snap_.produced_records));
  emit(kProducedBytes, "counter", "Bytes delivered to Kafka.", one(kProducedBytes, snap_.produced_bytes));
  std::string lag;
  for (const auto& l : snap_.lag)
    lag += fmt::format("{}{{topic=\"{}\",partition=\"{}\"}} {}\n", kConsumerLag, l.topic, l.partition, l.lag);
  emit(kConsumerLag, "gauge", "Consumer lag per assigned partition (records).", lag);
  emit(kDlqRecords, "counter", "Records sent to the dead-letter topic.", one(kDlqRecords, snap_.dlq_records));
  emit(kLateSpans, "counter", "Spans that arrived behind the watermark.", one(kLateSpans, snap_.late_spans));
  emit(kSpansIn, "counter", "Valid spans decoded and normalised.", one(kSpansIn, snap_.spans_in));
  emit(kSpansOut, "counter", "Span records emitted to spanpipe.spans.", one(kSpansOut, snap_.spans_out));
  emit(kDuplicateSpans, "counter", "Spans delivered again and absorbed by de-duplication.",
       one(kDuplicateSpans, snap_.duplicate_spans));
  emit(kCheckpointSeconds, "summary", "Checkpoint duration.",
       fmt::format("{}_sum {}\n{}_count {}\n", kCheckpointSeconds, checkpoint_sum_, kCheckpointSeconds,
                   checkpoint_count_));
  emit("spanpipe_checkpoint_last_duration_seconds", "gauge", "Duration of the last checkpoint.",
       one("spanpipe_checkpoint_last_duration_seconds", checkpoint_last_));
  emit(kStateSizeBytes, "gauge", "Approximate RocksDB state size.", one(kStateSizeBytes, snap_.state_size_bytes));
  emit(kContentDedupRatio, "gauge", "Raw content bytes / stored bytes.",
       one(kContentDedupRatio, snap_.content_dedup_ratio));
  emit(kObjectStoreRequests, "counter", "Object store requests.",
       fmt::format("{}{{op=\"put\"}} {}\n{}{{op=\"get\"}} {}\n", kObjectStoreRequests, snap_.object_store_puts,
                   kObjectStoreRequests, snap_.object_store_gets));
  emit(kObjectStoreErrors, "counter", "Object store requests that failed after retries.",
       one(kObjectStoreErrors, snap_.object_store_errors));
  emit(kRollupOverflow, "counter", "Spans counted under model __overflow__ (cardinality guard).",
       one(kRollupOverflow, snap_.rollup_overflow));
  return out;
}

}  // namespace spanpipe
