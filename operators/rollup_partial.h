// Records on streams::kRollupPartials: one task's running TOTAL for one window row (never a delta),
// or a watermark heartbeat. Binary, documented in docs/rollups.md:
//   partial:   'P' fmt=1 | source_partition (4B BE) | version (varint) | watermark (8B ordered)
//              | WindowId (granularity, start, 6 length-prefixed dims) | RollupMetrics
//   heartbeat: 'H' fmt=1 | source_partition (4B BE) | watermark (8B ordered)
// `version` counts the updates applied to the row by its source partition, so a re-delivered or
// replayed partial carries the same version as the original and an older one a smaller version.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "operators/rollup_metrics.h"
#include "operators/rollup_window.h"

namespace spanpipe::rollup {

struct RollupPartial {
  bool heartbeat = false;
  int32_t source_partition = 0;
  uint64_t version = 0;
  int64_t watermark_ms = 0;
  WindowId id;            // partials only
  RollupMetrics metrics;  // partials only
};

void EncodePartial(int32_t source_partition, uint64_t version, int64_t watermark_ms,
                   const WindowId& id, const RollupMetrics& metrics, std::string* out);
// The same with the metrics already encoded (RollupMetrics::EncodeTo): a row's state and its
// partial carry the same bytes, encoded once.
void EncodePartialWithMetrics(int32_t source_partition, uint64_t version, int64_t watermark_ms,
                              const WindowId& id, std::string_view encoded_metrics,
                              std::string* out);
void EncodeHeartbeat(int32_t source_partition, int64_t watermark_ms, std::string* out);
// Key of a heartbeat record (never a valid contract key: it has no '|' fields).
std::string HeartbeatKey(int32_t source_partition);

// Decodes either kind. With header_only, stops after the watermark (and WindowId for partials).
Status DecodePartial(std::string_view in, RollupPartial* out, bool header_only = false);
// Only the version of a partial (false for a heartbeat or a truncated header).
bool DecodePartialVersion(std::string_view in, uint64_t* version);

}  // namespace spanpipe::rollup
