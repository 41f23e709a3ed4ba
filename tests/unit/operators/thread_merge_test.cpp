#include "operators/thread_merge.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>

#include "resolve_test_util.h"

namespace spanpipe::threads {
namespace {

using nlohmann::json;
using testutil::RecordingEmitter;

ThreadPartial Partial(int32_t partition, uint64_t version, int64_t spans,
                      std::vector<ThreadTrace> traces, std::vector<std::string> users,
                      uint64_t first, uint64_t last) {
  ThreadPartial p;
  p.partition = partition;
  p.version = version;
  p.project = "default";
  p.thread_id = "conv";
  p.totals.trace_count = static_cast<int64_t>(traces.size());
  p.totals.span_count = spans;
  p.totals.llm_calls = spans / 2;
  p.totals.errors = 1;
  p.totals.input_tokens = 10 * spans;
  p.totals.output_tokens = spans;
  p.totals.cost_usd = 0.25 * static_cast<double>(spans);
  p.totals.first_seen_unix_nano = first;
  p.totals.last_seen_unix_nano = last;
  p.totals.traces = std::move(traces);
  p.totals.models = {"m" + std::to_string(partition)};
  p.totals.user_ids = std::move(users);
  return p;
}

std::string Enc(const ThreadPartial& p) {
  std::string s;
  EncodeThreadPartial(p, &s);
  return s;
}

class ThreadMergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = dir_.Open({"merged"}, {});
    merge_ = std::make_unique<ThreadMerge>(db_->store("merged"));
  }
  std::vector<json> Emit() {
    RecordingEmitter em;
    EXPECT_TRUE(merge_->Emit(&em).ok());
    std::vector<json> v;
    for (const auto& r : em.records) {
      EXPECT_EQ(r.stream, streams::kThreads);
      EXPECT_EQ(r.key, "default|conv");
      v.push_back(json::parse(r.value));
    }
    return v;
  }
  testutil::StateDir dir_{"merge"};
  std::unique_ptr<state::StateDb> db_;
  std::unique_ptr<ThreadMerge> merge_;
};

TEST_F(ThreadMergeTest, SamePartialTwiceIsIdempotent) {
  auto p = Partial(0, 3, 3, {{100, "aa"}}, {"u"}, 100, 200);
  ASSERT_TRUE(merge_->Apply("default|conv", Enc(p)).ok());
  ASSERT_TRUE(merge_->Apply("default|conv", Enc(p)).ok());
  auto out = Emit();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["span_count"], 3);
  EXPECT_EQ(out[0]["trace_count"], 1);
  // Re-delivered after publishing: nothing changed, nothing to publish.
  ASSERT_TRUE(merge_->Apply("default|conv", Enc(p)).ok());
  EXPECT_TRUE(Emit().empty());
}

TEST_F(ThreadMergeTest, OlderPartialArrivingLateNeverWins) {
  auto newer = Partial(0, 5, 5, {{100, "aa"}, {150, "bb"}}, {}, 100, 300);
  auto older = Partial(0, 2, 2, {{100, "aa"}}, {}, 100, 200);
  ASSERT_TRUE(merge_->Apply("default|conv", Enc(newer)).ok());
  ASSERT_TRUE(merge_->Apply("default|conv", Enc(older)).ok());
  auto out = Emit();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["span_count"], 5);
  EXPECT_EQ(out[0]["trace_count"], 2);
  EXPECT_EQ(out[0]["trace_ids"], json::array({"aa", "bb"}));
}

TEST_F(ThreadMergeTest, PartitionsAreSummedAndListsUnioned) {
  auto p0 = Partial(0, 4, 4, {{300, "cc"}, {100, "aa"}}, {"alice", "bob"}, 100, 400);
  auto p1 = Partial(1, 2, 2, {{200, "bb"}}, {"bob", "carol"}, 50, 350);
  ASSERT_TRUE(merge_->Apply("default|conv", Enc(p1)).ok());
  ASSERT_TRUE(merge_->Apply("default|conv", Enc(p0)).ok());
  auto out = Emit();
  ASSERT_EQ(out.size(), 1u);
  const json& j = out[0];
  EXPECT_EQ(j["project"], "default");
  EXPECT_EQ(j["thread_id"], "conv");
  EXPECT_EQ(j["trace_count"], 3);
  EXPECT_EQ(j["span_count"], 6);
  EXPECT_EQ(j["llm_calls"], 3);
  EXPECT_EQ(j["errors"], 2);
  EXPECT_EQ(j["input_tokens"], 60);
  EXPECT_EQ(j["output_tokens"], 6);
  EXPECT_DOUBLE_EQ(j["cost_usd"].get<double>(), 1.5);
  EXPECT_EQ(j["first_seen"], "1970-01-01T00:00:00.000000050Z");
  EXPECT_EQ(j["last_seen"], "1970-01-01T00:00:00.000000400Z");
  EXPECT_EQ(j["trace_ids"], json::array({"aa", "bb", "cc"}));
  EXPECT_EQ(j["models"], json::array({"m0", "m1"}));
  EXPECT_EQ(j["user_ids"], json::array({"alice", "bob", "carol"}));

  // A newer partial of partition 1 replaces only partition 1's share.
  auto p1b = Partial(1, 3, 3, {{200, "bb"}}, {"bob"}, 50, 360);
  ASSERT_TRUE(merge_->Apply("default|conv", Enc(p1b)).ok());
  out = Emit();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["span_count"], 7);
  EXPECT_EQ(out[0]["trace_count"], 3);
}

TEST_F(ThreadMergeTest, MergedStateSurvivesRestart) {
  auto p0 = Partial(0, 4, 4, {{100, "aa"}}, {}, 100, 400);
  ASSERT_TRUE(merge_->Apply("default|conv", Enc(p0)).ok());
  ASSERT_TRUE(db_->Commit().ok());
  merge_ = std::make_unique<ThreadMerge>(db_->store("merged"));
  auto p1 = Partial(1, 1, 1, {{200, "bb"}}, {}, 200, 300);
  ASSERT_TRUE(merge_->Apply("default|conv", Enc(p1)).ok());
  auto out = Emit();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["span_count"], 5);
}

TEST_F(ThreadMergeTest, GarbagePartialIsRejected) {
  EXPECT_FALSE(merge_->Apply("default|conv", "not a partial").ok());
  EXPECT_TRUE(Emit().empty());
}

// (codec paths the merge uses)

TEST(ThreadCodecTest, VersionAloneMatchesTheWholeDecode) {
  for (uint64_t version : {uint64_t{0}, uint64_t{1}, uint64_t{300}, UINT64_MAX}) {
    ThreadPartial p;
    p.partition = 7;
    p.version = version;
    p.project = "p";
    p.thread_id = "t";
    p.totals.traces.push_back({5, "00000000000000000000000000000001"});
    std::string bytes;
    EncodeThreadPartial(p, &bytes);
    uint64_t v = 1234;
    ASSERT_TRUE(DecodeThreadPartialVersion(bytes, &v));
    EXPECT_EQ(v, version);
  }
  uint64_t v;
  EXPECT_FALSE(DecodeThreadPartialVersion("", &v));
  EXPECT_FALSE(DecodeThreadPartialVersion(std::string("\x02\0\0\0\0\x01", 6), &v));
  EXPECT_FALSE(DecodeThreadPartialVersion(std::string("\x01\0\0\0\0", 5), &v));  // no version
}

// The merge decodes every partial into one reused object: a long list followed by a shorter one
// must not leave entries of the first behind.
TEST(ThreadCodecTest, DecodingIntoAUsedPartialEqualsAFreshDecode) {
  ThreadPartial reused;
  for (int round = 0; round < 20; ++round) {
    ThreadPartial p;
    p.partition = round;
    p.version = static_cast<uint64_t>(round) * 3;
    p.project = std::string(static_cast<size_t>(round % 5) * 7, 'p');
    p.thread_id = "thread-" + std::to_string(round);
    const int n = (round * 37) % 101;
    for (int i = 0; i < n; ++i)
      p.totals.traces.push_back(
          {static_cast<uint64_t>(i), std::string(32, static_cast<char>('a' + i % 6))});
    for (int i = 0; i < round % 4; ++i) p.totals.models.push_back("m" + std::to_string(i));
    for (int i = 0; i < (round + 1) % 3; ++i) p.totals.user_ids.push_back("u" + std::to_string(i));
    p.totals.span_count = round;
    std::string bytes;
    EncodeThreadPartial(p, &bytes);
    ASSERT_TRUE(DecodeThreadPartial(bytes, &reused));
    std::string again;
    EncodeThreadPartial(reused, &again);
    ASSERT_EQ(again, bytes) << round;
  }
}

// AddThreadTrace finds a listed id by its first 8 bytes before comparing it whole: the same
// lists as the plain search on random ids, many sharing prefixes, some shorter than 8 bytes.
TEST(ThreadCodecTest, AddThreadTraceMatchesAPlainSearch) {
  auto reference = [](ThreadTotals* t, uint64_t start, const std::string& id, size_t cap) {
    auto& v = t->traces;
    auto it = std::find_if(v.begin(), v.end(),
                           [&](const ThreadTrace& x) { return x.trace_id_hex == id; });
    if (it != v.end()) {
      if (start >= it->start_unix_nano) return;
      v.erase(it);
    }
    ThreadTrace tr{start, id};
    auto less = [](const ThreadTrace& a, const ThreadTrace& b) {
      return a.start_unix_nano != b.start_unix_nano ? a.start_unix_nano < b.start_unix_nano
                                                    : a.trace_id_hex < b.trace_id_hex;
    };
    auto pos = std::lower_bound(v.begin(), v.end(), tr, less);
    if (v.size() >= cap && pos == v.end()) return;
    v.insert(pos, std::move(tr));
    if (v.size() > cap) v.resize(cap);
  };
  std::mt19937_64 rng(31);
  for (int round = 0; round < 200; ++round) {
    ThreadTotals a, b;
    const size_t cap = 1 + rng() % 30;
    for (int i = 0; i < 300; ++i) {
      std::string id = rng() % 10 == 0 ? std::to_string(rng() % 50)
                                       : "0123456789abcdef" + std::to_string(rng() % 60);
      const uint64_t start = rng() % 100;
      AddThreadTrace(&a, start, id, cap);
      reference(&b, start, id, cap);
    }
    ASSERT_EQ(a.traces.size(), b.traces.size());
    for (size_t i = 0; i < a.traces.size(); ++i) {
      ASSERT_EQ(a.traces[i].trace_id_hex, b.traces[i].trace_id_hex);
      ASSERT_EQ(a.traces[i].start_unix_nano, b.traces[i].start_unix_nano);
    }
  }
}

}  // namespace
}  // namespace spanpipe::threads
