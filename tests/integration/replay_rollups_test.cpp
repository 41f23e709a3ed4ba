// Issue "rollups and thread groups", Done when: `spanpipe replay` of a shuffled, duplicated,
// multi-project corpus reproduces every rollup (1m, 1h, 1d) and every thread group exactly, and
// every trace record (trace resolution, Done when). The answer is summed by the test itself.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "expected_outputs.h"
#include "process_util.h"

namespace spanpipe {
namespace {

using nlohmann::json;

std::vector<std::pair<std::string, std::string>> KeyedLines(const std::string& path, const char* key_fields[],
                                                            size_t n) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const json& r : testutil::ReadJsonLines(path)) {
    std::string key;
    for (size_t i = 0; i < n; ++i) {
      const json& v = r[key_fields[i]];
      key += (i ? "|" : "") + (v.is_string() ? v.get<std::string>() : v.dump());
    }
    out.emplace_back(key, r.dump());
  }
  return out;
}


TEST(ReplayRollups, ShuffledDuplicatedMultiProjectCorpusReproducesRollupsThreadsAndTraces) {
  testutil::Corpus corpus = testutil::MakeCorpus(300, 99, testutil::RecentCorpusBaseMs(), 0.3, 3 * 3600000);
  std::string dir = testutil::TempDir("replay_rollups");
  {
    std::ofstream f(dir + "/corpus.jsonl");
    for (const auto& m : corpus.messages) f << m.payload << "\n";
  }
  testutil::RunResult r =
      testutil::Run({SPANPIPE_BINARY, "replay", "--input", dir + "/corpus.jsonl", "--out", dir + "/out"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const char* rollup_key[] = {"project", "granularity", "window_start_ms", "service",
                              "provider", "model", "operation", "environment"};
  auto rollups = testutil::NewestByKey(KeyedLines(dir + "/out/spanpipe.rollups.jsonl", rollup_key, 8));
  auto want_rollups = testutil::ExpectRollups(corpus);
  std::set<std::string> grans;
  for (const auto& [k, w] : want_rollups) grans.insert(w.granularity);
  ASSERT_EQ(grans.size(), 3u);
  for (const auto& d : testutil::DiffRollups(want_rollups, rollups)) ADD_FAILURE() << d;
  for (const auto& [k, rec] : rollups) EXPECT_EQ(rec["final"], true) << "end of input closes every window: " << k;

  const char* thread_key[] = {"project", "thread_id"};
  auto threads = testutil::NewestByKey(KeyedLines(dir + "/out/spanpipe.threads.jsonl", thread_key, 2));
  for (const auto& d : testutil::DiffThreads(testutil::ExpectThreads(corpus), threads)) ADD_FAILURE() << d;

  const char* trace_key[] = {"trace_id"};
  auto traces = testutil::NewestByKey(KeyedLines(dir + "/out/spanpipe.traces.jsonl", trace_key, 1));
  for (const auto& d : testutil::DiffTraces(corpus.traces, traces)) ADD_FAILURE() << d;

  // Duplicated messages count once: one spanpipe.spans record per distinct span, nothing dead-lettered.
  size_t spans = 0;
  for (const auto& [id, t] : corpus.traces) spans += static_cast<size_t>(t.span_count);
  EXPECT_EQ(testutil::ReadJsonLines(dir + "/out/spanpipe.spans.jsonl").size(), spans);
  EXPECT_TRUE(testutil::ReadJsonLines(dir + "/out/spanpipe.dlq.jsonl").empty());
}

}  // namespace
}  // namespace spanpipe
