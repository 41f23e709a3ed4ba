#include "serve/bucket_cache.h"

#include <array>
#include <vector>

#include "serve/compression.h"

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

const std::string& BucketText::Deflated() const {
  std::call_once(deflate_once_, [this] {
    // zlib's fastest level: made once per bucket, then reused by every gzip answer.
    if (!DeflateSegment(text, 1, &deflated_)) {
      deflated_.clear();
      AppendStoredSegment(text, &deflated_);
    }
  });
  return deflated_;
}

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

std::shared_ptr<const CachedPart> BucketCache::GetPart(const std::string& key) {
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
                      std::shared_ptr<const CachedPart> bucket) {
  size_t bytes = key.size() + project.size() + bucket->bytes() + kEntryOverhead;
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

Status ScanRollupsCached(const QueryStore& store, BucketCache* cache, std::string_view gran,
                         const std::string& project, int64_t from_ms, int64_t to_ms,
                         const std::function<void(const RollupRow&)>& fn) {
  const int64_t w = gran == "1m"    ? int64_t{60000}
                    : gran == "10m" ? int64_t{600000}
                    : gran == "1h"  ? int64_t{3600000}
                    : gran == "1d"  ? int64_t{86400000}
                                    : 0;
  if (!cache || w == 0 || to_ms <= from_ms)
    return store.ScanRollups(gran, project, from_ms, to_ms, fn);
  const uint64_t version = cache->Sync(store);
  std::string key = "rows:" + std::to_string(project.size()) + ':' + project + ':';
  key.append(gran).push_back('@');
  const size_t base = key.size();
  for (int64_t pos = from_ms; pos < to_ms;) {
    const int64_t ws = (pos >= 0 ? pos / w : (pos - w + 1) / w) * w;
    if (ws != pos || ws + w > to_ms) {  // a part of a window: read as it is
      int64_t end = std::min(ws + w, to_ms);
      SPANPIPE_RETURN_IF_ERROR(store.ScanRollups(gran, project, pos, end, fn));
      pos = end;
      continue;
    }
    key.resize(base);
    key.append(std::to_string(ws));
    std::shared_ptr<const RowWindow> win = cache->Get<RowWindow>(key);
    if (!win) {
      auto fresh = std::make_shared<RowWindow>();
      // The strings go to the arena as offsets first (it grows), views are set at the end.
      std::vector<std::array<uint32_t, 5>> at;
      SPANPIPE_RETURN_IF_ERROR(
          store.ScanRollups(gran, project, ws, ws + w, [&](const RollupRow& r) {
            std::array<uint32_t, 5> o;
            const std::string_view dims[] = {r.service, r.provider, r.model, r.operation,
                                             r.environment};
            for (size_t i = 0; i < 5; ++i) {
              o[i] = static_cast<uint32_t>(fresh->arena.size());
              fresh->arena.append(dims[i]);
            }
            at.push_back(o);
            fresh->rows.push_back(r);
          }));
      // What is counted is what is held (before the views: the arena may move).
      fresh->rows.shrink_to_fit();
      fresh->arena.shrink_to_fit();
      for (size_t i = 0; i < fresh->rows.size(); ++i) {
        RollupRow& r = fresh->rows[i];
        std::string_view* dims[] = {&r.service, &r.provider, &r.model, &r.operation,
                                    &r.environment};
        for (size_t d = 0; d < 5; ++d)
          *dims[d] = std::string_view(fresh->arena).substr(at[i][d], dims[d]->size());
      }
      cache->Put(store, key, project, RollupGranOf(gran), ws, ws + w, version, fresh);
      win = std::move(fresh);
    }
    for (const RollupRow& r : win->rows) fn(r);
    pos = ws + w;
  }
  return Status::OK();
}

}  // namespace spanpipe::serve
