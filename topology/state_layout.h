// The job's stores (RocksDB column families) and which of them expire by retention.
#pragma once

#include <string>
#include <vector>

#include "state/state_db.h"
#include "topology/config.h"

namespace spanpipe::stores {

inline constexpr char kOffsets[] = "offsets";         // topic \0 partition(be32) -> next offset
inline constexpr char kTraces[] = "traces";           // trace registry aggregates
inline constexpr char kTraceSpans[] = "trace_spans";  // span de-duplication (expiring)
inline constexpr char kTraceIdle[] = "trace_idle";    // open traces by last update
inline constexpr char kThreadGroups[] = "thread_groups";
inline constexpr char kThreadMerged[] = "thread_merged";
inline constexpr char kRollupWindows[] = "rollup_windows";
inline constexpr char kRollupUnbound[] = "rollup_unbound";  // expiring
inline constexpr char kRollupMerged[] = "rollup_merged";
inline constexpr char kContentChunks[] = "content_chunks";

inline state::StateOptions JobStateOptions(const Config& cfg, const std::string& path) {
  state::StateOptions o;
  o.path = path;
  o.memory_budget_mib = static_cast<uint64_t>(cfg.state.memory_mib);
  o.stores = {kOffsets,      kTraces,        kTraceSpans,    kTraceIdle,    kThreadGroups,
              kThreadMerged, kRollupWindows, kRollupUnbound, kRollupMerged, kContentChunks};
  o.expiring_stores = {kTraceSpans, kRollupUnbound, kTraces};
  // Read by key only; the idle index and the merge stores are scanned.
  o.point_stores = {kOffsets,       kTraces,        kTraceSpans,   kThreadGroups,
                    kRollupWindows, kRollupUnbound, kContentChunks};
  // The idle index and its close snapshots live for the idle timeout (docs/trace-resolution.md).
  o.transient_stores = {kTraceIdle};
  o.write_ahead_log = cfg.checkpoint.persist_interval_ms == 0;
  return o;
}

}  // namespace spanpipe::stores
