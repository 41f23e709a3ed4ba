// The metrics of one rollup row (CONTRACT §4) in mergeable form: sums, min/max, a DDSketch of
// durations and HyperLogLogs of users and threads. Adding two of these gives the row of the union.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "operators/ddsketch.h"
#include "operators/hyperloglog.h"

namespace spanpipe::rollup {

inline constexpr int kHllPrecision = 14;  // fixed so every task's sketches merge exactly

struct RollupMetrics {
  explicit RollupMetrics(double sketch_relative_accuracy = 0.005)
      : durations(sketch_relative_accuracy), users(kHllPrecision), threads(kHllPrecision) {}

  int64_t requests = 0;
  int64_t errors = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  double cost_usd = 0;
  double duration_ms_sum = 0;
  double duration_ms_min = 0;  // meaningful once requests > 0
  double duration_ms_max = 0;
  DDSketch durations;
  HyperLogLog users;
  HyperLogLog threads;

  // `duration` is the call's duration in ms, indexed by DDSketch::Index (once for all rows).
  void AddCall(bool error, int64_t input_tokens, int64_t output_tokens, double cost_usd,
               const DDSketch::Indexed& duration);
  void AddCall(bool error, int64_t input_tokens, int64_t output_tokens, double cost_usd,
               double duration_ms) {
    AddCall(error, input_tokens, output_tokens, cost_usd, durations.Index(duration_ms));
  }
  void Merge(const RollupMetrics& other);
  // Zero again, as newly constructed with the same accuracy, keeping the sketches' buffers (a sum
  // reused across rows allocates nothing once warm).
  void Clear();

  // Heap bytes held by the sketches (the merge's bounded cache charges rows with it).
  size_t MemoryBytes() const {
    return durations.MemoryBytes() + users.MemoryBytes() + threads.MemoryBytes();
  }

  void EncodeTo(std::string* out) const;
  bool DecodeFrom(std::string_view* in);
};

}  // namespace spanpipe::rollup
