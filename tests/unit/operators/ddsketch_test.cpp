#include "operators/ddsketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "common/coding.h"

namespace spanpipe {
namespace {

constexpr double kQuantiles[] = {0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0};

// Reference: the element at rank floor(q * (n - 1)) of the sorted values.
double ExactQuantile(const std::vector<double>& sorted, double q) {
  return sorted[static_cast<size_t>(std::floor(q * static_cast<double>(sorted.size() - 1)))];
}

std::vector<double> Lognormal(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> dist(5.0, 1.5);  // median ~148 ms, long tail
  std::vector<double> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(DDSketchTest, QuantilesWithinOnePercentOfExactOn100kLognormal) {
  std::vector<double> values = Lognormal(100000, 42);
  DDSketch sketch(0.005);
  for (double v : values) sketch.Add(v);
  std::sort(values.begin(), values.end());
  EXPECT_EQ(sketch.count(), values.size());
  for (double q : kQuantiles) {
    const double exact = ExactQuantile(values, q);
    const double est = sketch.Quantile(q);
    EXPECT_LE(std::abs(est - exact) / exact, 0.01)
        << "q=" << q << " exact=" << exact << " est=" << est;
  }
}

// Quantiles answers in one pass what Quantile answers one by one, for sketches of a few values
// (ranks that fall exactly on a count), zeros, many values, collapsed ranges, and odd qs.
TEST(DDSketchTest, QuantilesInOnePassEqualQuantileOneByOne) {
  std::mt19937_64 rng(11);
  const double qs[] = {-1.0, 0.0, 0.25, 0.5, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0, 2.0};
  for (int round = 0; round < 300; ++round) {
    DDSketch s(round % 3 == 0 ? 0.01 : 0.005);
    const int n = static_cast<int>(rng() % (round % 10 == 0 ? 3000 : 9));
    for (int i = 0; i < n; ++i) {
      const uint64_t kind = rng() % 8;
      const double v = kind == 0   ? 0.0
                       : kind == 1 ? 1e-300 * (rng() % 1000)
                                   : (rng() % 100000) * 0.37;
      s.Add(v, 1 + rng() % 3);
    }
    double got[std::size(qs)];
    s.Quantiles(qs, std::size(qs), got);
    for (size_t j = 0; j < std::size(qs); ++j)
      ASSERT_EQ(got[j], s.Quantile(qs[j])) << round << " q " << qs[j];
    const double nan[] = {std::nan(""), 0.5};
    double got_nan[2];
    s.Quantiles(nan, 2, got_nan);
    ASSERT_EQ(got_nan[1], got_nan[0]) << round;  // a NaN q stops the pass: the last bucket for all
  }
}

TEST(DDSketchTest, MergeOfPartsEqualsSketchOfUnion) {
  std::vector<double> values = Lognormal(50000, 7);
  DDSketch whole(0.005);
  std::vector<DDSketch> parts(4, DDSketch(0.005));
  for (size_t i = 0; i < values.size(); ++i) {
    whole.Add(values[i]);
    parts[i % 4].Add(values[i]);
  }
  DDSketch merged(0.005);
  for (int i = 3; i >= 0; --i) merged.Merge(parts[i]);  // order must not matter
  EXPECT_EQ(merged.count(), whole.count());
  for (double q : kQuantiles) EXPECT_EQ(merged.Quantile(q), whole.Quantile(q)) << q;
  std::string a, b;
  merged.EncodeTo(&a);
  whole.EncodeTo(&b);
  EXPECT_EQ(a, b);
}

TEST(DDSketchTest, ZeroDurationsAndRoundTrip) {
  DDSketch s(0.01);
  for (int i = 0; i < 10; ++i) s.Add(0.0);
  for (int i = 1; i <= 10; ++i) s.Add(i * 1000.0);
  EXPECT_EQ(s.Quantile(0.0), 0.0);
  EXPECT_EQ(s.Quantile(0.4), 0.0);  // rank floor(0.4*19)=7: still a zero
  // rank floor(0.99*19)=18 -> the 9th non-zero value, 9000 ms
  EXPECT_NEAR(s.Quantile(0.99), 9000.0, 9000.0 * 0.01);
  std::string enc;
  s.EncodeTo(&enc);
  std::string_view in(enc);
  DDSketch d;
  ASSERT_TRUE(d.DecodeFrom(&in));
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(d.count(), 20u);
  EXPECT_EQ(d.relative_accuracy(), 0.01);
  for (double q : kQuantiles) EXPECT_EQ(d.Quantile(q), s.Quantile(q));
  // A sparse sketch encodes only its non-empty buckets: values 1 s and 1e6 s apart cost bytes, not
  // thousands of empty buckets.
  DDSketch wide(0.005);
  wide.Add(1.0);
  wide.Add(1e9);
  std::string wide_enc;
  wide.EncodeTo(&wide_enc);
  EXPECT_LT(wide_enc.size(), 40u);
}

TEST(DDSketchTest, DecodeRejectsTruncatedInput) {
  DDSketch s;
  for (int i = 1; i < 100; ++i) s.Add(i);
  std::string enc;
  s.EncodeTo(&enc);
  for (size_t cut = 0; cut < enc.size(); ++cut) {
    std::string_view in(enc.data(), cut);
    DDSketch d;
    EXPECT_FALSE(d.DecodeFrom(&in)) << cut;
  }
}

}  // namespace
}  // namespace spanpipe

namespace spanpipe {
namespace {

// DecodeFrom reuses the sketch's buffer: decoding into a sketch that held anything (another
// accuracy, more or fewer buckets) must give the same sketch as decoding into a fresh one.
TEST(DDSketchTest, DecodingIntoAUsedSketchEqualsAFreshDecode) {
  std::mt19937_64 rng(17);
  DDSketch reused(0.02);
  for (int round = 0; round < 300; ++round) {
    DDSketch s(round % 3 == 0 ? 0.01 : 0.005);
    const int n = static_cast<int>(rng() % 200);
    for (int i = 0; i < n; ++i) {
      const double scale = std::pow(10.0, static_cast<double>(rng() % 8) - 2);
      s.Add(i % 17 == 0 ? 0.0 : scale * static_cast<double>(rng() % 1000) / 7.0, 1 + rng() % 3);
    }
    std::string bytes;
    s.EncodeTo(&bytes);
    std::string_view a(bytes), b(bytes);
    DDSketch fresh;
    ASSERT_TRUE(fresh.DecodeFrom(&a));
    ASSERT_TRUE(reused.DecodeFrom(&b));
    EXPECT_TRUE(a.empty() && b.empty());
    std::string fresh_bytes, reused_bytes;
    fresh.EncodeTo(&fresh_bytes);
    reused.EncodeTo(&reused_bytes);
    ASSERT_EQ(reused_bytes, bytes);
    ASSERT_EQ(fresh_bytes, bytes);
    EXPECT_EQ(reused.count(), s.count());
    EXPECT_EQ(reused.relative_accuracy(), s.relative_accuracy());
    for (double q : kQuantiles) ASSERT_EQ(reused.Quantile(q), s.Quantile(q));
  }
  // Rejected input still fails with a used sketch.
  std::string bad;
  DDSketch(0.01).EncodeTo(&bad);
  bad.back() = 5;  // claims 5 buckets, has none
  std::string_view in(bad);
  EXPECT_FALSE(reused.DecodeFrom(&in));
}

// Merging into an empty sketch copies the other's buckets: the same sketch as merging into one
// that gets emptied by the general path (a sketch holding only a zero, then its twin).
TEST(DDSketchTest, MergeIntoEmptyEqualsTheGeneralMerge) {
  std::mt19937_64 rng(19);
  for (int round = 0; round < 200; ++round) {
    DDSketch other(0.005);
    const int n = static_cast<int>(rng() % 100);
    for (int i = 0; i < n; ++i) other.Add(static_cast<double>(rng() % 100000) / 3.0);
    if (round % 7 == 0) other.Add(0.0, 3);
    DDSketch empty(0.005);
    empty.Merge(other);
    // General path: start from a sketch that already holds one value, merge, and compare with
    // that value added to a copy.
    DDSketch general(0.005), expected = other;
    general.Add(5.0);
    general.Merge(other);
    expected.Add(5.0);
    std::string a, b, c, d;
    empty.EncodeTo(&a);
    other.EncodeTo(&b);
    general.EncodeTo(&c);
    expected.EncodeTo(&d);
    ASSERT_EQ(a, b);
    ASSERT_EQ(c, d);
    EXPECT_EQ(empty.count(), other.count());
    for (double q : kQuantiles) ASSERT_EQ(empty.Quantile(q), other.Quantile(q));
  }
}

// A value indexed once and added to several sketches lands where Add(value) puts it, in sketches
// of the indexer's accuracy and (re-indexed) in a sketch of another one; zero, negative and NaN
// values too.
TEST(DDSketchTest, AnIndexedValueAddsLikeTheValue) {
  std::mt19937_64 rng(23);
  const DDSketch indexer(0.005);
  DDSketch by_value(0.005), by_index(0.005), other_by_value(0.02), other_by_index(0.02);
  for (int i = 0; i < 20000; ++i) {
    double v = std::exp(static_cast<double>(rng() % 2000000) / 100000.0 - 5.0);
    if (i % 97 == 0) v = 0;
    if (i % 101 == 0) v = -v;
    if (i % 499 == 0) v = std::nan("");
    const DDSketch::Indexed x = indexer.Index(v);
    by_value.Add(v);
    by_index.Add(x);
    other_by_value.Add(v);
    other_by_index.Add(x);
  }
  std::string a, b, c, d;
  by_value.EncodeTo(&a);
  by_index.EncodeTo(&b);
  other_by_value.EncodeTo(&c);
  other_by_index.EncodeTo(&d);
  EXPECT_EQ(a, b);
  EXPECT_EQ(c, d);
  EXPECT_EQ(by_index.count(), by_value.count());
  EXPECT_NE(a, c);  // the two accuracies really bucket differently
}

// The buckets are written in place; the previous form appended two varints per bucket.
TEST(DDSketchTest, EncodingMatchesTheAppendFormulation) {
  std::mt19937_64 rng(37);
  for (int round = 0; round < 200; ++round) {
    DDSketch s(0.01);
    const int n = static_cast<int>(rng() % 300);
    for (int i = 0; i < n; ++i)
      s.Add(
          std::pow(10.0, static_cast<double>(rng() % 12) - 6) * static_cast<double>(1 + rng() % 9),
          1 + rng() % 1000);
    std::string bytes = "prefix";
    s.EncodeTo(&bytes);
    // Decode by hand: accuracy, zero count, n, then (gap, count) pairs of the non-empty buckets.
    std::string_view in(bytes);
    in.remove_prefix(6);
    double alpha;
    uint64_t zero, buckets;
    ASSERT_TRUE(GetDouble(&in, &alpha) && GetVarint64(&in, &zero) && GetVarint64(&in, &buckets));
    uint64_t total = zero;
    for (uint64_t i = 0; i < buckets; ++i) {
      uint64_t gap, c;
      ASSERT_TRUE(GetVarint64(&in, &gap) && GetVarint64(&in, &c));
      total += c;
    }
    EXPECT_TRUE(in.empty());
    EXPECT_EQ(total, s.count());
    std::string_view again(bytes);
    again.remove_prefix(6);
    DDSketch back;
    ASSERT_TRUE(back.DecodeFrom(&again));
    for (double q : kQuantiles) ASSERT_EQ(back.Quantile(q), s.Quantile(q));
  }
}

}  // namespace
}  // namespace spanpipe
