// MergeCache: what a merge stage (RollupMerge, ThreadMerge) remembers of the rows it merged
// recently, so that a row seen again is summed without reading RocksDB and without decoding its
// stored partials again. Per row key: the decoded partial of each source partition, with its
// version, exactly as the store holds it (the store stays the truth: every accepted partial is
// still written there). A row is `complete` when it holds every stored partial of the row (it was
// filled by a scan of the row's prefix); an incomplete row holds only partials this merge wrote
// since, and the store must be asked about the other partitions.
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
#include <unordered_map>
#include <vector>

#include "common/coding.h"

namespace spanpipe {

template <class Part>
class MergeCache {
 public:
  struct Source {
    int32_t partition = 0;
    uint64_t version = 0;
    Part part;
  };
  struct Row {
    bool complete = false;
    bool indexed = false;         // the owner's own flag (RollupMerge: its index key is stored)
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
  Row* Find(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return &it->second->row;
  }
  // The row of `key`, added empty and incomplete if absent. nullptr when the cache is disabled.
  Row* FindOrAdd(std::string_view key) {
    if (!enabled()) return nullptr;
    if (Row* r = Find(key)) return r;
    lru_.emplace_front();
    lru_.front().key.assign(key);
    index_.emplace(std::string_view(lru_.front().key), lru_.begin());
    return &lru_.front().row;
  }
  // Re-charges `row` (just found or added, so the most recently used) at `part_bytes` for its
  // parts, then drops least recently used rows while over the budget. False if `row` itself was
  // dropped (alone it exceeds the budget): the pointer is then invalid.
  bool Charge(Row* row, size_t part_bytes) {
    bytes_ -= row->bytes;
    row->bytes = kRowOverhead + lru_.front().key.size() + part_bytes;
    bytes_ += row->bytes;
    while (bytes_ > max_bytes_ && !lru_.empty()) {
      const bool self = &lru_.back().row == row;
      Drop(std::prev(lru_.end()));
      if (self) return false;
    }
    return true;
  }

  // The source of partition p in row, or nullptr.
  static Source* FindSource(Row* row, int32_t p) {
    for (Source& s : row->sources)
      if (s.partition == p) return &s;
    return nullptr;
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

 private:
  struct Entry {
    std::string key;
    Row row;
  };
  using List = std::list<Entry>;
  void Drop(typename List::iterator it) {
    bytes_ -= it->row.bytes;
    index_.erase(std::string_view(it->key));
    lru_.erase(it);
  }

  size_t max_bytes_;
  size_t bytes_ = 0;
  List lru_;  // most recently used first; the index views the entries' keys
  std::unordered_map<std::string_view, typename List::iterator> index_;
};

}  // namespace spanpipe
