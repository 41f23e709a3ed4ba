// The query API's logic, independent of HTTP: parameters in, (status, JSON) out. Every answer is
// computed from the QueryStore's views of the published records (docs/query-api.md).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/bucket_cache.h"
#include "serve/query_store.h"

namespace spanpipe::serve {

struct ApiResult {
  ApiResult() = default;
  ApiResult(int s, nlohmann::json b) : status(s), body(std::move(b)) {}
  int status = 200;
  nlohmann::json body;  // the answer, unless `text` is set
  std::string text;     // the answer already serialised (large answers are written without a DOM)
  std::string Serialized() const { return text.empty() ? body.dump() : text; }
  // A series answer in pieces: `text` is its first `head` bytes, the non-empty `parts`' texts
  // separated by ',', then "]}". Its gzip form is assembled from the parts' deflate segments
  // (made once per cached bucket) instead of compressing the whole text (GzipAnswer).
  size_t head = 0;
  std::vector<std::shared_ptr<const BucketText>> parts;
};

// The gzip form of an answer's text: from its parts when it has them, else compressed whole
// (libdeflate at `level`). False on failure.
bool GzipAnswer(const ApiResult& r, int level, std::string* out);
using Params = std::multimap<std::string, std::string>;

// Limits of the API (docs/query-api.md "Limits").
inline constexpr int64_t kMaxRangeMs = int64_t{90} * 86400000;
inline constexpr size_t kMaxMetrics = 20;
inline constexpr size_t kMaxGroupBy = 5;
inline constexpr int64_t kMaxLimit = 1000;
inline constexpr int64_t kDefaultLimit = 50;

// The fixed name lists.
const std::vector<std::string>& MetricNames();
const std::vector<std::string>& DimensionNames();
const std::vector<std::string>& AggregationNames();
const std::vector<std::string>& IntervalNames();

ApiResult Error(int status, const std::string& message);

ApiResult GroupQuery(const QueryStore& store, const std::string& project, const Params& p,
                     int64_t now_ms);
ApiResult ThreadSpans(const QueryStore& store, const std::string& project,
                      const std::string& thread_id, const Params& p);
// With a cache, whole time buckets are taken from it and the others stored in it (same answer).
ApiResult MetricsSeries(const QueryStore& store, const std::string& project, const Params& p,
                        int64_t now_ms, BucketCache* cache = nullptr);
// With a cache, the rows of whole rollup windows are taken from it (same answer).
ApiResult MetricsSummary(const QueryStore& store, const std::string& project, const Params& p,
                         int64_t now_ms, BucketCache* cache = nullptr);
ApiResult MetricsQuery(const QueryStore& store, const std::string& project,
                       const nlohmann::json& body, int64_t now_ms, BucketCache* cache = nullptr);
ApiResult TraceRecord(const QueryStore& store, const std::string& project,
                      const std::string& trace_id);

}  // namespace spanpipe::serve
