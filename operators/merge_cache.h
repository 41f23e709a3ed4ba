// MergeCache: what a merge stage (RollupMerge, ThreadMerge) remembers of the rows it merged
// recently, so that a row seen again is summed without reading RocksDB and without decoding its
// stored partials again. Per row key: the decoded partial of each source partition (with its
// version), exactly as the store holds it (the store stays the truth: every accepted partial is
// still written there). A row is `complete` when it holds every stored partial of the row: it was
// filled by a scan of the row's prefix, or it holds a partial of every partition that can have
// one (when the owner knows them). An incomplete row holds only partials this merge wrote since,
// and the store must be asked about the other partitions.
//
// Bounded: rows are charged an estimate of their bytes and the least recently used rows are
// dropped past max_bytes (0 disables the cache). Dropping a row only costs a read of the store.
// The cache mirrors the pending state of the StateDb: after StateDb::Rollback the merge that owns
// it must be constructed again (as the topology does: a failed checkpoint ends the job).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <vector>

#include "common/coding.h"
#include "common/flat_index.h"
#include "common/status.h"
#include "operators/hash64.h"
#include "state/state_db.h"

namespace spanpipe {

// Part: a decoded partial with a `version` member (RollupPartial, ThreadPartial).
template <class Part>
class MergeCache {
 public:
  struct Source {
    int32_t partition = 0;
    Part part;
  };
  struct Row {
    bool complete = false;
    // The owner's own mark (RollupMerge: the window end whose index key it has stored).
    int64_t mark = INT64_MIN;
    std::vector<Source> sources;  // in the store's order: partition as unsigned, ascending
    size_t bytes = 0;
  };
  // Fixed cost charged per row beside its key and parts (list node, hash slot, vector).
  static constexpr size_t kRowOverhead = 160;

  explicit MergeCache(size_t max_bytes) : max_bytes_(max_bytes) {}
  MergeCache(const MergeCache&) = delete;
  MergeCache& operator=(const MergeCache&) = delete;

  bool enabled() const { return max_bytes_ > 0; }
  size_t bytes() const { return bytes_; }
  size_t rows() const { return index_.size(); }

  // The row of `key` (now the most recently used), or nullptr.
  Row* Find(std::string_view key) { return Find(key, Hash64(key)); }
  // The row of `key`, added empty and incomplete if absent. nullptr when the cache is disabled.
  Row* FindOrAdd(std::string_view key) {
    if (!enabled()) return nullptr;
    const uint64_t hash = Hash64(key);
    if (Row* r = Find(key, hash)) return r;
    Entry& e = lru_.emplace_front();
    e.key.assign(key);
    e.hash = hash;
    e.self = lru_.begin();
    index_.Insert(&e, hash);
    return &e.row;
  }
  // Finds source p of the row of `key` (*row, *src: nullptr when not cached) and tells whether a
  // partial of it at `version` is stale: its source holds this version or a newer one already.
  // When the cache cannot tell, stored_version(&v, &found) reads the stored partial's version
  // (found: false if there is none, or none that decodes: the new partial then replaces it).
  template <class StoredVersion>
  Status Stale(std::string_view key, int32_t p, uint64_t version, StoredVersion stored_version,
               Row** row, Source** src, bool* stale) {
    *row = Find(key);
    *src = *row ? FindSource(*row, p) : nullptr;
    *stale = false;
    if (*src) {
      *stale = (*src)->part.version >= version;
    } else if (!*row || !(*row)->complete) {  // the store may hold a partial of this source
      uint64_t stored = 0;
      bool found = false;
      SPANPIPE_RETURN_IF_ERROR(stored_version(&stored, &found));
      *stale = found && stored >= version;
    }
    return Status::OK();
  }
  // Keeps *part, just accepted and stored, as source p of the row of `key` (swapped in: *part
  // gets the buffers of the part it replaces). row, src: what Find and FindSource returned for
  // them. The row becomes complete once it holds `all_sources` sources (the count of partitions
  // that can have stored partials, when the owner knows it; SIZE_MAX otherwise).
  template <class BytesOf>
  void Keep(std::string_view key, Row* row, Source* src, int32_t p, Part* part, size_t all_sources,
            BytesOf bytes_of) {
    if (!row && !(row = FindOrAdd(key))) return;
    if (!src) src = AddSource(row, p);
    std::swap(src->part, *part);
    if (row->sources.size() == all_sources) row->complete = true;
    Charge(row, bytes_of);
  }
  // Keeps *sources (swapped in), all the stored partials of the row of `key`, as its complete row.
  template <class BytesOf>
  void KeepWhole(std::string_view key, std::vector<Source>* sources, BytesOf bytes_of) {
    Row* row = FindOrAdd(key);
    if (!row) return;
    row->sources.swap(*sources);
    row->complete = true;
    Charge(row, bytes_of);
  }

  // Reads the stored partials of the row of `key` that `it` is positioned on (a Scan or Seek of
  // its prefix), in store order, into *out. payload(value, &bytes) gives a stored value's partial
  // (false: the value is skipped); a partial whose version(bytes, &v) equals its cached source's
  // is taken from the cache, the others go through decode(bytes, &part), whose error is returned
  // (the cached row is then forgotten: its sources may have been moved out).
  template <class Payload, class Version, class Decode>
  Status ReadStored(std::string_view key, state::KvIterator* it, Payload payload, Version version,
                    Decode decode, std::vector<Source>* out) {
    out->clear();
    Row* row = Find(key);
    for (; it->Valid(); it->Next()) {
      std::string_view bytes;
      if (!payload(it->value(), &bytes)) continue;
      const int32_t p = PartitionOfKey(it->key());
      Source* known = row ? FindSource(row, p) : nullptr;
      uint64_t v = 0;
      Source& s = out->emplace_back();
      if (known && version(bytes, &v) && v == known->part.version) {
        s = std::move(*known);
        continue;
      }
      s.partition = p;
      if (Status st = decode(bytes, &s.part); !st.ok()) {
        if (row) {
          row->sources.clear();
          row->complete = false;
        }
        return st;
      }
    }
    return it->status();
  }

  // The source of partition p in row, or nullptr.
  static Source* FindSource(Row* row, int32_t p) {
    for (Source& s : row->sources)
      if (s.partition == p) return &s;
    return nullptr;
  }

 private:
  struct Entry;
  using List = std::list<Entry>;
  struct Entry {
    std::string key;
    uint64_t hash = 0;
    Row row;
    typename List::iterator self;
  };
  static std::string_view EntryKey(const Entry& e) { return e.key; }

  Row* Find(std::string_view key, uint64_t hash) {
    Entry* e = index_.Find(key, hash);
    if (e == nullptr) return nullptr;
    lru_.splice(lru_.begin(), lru_, e->self);
    return &e->row;
  }

  // A new source of partition p (absent from row) at its place in the store's order.
  static Source* AddSource(Row* row, int32_t p) {
    auto at = row->sources.begin();
    while (at != row->sources.end() &&
           static_cast<uint32_t>(at->partition) < static_cast<uint32_t>(p))
      ++at;
    at = row->sources.emplace(at);
    at->partition = p;
    return &*at;
  }
  // The source partition of a stored partial's key (both merges end their keys with be32(p)).
  static int32_t PartitionOfKey(std::string_view stored_key) {
    return static_cast<int32_t>(DecodeFixed32BE(stored_key.data() + stored_key.size() - 4));
  }

  // Re-charges `row` (just found or added, so the most recently used) for its parts, then drops
  // least recently used rows while over the budget (`row` too when it alone exceeds it).
  template <class BytesOf>
  void Charge(Row* row, BytesOf bytes_of) {
    size_t part_bytes = 0;
    for (const Source& s : row->sources) part_bytes += sizeof(Source) + bytes_of(s.part);
    bytes_ -= row->bytes;
    row->bytes = kRowOverhead + lru_.front().key.size() + part_bytes;
    bytes_ += row->bytes;
    while (bytes_ > max_bytes_ && !lru_.empty()) Drop(std::prev(lru_.end()));
  }

  void Drop(typename List::iterator it) {
    bytes_ -= it->row.bytes;
    index_.Erase(it->key, it->hash);
    lru_.erase(it);
  }

  size_t max_bytes_;
  size_t bytes_ = 0;
  List lru_;  // most recently used first
  // Open addressing (common/flat_index.h): std::unordered_map's modulo and node walk were a fifth
  // of the thread merge's Apply (perf).
  FlatIndex<Entry, &MergeCache::EntryKey> index_;
};

}  // namespace spanpipe
