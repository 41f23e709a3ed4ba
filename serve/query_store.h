// QueryStore: the query side's own materialised views of the published topics, in RocksDB, so
// that `serve` instances need nothing but Kafka. Newest record per key wins (the topics are
// compacted or keyed so), and secondary indexes make every query a prefix scan:
//   rollups  : g \0 granularity \0 project \0 window_start_ms(be) \0 dims      -> record
//   threads  : t \0 project \0 thread_id                                      -> record
//   traces   : r \0 trace_id                                                  -> record
//   spans    : s \0 trace_id \0 span_id                                       -> record
//   thread→trace index: x \0 project \0 thread_id \0 trace_id                 -> ""
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "state/state_db.h"

namespace spanpipe::serve {

class QueryStore {
 public:
  static Status Open(const std::string& path, uint64_t memory_mib, std::unique_ptr<QueryStore>* out);
  // One published record (topic, key, JSON value).
  Status Apply(std::string_view topic, std::string_view key, std::string_view value);
  Status Commit();

  // Rollup records of a granularity ("1m", "1h", "1d") and project with window_start in [from, to).
  Status ScanRollups(std::string_view granularity, std::string_view project, int64_t from_ms, int64_t to_ms,
                     const std::function<void(const nlohmann::json&)>& fn) const;
  Status ScanThreads(std::string_view project, const std::function<void(const nlohmann::json&)>& fn) const;
  Status GetThread(std::string_view project, std::string_view thread_id, nlohmann::json* out, bool* found) const;
  Status GetTrace(std::string_view trace_id, nlohmann::json* out, bool* found) const;
  Status TraceSpans(std::string_view trace_id, std::vector<nlohmann::json>* out) const;
  Status ThreadTraceIds(std::string_view project, std::string_view thread_id, std::vector<std::string>* out) const;
  uint64_t applied() const { return applied_; }

 private:
  std::unique_ptr<state::StateDb> db_;
  state::KvStore* kv_ = nullptr;
  uint64_t applied_ = 0;
};

}  // namespace spanpipe::serve
