#include "topology/serve_feed.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <random>

#include "connectors/kafka_source.h"
#include "operators/emitter.h"
#include "serve/query_store.h"

namespace spanpipe {

Status ServeFeed::Start() {
  thread_ = std::thread([this] { Loop(); });
  return Status::OK();
}

void ServeFeed::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

Status ServeFeed::status() const { return error_; }

void ServeFeed::Loop() {
  kafka::SourceOptions src;
  src.brokers = cfg_.kafka.brokers;
  // Every serve instance materialises everything: a group of its own, from the beginning.
  std::random_device rd;
  src.group_id = cfg_.kafka.group_id + "-serve-" + std::to_string(rd());
  src.topics = {std::string(streams::kRollups), std::string(streams::kThreads),
                std::string(streams::kTraces), std::string(streams::kSpans)};
  src.properties = cfg_.kafka.consumer;
  std::unique_ptr<kafka::KafkaSource> source;
  Status s = kafka::KafkaSource::Create(
      src, [](const auto& tps, auto* offsets) { offsets->assign(tps.size(), -1); }, [](const auto&) {},
      &source);
  if (!s.ok()) {
    error_ = s;
    spdlog::error("serve feed: {}", s.ToString());
    return;
  }
  std::vector<kafka::Message> batch;
  while (!stop_) {
    s = source->Poll(5000, 200, &batch);
    if (!s.ok()) {
      spdlog::warn("serve feed: {}", s.message());
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    for (const auto& m : batch) {
      Status as = store_->Apply(m.topic, m.key, m.value);
      if (!as.ok()) spdlog::warn("serve feed: skipped a record of {}: {}", m.topic, as.message());
    }
    if (!batch.empty()) {
      Status cs = store_->Commit();
      if (!cs.ok()) spdlog::error("serve feed: commit failed: {}", cs.message());
      applied_ += batch.size();
    }
    if (!caught_up_) {
      auto lag = source->Lag();
      bool all = !source->Assignment().empty();
      for (const auto& [tp, l] : lag) all = all && l <= 0;
      if (all) caught_up_ = true;
    }
  }
  source->Close();
}

}  // namespace spanpipe
