// ServeFeed: materialises the published output topics into the query side's store, so that
// `serve` can run as its own instances (each reads every partition from the beginning; the
// topics are compacted, so that is bounded).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "topology/config.h"

namespace spanpipe {
namespace serve {
class QueryStore;
}
namespace kafka {
class KafkaSource;
}

class ServeFeed {
 public:
  ServeFeed(const Config& cfg, serve::QueryStore* store) : cfg_(cfg), store_(store) {}
  ~ServeFeed() { Stop(); }
  Status Start();  // background thread
  void Stop();
  uint64_t applied() const { return applied_.load(); }
  // True once the feed has read up to the end of every assigned partition at least once (every
  // partition's end offset known and reached), and has not failed since.
  bool caught_up() const { return caught_up_.load(); }
  // Empty when caught_up(); otherwise why not: no partitions assigned yet, how far behind, or the
  // error that stopped the feed (for /readyz).
  std::string NotReadyReason() const;
  Status status() const;

 private:
  void Loop();
  void SetReason(std::string reason);
  void CheckCaughtUp(kafka::KafkaSource* source);
  Config cfg_;
  serve::QueryStore* store_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> caught_up_{false};
  std::atomic<uint64_t> applied_{0};
  mutable std::mutex mu_;  // guards error_ and reason_
  Status error_;
  std::string reason_ = "serve feed: starting";
};

}  // namespace spanpipe
