#include "operators/rollup_metrics.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace spanpipe::rollup {
namespace {

// Random metrics: calls with arbitrary durations and costs; `users` distinct users (over 64: the
// HyperLogLog goes dense).
RollupMetrics Random(std::mt19937_64* rng, int calls, int users) {
  RollupMetrics m;
  for (int i = 0; i < calls; ++i)
    m.AddCall((*rng)() % 4 == 0, (*rng)() % 900, (*rng)() % 90, ((*rng)() % 1000) * 1e-4,
              (*rng)() % 7 == 0 ? 0.0 : ((*rng)() % 1'000'000) * 0.013);
  for (int i = 0; i < users; ++i) m.users.Add("u" + std::to_string((*rng)() % 100'000));
  m.threads.Add("t" + std::to_string((*rng)() % 5));
  return m;
}

std::string Encoded(const RollupMetrics& m) {
  std::string s;
  m.EncodeTo(&s);
  return s;
}

// The merge stage reuses one sum across rows: cleared, it must sum exactly as a new one does.
TEST(RollupMetricsTest, ClearedSumMergesLikeANewOne) {
  std::mt19937_64 rng(5);
  RollupMetrics reused;
  for (int round = 0; round < 60; ++round) {
    const RollupMetrics a =
        Random(&rng, static_cast<int>(rng() % 50), static_cast<int>(rng() % 200));
    const RollupMetrics b =
        Random(&rng, static_cast<int>(rng() % 50), static_cast<int>(rng() % 200));
    reused.Clear();
    reused.Merge(a);
    reused.Merge(b);
    RollupMetrics fresh;
    fresh.Merge(a);
    fresh.Merge(b);
    ASSERT_EQ(Encoded(reused), Encoded(fresh)) << round;
    ASSERT_EQ(reused.users.Estimate(), fresh.users.Estimate()) << round;
    ASSERT_EQ(reused.durations.Quantile(0.5), fresh.durations.Quantile(0.5)) << round;
  }
  reused.Clear();
  EXPECT_EQ(Encoded(reused), Encoded(RollupMetrics()));
}

}  // namespace
}  // namespace spanpipe::rollup
