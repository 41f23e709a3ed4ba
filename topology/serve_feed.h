// ServeFeed: materialises the published output topics into the query side's store, so that
// `serve` can run as its own instances (each reads every partition from the beginning; the
// topics are compacted, so that is bounded).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "common/status.h"
#include "topology/config.h"

namespace spanpipe {
namespace serve {
class QueryStore;
}

class ServeFeed {
 public:
  ServeFeed(const Config& cfg, serve::QueryStore* store) : cfg_(cfg), store_(store) {}
  ~ServeFeed() { Stop(); }
  Status Start();  // background thread
  void Stop();
  uint64_t applied() const { return applied_.load(); }
  // True once the feed has read up to the end of every partition at least once.
  bool caught_up() const { return caught_up_.load(); }
  Status status() const;

 private:
  void Loop();
  Config cfg_;
  serve::QueryStore* store_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> caught_up_{false};
  std::atomic<uint64_t> applied_{0};
  Status error_;
};

}  // namespace spanpipe
