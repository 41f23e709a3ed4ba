// ResponseCache: finished answers of read-only queries, keyed by (project, route, normalised
// parameters) and valid for one store version (QueryStore::version(), bumped by every commit of
// the feed). A repeated query (several dashboards, a polling client) costs a lookup instead of a
// scan until new records arrive; then every entry is dropped at once.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace spanpipe::serve {

struct CachedAnswer {
  std::string json;  // the body as served without compression
  std::string gzip;  // the same, gzip-compressed; empty until a client that accepts gzip asked
};

class ResponseCache {
 public:
  ResponseCache(size_t max_entries, size_t max_bytes)
      : max_entries_(max_entries), max_bytes_(max_bytes) {}

  // The answer stored for `key` at `version`, or null. A newer version drops every entry.
  std::shared_ptr<const CachedAnswer> Get(const std::string& key, uint64_t version);
  // Stores (or replaces) the answer computed from the store at `version`, read before computing;
  // an answer of an older version than the cache's is not stored. Oldest entries go first when
  // the cache is over its entry or byte budget.
  void Put(const std::string& key, uint64_t version, std::shared_ptr<const CachedAnswer> answer);

  size_t size() const;
  uint64_t hits() const;
  uint64_t misses() const;

 private:
  void Clear();  // mu_ held
  const size_t max_entries_, max_bytes_;
  mutable std::mutex mu_;
  uint64_t version_ = 0;
  std::unordered_map<std::string, std::shared_ptr<const CachedAnswer>> entries_;
  std::deque<std::string> order_;  // insertion order, for eviction
  size_t bytes_ = 0;
  uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace spanpipe::serve
