#include "serve/bucket_cache.h"

#include <vector>

namespace spanpipe::serve {
namespace {

// Bookkeeping per entry beyond its strings: the hash node, the LRU node, the shared text's
// control block.
constexpr size_t kEntryOverhead = 160;

bool Overlaps(const std::vector<RollupChange>& changes, const std::string& project, uint8_t grans,
              int64_t from, int64_t to) {
  for (const auto& c : changes)
    if (c.project == project && (c.grans & grans) && c.from_ms < to && from < c.to_ms) return true;
  return false;
}

}  // namespace

uint64_t BucketCache::Sync(const QueryStore& store) {
  std::lock_guard<std::mutex> l(mu_);
  uint64_t now = store.version();
  if (now <= synced_) return synced_;
  if (!entries_.empty()) {
    std::vector<RollupChange> changes;
    if (!store.RollupChangesSince(synced_, now, &changes)) {
      invalidated_ += entries_.size();
      entries_.clear();
      lru_.clear();
      bytes_ = 0;
    } else if (!changes.empty()) {
      std::unordered_map<std::string_view, std::vector<RollupChange>> by_project;
      for (auto& c : changes) by_project[c.project].push_back(c);
      for (auto it = entries_.begin(); it != entries_.end();) {
        auto p = by_project.find(it->second.project);
        auto next = std::next(it);
        if (p != by_project.end() && Overlaps(p->second, it->second.project, it->second.grans,
                                              it->second.from_ms, it->second.to_ms)) {
          ++invalidated_;
          Erase(it);
        }
        it = next;
      }
    }
  }
  synced_ = now;
  return now;
}

std::shared_ptr<const BucketText> BucketCache::Get(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.bucket;
}

void BucketCache::Put(const QueryStore& store, const std::string& key, const std::string& project,
                      uint8_t grans, int64_t from_ms, int64_t to_ms, uint64_t version,
                      std::shared_ptr<const BucketText> bucket) {
  size_t bytes = key.size() + project.size() + bucket->text.size() + kEntryOverhead;
  if (bytes > max_bytes_) return;
  std::lock_guard<std::mutex> l(mu_);
  if (version < synced_) {
    // Commits landed while it was computed: keep it only if none of them wrote into it.
    std::vector<RollupChange> changes;
    if (!store.RollupChangesSince(version, synced_, &changes) ||
        Overlaps(changes, project, grans, from_ms, to_ms))
      return;
  }
  auto [it, fresh] = entries_.try_emplace(key);
  if (!fresh) {
    bytes_ -= it->second.bytes;
    lru_.erase(it->second.lru);
  }
  Entry& e = it->second;
  e.bucket = std::move(bucket);
  e.project = project;
  e.grans = grans;
  e.from_ms = from_ms;
  e.to_ms = to_ms;
  e.bytes = bytes;
  lru_.push_front(&it->first);
  e.lru = lru_.begin();
  bytes_ += bytes;
  while (bytes_ > max_bytes_ && !lru_.empty()) Erase(entries_.find(*lru_.back()));
}

void BucketCache::Erase(std::unordered_map<std::string, Entry>::iterator it) {
  bytes_ -= it->second.bytes;
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

size_t BucketCache::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return entries_.size();
}

size_t BucketCache::bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  return bytes_;
}

uint64_t BucketCache::hits() const {
  std::lock_guard<std::mutex> l(mu_);
  return hits_;
}

uint64_t BucketCache::misses() const {
  std::lock_guard<std::mutex> l(mu_);
  return misses_;
}

uint64_t BucketCache::invalidated() const {
  std::lock_guard<std::mutex> l(mu_);
  return invalidated_;
}

}  // namespace spanpipe::serve
