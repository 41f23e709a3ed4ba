// MetricAcc: rollup rows summed into one point, and a metric's value under an aggregation
// (docs/query-api.md "Metrics and aggregations"). Percentiles of several rows are those of the
// mixture of the rows' stated percentiles (mixture_quantile.h): exact for one row, an
// approximation otherwise.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/mixture_quantile.h"
#include "serve/query_store.h"

namespace spanpipe::serve {

// The fixed names, in the order of MetricId / AggId.
inline constexpr std::string_view kMetricNames[] = {
    "request_count", "error_count",  "error_rate", "success_rate", "input_tokens",
    "output_tokens", "total_tokens", "total_cost", "duration"};
inline constexpr std::string_view kAggregationNames[] = {"sum", "avg", "min", "max", "count",
                                                         "p50", "p90", "p95", "p99"};

enum class MetricId : uint8_t {
  kRequestCount,
  kErrorCount,
  kErrorRate,
  kSuccessRate,
  kInputTokens,
  kOutputTokens,
  kTotalTokens,
  kTotalCost,
  kDuration,
  kUnknown,
};
enum class AggId : uint8_t { kSum, kAvg, kMin, kMax, kCount, kP50, kP90, kP95, kP99, kUnknown };

MetricId MetricIdOf(std::string_view name);
AggId AggIdOf(std::string_view name);
bool IsPercentile(AggId agg);

// An integer (counts, token sums), a double, or null (unknown metric).
struct MetricValue {
  enum Kind : uint8_t { kNull, kInt, kDouble } kind = kNull;
  int64_t i = 0;
  double d = 0;
};

struct MetricAcc {
  int64_t requests = 0, errors = 0, in = 0, out = 0, rows = 0;
  double cost = 0, dsum = 0, dmin = INFINITY, dmax = 0;
  std::vector<RowQuantiles> durations;  // one per row with requests, if keep_durations
  // Off when no percentile will be asked (kept rows cost a push per row and a sort per answer).
  bool keep_durations = true;

  void Add(const RollupRow& r);
  double PerRequest(double v) const {
    return requests > 0 ? v / static_cast<double>(requests) : 0.0;
  }
  double ErrorRate() const { return PerRequest(static_cast<double>(errors)); }

  // A percentile needs keep_durations (else it is 0).
  MetricValue Value(MetricId m, AggId agg) const;
  // Value() as JSON, by name.
  nlohmann::json Metric(std::string_view m, std::string_view agg) const;
  // Appends Value() as JSON text.
  void Write(MetricId m, AggId agg, std::string* out) const;
};

}  // namespace spanpipe::serve
