#include "operators/rollup_metrics.h"

#include <algorithm>

#include "common/coding.h"

namespace spanpipe::rollup {

void RollupMetrics::AddCall(bool error, int64_t in_tokens, int64_t out_tokens, double cost,
                            const DDSketch::Indexed& duration) {
  const double duration_ms = duration.value;
  if (requests == 0) {
    duration_ms_min = duration_ms_max = duration_ms;
  } else {
    duration_ms_min = std::min(duration_ms_min, duration_ms);
    duration_ms_max = std::max(duration_ms_max, duration_ms);
  }
  ++requests;
  errors += error ? 1 : 0;
  input_tokens += in_tokens;
  output_tokens += out_tokens;
  cost_usd += cost;
  duration_ms_sum += duration_ms;
  durations.Add(duration);
}

void RollupMetrics::Merge(const RollupMetrics& o) {
  if (o.requests > 0) {
    if (requests == 0) {
      duration_ms_min = o.duration_ms_min;
      duration_ms_max = o.duration_ms_max;
    } else {
      duration_ms_min = std::min(duration_ms_min, o.duration_ms_min);
      duration_ms_max = std::max(duration_ms_max, o.duration_ms_max);
    }
  }
  requests += o.requests;
  errors += o.errors;
  input_tokens += o.input_tokens;
  output_tokens += o.output_tokens;
  cost_usd += o.cost_usd;
  duration_ms_sum += o.duration_ms_sum;
  durations.Merge(o.durations);
  users.Merge(o.users);
  threads.Merge(o.threads);
}

void RollupMetrics::Clear() {
  requests = errors = input_tokens = output_tokens = 0;
  cost_usd = duration_ms_sum = duration_ms_min = duration_ms_max = 0;
  durations.Clear();
  users.Clear();
  threads.Clear();
}

void RollupMetrics::EncodeTo(std::string* out) const {
  PutVarint64(out, ZigZag(requests));
  PutVarint64(out, ZigZag(errors));
  PutVarint64(out, ZigZag(input_tokens));
  PutVarint64(out, ZigZag(output_tokens));
  PutDouble(out, cost_usd);
  PutDouble(out, duration_ms_sum);
  PutDouble(out, duration_ms_min);
  PutDouble(out, duration_ms_max);
  durations.EncodeTo(out);
  users.EncodeTo(out);
  threads.EncodeTo(out);
}

bool RollupMetrics::DecodeFrom(std::string_view* in) {
  return GetZigZag(in, &requests) && GetZigZag(in, &errors) && GetZigZag(in, &input_tokens) &&
         GetZigZag(in, &output_tokens) && GetDouble(in, &cost_usd) &&
         GetDouble(in, &duration_ms_sum) && GetDouble(in, &duration_ms_min) &&
         GetDouble(in, &duration_ms_max) && durations.DecodeFrom(in) && users.DecodeFrom(in) &&
         threads.DecodeFrom(in);
}

}  // namespace spanpipe::rollup
