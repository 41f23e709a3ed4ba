// RollupAggregator: per-task event-time 1m/1h/1d rollups of LLM calls (CONTRACT §4, DESIGN.md).
// Each source partition keeps its own rows in the `windows` KvStore and emits its running totals as
// partials (operators/rollup_partial.h) for RollupMerge to sum. Rules: docs/rollups.md.
//
// Checkpoint protocol: call EmitPartials before every StateDb::Commit (it writes the cached rows
// and watermarks into the pending batch). After StateDb::Rollback, construct a new aggregator (or
// call ReloadFromStore) so no uncommitted in-memory state survives.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/flat_index.h"
#include "common/status.h"
#include "operators/emitter.h"
#include "operators/hash64.h"
#include "operators/resolve_outcome.h"
#include "operators/rollup_metrics.h"
#include "operators/rollup_options.h"
#include "operators/rollup_window.h"
#include "operators/span_record.h"
#include "state/state_db.h"

namespace spanpipe::rollup {

class RollupAggregator {
 public:
  // `windows`: rows and per-partition watermarks (values carry a WrapExpiring prefix: window end +
  // retention, so the store may be declared expiring). `unbound`: per-trace late-binding lists
  // (expiring, TTL options.unbound_ttl_ms).
  RollupAggregator(state::KvStore* windows, state::KvStore* unbound, RollupOptions options = {});

  // now_ms = processing clock (wall time in run/demo; in replay the max event time). Returns
  // InvalidArgument (nothing counted) for an LLM span starting more than max_future_ms after
  // now_ms or older than every granularity's retention; the caller dead-letters it.
  Status Apply(const SpanRecord& span, const ResolveOutcome& outcome, int32_t source_partition,
               int64_t now_ms);
  // Idle rule: if the partition has seen no span for idle_advance_ms of processing time, its
  // watermark becomes max(watermark, max_event + (now - last_activity) - allowed_lateness).
  Status AdvanceIdle(int32_t source_partition, int64_t now_ms);
  // End of input (replay): watermark = +inf for this partition, so the merge finalises everything.
  void FinishInput(int32_t source_partition);
  // Emits every row changed since the last call once (its full total) to streams::kRollupPartials,
  // and a heartbeat per partition whose watermark moved; writes rows and watermarks to the store.
  Status EmitPartials(Emitter* out);
  // Drops all in-memory state (cache, watermarks) and re-reads from the store.
  void ReloadFromStore();

  struct Stats {
    uint64_t late_spans = 0;        // LLM spans starting before their partition's watermark
    uint64_t overflowed_spans = 0;  // LLM spans counted in an `__overflow__` row
    uint64_t partials_emitted = 0;
    uint64_t heartbeats_emitted = 0;
    uint64_t rejected_spans = 0;  // InvalidArgument returns
  };
  Stats stats() const { return stats_; }
  // INT64_MIN when nothing is known yet.
  int64_t watermark(int32_t source_partition);

 private:
  struct PartitionMeta {
    int64_t max_event_ms = INT64_MIN;
    int64_t watermark_ms = INT64_MIN;
    int64_t last_activity_ms = INT64_MIN;  // processing clock of the last span
    int64_t heartbeat_wm_ms = INT64_MIN;   // watermark in the last heartbeat emitted
    bool dirty = false;
  };
  // A cached row; owned by lru_, found through rows_.
  struct Row {
    explicit Row(double sketch_relative_accuracy) : metrics(sketch_relative_accuracy) {}
    std::string key;  // its store key
    uint64_t hash = 0;
    WindowId id;
    uint64_t version = 0;
    RollupMetrics metrics;
    bool unsaved = false;
    bool listed = false;  // its key is in dirty_
    std::list<Row>::iterator self;
  };
  static std::string_view RowKeyOf(const Row& r) { return r.key; }

  PartitionMeta* Meta(int32_t p);
  Status SaveMeta(int32_t p, PartitionMeta* m);
  // Cached or stored row for `key`; *row = nullptr when absent.
  Status FindRow(std::string_view key, Row** row) { return FindRow(key, Hash64(key), row); }
  Status FindRow(std::string_view key, uint64_t hash, Row** row);  // hash: Hash64(key)
  // A new row for `key` (absent from the cache), the most recently used.
  Row* InsertRow(std::string_view key, uint64_t hash, WindowId&& id, uint64_t version);
  void EvictIfFull();
  void SaveRow(const std::string& key, Row* row);
  void SaveRow(const std::string& key, Row* row, std::string_view encoded_metrics);
  // Row for a span's window, creating it under the cardinality guard; sets *key to its store key.
  Status RowForSpan(int32_t p, Granularity g, int64_t start_ms, const SpanRecord& span,
                    std::string* key, Row** row, bool* overflowed);
  void MarkDirty(const std::string& key, Row* row);
  struct UnboundEntry {
    uint8_t missing;  // which of user / thread were unknown when the row counted the span
    std::string row_key;
  };
  struct UnboundList {
    std::vector<UnboundEntry> entries;
    int64_t expires_ms = 0;
    bool dirty = false;
  };
  struct Count {
    uint64_t n = 0;
    int64_t expires_ms = 0;
    bool dirty = false;
  };
  // Write-back caches of small state read and written on most spans; FlushSmallState writes
  // them into the store's pending batch (at EmitPartials, or when they grow past a bound).
  Status LoadUnbound(const std::string& key, int64_t now_ms, UnboundList** list);
  Status LoadCount(const std::string& key, Count** count);
  void FlushSmallState();
  Status RecordUnbound(int32_t p, const SpanRecord& span, uint8_t missing,
                       const std::vector<std::string>& row_keys, int64_t now_ms);
  Status ApplyBinding(int32_t p, const SpanRecord& span, const ResolveOutcome& outcome,
                      int64_t now_ms);

  state::KvStore* windows_;
  state::KvStore* unbound_;
  RollupOptions opt_;
  DDSketch indexer_;  // empty: indexes durations for the rows' sketches
  Stats stats_;
  std::map<int32_t, PartitionMeta> metas_;
  // Rows by key in an open-addressing index (a span finds three rows: std::unordered_map's
  // modulo and node walk were ~7 % of the stages after decode, perf) and in LRU order.
  FlatIndex<Row, &RollupAggregator::RowKeyOf> rows_;
  std::list<Row> lru_;  // front = most recently used
  // Row keys changed since the last EmitPartials; sorted and de-duplicated there (deterministic
  // output; a row evicted and reloaded may be listed twice).
  std::vector<std::string> dirty_;
  std::string key_buf_, dims_buf_;  // dims_buf_: the current span's encoded dims (RowForSpan)
  std::unordered_map<std::string, UnboundList> unbound_cache_;
  std::unordered_map<std::string, Count> counts_;
  std::string metrics_buf_;  // reused by EmitPartials
};

}  // namespace spanpipe::rollup
