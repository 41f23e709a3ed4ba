#include "operators/rollup_aggregator.h"

#include <random>

#include "tests/unit/operators/rollup_pipeline_util.h"

namespace spanpipe::rollup::testing {
namespace {

constexpr int64_t kMin = 60'000, kHour = 3'600'000, kDay = 86'400'000;

using RollupAggregatorTest = RollupPipelineTest;

TEST_F(RollupAggregatorTest, TwoPartitionsAreSummedIntoOneRow) {
  MakeStages();
  SpanSpec a{.start_ms = kT0 + 1000,
             .duration_ms = 100,
             .input_tokens = 10,
             .output_tokens = 5,
             .cost_usd = 0.01};
  SpanSpec b{.start_ms = kT0 + 2000,
             .duration_ms = 200,
             .input_tokens = 20,
             .output_tokens = 10,
             .cost_usd = 0.02,
             .error = true,
             .trace = 2};
  SpanSpec c{.start_ms = kT0 + 3000,
             .duration_ms = 300,
             .input_tokens = 30,
             .output_tokens = 15,
             .cost_usd = 0.03,
             .trace = 3};
  ASSERT_TRUE(Add(a, 0, Outcome("u1", "th1")).ok());
  ASSERT_TRUE(Add(b, 0, Outcome("u2", "")).ok());
  ASSERT_TRUE(Add(c, 1, Outcome("u2", "th2")).ok());
  Cycle();
  auto rows = Now();
  ASSERT_EQ(rows.size(), 3u);  // one row per granularity
  const auto& m = rows.at(Key("1m", kT0));
  EXPECT_EQ(m["granularity"], "1m");
  EXPECT_EQ(m["window_start"], "2025-01-01T10:00:00Z");
  EXPECT_EQ(m["window_start_ms"], kT0);
  EXPECT_EQ(m["project"], "p1");
  EXPECT_EQ(m["service"], "svc");
  EXPECT_EQ(m["provider"], "openai");
  EXPECT_EQ(m["model"], "gpt-4o");
  EXPECT_EQ(m["operation"], "chat");
  EXPECT_EQ(m["environment"], "prod");
  EXPECT_EQ(m["requests"], 3);
  EXPECT_EQ(m["errors"], 1);
  EXPECT_EQ(m["input_tokens"], 60);
  EXPECT_EQ(m["output_tokens"], 30);
  EXPECT_EQ(m["total_tokens"], 90);
  EXPECT_NEAR(m["cost_usd"].get<double>(), 0.06, 1e-12);
  EXPECT_DOUBLE_EQ(m["duration_ms_sum"].get<double>(), 600);
  EXPECT_DOUBLE_EQ(m["duration_ms_min"].get<double>(), 100);
  EXPECT_DOUBLE_EQ(m["duration_ms_max"].get<double>(), 300);
  // Sorted durations 100, 200, 300: p50 = rank 1 = 200; p99 = rank floor(1.98) = 1 = 200.
  EXPECT_NEAR(m["duration_ms_p50"].get<double>(), 200, 2);
  EXPECT_NEAR(m["duration_ms_p99"].get<double>(), 200, 2);
  EXPECT_EQ(m["unique_users"], 2);
  EXPECT_EQ(m["unique_threads"], 2);
  EXPECT_FALSE(m["final"].get<bool>());
  EXPECT_EQ(rows.at(Key("1h", kT0))["requests"], 3);
  EXPECT_EQ(rows.at(Key("1d", kT0 - 10 * kHour))["requests"], 3);
  EXPECT_EQ(rows.at(Key("1d", kT0 - 10 * kHour))["window_start"], "2025-01-01T00:00:00Z");
}

TEST_F(RollupAggregatorTest, PercentilesOfAThousandDurations) {
  MakeStages();
  for (int d = 1000; d >= 1; --d)
    ASSERT_TRUE(Add(SpanSpec{.start_ms = kT0 + d, .duration_ms = static_cast<double>(d)}).ok());
  Cycle();
  const auto m = Now().at(Key("1m", kT0));
  // Exact values at rank floor(q * 999) of 1..1000 are 500, 900, 950, 990.
  EXPECT_NEAR(m["duration_ms_p50"].get<double>(), 500, 5);
  EXPECT_NEAR(m["duration_ms_p90"].get<double>(), 900, 9);
  EXPECT_NEAR(m["duration_ms_p95"].get<double>(), 950, 9.5);
  EXPECT_NEAR(m["duration_ms_p99"].get<double>(), 990, 9.9);
  EXPECT_DOUBLE_EQ(m["duration_ms_sum"].get<double>(), 500500);
  EXPECT_DOUBLE_EQ(m["duration_ms_min"].get<double>(), 1);
  EXPECT_DOUBLE_EQ(m["duration_ms_max"].get<double>(), 1000);
}

TEST_F(RollupAggregatorTest, RejectsSpansFarAheadOrBeyondEveryRetention) {
  MakeStages();
  const int64_t now = kT0;
  Status s = Add(SpanSpec{.start_ms = now + kDay + 1000}, 0, {}, now);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("after the processing clock"), std::string::npos) << s.message();
  s = Add(SpanSpec{.start_ms = now - 4 * 365 * kDay}, 0, {}, now);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("retention"), std::string::npos) << s.message();
  EXPECT_EQ(agg_->stats().rejected_spans, 2u);
  EXPECT_EQ(agg_->watermark(0), INT64_MIN);  // rejected spans never move the watermark

  // 23 h ahead is accepted; 100 days old still counts in 1h and 1d, but 1m (37 days) is gone.
  ASSERT_TRUE(Add(SpanSpec{.start_ms = now + 23 * kHour}, 0, {}, now).ok());
  const int64_t old = now - 100 * kDay;
  ASSERT_TRUE(Add(SpanSpec{.start_ms = old}, 0, {}, now).ok());
  Cycle();
  auto rows = Now();
  EXPECT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows.count(Key("1m", now + 23 * kHour)), 1u);
  EXPECT_EQ(rows.count(Key("1m", old)), 0u);
  EXPECT_EQ(rows.at(Key("1h", old))["requests"], 1);
  EXPECT_EQ(rows.at(Key("1d", old - 10 * kHour))["requests"], 1);
  EXPECT_TRUE(rows.at(Key("1h", old))["final"].get<bool>());  // long behind the watermark
}

TEST_F(RollupAggregatorTest, WindowClosesAfterWatermarkAndLateSpanReemitsFinal) {
  MakeStages();  // allowed lateness 2 min
  ASSERT_TRUE(Add(SpanSpec{.start_ms = kT0 + 10'000}).ok());
  Cycle();
  EXPECT_FALSE(Now().at(Key("1m", kT0))["final"].get<bool>());
  // Max event kT0+3min -> watermark kT0+1min = the first minute's end.
  ASSERT_TRUE(Add(SpanSpec{.start_ms = kT0 + 3 * kMin}).ok());
  EXPECT_EQ(agg_->watermark(0), kT0 + kMin);
  auto recs = Cycle();
  auto rows = Now();
  EXPECT_TRUE(rows.at(Key("1m", kT0))["final"].get<bool>());
  EXPECT_EQ(rows.at(Key("1m", kT0))["requests"], 1);
  EXPECT_FALSE(rows.at(Key("1m", kT0 + 3 * kMin))["final"].get<bool>());
  EXPECT_FALSE(rows.at(Key("1h", kT0))["final"].get<bool>());
  EXPECT_EQ(agg_->stats().late_spans, 0u);

  ASSERT_TRUE(Add(SpanSpec{.start_ms = kT0 + 20'000, .trace = 9}, 0, {}, kT0 + 3 * kMin).ok());
  EXPECT_EQ(agg_->stats().late_spans, 1u);
  recs = Cycle();
  rows = Now();
  EXPECT_TRUE(rows.at(Key("1m", kT0))["final"].get<bool>());
  EXPECT_EQ(rows.at(Key("1m", kT0))["requests"], 2);
  EXPECT_EQ(rows.at(Key("1h", kT0))["requests"], 3);
  // Nothing changed: nothing re-published.
  EXPECT_TRUE(Cycle().empty());

  // End of input: everything closes.
  agg_->FinishInput(0);
  Cycle();
  for (auto& [k, j] : Now()) EXPECT_TRUE(j["final"].get<bool>()) << k;
}

TEST_F(RollupAggregatorTest, MergedWatermarkWaitsForTheSlowestPartition) {
  MakeStages();
  ASSERT_TRUE(Add(SpanSpec{.start_ms = kT0 + 10'000}, 0).ok());
  ASSERT_TRUE(Add(SpanSpec{.start_ms = kT0 + 15'000, .trace = 2}, 1).ok());
  ASSERT_TRUE(Add(SpanSpec{.start_ms = kT0 + 10 * kMin}, 0).ok());
  Cycle();
  EXPECT_FALSE(Now().at(Key("1m", kT0))["final"].get<bool>());
  agg_->FinishInput(1);
  Cycle();  // min(kT0 + 8 min, +inf) passes the first minute
  EXPECT_TRUE(Now().at(Key("1m", kT0))["final"].get<bool>());
  EXPECT_EQ(Now().at(Key("1m", kT0))["requests"], 2);
  EXPECT_FALSE(Now().at(Key("1h", kT0))["final"].get<bool>());
  agg_->FinishInput(0);
  Cycle();
  EXPECT_TRUE(Now().at(Key("1h", kT0))["final"].get<bool>());
}

TEST_F(RollupAggregatorTest, IdlePartitionAdvancesWithProcessingTime) {
  RollupOptions o;
  o.idle_advance_ms = 30'000;
  MakeStages(o);
  ASSERT_TRUE(Add(SpanSpec{.start_ms = kT0 + 10'000}, 0, {}, kT0 + 10'000).ok());
  EXPECT_EQ(agg_->watermark(0), kT0 + 10'000 - 120'000);
  ASSERT_TRUE(agg_->AdvanceIdle(0, kT0 + 20'000).ok());  // idle 10 s < 30 s: no change
  EXPECT_EQ(agg_->watermark(0), kT0 + 10'000 - 120'000);
  Cycle();
  ASSERT_TRUE(agg_->AdvanceIdle(0, kT0 + 210'000).ok());  // idle 200 s
  EXPECT_EQ(agg_->watermark(0), kT0 + 10'000 + 200'000 - 120'000);
  auto recs = Cycle();  // only a heartbeat reached the merge, yet the minute closes
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].key, Key("1m", kT0));
  EXPECT_TRUE(Now().at(Key("1m", kT0))["final"].get<bool>());
  ASSERT_TRUE(agg_->AdvanceIdle(7, kT0 + 210'000).ok());  // unknown partition: nothing to do
  EXPECT_EQ(agg_->watermark(7), INT64_MIN);
}

TEST_F(RollupAggregatorTest, LateBindingAddsUserAndThreadToEarlierWindows) {
  MakeStages();
  const SpanSpec s1{.start_ms = kT0 + 5000, .trace = 1};
  const SpanSpec s2{.start_ms = kT0 + 2 * kMin + 5000, .trace = 1};
  const SpanSpec s3{.start_ms = kT0 + 4 * kMin + 5000, .trace = 1};
  const SpanSpec never{.start_ms = kT0 + 5000, .model = "other", .trace = 2};
  ASSERT_TRUE(Add(s1).ok());
  ASSERT_TRUE(Add(never).ok());
  Cycle();
  EXPECT_EQ(Now().at(Key("1m", kT0))["unique_users"], 0);
  ASSERT_TRUE(db_->Commit().ok());
  // The per-trace list survives a restart.
  agg_ = std::make_unique<RollupAggregator>(windows(), unbound(), opt_);
  ASSERT_TRUE(Add(s2).ok());
  ASSERT_TRUE(Add(s3, 0, Outcome("alice", "conv-1", true, true)).ok());
  Cycle();
  auto rows = Now();
  for (int64_t start : {kT0, kT0 + 2 * kMin, kT0 + 4 * kMin}) {
    EXPECT_EQ(rows.at(Key("1m", start))["unique_users"], 1) << start;
    EXPECT_EQ(rows.at(Key("1m", start))["unique_threads"], 1) << start;
  }
  EXPECT_EQ(rows.at(Key("1h", kT0))["unique_users"], 1);
  EXPECT_EQ(rows.at(Key("1h", kT0))["requests"], 3);
  EXPECT_EQ(rows.at(Key("1m", kT0, "other"))["unique_users"], 0);

  // A non-LLM span can carry the binding too.
  const SpanSpec t3{.start_ms = kT0 + 5000, .model = "m3", .trace = 3};
  SpanSpec tool{.start_ms = kT0 + 6000, .model = "", .trace = 3};
  ASSERT_TRUE(Add(t3).ok());
  ASSERT_TRUE(Add(tool, 0, Outcome("bob", "", true, false)).ok());
  Cycle();
  EXPECT_EQ(Now().at(Key("1m", kT0, "m3"))["unique_users"], 1);
  EXPECT_EQ(Now().at(Key("1m", kT0, "m3"))["unique_threads"], 0);
  // ...and a thread bound later still reaches the window whose user is already known.
  ASSERT_TRUE(Add(tool, 0, Outcome("bob", "conv-3", false, true)).ok());
  Cycle();
  EXPECT_EQ(Now().at(Key("1m", kT0, "m3"))["unique_threads"], 1);
  EXPECT_EQ(Now().at(Key("1m", kT0, "m3"))["unique_users"], 1);
}

TEST_F(RollupAggregatorTest, KeysBeyondTheProjectLimitGoToOverflow) {
  RollupOptions o;
  o.max_keys_per_project = 2;
  MakeStages(o);
  for (const char* model : {"a", "b", "c", "d", "a"})
    ASSERT_TRUE(Add(SpanSpec{.start_ms = kT0 + 1000, .model = model, .input_tokens = 1}).ok());
  ASSERT_TRUE(Add(SpanSpec{.start_ms = kT0 + 1000, .project = "p2", .model = "c"}).ok());
  ASSERT_TRUE(Add(SpanSpec{.start_ms = kT0 + kMin, .model = "c"}).ok());
  Cycle();
  auto rows = Now();
  const std::string overflow = "p1|1m|" + std::to_string(kT0) + "|||__overflow__||";
  ASSERT_EQ(rows.count(overflow), 1u);
  EXPECT_EQ(rows.at(overflow)["requests"], 2);  // c and d
  EXPECT_EQ(rows.at(overflow)["model"], "__overflow__");
  EXPECT_EQ(rows.at(overflow)["input_tokens"], 2);
  EXPECT_EQ(rows.at(Key("1m", kT0, "a"))["requests"], 2);
  EXPECT_EQ(rows.count(Key("1m", kT0, "c")), 0u);
  EXPECT_EQ(rows.at(Key("1m", kT0, "c", "p2"))["requests"], 1);   // limits are per project
  EXPECT_EQ(rows.at(Key("1m", kT0 + kMin, "c"))["requests"], 1);  // and per window
  // In the hour, a and b are present, c is new -> the hour's c goes to overflow, and the minute
  // kT0+1min's c as well (hour window is full).
  const std::string hour_overflow = "p1|1h|" + std::to_string(kT0) + "|||__overflow__||";
  EXPECT_EQ(rows.at(hour_overflow)["requests"], 3);
  EXPECT_EQ(agg_->stats().overflowed_spans, 3u);
}

// Deterministic pseudo-random traffic for the replay test.
std::vector<SpanSpec> Traffic(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<SpanSpec> out;
  for (int i = 0; i < n; ++i) {
    SpanSpec s;
    s.start_ms = kT0 + static_cast<int64_t>(rng() % (20 * kMin));
    s.duration_ms = 1 + static_cast<double>(rng() % 5000);
    s.model = "m" + std::to_string(rng() % 4);
    s.input_tokens = static_cast<int64_t>(rng() % 1000);
    s.output_tokens = static_cast<int64_t>(rng() % 500);
    s.cost_usd = static_cast<double>(rng() % 100) / 1000;
    s.error = rng() % 10 == 0;
    s.trace = static_cast<uint8_t>(rng() % 8);
    out.push_back(s);
  }
  return out;
}

TEST_F(RollupAggregatorTest, CrashAndReplayReproducesIdenticalPartials) {
  RollupOptions o;
  o.max_cached_windows = 16;  // force evictions through the store as well
  const auto batch1 = Traffic(200, 1), batch2 = Traffic(200, 2);
  auto apply = [&](RollupAggregator& agg, const std::vector<SpanSpec>& batch, int64_t* max_event) {
    for (const auto& s : batch) {
      *max_event = std::max(*max_event, s.start_ms);
      const std::string user = "u" + std::to_string(s.trace % 3);
      ASSERT_TRUE(
          agg.Apply(s.Record(), Outcome(user, "t" + std::to_string(s.trace)), 0, *max_event).ok());
    }
  };
  std::vector<Record> before_crash;
  int64_t max_event = INT64_MIN;
  {
    RollupAggregator agg(windows(), unbound(), o);
    CaptureEmitter r1, r2;
    apply(agg, batch1, &max_event);
    ASSERT_TRUE(agg.EmitPartials(&r1).ok());
    ASSERT_TRUE(db_->Commit().ok());
    int64_t scratch = max_event;
    apply(agg, batch2, &scratch);
    ASSERT_TRUE(agg.EmitPartials(&r2).ok());  // produced, then the process dies before Commit
    before_crash = r2.records;
    db_->Rollback();
  }
  Reopen();
  RollupAggregator agg(windows(), unbound(), o);
  CaptureEmitter replayed;
  apply(agg, batch2, &max_event);
  ASSERT_TRUE(agg.EmitPartials(&replayed).ok());
  ASSERT_FALSE(before_crash.empty());
  EXPECT_EQ(replayed.records, before_crash);

  // Downstream, the merge sees both copies and counts every span once.
  merge_ = std::make_unique<RollupMerge>(merged(), o);
  for (const auto* recs : {&before_crash, &replayed.records})
    for (const auto& r : *recs) ASSERT_TRUE(merge_->Apply(r.key, r.value).ok());
  CaptureEmitter out;
  ASSERT_TRUE(merge_->Emit(&out).ok());
  // Rows touched by batch2 carry totals over both batches; count the spans of those rows.
  std::map<std::string, int64_t> expected;
  for (const auto* batch : {&batch1, &batch2})
    for (const auto& s : *batch) ++expected[Key("1m", s.start_ms / kMin * kMin, s.model)];
  for (const auto& r : out.records) {
    if (r.key.find("|1m|") == std::string::npos) continue;
    EXPECT_EQ(nlohmann::json::parse(r.value)["requests"].get<int64_t>(), expected.at(r.key))
        << r.key;
  }
}

}  // namespace
}  // namespace spanpipe::rollup::testing
