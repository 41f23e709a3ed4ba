// BucketCache (serve/bucket_cache.h) and MetricsSeries with it: answers made of cached buckets and
// freshly read ones must be byte for byte the answers computed from the store alone, whatever the
// range and whatever the feed committed since the buckets were cached.
#include "serve/bucket_cache.h"

#include <random>

#include "gunzip.h"
#include "serve/compression.h"
#include "serve/query_api.h"
#include "serve_fixture.h"

namespace spanpipe::serve::servetest {
namespace {

class BucketCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempPath(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(QueryStore::Open(dir_, 16, &store_).ok());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Rollup(const std::string& gran, int64_t window, const std::string& project,
              const std::string& provider, const std::string& model, int64_t requests,
              double cost = 0.5) {
    ASSERT_TRUE(store_
                    ->Apply("spanpipe.rollups", "",
                            RollupJson({gran, window, project, "chat", provider, model, requests,
                                        requests / 3, requests * 10, requests * 2, cost,
                                        100.0 * requests, 10, 300, 90, 200, 250, 290}))
                    .ok());
  }
  void Commit() { ASSERT_TRUE(store_->Commit().ok()); }
  std::shared_ptr<const BucketText> Text(const std::string& s) {
    auto b = std::make_shared<BucketText>();
    b->text = s;
    b->points = 1;
    return b;
  }

  std::string dir_;
  std::unique_ptr<QueryStore> store_;
};

TEST_F(BucketCacheTest, TheStoreLogsTheRollupWindowsEachCommitWrote) {
  Rollup("1m", kT1000 + 3 * kMin, "alpha", "openai", "gpt-4o", 1);   // its 10m row: 10:00-10:10
  Rollup("1m", kT1000 + 12 * kMin, "alpha", "openai", "gpt-4o", 1);  // 10:10-10:20, merged
  Rollup("1h", kT1100, "alpha", "openai", "gpt-4o", 1);              // 11:00-12:00
  Rollup("1d", kDay0, "beta", "openai", "gpt-4o", 1);
  uint64_t v0 = store_->version();
  Commit();
  uint64_t v1 = store_->version();
  ASSERT_EQ(v1, v0 + 1);
  Rollup("1m", kT0900, "alpha", "openai", "gpt-4o", 1);
  Commit();
  // A commit without rollups is logged too (nothing changed for the cache).
  ASSERT_TRUE(
      store_
          ->Apply("spanpipe.threads", "",
                  ThreadJson("alpha", "th-x", kTraceA, 1, 1, 0, 1, 1, 0.1, "2025-03-10T10:00:00Z",
                             "2025-03-10T10:01:00Z", "gpt-4o", "u-1"))
          .ok());
  Commit();

  std::vector<RollupChange> c;
  ASSERT_TRUE(store_->RollupChangesSince(v0, v1, &c));
  auto is = [](const RollupChange& x, const char* project, uint8_t grans, int64_t from,
               int64_t to) {
    return x.project == project && x.grans == grans && x.from_ms == from && x.to_ms == to;
  };
  ASSERT_EQ(c.size(), 5u);
  EXPECT_TRUE(is(c[0], "alpha", kGran1m, kT1000 + 3 * kMin, kT1000 + 4 * kMin));
  EXPECT_TRUE(is(c[1], "alpha", kGran1m, kT1000 + 12 * kMin, kT1000 + 13 * kMin));
  EXPECT_TRUE(is(c[2], "alpha", kGran10m, kT1000, kT1000 + 20 * kMin));  // merged
  EXPECT_TRUE(is(c[3], "alpha", kGran1h, kT1100, kT1100 + kHour));
  EXPECT_TRUE(is(c[4], "beta", kGran1d, kDay0, kDay0 + kDayMs));

  c.clear();
  ASSERT_TRUE(store_->RollupChangesSince(v1, store_->version(), &c));
  ASSERT_EQ(c.size(), 2u);
  EXPECT_TRUE(is(c[0], "alpha", kGran1m, kT0900, kT0900 + kMin));
  EXPECT_TRUE(is(c[1], "alpha", kGran10m, kT0900, kT0900 + 10 * kMin));
  c.clear();
  EXPECT_TRUE(store_->RollupChangesSince(store_->version(), store_->version(), &c));
  EXPECT_TRUE(c.empty());
}

TEST_F(BucketCacheTest, ABackfillCommitIsLoggedAsOneRangePerGranularity) {
  // 1 500 minutes 20 minutes apart: 3 000 ranges that do not touch (1m and 10m rows).
  for (int i = 0; i < 1500; ++i) Rollup("1m", kDay0 + i * 20 * kMin, "alpha", "openai", "m", 1);
  uint64_t v0 = store_->version();
  Commit();
  std::vector<RollupChange> c;
  ASSERT_TRUE(store_->RollupChangesSince(v0, store_->version(), &c));
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].grans, kGran1m);
  EXPECT_EQ(c[0].from_ms, kDay0);
  EXPECT_EQ(c[0].to_ms, kDay0 + 1499 * 20 * kMin + kMin);
  EXPECT_EQ(c[1].grans, kGran10m);
  EXPECT_EQ(c[1].to_ms, kDay0 + 1499 * 20 * kMin + 10 * kMin);
}

TEST_F(BucketCacheTest, ACommitDropsTheBucketsItWroteIntoAndNoOthers) {
  Rollup("1h", kT1000, "alpha", "openai", "gpt-4o", 1);
  Commit();
  BucketCache cache(1 << 20);
  uint64_t v = cache.Sync(*store_);
  // Buckets of 1h rows (interval 1hour), of 1m rows (5min) and of 1d rows (1day).
  cache.Put(*store_, "a10", "alpha", kGran1h, kT1000, kT1100, v, Text("ten"));
  cache.Put(*store_, "a11", "alpha", kGran1h, kT1100, kT1100 + kHour, v, Text("eleven"));
  cache.Put(*store_, "b10", "beta", kGran1h, kT1000, kT1100, v, Text("beta ten"));
  cache.Put(*store_, "a1055", "alpha", kGran1m, kT1000 + 55 * kMin, kT1100, v, Text("5 min"));
  cache.Put(*store_, "aday", "alpha", kGran1d, kDay0, kDay0 + kDayMs, v, Text("day"));
  EXPECT_EQ(cache.size(), 5u);

  Rollup("1m", kT1000 + 59 * kMin, "alpha", "openai", "gpt-4o", 1);  // 10:59 of alpha
  Commit();
  cache.Sync(*store_);
  EXPECT_EQ(cache.Get("a1055"), nullptr);
  EXPECT_NE(cache.Get("a10"), nullptr);  // a 1m row is not a 1h row
  EXPECT_NE(cache.Get("aday"), nullptr);
  EXPECT_EQ(cache.invalidated(), 1u);

  Rollup("1h", kT1000, "alpha", "openai", "gpt-4o", 2);
  Commit();
  cache.Sync(*store_);
  EXPECT_EQ(cache.Get("a10"), nullptr);
  ASSERT_NE(cache.Get("a11"), nullptr);
  EXPECT_EQ(cache.Get("a11")->text, "eleven");
  EXPECT_NE(cache.Get("b10"), nullptr);  // another project
  EXPECT_NE(cache.Get("aday"), nullptr);
  EXPECT_EQ(cache.invalidated(), 2u);

  // The feed publishes today's open 1d row at every commit: the hours stay.
  Rollup("1d", kDay0, "alpha", "openai", "gpt-4o", 1);
  Commit();
  cache.Sync(*store_);
  EXPECT_EQ(cache.Get("aday"), nullptr);
  EXPECT_NE(cache.Get("a11"), nullptr);
  EXPECT_NE(cache.Get("b10"), nullptr);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.invalidated(), 3u);
}

TEST_F(BucketCacheTest, ABucketReadBeforeACommitThatWroteIntoItIsNotStored) {
  Rollup("1h", kT1000, "alpha", "openai", "gpt-4o", 1);
  Commit();
  BucketCache cache(1 << 20);
  uint64_t v = cache.Sync(*store_);
  // The feed commits into 10:00 while the bucket is being computed...
  Rollup("1h", kT1000, "alpha", "openai", "gpt-4o", 2);
  Commit();
  cache.Sync(*store_);  // (another request syncs first)
  cache.Put(*store_, "a10", "alpha", kGran1h, kT1000, kT1100, v, Text("stale"));
  EXPECT_EQ(cache.Get("a10"), nullptr);
  // ...and into 11:00: a 10:00 bucket read at v is still right.
  Rollup("1h", kT1100, "alpha", "openai", "gpt-4o", 2);
  uint64_t v2 = cache.Sync(*store_);
  Commit();
  cache.Put(*store_, "a10", "alpha", kGran1h, kT1000, kT1100, v2,
            Text("fine"));  // without a Sync between
  ASSERT_NE(cache.Get("a10"), nullptr);
  cache.Sync(*store_);
  ASSERT_NE(cache.Get("a10"), nullptr);
  cache.Put(*store_, "a11", "alpha", kGran1h, kT1100, kT1100 + kHour, v2, Text("stale 11"));
  EXPECT_EQ(cache.Get("a11"), nullptr);
  EXPECT_EQ(cache.Get("a10")->text, "fine");
}

TEST_F(BucketCacheTest, EverythingGoesWhenTheChangeLogNoLongerReachesBack) {
  BucketCache cache(1 << 20);
  uint64_t v = cache.Sync(*store_);
  cache.Put(*store_, "a10", "alpha", kGran1h, kT1000, kT1100, v, Text("ten"));
  for (size_t i = 0; i <= QueryStore::kChangeLogCommits; ++i) {
    Rollup("1m", kDay0 + 20 * kDayMs, "gamma", "openai", "gpt-4o", static_cast<int64_t>(i + 1));
    Commit();
  }
  cache.Sync(*store_);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.Get("a10"), nullptr);
}

TEST_F(BucketCacheTest, LeastRecentlyUsedGoFirstBeyondTheByteBudget) {
  auto sized = [](size_t n) {
    auto b = std::make_shared<BucketText>();
    b->text.assign(n, 'x');
    return b;
  };
  // Room for three entries of 1 000 bytes of text (+1/7 for its deflate form, + bookkeeping).
  BucketCache cache(4200);
  uint64_t v = cache.Sync(*store_);
  cache.Put(*store_, "k1", "alpha", kGran1h, 0, 1, v, sized(1000));
  cache.Put(*store_, "k2", "alpha", kGran1h, 0, 1, v, sized(1000));
  cache.Put(*store_, "k3", "alpha", kGran1h, 0, 1, v, sized(1000));
  EXPECT_NE(cache.Get("k1"), nullptr);  // k2 is now the least recently used
  cache.Put(*store_, "k4", "alpha", kGran1h, 0, 1, v, sized(1000));
  EXPECT_EQ(cache.Get("k2"), nullptr);
  EXPECT_NE(cache.Get("k1"), nullptr);
  EXPECT_NE(cache.Get("k3"), nullptr);
  EXPECT_NE(cache.Get("k4"), nullptr);
  EXPECT_LE(cache.bytes(), 4200u);
  cache.Put(*store_, "big", "alpha", kGran1h, 0, 1, v, sized(10000));  // over the budget: not kept
  EXPECT_EQ(cache.Get("big"), nullptr);
  EXPECT_EQ(cache.size(), 3u);
  cache.Put(*store_, "k4", "alpha", kGran1h, 0, 1, v, sized(10));  // a replacement frees its bytes
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.Get("k4")->text.size(), 10u);
}

// The series of a random data set, for many random queries, with and without the cache, while
// the feed keeps committing new and changed rows (into buckets already cached, and elsewhere).
class SeriesWithCache : public BucketCacheTest {
 protected:
  const std::vector<std::string> providers_ = {"openai", "anthropic"};
  const std::vector<std::string> models_ = {"m-a", "m-b", "m-c\"quoted\""};
  static constexpr int kDays = 2;

  // A 1m, 1h or 1d row (the feed's commits: mostly 1m rows, so the coarser ones at 1/10 each).
  void RandomRow(std::mt19937_64& rng, const std::string& project = "alpha", bool feed = false) {
    int g = static_cast<int>(rng() % 3);
    if (feed) g = rng() % 10 == 0 ? 1 : rng() % 10 == 0 ? 2 : 0;
    int64_t window = kDay0 + static_cast<int64_t>(rng() % (kDays * 1440)) * kMin;
    const char* gran = g == 0 ? "1m" : g == 1 ? "1h" : "1d";
    window = g == 0 ? window : g == 1 ? window / kHour * kHour : window / kDayMs * kDayMs;
    Rollup(gran, window, project, providers_[rng() % providers_.size()],
           models_[rng() % models_.size()], static_cast<int64_t>(1 + rng() % 50),
           static_cast<double>(rng() % 1000) / 7.0);
  }

  Params RandomQuery(std::mt19937_64& rng, int64_t* now) {
    static const char* kIntervals[] = {"1min", "5min", "1hour", "1day"};
    static const char* kMetrics[] = {"request_count", "error_rate", "total_cost", "duration",
                                     "total_tokens"};
    static const char* kAggs[] = {"sum", "avg", "max", "p95"};
    std::string interval = kIntervals[rng() % 4];
    int64_t max_len = interval == "1min" ? 6 * kHour : kDays * kDayMs;
    int64_t from = kDay0 - kHour + static_cast<int64_t>(rng() % ((kDays * kDayMs + 2 * kHour)));
    from = from / 1000 * 1000;  // to the second, as dashboards send it
    int64_t to = from + 1000 + static_cast<int64_t>(rng() % max_len) / 1000 * 1000;
    Params p{{"interval", interval}};
    *now = to;
    if (rng() % 4 == 0) {
      p.emplace("start_time", std::to_string(from / 1000));  // end_time: now
    } else {
      p.emplace("start_time", std::to_string(from));
      p.emplace("end_time", std::to_string(to));
    }
    // A few dashboards' shapes, so that buckets are shared between queries.
    switch (rng() % 5) {
      case 0:
        p.emplace("metrics", "request_count");
        break;
      case 1:
        p.emplace("metrics", "request_count,error_rate,total_cost,duration");
        p.emplace("group_by", "model");
        break;
      case 2:
        p.emplace("metrics", "duration,total_tokens");
        p.emplace("aggregation", kAggs[rng() % 4]);
        p.emplace("group_by", "provider,model");
        break;
      case 3:
        p.emplace("metrics", kMetrics[rng() % 5]);
        p.emplace("group_by", "model");
        p.emplace("provider", providers_[rng() % providers_.size()]);
        break;
      default:
        p.emplace("metrics", "total_cost,request_count");
        p.emplace("aggregation", "avg");
        p.emplace("group_by", "provider");
    }
    return p;
  }
};

TEST_F(SeriesWithCache, AnswersAreTheColdComputationForRandomRangesAndCommits) {
  std::mt19937_64 rng(20261130);
  for (int i = 0; i < 3000; ++i) RandomRow(rng);
  Commit();
  BucketCache cache(64 << 20);
  int compared = 0;
  for (int round = 0; round < 40; ++round) {
    for (int q = 0; q < 25; ++q) {
      int64_t now;
      Params p = RandomQuery(rng, &now);
      ApiResult cold = MetricsSeries(*store_, "alpha", p, now);
      ApiResult cached = MetricsSeries(*store_, "alpha", p, now, &cache);
      ASSERT_EQ(cold.status, 200) << cold.Serialized();
      ASSERT_EQ(cached.status, 200);
      ASSERT_EQ(cached.text, cold.text) << "round " << round << " query " << q;
      ASSERT_FALSE(cold.text.empty());
      if (q % 5 == 0) {
        // The gzip form assembled from the buckets' deflate segments inflates to the answer.
        std::string gz;
        ASSERT_GT(cached.head, 0u);  // in pieces
        ASSERT_TRUE(GzipAnswer(cached, 6, &gz));
        ASSERT_EQ(Gunzip(gz), cold.text);
        ASSERT_EQ(cold.head, 0u);  // compressed whole
        ASSERT_TRUE(GzipAnswer(cold, 6, &gz));
        ASSERT_EQ(Gunzip(gz), cold.text);
      }
      ++compared;
    }
    // The feed: rows changed or added across the whole data set (so into cached buckets), and
    // rows of another project.
    int n = static_cast<int>(1 + rng() % 20);
    for (int i = 0; i < n; ++i) RandomRow(rng, rng() % 4 ? "alpha" : "beta", true);
    Commit();
  }
  EXPECT_EQ(compared, 1000);
  EXPECT_GT(cache.hits(), 20000u);          // most buckets came from the cache...
  EXPECT_GT(cache.invalidated(), 1000u);    // ...and commits dropped many
  EXPECT_GT(cache.misses(), cache.size());  // (recomputed after that)
}

TEST_F(SeriesWithCache, SummaryAndQueryFromCachedWindowsAreTheColdComputation) {
  std::mt19937_64 rng(99);
  for (int i = 0; i < 3000; ++i) RandomRow(rng);
  Commit();
  BucketCache cache(64 << 20);
  for (int round = 0; round < 30; ++round) {
    for (int q = 0; q < 10; ++q) {
      int64_t from = kDay0 - kHour + static_cast<int64_t>(rng() % (kDays * kDayMs)) / 1000 * 1000;
      int64_t to = from + 1000 + static_cast<int64_t>(rng() % (kDays * kDayMs)) / 1000 * 1000;
      Params p{{"start_time", std::to_string(from)},
               {"end_time", std::to_string(to)},
               {"compare_previous_period", rng() % 2 ? "true" : "false"}};
      ApiResult cold = MetricsSummary(*store_, "alpha", p, to);
      ApiResult cached = MetricsSummary(*store_, "alpha", p, to, &cache);
      ASSERT_EQ(cold.status, 200) << cold.Serialized();
      ASSERT_EQ(cached.Serialized(), cold.Serialized()) << "round " << round << " query " << q;

      json body = {{"start_time", std::to_string(from)},
                   {"end_time", std::to_string(to)},
                   {"metrics",
                    {{{"name", "total_cost"}, {"alias", "cost"}},
                     {{"name", "duration"}, {"aggregation", "p95"}, {"alias", "p95"}}}},
                   {"group_by", {"provider", "model"}},
                   {"sort_by", {{"field", "cost"}, {"order", "desc"}}}};
      if (rng() % 2) body["interval"] = rng() % 2 ? "1hour" : "5min";
      cold = MetricsQuery(*store_, "alpha", body, to);
      cached = MetricsQuery(*store_, "alpha", body, to, &cache);
      ASSERT_EQ(cold.status, 200) << cold.Serialized();
      ASSERT_EQ(cached.Serialized(), cold.Serialized()) << "round " << round << " query " << q;
    }
    int n = static_cast<int>(1 + rng() % 20);
    for (int i = 0; i < n; ++i) RandomRow(rng, rng() % 4 ? "alpha" : "beta", true);
    Commit();
  }
  EXPECT_GT(cache.hits(), 5000u);
  EXPECT_GT(cache.invalidated(), 100u);
}

TEST(GzipSegments, SegmentsConcatenateIntoOneGzipStream) {
  std::string big;
  for (int i = 0; big.size() < 200000; ++i)
    big += "{\"n\":" + std::to_string(i * 7919 % 1000) + "},";
  const std::vector<std::string> pieces = {"head", big, "", ",", big.substr(0, 70000), "]}"};
  std::vector<std::string> seg(pieces.size());
  std::string plain;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i % 2)
      ASSERT_TRUE(DeflateSegment(pieces[i], 1, &seg[i]));
    else
      AppendStoredSegment(pieces[i], &seg[i]);  // 70 000 bytes: two stored blocks
    plain += pieces[i];
  }
  std::vector<std::string_view> views(seg.begin(), seg.end());
  std::string gz;
  GzipFromSegments(views, plain, &gz);
  EXPECT_EQ(Gunzip(gz), plain);
  EXPECT_LT(gz.size(), plain.size() / 3);
}

TEST_F(SeriesWithCache, ARangeEndingNowReadsOnlyTheBucketsNotCached) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) RandomRow(rng);
  Commit();
  BucketCache cache(64 << 20);
  const int64_t now = kDay0 + kDayMs + 13 * kHour + 25 * kMin + 17000;  // day 1, 13:25:17
  auto query = [&](int64_t end) {
    Params p{{"interval", "1hour"},
             {"group_by", "model"},
             {"metrics", "request_count,total_cost"},
             {"start_time", std::to_string((end - kDayMs) / 1000)}};
    ApiResult cold = MetricsSeries(*store_, "alpha", p, end);
    ApiResult cached = MetricsSeries(*store_, "alpha", p, end, &cache);
    EXPECT_EQ(cached.text, cold.text);
    return cached.text;
  };
  query(now);  // 25 buckets: 24 whole ones cached, the current hour not
  EXPECT_EQ(cache.size(), 24u);
  EXPECT_EQ(cache.hits(), 0u);
  query(now + 1000);  // one second later: a different query, the same 24 whole buckets
  EXPECT_EQ(cache.hits(), 24u);
  // The feed writes into the previous hour (12:00) and the current one: only 12:00 is read again.
  Rollup("1m", (now - kHour) / kMin * kMin, "alpha", "openai", "m-z", 5);
  Rollup("1h", (now - kHour) / kHour * kHour, "alpha", "openai", "m-z", 99);
  Rollup("1m", now / kMin * kMin, "alpha", "openai", "m-z", 5);
  Commit();
  std::string before = query(now + 2000);
  EXPECT_EQ(cache.hits(), 24u + 23u);
  EXPECT_EQ(cache.invalidated(), 1u);
  EXPECT_NE(before.find("\"model\":\"m-z\"},\"request_count\":99"), std::string::npos);
}

TEST_F(SeriesWithCache, ThousandsOfTinyBucketsAreReadWithoutTheCache) {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 2000; ++i) RandomRow(rng);
  Commit();
  BucketCache cache(64 << 20);
  Params p{{"interval", "1min"},
           {"start_time", std::to_string(kDay0)},
           {"end_time", std::to_string(kDay0 + 2 * kDayMs)}};  // 2 880 buckets
  ApiResult cached = MetricsSeries(*store_, "alpha", p, kDay0, &cache);
  EXPECT_EQ(cached.text, MetricsSeries(*store_, "alpha", p, kDay0).text);
  EXPECT_EQ(cache.size(), 0u);
  p.find("end_time")->second = std::to_string(kDay0 + kDayMs);  // 1 440: cached
  cached = MetricsSeries(*store_, "alpha", p, kDay0, &cache);
  EXPECT_EQ(cached.text, MetricsSeries(*store_, "alpha", p, kDay0).text);
  EXPECT_EQ(cache.size(), 1440u);
}

TEST_F(SeriesWithCache, QueriesOfAnotherShapeOrProjectDoNotShareBuckets) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 2000; ++i) RandomRow(rng);
  for (int i = 0; i < 500; ++i) RandomRow(rng, "beta");
  Commit();
  BucketCache cache(64 << 20);
  const std::string from = std::to_string(kDay0 / 1000),
                    to = std::to_string((kDay0 + kDayMs) / 1000);
  std::vector<Params> shapes = {
      {{"interval", "1hour"}, {"metrics", "request_count"}},
      {{"interval", "1hour"}, {"metrics", "total_cost"}},
      {{"interval", "1hour"}, {"metrics", "request_count"}, {"aggregation", "max"}},
      {{"interval", "1hour"}, {"metrics", "request_count"}, {"group_by", "model"}},
      {{"interval", "1hour"}, {"metrics", "request_count"}, {"group_by", "provider"}},
      {{"interval", "1hour"}, {"metrics", "request_count"}, {"provider", "openai"}},
      {{"interval", "1hour"}, {"metrics", "request_count"}, {"model", "openai"}},
      {{"interval", "1day"}, {"metrics", "request_count"}},
  };
  for (int pass = 0; pass < 2; ++pass) {
    for (const char* project : {"alpha", "beta"}) {
      for (Params p : shapes) {
        p.emplace("start_time", from);
        p.emplace("end_time", to);
        ApiResult cold = MetricsSeries(*store_, project, p, kDay0);
        ApiResult cached = MetricsSeries(*store_, project, p, kDay0, &cache);
        EXPECT_EQ(cached.text, cold.text) << project << " " << p.begin()->second;
      }
    }
  }
  // 2 projects x (7 shapes x 24 hours + 1 day), each computed once and read from the cache once.
  EXPECT_EQ(cache.size(), 2u * (7 * 24 + 1));
  EXPECT_EQ(cache.hits(), cache.size());
}

}  // namespace
}  // namespace spanpipe::serve::servetest
