// BucketCache: per-bucket partial results of /api/v1/metrics, as Druid caches per-segment
// results. A series answer is the concatenation of its time buckets' points, and a bucket's points
// depend only on the query's shape (project, filters, group_by, metrics, aggregation, interval) and
// on the rollup rows of that bucket, not on where the range starts or ends inside it. So the JSON
// text of each whole bucket is kept, keyed by (shape, bucket start), and a dashboard whose range
// ends at "now" (a new query every refresh) recomputes only the buckets that are not cached: the
// ones a commit of the feed wrote since (QueryStore::RollupChangesSince), usually the newest.
//
// Invalidation is by time and granularity: a commit that wrote rows of granularity g with windows
// in [a, b) of a project drops that project's buckets that read rows of g and overlap [a, b),
// whatever their shape. (The feed publishes the open 1h and 1d rows at every commit: a bucket of
// 1h rows survives a commit into today's 1d row.) Memory is bounded by a byte budget (least
// recently used buckets go first).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "serve/query_store.h"

namespace spanpipe::serve {

// What the cache holds: a series bucket's text, or a rollup window's decoded rows.
struct CachedPart {
  virtual ~CachedPart() = default;
  virtual size_t bytes() const = 0;
};

struct BucketText : CachedPart {
  std::string text;     // the bucket's points, comma-separated JSON objects ("" when none)
  uint32_t points = 0;  // how many
  // `text` as a deflate segment (compression.h), made the first time a gzip answer needs it.
  const std::string& Deflated() const;
  // With the deflate form, made later, counted as 1/7 of the text (series JSON deflates ~7x).
  size_t bytes() const override { return text.size() + text.size() / 7; }

 private:
  mutable std::once_flag deflate_once_;
  mutable std::string deflated_;
};

// The rows of one rollup window (all rows of a granularity whose window starts in
// [ws, ws + granularity)), as ScanRollups visits them; their strings point into `arena`.
struct RowWindow : CachedPart {
  std::string arena;
  std::vector<RollupRow> rows;
  size_t bytes() const override { return arena.size() + rows.size() * sizeof(RollupRow); }
};

class BucketCache {
 public:
  explicit BucketCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  // Drops the buckets that the store's commits since the last call wrote, and returns the version
  // that the caller's reads (made after this call) are at least as new as. Call it before Get and
  // before reading the store for the buckets to Put.
  uint64_t Sync(const QueryStore& store);
  // The part stored under `key` if it is a T, or null.
  template <typename T = BucketText>
  std::shared_ptr<const T> Get(const std::string& key) {
    return std::dynamic_pointer_cast<const T>(GetPart(key));
  }
  std::shared_ptr<const CachedPart> GetPart(const std::string& key);
  // Stores a bucket [from_ms, to_ms) of `project`, computed from its rows of the granularities
  // `grans` (RollupGran bits) read after Sync returned `version`; dropped instead when a commit
  // since then wrote into it (or cannot be told).
  void Put(const QueryStore& store, const std::string& key, const std::string& project,
           uint8_t grans, int64_t from_ms, int64_t to_ms, uint64_t version,
           std::shared_ptr<const CachedPart> bucket);

  size_t size() const;
  size_t bytes() const;  // keys, texts and bookkeeping, as counted against the budget
  uint64_t hits() const;
  uint64_t misses() const;
  uint64_t invalidated() const;  // buckets dropped because a commit wrote into them

 private:
  struct Entry {
    std::shared_ptr<const CachedPart> bucket;
    std::string project;
    uint8_t grans;
    int64_t from_ms, to_ms;
    std::list<const std::string*>::iterator lru;  // position in lru_ (front = most recent)
    size_t bytes;
  };
  void Erase(std::unordered_map<std::string, Entry>::iterator it);  // mu_ held
  const size_t max_bytes_;
  mutable std::mutex mu_;
  uint64_t synced_ = 0;  // the store version whose changes have been applied
  std::unordered_map<std::string, Entry> entries_;
  std::list<const std::string*> lru_;  // keys of entries_ (stable addresses)
  size_t bytes_ = 0;
  uint64_t hits_ = 0, misses_ = 0, invalidated_ = 0;
};

// QueryStore::ScanRollups through the cache: the whole windows of [from_ms, to_ms) are visited
// from cached RowWindows (read and stored when missing), the partial ones at the ends read
// directly. The same rows in the same order as ScanRollups. Without a cache: ScanRollups.
Status ScanRollupsCached(const QueryStore& store, BucketCache* cache, std::string_view granularity,
                         const std::string& project, int64_t from_ms, int64_t to_ms,
                         const std::function<void(const RollupRow&)>& fn);

}  // namespace spanpipe::serve
