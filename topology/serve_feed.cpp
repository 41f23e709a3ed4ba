#include "topology/serve_feed.h"

#include <spdlog/spdlog.h>

#include <algorithm>
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

Status ServeFeed::status() const {
  std::lock_guard<std::mutex> l(mu_);
  return error_;
}

std::string ServeFeed::NotReadyReason() const {
  if (caught_up_) return "";
  std::lock_guard<std::mutex> l(mu_);
  return reason_;
}

void ServeFeed::SetReason(std::string reason) {
  std::lock_guard<std::mutex> l(mu_);
  reason_ = std::move(reason);
}

// Caught up = every published topic has partitions assigned, and every assigned partition's end
// offset is known and reached. Otherwise records why not for /readyz.
void ServeFeed::CheckCaughtUp(kafka::KafkaSource* source) {
  std::vector<kafka::TopicPartition> assigned = source->Assignment();
  for (std::string_view topic :
       {streams::kRollups, streams::kThreads, streams::kTraces, streams::kSpans}) {
    bool any = std::any_of(assigned.begin(), assigned.end(),
                           [&](const kafka::TopicPartition& tp) { return tp.topic == topic; });
    if (!any) return SetReason(fmt::format("serve feed: no partition of {} assigned yet", topic));
  }
  auto lag = source->Lag();
  int64_t behind = 0;
  size_t lagging = 0, unknown = 0;
  for (const auto& tp : assigned) {
    auto it = lag.find(tp);
    if (it == lag.end()) {
      ++unknown;
    } else if (it->second > 0) {
      ++lagging;
      behind += it->second;
    }
  }
  if (lagging == 0 && unknown == 0) {
    caught_up_ = true;
    spdlog::info("serve feed: caught up with {} partitions ({} records applied)", assigned.size(),
                 applied_.load());
    return;
  }
  SetReason(fmt::format(
      "serve feed: catching up with the published topics: {} records behind on {} of {} "
      "partitions, end offset not yet known on {}; {} records applied",
      behind, lagging, assigned.size(), unknown, applied_.load()));
}

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
      src, [](const auto& tps, auto* offsets) { offsets->assign(tps.size(), -1); },
      [](const auto&) {}, &source);
  if (!s.ok()) {
    spdlog::error("serve feed: {}", s.ToString());
    std::lock_guard<std::mutex> l(mu_);
    error_ = s;
    reason_ = "serve feed failed: " + s.ToString();
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
    if (!caught_up_) CheckCaughtUp(source.get());
  }
  source->Close();
}

}  // namespace spanpipe
