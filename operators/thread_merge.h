// threads, stage 2: keeps the newest partial per (thread, source partition) and publishes their
// sum to spanpipe.threads (docs/thread-groups.md). Re-delivered, duplicated or out-of-order
// partials are harmless: an older or equal version never replaces a newer one.
// Threads merged recently are kept decoded in a bounded MergeCache (operators/merge_cache.h): a
// thread seen again is summed without reading or decoding its stored partials. After
// StateDb::Rollback, construct a new ThreadMerge.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "operators/emitter.h"
#include "operators/merge_cache.h"
#include "operators/thread_codec.h"
#include "state/state_db.h"

namespace spanpipe::threads {

class ThreadMerge {
 public:
  // The cache's default budget: tens of thousands of threads with short lists.
  static constexpr size_t kDefaultCacheBytes = size_t{16} << 20;

  // cache_bytes bounds the decoded threads kept in memory (0: none, every thread is read back
  // from the store).
  explicit ThreadMerge(state::KvStore* merged, ThreadLimits limits = {},
                       size_t cache_bytes = kDefaultCacheBytes);

  // key: "project|thread_id" (the partial's record key); partial: EncodeThreadPartial bytes.
  Status Apply(std::string_view key, std::string_view partial);
  // Emits the merged record of every thread changed since the last call (key order).
  Status Emit(Emitter* out);
  size_t cached_bytes() const { return cache_.bytes(); }
  size_t cached_threads() const { return cache_.rows(); }

 private:
  using Cache = MergeCache<ThreadPartial>;
  // Reads the source partitions that have stored partials (once), if the store records them.
  void Load();
  // Records partition p as a source before its first partial is stored.
  void NoteSource(int32_t p);

  state::KvStore* merged_;
  ThreadLimits limits_;
  // Threads changed since the last Emit, unordered and possibly repeated; Emit sorts and
  // de-duplicates them once (a set cost an ordered insert per partial).
  std::vector<std::string> changed_;
  size_t changed_count_ = 0;  // changed_[0, changed_count_) are in use; the rest keep capacity
  bool loaded_ = false;
  // True when the store records every partition that has stored partials (always, unless it holds
  // partials written before the record was kept): a thread whose cached row holds that many
  // sources is then complete without a scan.
  bool sources_known_ = false;
  std::set<int32_t> sources_;
  // Reused across calls: decoded partials keep their strings' and lists' capacity, so a partial's
  // trace-id list is not allocated again for every record.
  ThreadPartial scratch_;
  std::string key_buf_, value_buf_, json_;
  Cache cache_;
  std::vector<Cache::Source> read_;  // a thread's stored partials read by Emit, reused
};

}  // namespace spanpipe::threads
