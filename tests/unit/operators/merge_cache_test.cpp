// The merges' caches of decoded rows (operators/merge_cache.h) are invisible in their output: the
// same partials give the same records, byte for byte, with the cache, with none, and with one so
// small that it evicts all the time, across restarts and rolled-back checkpoints; a stored partial
// that no longer decodes fails the Emit that reads it, as without a cache.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/coding.h"
#include "operators/rollup_merge.h"
#include "operators/rollup_partial.h"
#include "operators/thread_codec.h"
#include "operators/thread_merge.h"
#include "state/state_db.h"
#include "tests/unit/operators/resolve_test_util.h"
#include "tests/unit/operators/rollup_pipeline_util.h"

namespace spanpipe::rollup::testing {
namespace {

using Partials = std::vector<std::pair<std::string, std::string>>;

// One merge (RollupMerge or ThreadMerge) over its own StateDb, driven as the topology does:
// Apply all, Emit, Commit.
template <class Merge, class Options>
class MergeRun {
 public:
  MergeRun(const std::string& tag, size_t cache_bytes) : dir_(tag), cache_bytes_(cache_bytes) {
    Restart();
  }
  // A new process on the same state (the cache starts empty).
  void Restart() {
    merge_.reset();
    db_.reset();
    db_ = dir_.Open({"merged"}, {});
    New();
  }
  // Applies the partials and emits; commits, or rolls back and starts a new merge (a failed
  // checkpoint). Returns the first failure.
  Status Interval(const Partials& partials, bool commit) {
    for (const auto& [key, value] : partials) {
      Status s = merge_->Apply(key, value);
      if (!s.ok()) return s;
      EXPECT_LE(merge_->cached_bytes(), cache_bytes_);
    }
    Status s = merge_->Emit(&out_);
    EXPECT_LE(merge_->cached_bytes(), cache_bytes_);
    if (!s.ok()) return s;
    if (commit) return db_->Commit();
    db_->Rollback();
    New();
    return Status::OK();
  }
  state::KvStore* store() { return db_->store("merged"); }
  Merge& merge() { return *merge_; }
  const std::vector<Record>& records() const { return out_.records; }

 private:
  void New() { merge_ = std::make_unique<Merge>(store(), Options{}, cache_bytes_); }
  testutil::StateDir dir_;
  size_t cache_bytes_;
  std::unique_ptr<state::StateDb> db_;
  std::unique_ptr<Merge> merge_;
  CaptureEmitter out_;
};
using RollupRun = MergeRun<RollupMerge, RollupOptions>;
using ThreadRun = MergeRun<threads::ThreadMerge, threads::ThreadLimits>;

// Random traffic of 3 source partitions: each (row, partition) total grows with its version; some
// partials are delivered twice or late (an older version).
class Traffic {
 public:
  explicit Traffic(uint32_t seed) : rng_(seed) {}
  virtual ~Traffic() = default;
  Partials Interval() {
    Partials out;
    for (int n = 0; n < 16; ++n) {
      const int row = static_cast<int>(rng_() % kRows);
      const int32_t p = static_cast<int32_t>(rng_() % kPartitions);
      out.push_back(Next(row, p, ++versions_[row][p]));
      if (rng_() % 4 == 0) out.emplace_back(out.back());
      if (rng_() % 5 == 0 && !old_.empty()) out.push_back(old_[rng_() % old_.size()]);
      old_.push_back(out.back());
    }
    End(&out);
    return out;
  }

 protected:
  static constexpr int kRows = 12, kPartitions = 3;
  // The partial of (row, p) at `version`, its total grown.
  virtual std::pair<std::string, std::string> Next(int row, int32_t p, uint64_t version) = 0;
  virtual void End(Partials*) {}
  std::mt19937 rng_;

 private:
  uint64_t versions_[kRows][kPartitions] = {};
  Partials old_;
};

// 12 rollup rows over 4 minutes; watermarks advance so rows go final; costs and durations are
// arbitrary doubles, so the order of summation shows in the output.
class RollupTraffic : public Traffic {
 public:
  using Traffic::Traffic;
  static WindowId Row(int i) {
    return WindowId{Granularity::k1m,
                    kT0 + (i % 4) * 60'000,
                    {"p1", "svc", "openai", "m" + std::to_string(i), "chat", "prod"}};
  }

 private:
  std::pair<std::string, std::string> Next(int row, int32_t p, uint64_t version) override {
    RollupMetrics& m = metrics_[row][p];
    m.AddCall(rng_() % 5 == 0, rng_() % 1000, rng_() % 300, (rng_() % 10000) * 1e-5,
              10.0 + (rng_() % 2000) * 0.0137);
    m.users.Add("u" + std::to_string(rng_() % 7));
    std::string v;
    EncodePartial(p, version, wm_ - 10'000 * p, Row(row), m, &v);
    return {ContractKey(Row(row)), v};
  }
  void End(Partials* out) override {
    for (int32_t p = 0; p < kPartitions; ++p) {
      std::string hb;
      EncodeHeartbeat(p, wm_ - 10'000 * p, &hb);
      out->emplace_back(HeartbeatKey(p), hb);
    }
    wm_ += 20'000;
  }
  int64_t wm_ = kT0;
  RollupMetrics metrics_[kRows][kPartitions];
};

// 12 threads; traces, models and users accumulate in each partition's lists.
class ThreadTraffic : public Traffic {
 public:
  using Traffic::Traffic;

 private:
  std::pair<std::string, std::string> Next(int row, int32_t p, uint64_t version) override {
    threads::ThreadPartial& t = partials_[row][p];
    t.partition = p;
    t.version = version;
    t.project = "p1";
    t.thread_id = "conv" + std::to_string(row);
    threads::ThreadTotals& s = t.totals;
    const uint64_t start = 1'000'000 + rng_() % 1'000'000;
    char id[33];
    std::snprintf(id, sizeof(id), "%016llx%016llx", static_cast<unsigned long long>(rng_()),
                  static_cast<unsigned long long>(rng_() % 64));
    threads::AddThreadTrace(&s, start, id, 100);
    ++s.trace_count;
    s.span_count += 3;
    s.llm_calls += 1;
    s.input_tokens += rng_() % 500;
    s.cost_usd += (rng_() % 10000) * 1e-5;
    s.first_seen_unix_nano = s.span_count == 3 ? start : std::min(s.first_seen_unix_nano, start);
    s.last_seen_unix_nano = std::max(s.last_seen_unix_nano, start + 500);
    threads::AddDistinct(&s.models, "m" + std::to_string(rng_() % 3), 100);
    threads::AddDistinct(&s.user_ids, "u" + std::to_string(rng_() % 4), 20);
    std::string v;
    threads::EncodeThreadPartial(t, &v);
    return {threads::ThreadOutputKey(t.project, t.thread_id), v};
  }
  threads::ThreadPartial partials_[kRows][kPartitions];
};

// Runs the same traffic through a default cache, none and a tiny one; restarts and rolled-back
// checkpoints on the way; all three publish the same records.
template <class Run, class Gen>
void ExpectSameRecords(size_t default_bytes, size_t tiny_bytes) {
  Run cached("cached", default_bytes), none("none", 0), tiny("tiny", tiny_bytes);
  Run* runs[] = {&cached, &none, &tiny};
  Gen traffic(42);
  for (int i = 0; i < 24; ++i) {
    const Partials partials = traffic.Interval();
    const bool restart = i % 7 == 3, rollback = i % 5 == 2;
    for (Run* r : runs) {
      ASSERT_TRUE(r->Interval(partials, !rollback).ok());
      if (rollback) {  // the job consumes them again
        ASSERT_TRUE(r->Interval(partials, true).ok());
      }
      if (restart) r->Restart();
    }
  }
  ASSERT_FALSE(none.records().empty());
  EXPECT_EQ(cached.records(), none.records());
  EXPECT_EQ(tiny.records(), none.records());
  EXPECT_GT(cached.merge().cached_bytes(), tiny.merge().cached_bytes());  // the tiny one evicted
  EXPECT_GT(tiny.merge().cached_bytes(), 0u);
  EXPECT_EQ(none.merge().cached_bytes(), 0u);
}

TEST(MergeCacheTest, RollupsAreTheSameWithTheCacheWithoutItAndWithAnEvictingOne) {
  ExpectSameRecords<RollupRun, RollupTraffic>(RollupMerge::kDefaultCacheBytes, 16000);
}

TEST(MergeCacheTest, ThreadsAreTheSameWithTheCacheWithoutItAndWithAnEvictingOne) {
  ExpectSameRecords<ThreadRun, ThreadTraffic>(threads::ThreadMerge::kDefaultCacheBytes, 16000);
}

// A source partition whose stored watermark no longer reads still has stored partials: a row that
// holds a partial of every other source is not taken for complete.
TEST(MergeCacheTest, ASourceWithAnUnreadableWatermarkStillCountsForCompleteness) {
  RollupRun cached("cached", RollupMerge::kDefaultCacheBytes), none("none", 0);
  const WindowId a = RollupTraffic::Row(0);
  auto partial = [&](int32_t p, uint64_t version, int calls) {
    RollupMetrics m;
    for (int i = 0; i < calls; ++i) m.AddCall(false, 1, 1, 0.25, 10.0);
    std::string v;
    EncodePartial(p, version, kT0, a, m, &v);
    return std::make_pair(ContractKey(a), v);
  };
  for (RollupRun* r : {&cached, &none}) {
    ASSERT_TRUE(r->Interval({partial(0, 1, 1), partial(1, 1, 3)}, true).ok());
    std::string skey(1, 's');  // 's' be32(partition) -> its watermark
    PutFixed32BE(&skey, 1);
    r->store()->Put(skey, "unreadable");
    ASSERT_TRUE(r->Interval({}, true).ok());
    r->Restart();
    ASSERT_TRUE(r->Interval({partial(0, 2, 2)}, true).ok());
  }
  EXPECT_EQ(cached.records(), none.records());
  EXPECT_EQ(nlohmann::json::parse(cached.records().back().value)["requests"], 5);
}

// Dims may contain '|': two windows of different ends can share one contract key. Their partials
// and index keys are merged as without the cache.
TEST(MergeCacheTest, WindowsSharingAContractKeyMergeAsWithoutTheCache) {
  const WindowId minute{
      Granularity::k1m, kT0, {"p", "a|1h|" + std::to_string(kT0), "x", "y", "z", "w|v"}};
  const WindowId hour{
      Granularity::k1h, kT0, {"p|1m|" + std::to_string(kT0) + "|a", "x", "y", "z", "w", "v"}};
  ASSERT_EQ(ContractKey(minute), ContractKey(hour));
  auto partial = [](const WindowId& id, int32_t p, uint64_t version, int64_t wm) {
    RollupMetrics m;
    for (uint64_t i = 0; i < version; ++i) m.AddCall(false, 1, 1, 0.5, 10.0 * (p + 1));
    std::string v;
    EncodePartial(p, version, wm, id, m, &v);
    return std::make_pair(ContractKey(id), v);
  };
  RollupRun cached("cached", RollupMerge::kDefaultCacheBytes), none("none", 0);
  for (RollupRun* r : {&cached, &none}) {
    for (int i = 1; i <= 6; ++i) {
      // The row's end is its last partial's: the minute's, but the hour's in the second interval.
      // The watermark passes the minute's end, not the hour's.
      const int64_t wm = kT0 + i * 30'000;
      Partials in = {partial(hour, 1, i, wm), partial(i == 2 ? hour : minute, 0, i, wm)};
      ASSERT_TRUE(r->Interval(in, true).ok());
      if (i == 4) r->Restart();
    }
    Partials past_the_hour;  // both sources' watermarks past the hour: the row closes
    for (int32_t p : {0, 1}) {
      std::string hb;
      EncodeHeartbeat(p, kT0 + 2 * 3'600'000, &hb);
      past_the_hour.emplace_back(HeartbeatKey(p), hb);
    }
    ASSERT_TRUE(r->Interval(past_the_hour, true).ok());
  }
  ASSERT_TRUE(nlohmann::json::parse(none.records().back().value)["final"].get<bool>());
  EXPECT_EQ(cached.records(), none.records());
}

TEST(MergeCacheTest, RowsLargerThanTheBudgetAreNotKeptButStillMerged) {
  RollupRun run("small", 64), none("nocache", 0);
  RollupTraffic traffic(7);
  for (int i = 0; i < 4; ++i) {
    const Partials partials = traffic.Interval();
    ASSERT_TRUE(run.Interval(partials, true).ok());
    ASSERT_TRUE(none.Interval(partials, true).ok());
  }
  EXPECT_EQ(run.merge().cached_rows(), 0u);
  EXPECT_EQ(run.merge().cached_bytes(), 0u);
  EXPECT_EQ(run.records(), none.records());
}

// Stores a damaged partial of partition 0 under `row`'s prefix, restarts (the row is then read
// back from the store) and applies `next`, a partial of partition 1 of the same row: the Emit
// fails with Corruption, cached or not.
template <class Run>
void ExpectCorruptionFound(const std::string& key, const std::pair<std::string, std::string>& first,
                           const std::pair<std::string, std::string>& next,
                           std::string_view row_prefix, std::string_view damaged) {
  for (size_t cache_bytes : {size_t{16} << 20, size_t{0}}) {
    Run run("corrupt" + std::to_string(cache_bytes), cache_bytes);
    ASSERT_TRUE(run.Interval({first}, true).ok());
    std::string pkey(row_prefix);
    PutFixed32BE(&pkey, 0);
    run.store()->Put(pkey, damaged);
    ASSERT_TRUE(run.Interval({}, true).ok());
    run.Restart();
    Status s = run.Interval({next}, true);
    EXPECT_TRUE(s.IsCorruption()) << key << ", cache " << cache_bytes << ": " << s.ToString();
  }
}

TEST(MergeCacheTest, CorruptStoredRollupPartialFailsTheEmitWithOrWithoutCache) {
  const WindowId a = RollupTraffic::Row(0);
  RollupMetrics m;
  m.AddCall(false, 5, 1, 0.5, 10.0);
  std::string v0, v1;
  EncodePartial(0, 1, kT0, a, m, &v0);
  EncodePartial(1, 1, kT0, a, m, &v1);
  std::string prefix(1, 'p');  // 'p' LP(key) be32(partition)
  PutLengthPrefixed(&prefix, ContractKey(a));
  ExpectCorruptionFound<RollupRun>(ContractKey(a), {ContractKey(a), v0}, {ContractKey(a), v1},
                                   prefix,
                                   state::WrapExpiring(INT64_MAX, std::string("P\x01garbage", 9)));
}

// Thread "p1|conv"'s partial of partition p (version 1) with `spans` spans.
std::string ThreadPartialOf(int32_t p, int64_t spans) {
  threads::ThreadPartial t;
  t.partition = p;
  t.project = "p1";
  t.thread_id = "conv";
  t.version = 1;
  t.totals.span_count = spans;
  std::string v;
  threads::EncodeThreadPartial(t, &v);
  return v;
}
// Its key in the merged store: LP("p1|conv") be32(partition), without the partition.
std::string ThreadPrefix() {
  std::string prefix;
  PutLengthPrefixed(&prefix, threads::ThreadOutputKey("p1", "conv"));
  return prefix;
}

TEST(MergeCacheTest, CorruptStoredThreadPartialFailsTheEmitWithOrWithoutCache) {
  const std::string key = threads::ThreadOutputKey("p1", "conv");
  ExpectCorruptionFound<ThreadRun>(key, {key, ThreadPartialOf(0, 1)}, {key, ThreadPartialOf(1, 1)},
                                   ThreadPrefix(), "garbage");
}

// A store written before the thread merge recorded its source partitions (a partial of partition
// 0 and nothing else): the sources stay unknown, so the thread is still read whole and summed.
TEST(MergeCacheTest, ThreadsStoredBeforeSourcesWereRecordedAreStillSummedWhole) {
  const std::string key = threads::ThreadOutputKey("p1", "conv");
  const std::string v1 = ThreadPartialOf(1, 5);
  ThreadRun run("legacy", threads::ThreadMerge::kDefaultCacheBytes);
  std::string pkey = ThreadPrefix();
  PutFixed32BE(&pkey, 0);
  run.store()->Put(pkey, ThreadPartialOf(0, 2));
  ASSERT_TRUE(run.Interval({}, true).ok());
  run.Restart();
  ASSERT_TRUE(run.Interval({{key, v1}}, true).ok());
  ASSERT_TRUE(run.Interval({{key, v1}}, true).ok());  // re-delivered: nothing new
  ASSERT_EQ(run.records().size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(run.records()[0].value)["span_count"], 7);
}

}  // namespace
}  // namespace spanpipe::rollup::testing
