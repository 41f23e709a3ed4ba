// RollupMerge: sums the per-partition partials of each rollup row into spanpipe.rollups records.
// Keeps the newest partial per (key, source partition) in RocksDB (older or equal versions are
// ignored, so re-delivery and replay never double count) and publishes the sum of the newest ones.
// `final` = window end <= merged watermark = min over known source partitions' watermarks (kept
// monotonic). Rows not yet final sit in an index ordered by window end, so they are re-emitted
// final once the watermark passes them even if no new partial arrives. Rules: docs/rollups.md.
// Rows merged recently are kept decoded in a bounded MergeCache (operators/merge_cache.h): a row
// seen again is summed without reading or decoding its stored partials. After StateDb::Rollback,
// construct a new RollupMerge.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "operators/emitter.h"
#include "operators/merge_cache.h"
#include "operators/rollup_options.h"
#include "operators/rollup_partial.h"
#include "state/state_db.h"

namespace spanpipe::rollup {

class RollupMerge {
 public:
  // The cache's default budget: ~10 k rows of a few sources with sparse sketches.
  static constexpr size_t kDefaultCacheBytes = size_t{32} << 20;

  // Options supply retention (stored partials expire at window end + retention). cache_bytes
  // bounds the decoded rows kept in memory (0: none, every row is read back from the store).
  explicit RollupMerge(state::KvStore* merged, RollupOptions options = {},
                       size_t cache_bytes = kDefaultCacheBytes);

  // key = the record key on streams::kRollupPartials, partial = its value (rollup_partial.h).
  Status Apply(std::string_view key, std::string_view partial);
  // Publishes each row changed since the last call once, then every indexed row the watermark has
  // passed (final: true). Call once per commit interval, before StateDb::Commit.
  Status Emit(Emitter* out);

  int64_t merged_watermark() const { return merged_wm_; }
  uint64_t records_emitted() const { return records_emitted_; }
  uint64_t stale_partials_ignored() const { return stale_ignored_; }
  size_t cached_bytes() const { return cache_.bytes(); }
  size_t cached_rows() const { return cache_.rows(); }

 private:
  using Cache = MergeCache<RollupPartial>;
  void Load();
  void UpdateSource(int32_t p, int64_t watermark_ms);
  // cursor: an iterator over the store reused across rows (created on first use).
  Status EmitRow(const std::string& key, int64_t end_ms, std::unique_ptr<state::KvIterator>* cursor,
                 Emitter* out);
  // Writes the row's index key (not final yet) unless the cache knows it is stored already.
  void IndexRow(const std::string& key, int64_t end_ms);
  void UnindexRow(const std::string& key, int64_t end_ms);

  state::KvStore* store_;
  RollupOptions opt_;
  bool loaded_ = false;
  std::map<int32_t, int64_t> sources_;  // source partition -> its newest watermark
  std::set<int32_t> source_keys_;       // partitions with a source key (a superset of sources_)
  int64_t merged_wm_ = INT64_MIN;
  std::map<std::string, int64_t> dirty_;  // row key -> window end
  uint64_t records_emitted_ = 0;
  uint64_t stale_ignored_ = 0;
  // Reused across partials: decoding one keeps the buffers of its dims and sketches.
  RollupPartial scratch_;
  RollupMetrics sum_;  // a row's sum, reused: cleared, it keeps its sketches' buffers
  std::string key_buf_, pkey_buf_, json_;
  Cache cache_;
  std::vector<Cache::Source> read_;  // a row's stored partials read by EmitRow, reused
};

}  // namespace spanpipe::rollup
