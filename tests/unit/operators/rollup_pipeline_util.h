// Aggregator -> partials -> merge -> rollups, as the topology wires them, for the rollup tests.
#pragma once

#include <memory>

#include "common/time_format.h"
#include "operators/rollup_aggregator.h"
#include "operators/rollup_merge.h"
#include "tests/unit/operators/rollup_test_util.h"

namespace spanpipe::rollup::testing {

// 2025-01-01T10:00:00Z
inline const int64_t kT0 = DaysFromCivil(2025, 1, 1) * 86'400'000 + 10 * 3'600'000;

inline std::string Key(std::string_view gran, int64_t start, std::string_view model = "gpt-4o",
                       std::string_view project = "p1") {
  return std::string(project) + "|" + std::string(gran) + "|" + std::to_string(start) +
         "|svc|openai|" + std::string(model) + "|chat|prod";
}

class RollupPipelineTest : public StateFixture {
 protected:
  void MakeStages(RollupOptions o = {}) {
    opt_ = o;
    agg_ = std::make_unique<RollupAggregator>(windows(), unbound(), o);
    merge_ = std::make_unique<RollupMerge>(merged(), o);
  }
  // Processing clock = the span's start unless given (live traffic).
  Status Add(const SpanSpec& s, int32_t partition = 0, const ResolveOutcome& o = {},
             int64_t now = INT64_MIN) {
    return agg_->Apply(s.Record(), o, partition, now == INT64_MIN ? s.start_ms : now);
  }
  // One commit interval: partials -> merge -> rollups. Returns this cycle's rollup records.
  std::vector<Record> Cycle() {
    CaptureEmitter partials, rollups;
    EXPECT_TRUE(agg_->EmitPartials(&partials).ok());
    for (const auto& r : partials.records) {
      EXPECT_EQ(r.stream, streams::kRollupPartials);
      Status s = merge_->Apply(r.key, r.value);
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    EXPECT_TRUE(merge_->Emit(&rollups).ok());
    for (const auto& r : rollups.records) EXPECT_EQ(r.stream, streams::kRollups);
    all_.insert(all_.end(), rollups.records.begin(), rollups.records.end());
    return rollups.records;
  }
  std::map<std::string, nlohmann::json> Now() const { return Latest(all_, streams::kRollups); }

  RollupOptions opt_;
  std::unique_ptr<RollupAggregator> agg_;
  std::unique_ptr<RollupMerge> merge_;
  std::vector<Record> all_;
};

}  // namespace spanpipe::rollup::testing
