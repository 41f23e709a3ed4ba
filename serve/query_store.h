// QueryStore: the query side's own materialised views of the published topics, in RocksDB, so
// that `serve` instances need nothing but Kafka. Newest record per key wins (the topics are
// compacted or keyed so), and secondary indexes make every query a prefix or range scan. Every key
// starts with the record's project, so one project's scan can never reach another's rows:
//   rollups : g \0 granularity \0 project \0 window_start_ms \0 service \0 provider \0 model \0
//             operation \0 env -> compact binary row (RollupRow), decoded without JSON parsing.
//             Granularities 1m, 1h, 1d as published, and 10m derived here: the sum of its ten 1m
//             rows, moved by (new - old) whenever one of them is replaced, so that a range is read
//             from few rows (percentiles of a 10m row: request-weighted mean of the minutes').
//   threads : t \0 project \0 thread_id                          -> record (JSON)
//             l \0 project \0 last_seen_ms \0 thread_id           -> first_seen_ms   (activity
//             index)
//   traces  : r \0 project \0 trace_id                           -> record (JSON)
//             k \0 project \0 start_ms \0 trace_id               -> thread_id, user_id (time index)
//   spans   : s \0 project \0 trace_id \0 span_id                -> record (JSON)
//             e \0 project \0 start_ms \0 trace_id \0 span_id    -> error label (error spans only)
//   thread -> trace index: x \0 project \0 thread_id \0 trace_id -> ""
// Times in keys are order-preserving 8-byte integers (unix ms).
//
// Threads: one writer (Apply/Commit, the feed) and any number of concurrent readers (HTTP
// handlers). Writes are buffered and become visible to readers atomically at Commit().
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace rocksdb {
class DB;
class WriteBatchWithIndex;
class Cache;
}  // namespace rocksdb

namespace spanpipe::serve {

// One spanpipe.rollups record (CONTRACT §4). The string views point into the store's buffers and
// are valid only during the scan callback.
struct RollupRow {
  int64_t window_start_ms = 0;
  std::string_view service, provider, model, operation, environment;
  int64_t requests = 0, errors = 0, input_tokens = 0, output_tokens = 0;
  double cost_usd = 0, duration_ms_sum = 0, duration_ms_min = 0, duration_ms_max = 0;
  double duration_ms_p50 = 0, duration_ms_p90 = 0, duration_ms_p95 = 0, duration_ms_p99 = 0;
  int64_t unique_users = 0, unique_threads = 0;
  bool final = false;
  // The dimension of that name ("provider", "model", "service", "operation", "environment").
  std::string_view Dim(std::string_view name) const;
};

// A thread's activity interval (span start of its first span .. span end of its last).
struct ThreadActivity {
  std::string_view thread_id;
  int64_t first_ms = 0, last_ms = 0;
};

// A closed trace's start, thread and user (from spanpipe.traces).
struct TraceStart {
  std::string_view trace_id, thread_id, user_id;
  int64_t start_ms = 0;
};

// Rollup rows a commit wrote, per project and granularity: every row of a granularity in
// `grans` whose window starts in [from_ms, to_ms) may have changed. A 1m record changes its 1m row
// and its derived 10m row; the feed publishes the open 1h and 1d rows at every commit too, so that
// a reader of 1h rows must not be told about 1d ones.
enum RollupGran : uint8_t { kGran1m = 1, kGran10m = 2, kGran1h = 4, kGran1d = 8 };
uint8_t RollupGranOf(std::string_view granularity);  // "1m", "10m", "1h", "1d"; else 0
struct RollupChange {
  std::string project;
  uint8_t grans = 0;  // RollupGran bits
  int64_t from_ms = 0, to_ms = 0;
};

class QueryStore {
 public:
  static Status Open(const std::string& path, uint64_t memory_mib,
                     std::unique_ptr<QueryStore>* out);
  ~QueryStore();

  // Writer side (one thread). One published record (topic, key, JSON value); visible at Commit().
  Status Apply(std::string_view topic, std::string_view key, std::string_view value);
  Status Commit();
  uint64_t applied() const { return applied_.load(); }
  // Bumped by every Commit that wrote something; readers that load it before reading see at least
  // that commit's records (response caches key on it).
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  // The rollup windows written by the commits of versions (since, upto], merged per project, into
  // `out` (appended). False when the log no longer reaches back to `since` (the last
  // kChangeLogCommits commits are kept, kChangeLogEntries ranges at most): the caller must then
  // assume everything changed. A commit of more than kChangeLogCommitEntries scattered ranges (a
  // backfill) is logged as one range per project and granularity spanning them all.
  static constexpr size_t kChangeLogCommits = 1024;
  static constexpr size_t kChangeLogCommitEntries = 1024;
  static constexpr size_t kChangeLogEntries = 65536;
  bool RollupChangesSince(uint64_t since, uint64_t upto, std::vector<RollupChange>* out) const;

  // Reader side (any thread).
  // Rollup rows of a granularity ("1m", "10m", "1h", "1d") and project with window_start in
  // [from, to).
  Status ScanRollups(std::string_view granularity, std::string_view project, int64_t from_ms,
                     int64_t to_ms, const std::function<void(const RollupRow&)>& fn) const;
  // Threads whose last_seen >= from_ms and first_seen < to_ms, in ascending last_seen order.
  Status ScanThreadActivity(std::string_view project, int64_t from_ms, int64_t to_ms,
                            const std::function<void(const ThreadActivity&)>& fn) const;
  Status GetThread(std::string_view project, std::string_view thread_id, nlohmann::json* out,
                   bool* found) const;
  Status ThreadTraceIds(std::string_view project, std::string_view thread_id,
                        std::vector<std::string>* out) const;
  Status GetTrace(std::string_view project, std::string_view trace_id, nlohmann::json* out,
                  bool* found) const;
  // Closed traces that started in [from, to).
  Status ScanTraceStarts(std::string_view project, int64_t from_ms, int64_t to_ms,
                         const std::function<void(const TraceStart&)>& fn) const;
  // The published spans of a trace, in span id order.
  Status TraceSpans(std::string_view project, std::string_view trace_id,
                    std::vector<nlohmann::json>* out) const;
  // The labels (ErrorLabel) of error spans that started in [from, to).
  Status ScanErrors(std::string_view project, int64_t from_ms, int64_t to_ms,
                    const std::function<void(std::string_view label)>& fn) const;

 private:
  QueryStore() = default;
  Status ReadForUpdate(const std::string& key, std::string* value, bool* found) const;
  std::shared_ptr<rocksdb::Cache> cache_;
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<rocksdb::WriteBatchWithIndex> batch_;  // writer-only
  std::atomic<uint64_t> applied_{0};
  std::atomic<uint64_t> version_{0};
  // Rollup windows of the pending batch (writer-only), and of the last commits (under log_mu_).
  std::vector<RollupChange> pending_changes_;
  struct LoggedCommit {
    uint64_t version;
    std::vector<RollupChange> changes;
  };
  mutable std::mutex log_mu_;
  std::deque<LoggedCommit> log_;
  size_t log_entries_ = 0;  // ranges in log_
};

// How an error span is named in /api/v1/metrics/summary's common_errors: its `error.type`
// attribute, else its status message, else "STATUS_CODE_ERROR" (status code 2 with no message),
// else "unknown". Never empty.
std::string ErrorLabel(const nlohmann::json& span);

}  // namespace spanpipe::serve
