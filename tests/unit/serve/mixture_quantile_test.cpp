// Percentiles of several rollup rows from the percentiles each row states
// (serve/mixture_quantile.h).
#include "serve/mixture_quantile.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace spanpipe::serve {
namespace {

constexpr double kPercentiles[] = {0.5, 0.9, 0.95, 0.99};

// The sketch's quantile (operators/ddsketch.h), without its 1% error: the value at 0-based rank
// floor(q (n - 1)).
double Exact(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(std::floor(q * static_cast<double>(v.size() - 1)))];
}

// What a rollup record states about these durations.
RowQuantiles Row(const std::vector<double>& d) {
  RowQuantiles r;
  r.requests = static_cast<double>(d.size());
  r.at[0] = *std::min_element(d.begin(), d.end());
  for (int j = 1; j < 5; ++j) r.at[j] = Exact(d, kKnotQuantiles[j]);
  r.at[5] = *std::max_element(d.begin(), d.end());
  return r;
}

TEST(MixtureQuantile, NoRequestsIsZero) {
  EXPECT_EQ(MixtureQuantile({}, 0.95), 0.0);
  RowQuantiles empty;
  empty.at[3] = 7;
  EXPECT_EQ(MixtureQuantile({empty, empty}, 0.95), 0.0);
}

TEST(MixtureQuantile, OneRowGivesItsStatedPercentilesBack) {
  // A sketch's p50 may stray below the exact min by its relative error; one row is still exact.
  RowQuantiles r{40, {100, 99.5, 180, 240, 400, 410}};
  EXPECT_EQ(MixtureQuantile({r}, 0.5), 99.5);
  EXPECT_EQ(MixtureQuantile({r}, 0.9), 180);
  EXPECT_EQ(MixtureQuantile({r}, 0.95), 240);
  EXPECT_EQ(MixtureQuantile({r}, 0.99), 400);
  EXPECT_EQ(MixtureQuantile({r}, 0.0), 100);
  EXPECT_EQ(MixtureQuantile({r}, 1.0), 410);
  // Between: p90 is rank floor(.9 * 39) = 35, p95 rank 37; rank 36 spreads over (180, 240), so
  // rank 0.925 * 39 = 36.075 is 0.075 of the way.
  EXPECT_NEAR(MixtureQuantile({r}, 0.925), 180 + 0.075 * 60, 1e-9);
  // Rows without requests do not count.
  EXPECT_EQ(MixtureQuantile({RowQuantiles{}, r, RowQuantiles{}}, 0.95), 240);
}

TEST(MixtureQuantile, RowsOfUpToThreeRequestsAreExact) {
  std::mt19937_64 rng(7);
  for (int n : {2, 3, 4, 5, 10, 20, 100, 1000}) {
    for (int per_row : {1, 2, 3}) {
      std::vector<double> all;
      std::vector<RowQuantiles> rows;
      for (int i = 0; i < n; ++i) {
        std::vector<double> d(1 + rng() % per_row);
        for (double& x : d) x = static_cast<double>(rng() % 5000);
        all.insert(all.end(), d.begin(), d.end());
        rows.push_back(Row(d));
      }
      for (double q : kPercentiles)
        EXPECT_EQ(MixtureQuantile(rows, q), Exact(all, q)) << n << " " << q;
      EXPECT_EQ(MixtureQuantile(rows, 0.0), *std::min_element(all.begin(), all.end()));
      EXPECT_EQ(MixtureQuantile(rows, 1.0), *std::max_element(all.begin(), all.end()));
    }
  }
}

TEST(MixtureQuantile, HandComputedRowsWithUnstatedDurations) {
  // Row A: 11 requests; ranks 0 (min 100), 5 (p50 200), 9 (p90, p95 and p99: 400), 10 (max 500).
  // Ranks 1-4 spread evenly over (100, 200), ranks 6-8 over (200, 400). Row B: 1 request of 300.
  // Counts at or below x: 1 at 100, 5 just below 200, 6 at 200, 7.5 just below 300, 8.5 at 300,
  // 10 just below 400, 11 at 400, 12 at 500.
  RowQuantiles a{11, {100, 200, 400, 400, 400, 500}};
  RowQuantiles b{1, {300, 300, 300, 300, 300, 300}};
  // p50: rank 5.5 -> 6 at 200.
  EXPECT_EQ(MixtureQuantile({a, b}, 0.5), 200);
  // p90: rank 9.9 -> 10 just below 400; reached on the spread, 1.4 of its 1.5 past 300.
  EXPECT_DOUBLE_EQ(MixtureQuantile({a, b}, 0.9), 300 + 100 * 1.4 / 1.5);
  // p95: rank 10.45 -> 11 at 400.
  EXPECT_EQ(MixtureQuantile({a, b}, 0.95), 400);
  // rank 2.2 (q = 0.2): on the first spread, 4 requests over 100 ms from 1 at 100.
  EXPECT_DOUBLE_EQ(MixtureQuantile({a, b}, 0.2), 100 + 1.2 * 25);
}

// The dashboard's case: an hour of LLM calls of eight models with different latencies, one rollup
// row per (model, minute). The mixture's percentiles are close to those of all the durations; the
// request-weighted mean of the rows' percentiles, used before, was not (p95 below the average).
TEST(MixtureQuantile, RowsOfDifferentModelsGiveThePercentilesOfAllTheirDurations) {
  const int kLatency[] = {1800, 700, 2100, 2400, 900, 600, 1500, 4200};
  std::mt19937_64 rng(42);
  std::vector<double> all;
  std::vector<RowQuantiles> rows;
  double mean_p95 = 0;
  for (int minute = 0; minute < 60; ++minute) {
    for (int l : kLatency) {
      std::vector<double> d(1 + rng() % 6);
      for (double& x : d)
        x = l / 2 + static_cast<double>(rng() % static_cast<uint64_t>(l));  // uniform [l/2, 3l/2)
      all.insert(all.end(), d.begin(), d.end());
      rows.push_back(Row(d));
      mean_p95 += rows.back().requests * rows.back().at[3];
    }
  }
  mean_p95 /= static_cast<double>(all.size());
  for (double q : kPercentiles) {
    double exact = Exact(all, q), got = MixtureQuantile(rows, q);
    EXPECT_NEAR(got, exact, 0.03 * exact) << q;
  }
  double p95 = Exact(all, 0.95);
  EXPECT_LT(mean_p95, 0.75 * p95) << "the weighted mean was not off: this test shows nothing";
}

TEST(MixtureQuantile, IsMonotoneInQ) {
  std::mt19937_64 rng(3);
  std::vector<RowQuantiles> rows;
  for (int i = 0; i < 50; ++i) {
    std::vector<double> d(1 + rng() % 20);
    for (double& x : d) x = static_cast<double>(rng() % 10000);
    rows.push_back(Row(d));
  }
  double last = -1;
  for (int k = 0; k <= 1000; ++k) {
    double v = MixtureQuantile(rows, k / 1000.0);
    ASSERT_GE(v, last) << k;
    last = v;
  }
}

// Many rows are answered from log-spaced buckets, sorting only the one where the answer lies: the
// same answers as one full sort, for rows of every shape (single requests, wide spreads, heavy
// tails, zeros, many equal values).
TEST(MixtureQuantile, BucketedAnswersEqualTheFullSort) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 40; ++round) {
    std::vector<RowQuantiles> rows;
    const int n_rows = 1 + static_cast<int>(rng() % 3000);
    for (int i = 0; i < n_rows; ++i) {
      std::vector<double> d(1 + rng() % (round % 4 == 0 ? 2 : 200));
      for (double& x : d) {
        switch (round % 5) {
          case 0:
            x = static_cast<double>(rng() % 3);
            break;  // many equal values and zeros
          case 1:
            x = std::exp(static_cast<double>(rng() % 1500) / 100.0);
            break;  // heavy tail
          default:
            x = static_cast<double>(rng() % 100000) / 7.0;
            break;
        }
      }
      rows.push_back(Row(d));
    }
    for (double q : {0.0, 0.001, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0}) {
      const double sorted = MixtureQuantile(rows, q, SIZE_MAX);
      EXPECT_NEAR(MixtureQuantile(rows, q, 0), sorted, 1e-9 * std::max(1.0, sorted))
          << "round " << round << " q " << q;
    }
  }
}

}  // namespace
}  // namespace spanpipe::serve
