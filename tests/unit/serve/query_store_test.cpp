// QueryStore: the query side's materialised views of the published topics (serve/query_store.h).
#include <rocksdb/db.h>

#include <atomic>
#include <thread>

#include "serve_fixture.h"

namespace spanpipe::serve::servetest {
namespace {

class Store : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempPath(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(QueryStore::Open(dir_, 16, &q_).ok());
  }
  void TearDown() override {
    q_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::vector<RollupRow> Rows(const std::string& g, const std::string& project, int64_t from,
                              int64_t to) {
    std::vector<RollupRow> out;
    EXPECT_TRUE(
        q_->ScanRollups(g, project, from, to, [&](const RollupRow& r) { out.push_back(r); }).ok());
    return out;
  }
  std::vector<std::string> ActiveThreads(const std::string& project, int64_t from, int64_t to) {
    std::vector<std::string> out;
    EXPECT_TRUE(q_->ScanThreadActivity(project, from, to, [&](const ThreadActivity& a) {
                    out.emplace_back(a.thread_id);
                  }).ok());
    return out;
  }
  std::string dir_;
  std::unique_ptr<QueryStore> q_;
};

RollupSpec GptRow(int64_t requests) {
  return {"1m", kT1000, "alpha", "chat", "openai", "gpt-4o", requests, 1,   300,
          150,  0.75,   400,     100,    300,      100,      300,      300, 300};
}

TEST_F(Store, RollupRowsRoundTripEveryField) {
  ASSERT_TRUE(q_->Apply("spanpipe.rollups", "k", RollupJson(GptRow(2))).ok());
  ASSERT_TRUE(q_->Commit().ok());
  auto rows = Rows("1m", "alpha", kT1000, kT1000 + 1);
  ASSERT_EQ(rows.size(), 1u);
  const RollupRow& r = rows[0];
  EXPECT_EQ(r.window_start_ms, kT1000);
  EXPECT_EQ(r.service, "chat");
  EXPECT_EQ(r.provider, "openai");
  EXPECT_EQ(r.model, "gpt-4o");
  EXPECT_EQ(r.operation, "chat");
  EXPECT_EQ(r.environment, "prod");
  EXPECT_EQ(r.requests, 2);
  EXPECT_EQ(r.errors, 1);
  EXPECT_EQ(r.input_tokens, 300);
  EXPECT_EQ(r.output_tokens, 150);
  EXPECT_DOUBLE_EQ(r.cost_usd, 0.75);
  EXPECT_DOUBLE_EQ(r.duration_ms_sum, 400);
  EXPECT_DOUBLE_EQ(r.duration_ms_min, 100);
  EXPECT_DOUBLE_EQ(r.duration_ms_max, 300);
  EXPECT_DOUBLE_EQ(r.duration_ms_p50, 100);
  EXPECT_DOUBLE_EQ(r.duration_ms_p99, 300);
  EXPECT_TRUE(r.final);
  EXPECT_EQ(r.Dim("model"), "gpt-4o");
  EXPECT_EQ(r.Dim("nonsense"), "");
}

TEST_F(Store, NewestRecordOfAKeyWinsAndWindowsAreHalfOpen) {
  ASSERT_TRUE(q_->Apply("spanpipe.rollups", "k", RollupJson(GptRow(1))).ok());
  ASSERT_TRUE(q_->Apply("spanpipe.rollups", "k", RollupJson(GptRow(2))).ok());
  ASSERT_TRUE(q_->Commit().ok());
  ASSERT_TRUE(q_->Apply("spanpipe.rollups", "k", RollupJson(GptRow(5))).ok());
  ASSERT_TRUE(q_->Commit().ok());
  auto rows = Rows("1m", "alpha", kT1000 - kMin, kT1000 + kMin);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].requests, 5);
  EXPECT_TRUE(
      Rows("1m", "alpha", kT1000 - kMin, kT1000).empty());  // [from, to): 10:00 is not before 10:00
  EXPECT_TRUE(Rows("1h", "alpha", 0, kT1100).empty());      // another granularity
  EXPECT_TRUE(Rows("1m", "alph", 0, kT1100).empty());       // a project prefix is not the project
}

TEST_F(Store, WritesAreInvisibleUntilCommit) {
  ASSERT_TRUE(q_->Apply("spanpipe.rollups", "k", RollupJson(GptRow(2))).ok());
  EXPECT_TRUE(Rows("1m", "alpha", 0, kT1100).empty());
  ASSERT_TRUE(q_->Commit().ok());
  EXPECT_EQ(Rows("1m", "alpha", 0, kT1100).size(), 1u);
  EXPECT_EQ(q_->applied(), 1u);
}

TEST_F(Store, KeepsItsViewsAcrossRestartsButDropsAnotherLayout) {
  ASSERT_TRUE(q_->Apply("spanpipe.rollups", "k", RollupJson(GptRow(2))).ok());
  ASSERT_TRUE(q_->Commit().ok());
  q_.reset();
  ASSERT_TRUE(QueryStore::Open(dir_, 16, &q_).ok());
  EXPECT_EQ(Rows("1m", "alpha", 0, kT1100).size(), 1u);
  q_.reset();
  {
    // A store written by an older layout (another format marker) ...
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir_, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "\x01format", "serve-views-1").ok());
    ASSERT_TRUE(db->Close().ok());
  }
  // ... is dropped at open: the feed re-reads the topics from the beginning.
  ASSERT_TRUE(QueryStore::Open(dir_, 16, &q_).ok());
  EXPECT_TRUE(Rows("1m", "alpha", 0, kT1100).empty());
}

TEST_F(Store, RejectsRecordsItCannotIndex) {
  EXPECT_FALSE(q_->Apply("spanpipe.rollups", "k", "not json").ok());
  EXPECT_FALSE(
      q_->Apply("spanpipe.rollups", "k", R"({"window_start_ms":1})").ok());  // no granularity
  EXPECT_FALSE(q_->Apply("spanpipe.threads", "k", R"({"project":"alpha"})").ok());
  EXPECT_FALSE(q_->Apply("spanpipe.spans", "k", R"({"project":"alpha","trace_id":"ab"})").ok());
  EXPECT_FALSE(q_->Apply("spanpipe.dlq", "k", "{}").ok());
  EXPECT_EQ(q_->applied(), 0u);
}

TEST_F(Store, TenMinuteRowsAreTheSumOfTheirMinutesAcrossReplacements) {
  // Minutes 10:00 and 10:01 of gpt-4o (10:00-10:09 is one 10m window), 10:10 another window.
  auto minute = [&](int64_t ws, int64_t requests, double cost, double dmin, double dmax,
                    double p95) {
    RollupSpec r = GptRow(requests);
    r.window_ms = ws;
    r.errors = 0;
    r.in = requests * 10;
    r.out = requests;
    r.cost = cost;
    r.dsum = 100.0 * requests;
    r.dmin = dmin;
    r.dmax = dmax;
    r.p50 = r.p90 = r.p99 = r.p95 = p95;
    ASSERT_TRUE(q_->Apply("spanpipe.rollups", "k", RollupJson(r)).ok());
  };
  minute(kT1000, 1, 0.5, 100, 100, 100);
  ASSERT_TRUE(q_->Commit().ok());
  minute(kT1000, 3, 1.5, 50, 150, 150);  // the minute grew: replaces its first record
  minute(kT1001, 1, 0.25, 80, 300, 300);
  minute(kT1000 + 10 * kMin, 2, 1.0, 70, 70, 70);
  ASSERT_TRUE(q_->Commit().ok());
  auto rows = Rows("10m", "alpha", kT1000, kT1100);
  ASSERT_EQ(rows.size(), 2u);
  // 10:00 window: minute 10:00 (3 requests, $1.50) + minute 10:01 (1 request, $0.25); the first
  // record of 10:00 (1 request) was replaced, not added.
  EXPECT_EQ(rows[0].window_start_ms, kT1000);
  EXPECT_EQ(rows[0].model, "gpt-4o");
  EXPECT_EQ(rows[0].requests, 4);
  EXPECT_EQ(rows[0].input_tokens, 40);
  EXPECT_DOUBLE_EQ(rows[0].cost_usd, 1.75);
  EXPECT_DOUBLE_EQ(rows[0].duration_ms_sum, 400);
  EXPECT_DOUBLE_EQ(rows[0].duration_ms_min, 50);
  EXPECT_DOUBLE_EQ(rows[0].duration_ms_max, 300);
  EXPECT_DOUBLE_EQ(rows[0].duration_ms_p95, (3 * 150.0 + 1 * 300.0) / 4);  // request-weighted
  EXPECT_EQ(rows[1].window_start_ms, kT1000 + 10 * kMin);
  EXPECT_EQ(rows[1].requests, 2);
  EXPECT_DOUBLE_EQ(rows[1].cost_usd, 1.0);
}

TEST_F(Store, ThreadActivityIndexFollowsTheNewestRecord) {
  auto thread = [&](const std::string& first, const std::string& last) {
    ASSERT_TRUE(q_->Apply("spanpipe.threads", "k",
                          ThreadJson("alpha", "th-1", kTraceA, 1, 1, 0, 1, 1, 0.1, first, last,
                                     "gpt-4o", "u-1"))
                    .ok());
  };
  thread("2025-03-10T10:00:00Z", "2025-03-10T10:00:10Z");
  ASSERT_TRUE(q_->Commit().ok());
  thread("2025-03-10T10:00:00Z", "2025-03-10T10:30:00Z");  // the thread went on
  ASSERT_TRUE(q_->Commit().ok());
  // One entry, at the new last_seen: active after 10:20, listed once over the whole day.
  EXPECT_EQ(ActiveThreads("alpha", kT1000 + 20 * kMin, kT1100), std::vector<std::string>{"th-1"});
  EXPECT_EQ(ActiveThreads("alpha", kDay0, kDay0 + kDayMs), std::vector<std::string>{"th-1"});
  // Not active in a range that ends before its first span.
  EXPECT_TRUE(ActiveThreads("alpha", kT0900, kT1000).empty());
  // Two versions within one uncommitted batch: still one entry.
  thread("2025-03-10T10:00:00Z", "2025-03-10T10:40:00Z");
  thread("2025-03-10T10:00:00Z", "2025-03-10T10:50:00Z");
  ASSERT_TRUE(q_->Commit().ok());
  EXPECT_EQ(ActiveThreads("alpha", kDay0, kDay0 + kDayMs), std::vector<std::string>{"th-1"});
  EXPECT_TRUE(ActiveThreads("alpha", kT1000 + 51 * kMin, kT1100).empty());
}

TEST_F(Store, TraceStartIndexFollowsTheNewestRecord) {
  auto trace = [&](const std::string& start, const std::string& user) {
    ASSERT_TRUE(q_->Apply("spanpipe.traces", "k",
                          TraceJson("alpha", kTraceA, "n", "th-1", user, start, start, 1, 1, 0, 1,
                                    1, 0.1, "gpt-4o"))
                    .ok());
  };
  trace("2025-03-10T10:30:00Z", "u-1");
  ASSERT_TRUE(q_->Commit().ok());
  trace("2025-03-10T10:10:00Z", "u-2");  // a late span moved the start earlier
  ASSERT_TRUE(q_->Commit().ok());
  std::vector<std::string> users;
  ASSERT_TRUE(q_->ScanTraceStarts("alpha", kT1000, kT1100, [&](const TraceStart& t) {
                  users.emplace_back(t.user_id);
                  EXPECT_EQ(t.trace_id, kTraceA);
                  EXPECT_EQ(t.thread_id, "th-1");
                  EXPECT_EQ(t.start_ms, kT1000 + 10 * kMin);
                }).ok());
  EXPECT_EQ(users, std::vector<std::string>{"u-2"});
}

TEST_F(Store, SpansAndTracesOfTheSameIdInTwoProjectsStayApart) {
  Seed(q_.get());
  std::vector<json> alpha, beta;
  ASSERT_TRUE(q_->TraceSpans("alpha", kTraceA, &alpha).ok());
  ASSERT_TRUE(q_->TraceSpans("beta", kTraceA, &beta).ok());
  EXPECT_EQ(alpha.size(), 3u);
  ASSERT_EQ(beta.size(), 1u);
  EXPECT_EQ(beta[0]["span_id"], "a0000000000000ff");
  json t;
  bool found = true;
  ASSERT_TRUE(q_->GetTrace("beta", kTraceA, &t, &found).ok());
  EXPECT_FALSE(found);
  std::vector<std::string> traces;
  ASSERT_TRUE(q_->ThreadTraceIds("beta", "th-1", &traces).ok());
  EXPECT_TRUE(traces.empty());
  ASSERT_TRUE(q_->ThreadTraceIds("beta", "th-beta", &traces).ok());
  EXPECT_EQ(traces, (std::vector<std::string>{kTraceA, kTraceC}));  // from the spans' thread_id
}

TEST_F(Store, ErrorIndexHoldsOnlyErrorSpansInStartOrder) {
  Seed(q_.get());
  std::vector<std::string> labels;
  ASSERT_TRUE(q_->ScanErrors("alpha", kDay0, kDay0 + kDayMs, [&](std::string_view l) {
                  labels.emplace_back(l);
                }).ok());
  // S2 (10:00:40) then S3 (10:01:20); S1, S4 and the roots are not errors; beta's error is beta's.
  EXPECT_EQ(labels, (std::vector<std::string>{"RateLimitError", "STATUS_CODE_ERROR"}));
}

TEST(ErrorLabel, NamesEveryErrorSpanAndNeverWithAnEmptyString) {
  // error.type wins, then the status message, then the status code, then "unknown".
  EXPECT_EQ(
      ErrorLabel(json::parse(
          R"({"status_code":2,"status_message":"boom","attributes":{"error.type":"Timeout"}})")),
      "Timeout");
  EXPECT_EQ(ErrorLabel(json::parse(R"({"status_code":2,"status_message":"boom","attributes":{}})")),
            "boom");
  EXPECT_EQ(ErrorLabel(json::parse(
                R"({"status_code":2,"status_message":"","attributes":{"error.type":""}})")),
            "STATUS_CODE_ERROR");
  EXPECT_EQ(ErrorLabel(json::parse(
                R"({"status_code":0,"status_message":"","attributes":{"error.type":500}})")),
            "500");
  EXPECT_EQ(ErrorLabel(json::parse(R"({"status_code":0,"status_message":""})")), "unknown");
  EXPECT_EQ(ErrorLabel(json::object()), "unknown");
}

TEST_F(Store, ReadersRunConcurrentlyWithTheWriter) {
  // The feed applies and commits while HTTP threads scan: readers only ever see whole commits.
  std::atomic<bool> done{false};
  std::atomic<int64_t> bad{0}, scans{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!done) {
        int64_t n = 0;
        q_->ScanRollups("1m", "alpha", 0, kT1000 + 3 * kDayMs, [&](const RollupRow& r) {
          n += r.requests;
          if (r.requests != 2) ++bad;
        });
        if (n % 8 != 0) ++bad;  // a commit adds 4 rows of 2 requests: never seen in part
        ++scans;
      }
    });
  }
  // 500 commits of 4 rows each (2 requests per row).
  for (int c = 0; c < 500; ++c) {
    for (int i = 0; i < 4; ++i) {
      RollupSpec r = GptRow(2);
      r.window_ms = kT1000 + (c * 4 + i) * kMin;
      ASSERT_TRUE(q_->Apply("spanpipe.rollups", "k", RollupJson(r)).ok());
    }
    ASSERT_TRUE(q_->Commit().ok());
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(scans.load(), 0);
  EXPECT_EQ(Rows("1m", "alpha", 0, kT1000 + 3 * kDayMs).size(), 2000u);
}

}  // namespace
}  // namespace spanpipe::serve::servetest
