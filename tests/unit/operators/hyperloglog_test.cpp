#include "operators/hyperloglog.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/coding.h"
#include "operators/hash64.h"

namespace spanpipe {
namespace {

TEST(Hash64Test, MatchesPublishedXxh64Vectors) {
  EXPECT_EQ(Hash64(""), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(Hash64("a"), 0xD24EC4F1A98C6E5BULL);
  EXPECT_EQ(Hash64("abc"), 0x44BC2CF5AD770999ULL);
}

TEST(HyperLogLogTest, ExactUpToTheSmallThreshold) {
  HyperLogLog h;
  for (size_t n = 1; n <= HyperLogLog::kExactLimit; ++n) {
    h.Add("user-" + std::to_string(n));
    h.Add("user-" + std::to_string(n));  // duplicates never count
    h.Add("user-1");
    ASSERT_EQ(h.Estimate(), n);
    ASSERT_TRUE(h.exact());
  }
  h.Add("one-more");
  EXPECT_FALSE(h.exact());
  EXPECT_NEAR(static_cast<double>(h.Estimate()), 65.0, 65 * 0.02);
}

// The exact set's encoding depends on its items only, not on the order they came in; an encoding
// that lists them in another order (as sets were written before they were kept sorted) decodes
// to the same set: same estimate, same re-encoding, and a further add of a known item is a no-op.
TEST(HyperLogLogTest, TheExactSetIsTheSameWhateverTheOrderOfItsItems) {
  std::mt19937_64 rng(5);
  for (int round = 0; round < 50; ++round) {
    std::vector<uint64_t> items;
    const size_t n = 1 + rng() % HyperLogLog::kExactLimit;
    for (size_t i = 0; i < n; ++i) items.push_back(rng());
    HyperLogLog forward, backward;
    for (uint64_t h : items) forward.AddHash(h);
    for (auto it = items.rbegin(); it != items.rend(); ++it) backward.AddHash(*it);
    std::string a, b;
    forward.EncodeTo(&a);
    backward.EncodeTo(&b);
    ASSERT_EQ(a, b);
    // Insertion order, written by hand: mode 0 (set), precision, count, big-endian hashes.
    std::string old_form;
    old_form.push_back(0);
    old_form.push_back(14);
    PutVarint64(&old_form, items.size());
    for (uint64_t h : items) PutFixed64BE(&old_form, h);
    HyperLogLog decoded;
    std::string_view in(old_form);
    ASSERT_TRUE(decoded.DecodeFrom(&in));
    EXPECT_TRUE(in.empty());
    EXPECT_EQ(decoded.Estimate(), n);
    decoded.AddHash(items[rng() % items.size()]);
    EXPECT_EQ(decoded.Estimate(), n);
    std::string c;
    decoded.EncodeTo(&c);
    EXPECT_EQ(c, a);
  }
}

class HllErrorTest : public ::testing::TestWithParam<int> {};

TEST_P(HllErrorTest, WithinTwoPercent) {
  const int n = GetParam();
  HyperLogLog h(14);
  for (int i = 0; i < n; ++i) h.Add("user-" + std::to_string(i));
  const double err = std::abs(static_cast<double>(h.Estimate()) - n) / n;
  EXPECT_LE(err, 0.02) << "n=" << n << " estimate=" << h.Estimate();
}
INSTANTIATE_TEST_SUITE_P(Cardinalities, HllErrorTest,
                         ::testing::Values(200, 10000, 100000, 1000000));

TEST(HyperLogLogTest, MergeIsUnion) {
  HyperLogLog a, b, small_a, small_b;
  for (int i = 0; i < 60000; ++i) a.Add("u" + std::to_string(i));
  for (int i = 40000; i < 100000; ++i) b.Add("u" + std::to_string(i));
  ASSERT_TRUE(a.Merge(b));
  EXPECT_LE(std::abs(static_cast<double>(a.Estimate()) - 100000) / 100000, 0.02);
  // Exact sets: 30 + 30 with 10 shared = 50 exactly.
  for (int i = 0; i < 30; ++i) small_a.Add("t" + std::to_string(i));
  for (int i = 20; i < 50; ++i) small_b.Add("t" + std::to_string(i));
  ASSERT_TRUE(small_a.Merge(small_b));
  EXPECT_EQ(small_a.Estimate(), 50u);
  HyperLogLog other_precision(12);
  EXPECT_FALSE(a.Merge(other_precision));
}

TEST(HyperLogLogTest, EncodeDecodeKeepsEveryMode) {
  for (int n : {0, 5, 64, 300, 50000}) {
    HyperLogLog h;
    for (int i = 0; i < n; ++i) h.Add("x" + std::to_string(i));
    std::string enc;
    h.EncodeTo(&enc);
    if (n == 300) {
      EXPECT_LT(enc.size(), 2000u);  // sparse register form, not 16 KiB
    }
    std::string_view in(enc);
    HyperLogLog d;
    ASSERT_TRUE(d.DecodeFrom(&in)) << n;
    EXPECT_TRUE(in.empty());
    EXPECT_EQ(d.Estimate(), h.Estimate()) << n;
    // Decoded sketches keep working: adding the same items again changes nothing.
    for (int i = 0; i < n; ++i) d.Add("x" + std::to_string(i));
    EXPECT_EQ(d.Estimate(), h.Estimate()) << n;
    std::string truncated = enc.substr(0, enc.size() - 1);
    std::string_view tin(truncated);
    HyperLogLog t;
    if (n > 0) {
      EXPECT_FALSE(t.DecodeFrom(&tin)) << n;
    }
  }
}

}  // namespace
}  // namespace spanpipe

namespace spanpipe {
namespace {

// DecodeFrom resets the sketch in place (its buffers are reused): decoding exact, sparse and dense
// forms in any order into one sketch must equal decoding each into a fresh one.
TEST(HyperLogLogTest, DecodingIntoAUsedSketchEqualsAFreshDecode) {
  HyperLogLog reused(14);
  for (int round = 0; round < 60; ++round) {
    const size_t items = round % 3 == 0 ? 10 : round % 3 == 1 ? 2000 : 40000;
    HyperLogLog s(round % 4 == 0 ? 12 : 14);
    for (size_t i = 0; i < items; ++i) s.Add("item-" + std::to_string(round * 100000 + i));
    std::string bytes;
    s.EncodeTo(&bytes);
    std::string_view a(bytes), b(bytes);
    HyperLogLog fresh;
    ASSERT_TRUE(fresh.DecodeFrom(&a));
    ASSERT_TRUE(reused.DecodeFrom(&b));
    std::string again;
    reused.EncodeTo(&again);
    ASSERT_EQ(again, bytes);
    EXPECT_EQ(reused.Estimate(), fresh.Estimate());
    EXPECT_EQ(reused.Estimate(), s.Estimate());
    EXPECT_EQ(reused.precision(), s.precision());
    EXPECT_EQ(reused.exact(), s.exact());
  }
}

// A dense sketch merged into an empty one is copied: the same as merging it into a sketch that
// first turns dense through the general path.
TEST(HyperLogLogTest, DenseMergeIntoEmptyEqualsTheGeneralMerge) {
  HyperLogLog dense(14);
  for (int i = 0; i < 5000; ++i) dense.Add("u" + std::to_string(i));
  ASSERT_FALSE(dense.exact());
  HyperLogLog empty(14), one(14), expected = dense;
  empty.Merge(dense);
  one.Add("u0");  // already in dense: the union is dense itself
  one.Merge(dense);
  std::string a, b, c;
  empty.EncodeTo(&a);
  dense.EncodeTo(&b);
  one.EncodeTo(&c);
  EXPECT_EQ(a, b);
  EXPECT_EQ(c, b);
  // An exact set merged into an empty sketch still goes hash by hash.
  HyperLogLog small(14), into(14);
  small.Add("a");
  small.Add("b");
  into.Merge(small);
  EXPECT_EQ(into.Estimate(), 2u);
  EXPECT_TRUE(into.exact());
}

// The registers an encoding states (sparse or dense form; empty for the exact set).
std::vector<uint8_t> RegistersOf(const HyperLogLog& h) {
  std::string e;
  h.EncodeTo(&e);
  const int p = static_cast<uint8_t>(e[1]);
  std::vector<uint8_t> regs;
  if (e[0] == 0) return regs;
  if (e[0] == 2) return std::vector<uint8_t>(e.begin() + 2, e.end());
  regs.assign(size_t{1} << p, 0);
  std::string_view in(e);
  in.remove_prefix(2);
  uint64_t n = 0, idx = 0, gap = 0;
  EXPECT_TRUE(GetVarint64(&in, &n));
  for (uint64_t i = 0; i < n && GetVarint64(&in, &gap) && !in.empty(); ++i) {
    idx += gap;
    regs[idx] = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
  }
  EXPECT_TRUE(in.empty()) << "trailing or missing sparse entries";
  return regs;
}

// Ertl's improved estimator (arXiv:1702.01284, Algorithm 6) from a scan of the registers.
uint64_t ReferenceEstimate(const std::vector<uint8_t>& regs, int p) {
  const int q = 64 - p;
  const double m = static_cast<double>(regs.size());
  std::vector<double> c(q + 2, 0);
  for (uint8_t r : regs) ++c[r];
  auto sigma = [](double x) {
    if (x == 1) return std::numeric_limits<double>::infinity();
    double y = 1, z = x;
    for (;;) {
      x *= x;
      double z0 = z;
      z += x * y;
      y += y;
      if (z == z0) return z;
    }
  };
  auto tau = [](double x) {
    if (x == 0 || x == 1) return 0.0;
    double y = 1, z = 1 - x;
    for (;;) {
      x = std::sqrt(x);
      double z0 = z;
      y *= 0.5;
      z -= (1 - x) * (1 - x) * y;
      if (z == z0) return z / 3;
    }
  };
  double z = m * tau(1 - c[q + 1] / m);
  for (int k = q; k >= 1; --k) z = 0.5 * (z + c[k]);
  z += m * sigma(c[0] / m);
  return static_cast<uint64_t>(std::llround(m / (2 * std::log(2.0)) * m / z));
}

// The estimate comes from a count of registers per value kept as registers change (adds, merges,
// decodes, reuse after Clear), not from a scan: at every step it must equal the scan's.
TEST(HyperLogLogTest, KeptRegisterCountsGiveTheEstimateOfAScan) {
  std::mt19937_64 rng(5);
  for (int p : {4, 10, 14}) {
    HyperLogLog h(p), other(p), decoded(p);
    std::string e;
    for (int step = 0; step < 60; ++step) {
      const int n = static_cast<int>(rng() % (step < 20 ? 40 : 3000));
      for (int i = 0; i < n; ++i) h.AddHash(rng());
      if (step % 3 == 0) {
        other.Clear();
        for (int i = 0; i < n; ++i) other.AddHash(rng());
        h.Merge(other);
      }
      if (step % 5 == 0) {  // through an encoding and back into a used sketch
        e.clear();
        h.EncodeTo(&e);
        std::string_view in = e;
        ASSERT_TRUE(decoded.DecodeFrom(&in));
        h = decoded;
      }
      if (step == 40) h.Clear();
      if (h.exact()) continue;
      const std::vector<uint8_t> regs = RegistersOf(h);
      ASSERT_EQ(regs.size(), size_t{1} << p);
      ASSERT_EQ(h.Estimate(), ReferenceEstimate(regs, p)) << "p " << p << " step " << step;
    }
  }
}

}  // namespace
}  // namespace spanpipe
