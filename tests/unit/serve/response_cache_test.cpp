#include "serve/response_cache.h"

#include <gtest/gtest.h>

namespace spanpipe::serve {
namespace {

std::shared_ptr<const CachedAnswer> Answer(const std::string& json) {
  auto a = std::make_shared<CachedAnswer>();
  a->json = json;
  return a;
}

TEST(ResponseCache, HitAtTheSameVersionOnly) {
  ResponseCache c(10, 1 << 20);
  EXPECT_EQ(c.Get("q", 1), nullptr);
  c.Put("q", 1, Answer("one"));
  auto hit = c.Get("q", 1);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->json, "one");
  EXPECT_EQ(c.Get("other", 1), nullptr);
  // A commit (new version) drops everything, and an answer computed before it is not stored.
  EXPECT_EQ(c.Get("q", 2), nullptr);
  EXPECT_EQ(c.size(), 0u);
  c.Put("q", 1, Answer("stale"));
  EXPECT_EQ(c.Get("q", 2), nullptr);
  EXPECT_EQ(c.size(), 0u);
  c.Put("q", 2, Answer("two"));
  EXPECT_EQ(c.Get("q", 2)->json, "two");
  EXPECT_EQ(c.hits(), 2u);
  EXPECT_EQ(c.misses(), 4u);
}

TEST(ResponseCache, PutOfANewerVersionDropsTheOlderEntries) {
  ResponseCache c(10, 1 << 20);
  c.Put("a", 1, Answer("a1"));
  c.Put("b", 2, Answer("b2"));
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.Get("a", 2), nullptr);
  EXPECT_EQ(c.Get("b", 2)->json, "b2");
}

TEST(ResponseCache, OldestGoFirstBeyondTheEntryOrByteBudget) {
  ResponseCache by_count(2, 1 << 20);
  by_count.Put("a", 1, Answer("1"));
  by_count.Put("b", 1, Answer("2"));
  by_count.Put("a", 1, Answer("1bis"));  // a replacement is not a new entry
  by_count.Put("c", 1, Answer("3"));
  EXPECT_EQ(by_count.Get("a", 1), nullptr);
  EXPECT_EQ(by_count.Get("b", 1)->json, "2");
  EXPECT_EQ(by_count.Get("c", 1)->json, "3");

  ResponseCache by_bytes(100, 20);  // key + body bytes
  by_bytes.Put("k1", 1, Answer(std::string(10, 'x')));
  by_bytes.Put("k2", 1, Answer(std::string(10, 'y')));
  EXPECT_EQ(by_bytes.Get("k1", 1), nullptr);
  EXPECT_NE(by_bytes.Get("k2", 1), nullptr);
  by_bytes.Put("k3", 1, Answer(std::string(40, 'z')));  // larger than the budget: not kept
  EXPECT_EQ(by_bytes.Get("k3", 1), nullptr);
  EXPECT_NE(by_bytes.Get("k2", 1), nullptr);

  ResponseCache off(0, 1 << 20);
  off.Put("a", 1, Answer("1"));
  EXPECT_EQ(off.Get("a", 1), nullptr);
}

}  // namespace
}  // namespace spanpipe::serve
