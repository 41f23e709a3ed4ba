#include "operators/rollup_record.h"

#include <algorithm>

#include "common/json_writer.h"
#include "common/time_format.h"

namespace spanpipe::rollup {

void AppendRollupJson(const WindowId& id, const RollupMetrics& m, bool final, std::string* out) {
  // Sketch values are bucket midpoints; clamping to the exact min/max keeps p50 <= max etc.
  auto pct = [&](double q) {
    if (m.requests == 0) return 0.0;
    return std::clamp(m.durations.Quantile(q), m.duration_ms_min, m.duration_ms_max);
  };
  JsonWriter w(out);
  w.BeginObject();
  w.Field("granularity", GranularityName(id.granularity));
  w.Field("window_start", std::string_view(FormatRfc3339Millis(id.start_ms)));
  w.Field("window_start_ms", id.start_ms);
  w.Field("project", std::string_view(id.dims.project));
  w.Field("service", std::string_view(id.dims.service));
  w.Field("provider", std::string_view(id.dims.provider));
  w.Field("model", std::string_view(id.dims.model));
  w.Field("operation", std::string_view(id.dims.operation));
  w.Field("environment", std::string_view(id.dims.environment));
  w.Field("requests", m.requests);
  w.Field("errors", m.errors);
  w.Field("input_tokens", m.input_tokens);
  w.Field("output_tokens", m.output_tokens);
  w.Field("total_tokens", m.input_tokens + m.output_tokens);
  w.Field("cost_usd", m.cost_usd);
  w.Field("duration_ms_sum", m.duration_ms_sum);
  w.Field("duration_ms_min", m.requests ? m.duration_ms_min : 0.0);
  w.Field("duration_ms_max", m.requests ? m.duration_ms_max : 0.0);
  w.Field("duration_ms_p50", pct(0.50));
  w.Field("duration_ms_p90", pct(0.90));
  w.Field("duration_ms_p95", pct(0.95));
  w.Field("duration_ms_p99", pct(0.99));
  w.Field("unique_users", static_cast<int64_t>(m.users.Estimate()));
  w.Field("unique_threads", static_cast<int64_t>(m.threads.Estimate()));
  w.Field("final", final);
  w.EndObject();
}

}  // namespace spanpipe::rollup
