#include "operators/rollup_record.h"

#include <algorithm>

#include "common/json_cursor.h"
#include "common/time_format.h"

namespace spanpipe::rollup {

void AppendRollupJson(const WindowId& id, const RollupMetrics& m, bool final, std::string* out) {
  // Sketch values are bucket midpoints; clamping to the exact min/max keeps p50 <= max etc.
  static constexpr double kQs[] = {0.50, 0.90, 0.95, 0.99};
  double pct[4] = {0, 0, 0, 0};
  if (m.requests != 0) {
    m.durations.Quantiles(kQs, 4, pct);
    for (double& p : pct) p = std::clamp(p, m.duration_ms_min, m.duration_ms_max);
  }
  // Written through a cursor (one reservation per field), as the span records are.
  JsonCursor c(out);
  c.Literal("{\"granularity\":");
  c.String(GranularityName(id.granularity));
  c.Literal(",\"window_start\":");
  c.String(FormatRfc3339Millis(id.start_ms));
  c.Literal(",\"window_start_ms\":");
  c.Int(id.start_ms);
  c.Literal(",\"project\":");
  c.String(id.dims.project);
  c.Literal(",\"service\":");
  c.String(id.dims.service);
  c.Literal(",\"provider\":");
  c.String(id.dims.provider);
  c.Literal(",\"model\":");
  c.String(id.dims.model);
  c.Literal(",\"operation\":");
  c.String(id.dims.operation);
  c.Literal(",\"environment\":");
  c.String(id.dims.environment);
  c.Literal(",\"requests\":");
  c.Int(m.requests);
  c.Literal(",\"errors\":");
  c.Int(m.errors);
  c.Literal(",\"input_tokens\":");
  c.Int(m.input_tokens);
  c.Literal(",\"output_tokens\":");
  c.Int(m.output_tokens);
  c.Literal(",\"total_tokens\":");
  c.Int(m.input_tokens + m.output_tokens);
  c.Literal(",\"cost_usd\":");
  c.Double(m.cost_usd);
  c.Literal(",\"duration_ms_sum\":");
  c.Double(m.duration_ms_sum);
  c.Literal(",\"duration_ms_min\":");
  c.Double(m.requests ? m.duration_ms_min : 0.0);
  c.Literal(",\"duration_ms_max\":");
  c.Double(m.requests ? m.duration_ms_max : 0.0);
  c.Literal(",\"duration_ms_p50\":");
  c.Double(pct[0]);
  c.Literal(",\"duration_ms_p90\":");
  c.Double(pct[1]);
  c.Literal(",\"duration_ms_p95\":");
  c.Double(pct[2]);
  c.Literal(",\"duration_ms_p99\":");
  c.Double(pct[3]);
  c.Literal(",\"unique_users\":");
  c.Int(static_cast<int64_t>(m.users.Estimate()));
  c.Literal(",\"unique_threads\":");
  c.Int(static_cast<int64_t>(m.threads.Estimate()));
  c.Literal(",\"final\":");
  c.Bool(final);
  c.Char('}');
}

}  // namespace spanpipe::rollup
