// RollupMerge's cache of decoded rows (operators/merge_cache.h) is invisible in its output: the
// same partials give the same records, byte for byte, with the cache, with none, and with one so
// small that it evicts all the time, across restarts and rolled-back checkpoints.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/coding.h"
#include "operators/rollup_merge.h"
#include "operators/rollup_partial.h"
#include "state/state_db.h"
#include "tests/unit/operators/resolve_test_util.h"
#include "tests/unit/operators/rollup_pipeline_util.h"

namespace spanpipe::rollup::testing {
namespace {

constexpr size_t kTinyCache = 16000;  // a few rows: most Applies and Emits evict

// One merge over its own StateDb, driven as the topology does: Apply all, Emit, Commit.
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
    merge_ = std::make_unique<RollupMerge>(db_->store("merged"), RollupOptions{}, cache_bytes_);
  }
  // Applies the partials and emits; commits, or rolls back and starts a new merge (a failed
  // checkpoint). Returns the status of the first failure.
  Status Interval(const std::vector<std::pair<std::string, std::string>>& partials, bool commit) {
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
    merge_ = std::make_unique<RollupMerge>(db_->store("merged"), RollupOptions{}, cache_bytes_);
    return Status::OK();
  }
  state::KvStore* store() { return db_->store("merged"); }
  RollupMerge& merge() { return *merge_; }
  const std::vector<Record>& records() const { return out_.records; }

 private:
  testutil::StateDir dir_;
  size_t cache_bytes_;
  std::unique_ptr<state::StateDb> db_;
  std::unique_ptr<RollupMerge> merge_;
  CaptureEmitter out_;
};

WindowId Row(int i) {
  return WindowId{Granularity::k1m,
                  kT0 + (i % 4) * 60'000,
                  {"p1", "svc", "openai", "m" + std::to_string(i), "chat", "prod"}};
}

// Random traffic: 3 source partitions, 12 rows over 4 minutes; each (row, partition) total grows
// with its version; some partials are re-delivered late (older versions) or twice; watermarks
// advance so rows go final; costs and durations are arbitrary doubles, so the order of summation
// shows in the output.
class Traffic {
 public:
  explicit Traffic(uint32_t seed) : rng_(seed) {}
  std::vector<std::pair<std::string, std::string>> Interval() {
    std::vector<std::pair<std::string, std::string>> out;
    wm_ += 20'000;
    for (int n = 0; n < 16; ++n) {
      const int row = static_cast<int>(rng_() % 12);
      const int32_t p = static_cast<int32_t>(rng_() % 3);
      State& st = state_[row][p];
      st.metrics.AddCall(rng_() % 5 == 0, rng_() % 1000, rng_() % 300, (rng_() % 10000) * 1e-5,
                         10.0 + (rng_() % 2000) * 0.0137);
      st.metrics.users.Add("u" + std::to_string(rng_() % 7));
      ++st.version;
      std::string v;
      EncodePartial(p, st.version, wm_ - 10'000 * p, Row(row), st.metrics, &v);
      out.emplace_back(ContractKey(Row(row)), v);
      if (rng_() % 4 == 0) out.emplace_back(out.back());  // delivered twice
      if (rng_() % 5 == 0 && !old_.empty()) out.push_back(old_[rng_() % old_.size()]);  // late
      old_.push_back(out.back());
    }
    for (int32_t p = 0; p < 3; ++p) {
      std::string hb;
      EncodeHeartbeat(p, wm_ - 10'000 * p, &hb);
      out.emplace_back(HeartbeatKey(p), hb);
    }
    return out;
  }

 private:
  struct State {
    RollupMetrics metrics;
    uint64_t version = 0;
  };
  std::mt19937 rng_;
  int64_t wm_ = kT0;
  State state_[12][3];
  std::vector<std::pair<std::string, std::string>> old_;
};

TEST(RollupMergeCacheTest, CachedUncachedAndEvictingMergesPublishTheSameRecords) {
  MergeRun cached("cached", RollupMerge::kDefaultCacheBytes), none("none", 0),
      tiny("tiny", kTinyCache);
  MergeRun* runs[] = {&cached, &none, &tiny};
  Traffic traffic(42);
  for (int i = 0; i < 24; ++i) {
    const auto partials = traffic.Interval();
    const bool restart = i % 7 == 3, rollback = i % 5 == 2;
    for (MergeRun* r : runs) {
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
  EXPECT_GT(cached.merge().cached_rows(), tiny.merge().cached_rows());  // the tiny one evicted
  EXPECT_GT(tiny.merge().cached_rows(), 0u);
  EXPECT_EQ(none.merge().cached_rows(), 0u);
}

// A stored partial that no longer decodes is found when its row is read from the store, as before
// the cache: the Emit that needs it fails with Corruption, cached or not.
TEST(RollupMergeCacheTest, CorruptStoredPartialFailsTheEmitWithOrWithoutCache) {
  for (size_t cache_bytes : {RollupMerge::kDefaultCacheBytes, size_t{0}}) {
    MergeRun run("corrupt" + std::to_string(cache_bytes), cache_bytes);
    const WindowId a = Row(0);
    RollupMetrics m;
    m.AddCall(false, 5, 1, 0.5, 10.0);
    std::string v0, v1;
    EncodePartial(0, 1, kT0, a, m, &v0);
    EncodePartial(1, 1, kT0, a, m, &v1);
    ASSERT_TRUE(run.Interval({{ContractKey(a), v0}}, true).ok());
    // Partition 0's stored partial of row a: 'p' LP(key) be32(partition), its payload damaged.
    std::string pkey(1, 'p');
    PutLengthPrefixed(&pkey, ContractKey(a));
    PutFixed32BE(&pkey, 0);
    run.store()->Put(pkey, state::WrapExpiring(INT64_MAX, std::string("P\x01garbage", 9)));
    ASSERT_TRUE(run.Interval({}, true).ok());
    run.Restart();  // the row is read back from the store
    Status s = run.Interval({{ContractKey(a), v1}}, true);
    EXPECT_TRUE(s.IsCorruption()) << cache_bytes << ": " << s.ToString();
  }
}

TEST(RollupMergeCacheTest, RowsLargerThanTheBudgetAreNotKeptButStillMerged) {
  MergeRun run("small", 64), none("nocache", 0);
  Traffic traffic(7);
  for (int i = 0; i < 4; ++i) {
    const auto partials = traffic.Interval();
    ASSERT_TRUE(run.Interval(partials, true).ok());
    ASSERT_TRUE(none.Interval(partials, true).ok());
  }
  EXPECT_EQ(run.merge().cached_rows(), 0u);
  EXPECT_EQ(run.merge().cached_bytes(), 0u);
  EXPECT_EQ(run.records(), none.records());
}

}  // namespace
}  // namespace spanpipe::rollup::testing
