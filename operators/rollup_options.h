// Configuration of the rollup stage (docs/rollups.md explains each rule).
#pragma once

#include <cstddef>
#include <cstdint>

#include "operators/rollup_window.h"

namespace spanpipe::rollup {

inline constexpr int64_t kDayMs = 86'400'000;

struct RollupOptions {
  // Watermark = max span start seen - allowed_lateness.
  int64_t allowed_lateness_ms = 120'000;
  // A window still accepts late spans until window end + retention passes the processing clock.
  int64_t retention_1m_ms = 37 * kDayMs;
  int64_t retention_1h_ms = 210 * kDayMs;
  int64_t retention_1d_ms = 3 * 365 * kDayMs;
  // Active rows per (project, granularity, window) per source partition before the overflow row.
  size_t max_keys_per_project = 10000;
  // A source partition idle (no span) this long in processing time advances its watermark.
  int64_t idle_advance_ms = 30'000;
  double sketch_relative_accuracy = 0.005;
  // Spans starting further than this beyond the processing clock are rejected.
  int64_t max_future_ms = kDayMs;
  // Decoded rows kept in memory (the truth is in the KvStore).
  size_t max_cached_windows = 20000;
  // Late binding: windows remembered per trace while its user/thread is unknown, and for how long.
  size_t max_unbound_windows_per_trace = 48;
  int64_t unbound_ttl_ms = kDayMs;

  int64_t retention_ms(Granularity g) const {
    switch (g) {
      case Granularity::k1m:
        return retention_1m_ms;
      case Granularity::k1h:
        return retention_1h_ms;
      case Granularity::k1d:
        return retention_1d_ms;
    }
    return retention_1d_ms;
  }
};

}  // namespace spanpipe::rollup
