#include "serve/response_cache.h"

namespace spanpipe::serve {
namespace {

size_t Bytes(const std::string& key, const CachedAnswer& a) {
  return key.size() + a.json.size() + a.gzip.size();
}

}  // namespace

std::shared_ptr<const CachedAnswer> ResponseCache::Get(const std::string& key, uint64_t version) {
  std::lock_guard<std::mutex> l(mu_);
  if (version != version_) {
    if (version > version_) {
      Clear();
      version_ = version;
    }
    ++misses_;
    return nullptr;
  }
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  return it->second;
}

void ResponseCache::Put(const std::string& key, uint64_t version,
                        std::shared_ptr<const CachedAnswer> answer) {
  if (max_entries_ == 0 || Bytes(key, *answer) > max_bytes_) return;
  std::lock_guard<std::mutex> l(mu_);
  if (version < version_) return;
  if (version > version_) {
    Clear();
    version_ = version;
  }
  auto [it, fresh] = entries_.try_emplace(key, answer);
  if (fresh) {
    order_.push_back(key);
  } else {
    bytes_ -= Bytes(key, *it->second);
    it->second = answer;
  }
  bytes_ += Bytes(key, *answer);
  while (!order_.empty() && (entries_.size() > max_entries_ || bytes_ > max_bytes_)) {
    auto victim = entries_.find(order_.front());
    bytes_ -= Bytes(victim->first, *victim->second);
    entries_.erase(victim);
    order_.pop_front();
  }
}

void ResponseCache::Clear() {
  entries_.clear();
  order_.clear();
  bytes_ = 0;
}

size_t ResponseCache::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return entries_.size();
}

uint64_t ResponseCache::hits() const {
  std::lock_guard<std::mutex> l(mu_);
  return hits_;
}

uint64_t ResponseCache::misses() const {
  std::lock_guard<std::mutex> l(mu_);
  return misses_;
}

}  // namespace spanpipe::serve
