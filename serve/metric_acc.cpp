#include "serve/metric_acc.h"

#include <algorithm>

#include "common/json_writer.h"

namespace spanpipe::serve {
namespace {

template <size_t N>
size_t IndexOf(const std::string_view (&names)[N], std::string_view name) {
  return static_cast<size_t>(std::find(names, names + N, name) - names);
}

MetricValue Int(int64_t i) {
  return {MetricValue::kInt, i, 0};
}
MetricValue Dbl(double d) {
  return {MetricValue::kDouble, 0, d};
}

}  // namespace

MetricId MetricIdOf(std::string_view name) {
  return static_cast<MetricId>(IndexOf(kMetricNames, name));
}

AggId AggIdOf(std::string_view name) {
  return static_cast<AggId>(IndexOf(kAggregationNames, name));
}

bool IsPercentile(AggId agg) {
  return agg == AggId::kP50 || agg == AggId::kP90 || agg == AggId::kP95 || agg == AggId::kP99;
}

void MetricAcc::Add(const RollupRow& r) {
  ++rows;
  if (r.requests <= 0) return;
  double n = static_cast<double>(r.requests);
  requests += r.requests;
  errors += r.errors;
  in += r.input_tokens;
  out += r.output_tokens;
  cost += r.cost_usd;
  dsum += r.duration_ms_sum;
  dmin = std::min(dmin, r.duration_ms_min);
  dmax = std::max(dmax, r.duration_ms_max);
  if (keep_durations)
    durations.push_back({n,
                         {r.duration_ms_min, r.duration_ms_p50, r.duration_ms_p90,
                          r.duration_ms_p95, r.duration_ms_p99, r.duration_ms_max}});
}

MetricValue MetricAcc::Value(MetricId m, AggId agg) const {
  bool avg = agg == AggId::kAvg;
  auto tokens = [&](int64_t v) { return avg ? Dbl(PerRequest(static_cast<double>(v))) : Int(v); };
  switch (m) {
    case MetricId::kRequestCount:
      return Int(requests);
    case MetricId::kErrorCount:
      return Int(errors);
    case MetricId::kErrorRate:
      return Dbl(ErrorRate());
    case MetricId::kSuccessRate:
      return Dbl(requests > 0 ? 1.0 - ErrorRate() : 0.0);
    case MetricId::kInputTokens:
      return tokens(in);
    case MetricId::kOutputTokens:
      return tokens(out);
    case MetricId::kTotalTokens:
      return tokens(in + out);
    case MetricId::kTotalCost:
      return Dbl(avg ? PerRequest(cost) : cost);
    case MetricId::kDuration:
      if (agg == AggId::kCount) return Int(requests);
      if (requests == 0) return Dbl(0.0);
      switch (agg) {
        case AggId::kSum:
          return Dbl(dsum);
        case AggId::kMin:
          return Dbl(dmin);
        case AggId::kMax:
          return Dbl(dmax);
        case AggId::kP50:
          return Dbl(MixtureQuantile(durations, 0.5));
        case AggId::kP90:
          return Dbl(MixtureQuantile(durations, 0.9));
        case AggId::kP95:
          return Dbl(MixtureQuantile(durations, 0.95));
        case AggId::kP99:
          return Dbl(MixtureQuantile(durations, 0.99));
        default:
          return Dbl(PerRequest(dsum));
      }
    case MetricId::kUnknown:
      break;
  }
  return {};
}

nlohmann::json MetricAcc::Metric(std::string_view m, std::string_view agg) const {
  MetricValue v = Value(MetricIdOf(m), AggIdOf(agg));
  if (v.kind == MetricValue::kInt) return v.i;
  if (v.kind == MetricValue::kDouble) return v.d;
  return nullptr;
}

void MetricAcc::Write(MetricId m, AggId agg, std::string* out) const {
  MetricValue v = Value(m, agg);
  if (v.kind == MetricValue::kInt)
    out->append(std::to_string(v.i));
  else if (v.kind == MetricValue::kDouble)
    AppendJsonDouble(out, v.d);
  else
    out->append("null");
}

}  // namespace spanpipe::serve
