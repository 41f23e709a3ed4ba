#include "common/flat_index.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace spanpipe {
namespace {

struct Item {
  std::string key;
};
std::string_view KeyOf(const Item& i) {
  return i.key;
}
using Index = FlatIndex<Item, &KeyOf>;

TEST(FlatIndexTest, FindsInsertedItemsAndForgetsErasedOnes) {
  Index idx;
  Item a{"a"}, b{"b"};
  idx.Insert(&a, 1);
  idx.Insert(&b, 2);
  EXPECT_EQ(idx.Find("a", 1), &a);
  EXPECT_EQ(idx.Find("b", 2), &b);
  EXPECT_EQ(idx.Find("a", 2), nullptr);  // the hash is part of the key's identity
  EXPECT_EQ(idx.Find("c", 1), nullptr);
  EXPECT_EQ(idx.Erase("a", 1), &a);
  EXPECT_EQ(idx.Erase("a", 1), nullptr);
  EXPECT_EQ(idx.Find("a", 1), nullptr);
  EXPECT_EQ(idx.Find("b", 2), &b);
  EXPECT_EQ(idx.size(), 1u);
}

TEST(FlatIndexTest, ResetEmptiesItAndItGrowsAgain) {
  std::vector<Item> items(100);
  Index idx;
  for (size_t i = 0; i < items.size(); ++i) {
    items[i].key = std::to_string(i);
    idx.Insert(&items[i], i * 0x9E3779B97F4A7C15ull);
  }
  idx.Reset(2);  // smaller than it was: no stale slot may survive
  EXPECT_EQ(idx.size(), 0u);
  for (size_t i = 0; i < items.size(); ++i)
    EXPECT_EQ(idx.Find(items[i].key, i * 0x9E3779B97F4A7C15ull), nullptr);
  for (size_t i = 0; i < items.size(); ++i) idx.Insert(&items[i], i * 0x9E3779B97F4A7C15ull);
  for (size_t i = 0; i < items.size(); ++i)
    EXPECT_EQ(idx.Find(items[i].key, i * 0x9E3779B97F4A7C15ull), &items[i]);
  EXPECT_EQ(idx.size(), items.size());
}

// Random inserts and erases against std::unordered_map, with hashes drawn from a few values so
// that probe runs collide, wrap around the table's end and are shifted back on erase; the index
// grows from its smallest size.
TEST(FlatIndexTest, MatchesAnUnorderedMapUnderCollidingHashes) {
  for (uint64_t hash_values : {uint64_t{3}, uint64_t{64}, uint64_t{1} << 40}) {
    std::mt19937_64 rng(hash_values);
    Index idx(1);
    std::unordered_map<std::string, std::unique_ptr<Item>> truth;
    auto hash_of = [&](const std::string& k) {
      return (std::hash<std::string>{}(k) % hash_values) * 0x9E3779B97F4A7C15ULL;
    };
    for (int op = 0; op < 20000; ++op) {
      const std::string k = "k" + std::to_string(rng() % 500);
      const uint64_t h = hash_of(k);
      if (rng() % 3 == 0) {
        Item* erased = idx.Erase(k, h);
        auto it = truth.find(k);
        ASSERT_EQ(erased, it == truth.end() ? nullptr : it->second.get()) << op;
        if (it != truth.end()) truth.erase(it);
      } else if (!truth.count(k)) {
        auto item = std::make_unique<Item>(Item{k});
        idx.Insert(item.get(), h);
        truth[k] = std::move(item);
      }
      ASSERT_EQ(idx.size(), truth.size()) << op;
      if (op % 97 == 0) {
        for (int i = 0; i < 500; ++i) {
          const std::string q = "k" + std::to_string(i);
          auto it = truth.find(q);
          ASSERT_EQ(idx.Find(q, hash_of(q)), it == truth.end() ? nullptr : it->second.get())
              << op << " " << q;
        }
      }
    }
    size_t visited = 0;
    idx.ForEach([&](Item* i) {
      ++visited;
      EXPECT_EQ(truth.at(i->key).get(), i);
    });
    EXPECT_EQ(visited, truth.size());
  }
}

}  // namespace
}  // namespace spanpipe
