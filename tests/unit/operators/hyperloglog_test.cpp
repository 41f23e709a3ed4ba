#include "operators/hyperloglog.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

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

}  // namespace
}  // namespace spanpipe
