// ServeFeed readiness (what /readyz reports in serve, run and demo) against the embedded broker
// (librdkafka's mock cluster, in-process): not ready, with a reason, until every record published
// before the feed started is in the query store.
#include "topology/serve_feed.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "connectors/embedded_cluster.h"
#include "connectors/kafka_sink.h"
#include "operators/emitter.h"
#include "serve/query_store.h"

namespace spanpipe {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kT0 = 1741600800000;  // 2025-03-10T10:00:00Z
constexpr int kRecords = 3000;

class ServeFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("spanpipe_serve_feed_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    ASSERT_TRUE(kafka::EmbeddedCluster::Start(1, &cluster_).ok());
    cfg_.kafka.brokers = cluster_->bootstrap();
    ASSERT_TRUE(serve::QueryStore::Open(dir_.string(), 16, &store_).ok());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // kRecords one-minute rollup rows of project "p", spread over the topic's partitions.
  void PublishRollups() {
    kafka::SinkOptions so;
    so.brokers = cluster_->bootstrap();
    std::unique_ptr<kafka::KafkaSink> sink;
    ASSERT_TRUE(kafka::KafkaSink::Create(so, &sink).ok());
    for (int i = 0; i < kRecords; ++i) {
      std::string value = R"({"project":"p","granularity":"1m","window_start_ms":)" +
                          std::to_string(kT0 + int64_t{60000} * i) +
                          R"(,"provider":"openai","model":"gpt-4o","requests":1})";
      ASSERT_TRUE(sink->Produce(streams::kRollups, "k" + std::to_string(i), value).ok());
    }
    ASSERT_TRUE(sink->Flush(30000).ok());
  }

  size_t RowsInStore() const {
    size_t n = 0;
    EXPECT_TRUE(store_
                    ->ScanRollups("1m", "p", kT0, kT0 + int64_t{60000} * kRecords,
                                  [&](const serve::RollupRow&) { ++n; })
                    .ok());
    return n;
  }

  std::filesystem::path dir_;
  std::unique_ptr<kafka::EmbeddedCluster> cluster_;
  Config cfg_;
  std::unique_ptr<serve::QueryStore> store_;
};

TEST_F(ServeFeedTest, NotReadyUntilEveryRecordPublishedBeforeItIsInTheStore) {
  for (auto topic : {streams::kRollups, streams::kThreads, streams::kTraces, streams::kSpans})
    ASSERT_TRUE(cluster_->CreateTopic(std::string(topic), 4).ok());
  PublishRollups();

  ServeFeed feed(cfg_, store_.get());
  EXPECT_EQ(feed.NotReadyReason(), "serve feed: starting");
  ASSERT_TRUE(feed.Start().ok());
  auto deadline = Clock::now() + std::chrono::seconds(60);
  std::string last_reason;
  while (!feed.caught_up() && Clock::now() < deadline) {
    std::string why = feed.NotReadyReason();
    // caught_up() may turn true between the two calls; otherwise there is a reason.
    if (!feed.caught_up()) {
      EXPECT_EQ(why.rfind("serve feed: ", 0), 0u) << why;
      last_reason = why;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(feed.caught_up()) << "never caught up; last reason: " << last_reason;
  // Ready means everything that was on the topics is applied and committed (readable).
  EXPECT_EQ(feed.NotReadyReason(), "");
  EXPECT_EQ(feed.applied(), static_cast<uint64_t>(kRecords));
  EXPECT_EQ(RowsInStore(), static_cast<size_t>(kRecords));
  feed.Stop();
}

TEST_F(ServeFeedTest, NotReadyWithAReasonWhileTheBrokerIsUnreachable) {
  cfg_.kafka.brokers = "127.0.0.1:1";  // nothing listens there
  ServeFeed feed(cfg_, store_.get());
  ASSERT_TRUE(feed.Start().ok());
  const std::string want = "serve feed: no partition of spanpipe.rollups assigned yet";
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (feed.NotReadyReason() != want && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(feed.NotReadyReason(), want);
  EXPECT_FALSE(feed.caught_up());
  feed.Stop();
}

}  // namespace
}  // namespace spanpipe
