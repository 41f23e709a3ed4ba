#include "operators/thread_groups.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "operators/trace_registry.h"
#include "resolve_test_util.h"

namespace spanpipe::threads {
namespace {

using testutil::RecordingEmitter;
using testutil::SpanSpec;

constexpr char kTA[] = "000000000000000000000000000000aa";
constexpr char kTB[] = "000000000000000000000000000000bb";
constexpr char kTC[] = "000000000000000000000000000000cc";

// resolve feeding threads, as on a task.
class ThreadGroupsTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open(ThreadOptions opts = {}) {
    groups_.reset();
    reg_.reset();
    db_.reset();
    db_ = dir_.Open({"traces", "spans", "idle", "groups"}, {"traces", "spans"});
    reg_ = std::make_unique<resolve::TraceRegistry>(db_->store("traces"), db_->store("spans"),
                                                    db_->store("idle"), resolve::ResolveOptions{});
    opts_ = opts;
    groups_ = std::make_unique<ThreadGroups>(db_->store("groups"), opts_);
  }
  void Apply(const SpanSpec& s, int32_t partition = 0) {
    SpanRecord r = spans_.Make(s);
    ResolveOutcome out;
    ASSERT_TRUE(reg_->Apply(r, 1000, &out).ok());
    ASSERT_TRUE(groups_->Apply(r, out, partition).ok());
  }
  std::vector<ThreadPartial> Emit() {
    RecordingEmitter em;
    EXPECT_TRUE(groups_->EmitPartials(&em).ok());
    std::vector<ThreadPartial> v;
    for (const auto& r : em.records) {
      EXPECT_EQ(r.stream, streams::kThreadPartials);
      ThreadPartial p;
      EXPECT_TRUE(DecodeThreadPartial(r.value, &p));
      EXPECT_EQ(r.key, p.project + "|" + p.thread_id);
      v.push_back(std::move(p));
    }
    return v;
  }

  testutil::StateDir dir_{"threads"};
  std::unique_ptr<state::StateDb> db_;
  std::unique_ptr<resolve::TraceRegistry> reg_;
  std::unique_ptr<ThreadGroups> groups_;
  ThreadOptions opts_;
  testutil::SpanFactory spans_;
};

TEST_F(ThreadGroupsTest, SpansBeforeTheThreadBindsCountInTheThread) {
  Apply({.trace_hex = kTA,
         .span_hex = "0000000000000002",
         .parent_hex = "0000000000000001",
         .model = "gpt-4o",
         .start = 500,
         .end = 900,
         .input_tokens = 10,
         .output_tokens = 1,
         .cost_usd = 0.25});
  Apply({.trace_hex = kTA,
         .span_hex = "0000000000000003",
         .parent_hex = "0000000000000001",
         .start = 600,
         .end = 700,
         .error = true});
  EXPECT_TRUE(Emit().empty());  // no thread yet: nothing to say
  Apply({.trace_hex = kTA,
         .span_hex = "0000000000000001",
         .thread_id = "conv-1",
         .start = 400,
         .end = 1000,
         .input_tokens = 5});
  Apply({.trace_hex = kTA,
         .span_hex = "0000000000000004",
         .parent_hex = "0000000000000001",
         .model = "claude",
         .start = 450,
         .end = 1200,
         .output_tokens = 2,
         .cost_usd = 0.5});
  auto out = Emit();
  ASSERT_EQ(out.size(), 1u);
  const ThreadTotals& t = out[0].totals;
  EXPECT_EQ(out[0].project, "default");
  EXPECT_EQ(out[0].thread_id, "conv-1");
  EXPECT_EQ(t.trace_count, 1);
  EXPECT_EQ(t.span_count, 4);
  EXPECT_EQ(t.llm_calls, 2);
  EXPECT_EQ(t.errors, 1);
  EXPECT_EQ(t.input_tokens, 15);
  EXPECT_EQ(t.output_tokens, 3);
  EXPECT_DOUBLE_EQ(t.cost_usd, 0.75);
  EXPECT_EQ(t.first_seen_unix_nano, 400u);
  EXPECT_EQ(t.last_seen_unix_nano, 1200u);
  EXPECT_EQ(t.models, (std::vector<std::string>{"gpt-4o", "claude"}));
  ASSERT_EQ(t.traces.size(), 1u);
  EXPECT_EQ(t.traces[0].trace_id_hex, kTA);
  EXPECT_EQ(t.traces[0].start_unix_nano, 400u);
}

TEST_F(ThreadGroupsTest, UserBindingLaterThanThreadJoinsTheThread) {
  Apply({.trace_hex = kTA, .span_hex = "0000000000000001", .thread_id = "conv-1"});
  Apply({.trace_hex = kTA, .span_hex = "0000000000000002", .user_id = "alice"});
  Apply(
      {.trace_hex = kTB, .span_hex = "0000000000000001", .thread_id = "conv-1", .user_id = "bob"});
  Apply({.trace_hex = kTB, .span_hex = "0000000000000002", .user_id = "carol"});  // not bound
  auto out = Emit();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].totals.user_ids, (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(out[0].totals.trace_count, 2);
  EXPECT_EQ(out[0].totals.span_count, 4);
}

TEST_F(ThreadGroupsTest, DuplicatesAreIgnored) {
  SpanSpec s{.trace_hex = kTA, .span_hex = "0000000000000001", .thread_id = "c", .input_tokens = 3};
  Apply(s);
  Apply(s);
  auto out = Emit();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].totals.span_count, 1);
  EXPECT_EQ(out[0].totals.input_tokens, 3);
  EXPECT_EQ(out[0].totals.trace_count, 1);
}

TEST_F(ThreadGroupsTest, TraceIdsOldestFirstCappedWithExactCount) {
  ThreadOptions o;
  o.limits.max_trace_ids = 2;
  Open(o);
  Apply({.trace_hex = kTA,
         .span_hex = "0000000000000001",
         .thread_id = "c",
         .start = 300,
         .end = 310});
  Apply({.trace_hex = kTB,
         .span_hex = "0000000000000001",
         .thread_id = "c",
         .start = 200,
         .end = 210});
  Apply({.trace_hex = kTC,
         .span_hex = "0000000000000001",
         .thread_id = "c",
         .start = 250,
         .end = 260});
  auto out = Emit();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].totals.trace_count, 3);
  ASSERT_EQ(out[0].totals.traces.size(), 2u);
  EXPECT_EQ(out[0].totals.traces[0].trace_id_hex, kTB);
  EXPECT_EQ(out[0].totals.traces[1].trace_id_hex, kTC);
  // A late span moves trace A to the front: it was dropped from the list, now it qualifies.
  Apply({.trace_hex = kTA, .span_hex = "0000000000000002", .start = 100, .end = 120});
  out = Emit();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].totals.trace_count, 3);  // still three traces
  ASSERT_EQ(out[0].totals.traces.size(), 2u);
  EXPECT_EQ(out[0].totals.traces[0].trace_id_hex, kTA);
  EXPECT_EQ(out[0].totals.traces[1].trace_id_hex, kTB);
  EXPECT_EQ(out[0].totals.first_seen_unix_nano, 100u);
}

TEST_F(ThreadGroupsTest, OneRecordPerKeyPerCallWithGrowingVersion) {
  for (int i = 0; i < 10; ++i) {
    Apply({.trace_hex = kTA, .span_hex = testutil::SpanHex(i), .thread_id = "c"});
    Apply({.trace_hex = kTB, .span_hex = testutil::SpanHex(i), .thread_id = "d"}, 1);
  }
  auto out = Emit();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].partition, 0);
  EXPECT_EQ(out[1].partition, 1);
  uint64_t v1 = out[0].version;
  EXPECT_TRUE(Emit().empty());  // nothing changed since
  Apply({.trace_hex = kTA, .span_hex = testutil::SpanHex(99)});
  out = Emit();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_GT(out[0].version, v1);
  EXPECT_EQ(out[0].totals.span_count, 11);
}

// Partials come out in store-key order (partition, project, thread) whatever the order the
// threads changed in: the pending threads are hashed, and sorted when emitted.
TEST_F(ThreadGroupsTest, PartialsComeOutInKeyOrder) {
  const std::vector<std::pair<std::string, int32_t>> threads = {
      {"t9", 1}, {"t1", 0}, {"t5", 2}, {"t3", 0}, {"t10", 1}, {"t0", 2}, {"t7", 0}};
  int trace = 0;
  for (const auto& [thread, partition] : threads) {
    char hex[33];
    std::snprintf(hex, sizeof(hex), "%032x", 0x100 + trace++);
    Apply({.trace_hex = hex, .span_hex = testutil::SpanHex(1), .thread_id = thread}, partition);
  }
  auto out = Emit();
  ASSERT_EQ(out.size(), threads.size());
  auto sorted = threads;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second < b.second : a.first < b.first;
  });
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].partition, sorted[i].second) << i;
    EXPECT_EQ(out[i].thread_id, sorted[i].first) << i;
  }
}

TEST_F(ThreadGroupsTest, TotalsContinueFromCommittedState) {
  Apply({.trace_hex = kTA, .span_hex = "0000000000000001", .thread_id = "c", .input_tokens = 1});
  ASSERT_EQ(Emit().size(), 1u);
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  // Restarted task: fresh operators over the committed state.
  reg_ = std::make_unique<resolve::TraceRegistry>(db_->store("traces"), db_->store("spans"),
                                                  db_->store("idle"), resolve::ResolveOptions{});
  groups_ = std::make_unique<ThreadGroups>(db_->store("groups"), opts_);
  Apply({.trace_hex = kTA, .span_hex = "0000000000000002", .input_tokens = 2});
  Apply({.trace_hex = kTB, .span_hex = "0000000000000001", .thread_id = "c", .input_tokens = 4});
  auto out = Emit();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].totals.span_count, 3);
  EXPECT_EQ(out[0].totals.trace_count, 2);
  EXPECT_EQ(out[0].totals.input_tokens, 7);
}

TEST_F(ThreadGroupsTest, ReplayAfterCrashEmitsIdenticalPartials) {
  Apply({.trace_hex = kTA, .span_hex = "0000000000000001", .thread_id = "c", .input_tokens = 1});
  ASSERT_EQ(Emit().size(), 1u);
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  auto run = [&] {
    RecordingEmitter em;
    const SpanSpec specs[] = {
        {.trace_hex = kTA, .span_hex = "0000000000000001", .thread_id = "c"},  // re-delivered
        {.trace_hex = kTB, .span_hex = "0000000000000001", .model = "m", .input_tokens = 5},
        {.trace_hex = kTB, .span_hex = "0000000000000002", .thread_id = "c", .user_id = "u"},
        {.trace_hex = kTC, .span_hex = "0000000000000001", .thread_id = "d", .cost_usd = 0.3},
    };
    for (const auto& s : specs) Apply(s, 3);
    EXPECT_TRUE(groups_->EmitPartials(&em).ok());
    return em.records;
  };
  auto first = run();
  db_->Rollback();  // crash before the checkpoint
  reg_ = std::make_unique<resolve::TraceRegistry>(db_->store("traces"), db_->store("spans"),
                                                  db_->store("idle"), resolve::ResolveOptions{});
  groups_ = std::make_unique<ThreadGroups>(db_->store("groups"), opts_);
  auto second = run();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first, second);
  ThreadPartial p;
  ASSERT_TRUE(DecodeThreadPartial(first[0].value, &p));
  EXPECT_EQ(p.partition, 3);
  EXPECT_EQ(p.totals.span_count, 2);  // trace B's two spans; the re-delivered A span is a dup
  EXPECT_EQ(p.totals.input_tokens, 5);
}

}  // namespace
}  // namespace spanpipe::threads
