#include "operators/rollup_merge.h"

#include "operators/rollup_partial.h"
#include "tests/unit/operators/rollup_pipeline_util.h"

namespace spanpipe::rollup::testing {
namespace {

class RollupMergeTest : public RollupPipelineTest {
 protected:
  // A partial of `requests` calls of 10 ms each with `tokens` input tokens.
  static std::string Partial(int32_t p, uint64_t version, int64_t wm, const WindowId& id,
                             int requests, int64_t tokens) {
    RollupMetrics m;
    for (int i = 0; i < requests; ++i) m.AddCall(false, i == 0 ? tokens : 0, 0, 0, 10.0);
    std::string out;
    EncodePartial(p, version, wm, id, m, &out);
    return out;
  }
  static WindowId Id(std::string model, int64_t start = kT0) {
    return WindowId{
        Granularity::k1m, start, {"p1", "svc", "openai", std::move(model), "chat", "prod"}};
  }
  std::vector<Record> EmitNow() {
    CaptureEmitter out;
    EXPECT_TRUE(merge_->Emit(&out).ok());
    all_.insert(all_.end(), out.records.begin(), out.records.end());
    return out.records;
  }
  void Apply(const WindowId& id, const std::string& partial) {
    Status s = merge_->Apply(ContractKey(id), partial);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
};

TEST_F(RollupMergeTest, SamePartialTwiceCountsOnce) {
  MakeStages();
  const WindowId a = Id("a");
  const std::string v1 = Partial(0, 1, kT0 - 1, a, 1, 5);
  Apply(a, v1);
  Apply(a, v1);
  auto recs = EmitNow();
  ASSERT_EQ(recs.size(), 1u);
  auto j = nlohmann::json::parse(recs[0].value);
  EXPECT_EQ(j["requests"], 1);
  EXPECT_EQ(j["input_tokens"], 5);
  Apply(a, v1);  // re-delivered after it was published: nothing new
  EXPECT_TRUE(EmitNow().empty());
}

TEST_F(RollupMergeTest, NewestVersionWinsRegardlessOfArrivalOrder) {
  MakeStages();
  const WindowId a = Id("a"), b = Id("b");
  Apply(a, Partial(0, 1, kT0 - 1, a, 1, 5));
  Apply(a, Partial(0, 2, kT0 - 1, a, 2, 7));
  Apply(b, Partial(0, 2, kT0 - 1, b, 2, 7));  // out of order: v2 first
  Apply(b, Partial(0, 1, kT0 - 1, b, 1, 5));
  auto recs = EmitNow();
  ASSERT_EQ(recs.size(), 2u);  // one record per key per Emit, however many partials came
  auto now = Now();
  EXPECT_EQ(now[ContractKey(a)]["requests"], 2);
  EXPECT_EQ(now[ContractKey(b)]["requests"], 2);
  EXPECT_EQ(now[ContractKey(b)]["input_tokens"], 7);
  // Older after newer is ignored and publishes nothing.
  Apply(a, Partial(0, 1, kT0 - 1, a, 1, 5));
  EXPECT_TRUE(EmitNow().empty());
  EXPECT_EQ(merge_->stale_partials_ignored(), 2u);
}

TEST_F(RollupMergeTest, SumsSourcePartitionsAndKeepsEachOnesNewest) {
  MakeStages();
  const WindowId a = Id("a");
  Apply(a, Partial(0, 3, kT0 - 1, a, 3, 100));
  Apply(a, Partial(1, 1, kT0 - 1, a, 1, 10));
  Apply(a, Partial(2, 2, kT0 - 1, a, 2, 1));
  EmitNow();
  EXPECT_EQ(Now()[ContractKey(a)]["requests"], 6);
  EXPECT_EQ(Now()[ContractKey(a)]["input_tokens"], 111);
  Apply(a, Partial(1, 2, kT0 - 1, a, 4, 20));  // partition 1's total grows from 1 to 4
  EmitNow();
  EXPECT_EQ(Now()[ContractKey(a)]["requests"], 9);
  EXPECT_EQ(Now()[ContractKey(a)]["input_tokens"], 121);
}

TEST_F(RollupMergeTest, FinalOnceTheMinimumWatermarkPassesWithoutNewPartials) {
  MakeStages();
  const WindowId a = Id("a");  // [kT0, kT0 + 60 s)
  Apply(a, Partial(0, 1, kT0, a, 1, 0));
  Apply(a, Partial(1, 1, kT0, a, 1, 0));
  auto recs = EmitNow();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_FALSE(nlohmann::json::parse(recs[0].value)["final"].get<bool>());

  std::string hb;
  EncodeHeartbeat(0, kT0 + 60'000, &hb);  // partition 0 passes the end; partition 1 has not
  ASSERT_TRUE(merge_->Apply(HeartbeatKey(0), hb).ok());
  EXPECT_TRUE(EmitNow().empty());
  EXPECT_EQ(merge_->merged_watermark(), kT0);

  hb.clear();
  EncodeHeartbeat(1, kT0 + 61'000, &hb);
  ASSERT_TRUE(merge_->Apply(HeartbeatKey(1), hb).ok());
  recs = EmitNow();  // no partial arrived, but the row closes
  ASSERT_EQ(recs.size(), 1u);
  auto j = nlohmann::json::parse(recs[0].value);
  EXPECT_TRUE(j["final"].get<bool>());
  EXPECT_EQ(j["requests"], 2);
  EXPECT_TRUE(EmitNow().empty());  // and only once

  // A late update to a closed window is published again, still final.
  Apply(a, Partial(1, 2, kT0 + 61'000, a, 2, 0));
  recs = EmitNow();
  ASSERT_EQ(recs.size(), 1u);
  j = nlohmann::json::parse(recs[0].value);
  EXPECT_TRUE(j["final"].get<bool>());
  EXPECT_EQ(j["requests"], 3);
}

TEST_F(RollupMergeTest, StateSurvivesReopenAndRejectsMismatchedKeys) {
  MakeStages();
  const WindowId a = Id("a");
  Apply(a, Partial(0, 2, kT0, a, 2, 0));
  EmitNow();
  ASSERT_TRUE(db_->Commit().ok());
  merge_.reset();
  Reopen();
  MakeStages();
  Apply(a, Partial(0, 2, kT0, a, 2, 0));  // replayed after restart: already counted
  EXPECT_TRUE(EmitNow().empty());
  Apply(a, Partial(1, 1, kT0 + 60'000, a, 1, 0));
  EmitNow();
  EXPECT_EQ(Now()[ContractKey(a)]["requests"], 3);
  EXPECT_FALSE(Now()[ContractKey(a)]["final"].get<bool>());  // partition 0's watermark is kT0

  EXPECT_TRUE(merge_->Apply("p1|1m|0|x|y|z|w|v", Partial(0, 1, 0, a, 1, 0)).IsInvalidArgument());
  EXPECT_FALSE(merge_->Apply(ContractKey(a), "not a partial").ok());
}

}  // namespace
}  // namespace spanpipe::rollup::testing
