// Rollup cost per span with realistic dimensions: 50 models over 5 providers, 10 services, 3
// environments, spans spread over 6 hours, traces of 5 spans whose user/thread bind on the third
// span (late binding exercised). EmitPartials + Commit every `interval` spans, as the topology's
// commit cycle does. Counters: partial records emitted per 1M spans (proportional to active keys).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "operators/rollup_aggregator.h"
#include "operators/rollup_merge.h"
#include "state/state_db.h"

namespace spanpipe::rollup {
namespace {

struct CountingEmitter : Emitter {
  void Emit(std::string_view, std::string_view key, std::string_view value) override {
    ++records;
    bytes += key.size() + value.size();
    if (keep) kept.emplace_back(std::string(key), std::string(value));
  }
  uint64_t records = 0, bytes = 0;
  bool keep = false;
  std::vector<std::pair<std::string, std::string>> kept;
};

struct Traffic {
  std::vector<std::string> models, providers, services, envs, users, threads;
  std::vector<SpanRecord> spans;
  std::vector<ResolveOutcome> outcomes;

  explicit Traffic(size_t n) {
    for (int i = 0; i < 50; ++i) models.push_back("model-" + std::to_string(i));
    for (int i = 0; i < 5; ++i) providers.push_back("provider-" + std::to_string(i));
    for (int i = 0; i < 10; ++i) services.push_back("service-" + std::to_string(i));
    envs = {"prod", "staging", "dev"};
    for (int i = 0; i < 1000; ++i) users.push_back("user-" + std::to_string(i));
    for (int i = 0; i < 5000; ++i) threads.push_back("thread-" + std::to_string(i));
    std::mt19937_64 rng(1);
    const int64_t t0 = 1'735'725'600'000;  // 2025-01-01T10:00Z
    const int64_t span_ms = 6 * 3'600'000;
    spans.resize(n);
    outcomes.resize(n);
    for (size_t i = 0; i < n; ++i) {
      SpanRecord& s = spans[i];
      const uint64_t trace = i / 5;
      const size_t j = i % 5;
      std::mt19937_64 trng(trace);  // a trace's dims and people are stable
      const size_t m = trng() % 50;
      s.trace_id[0] = static_cast<uint8_t>(trace);
      s.trace_id[1] = static_cast<uint8_t>(trace >> 8);
      s.trace_id[2] = static_cast<uint8_t>(trace >> 16);
      s.trace_id[3] = static_cast<uint8_t>(trace >> 24);
      s.project = "default";
      s.model = models[m];
      s.provider = providers[m % 5];
      s.service = services[trng() % 10];
      s.environment = envs[trng() % 3];
      s.operation = "chat";
      // Mostly in order, with a few seconds of jitter.
      const int64_t start = t0 + static_cast<int64_t>(i) * span_ms / static_cast<int64_t>(n) +
                            static_cast<int64_t>(rng() % 5000);
      s.start_unix_nano = static_cast<uint64_t>(start) * 1'000'000;
      s.end_unix_nano = s.start_unix_nano + (50 + rng() % 20000) * 1'000'000;
      s.input_tokens = static_cast<int64_t>(rng() % 4000);
      s.output_tokens = static_cast<int64_t>(rng() % 1000);
      s.cost_usd = 0.001 * static_cast<double>(rng() % 100);
      s.error = rng() % 50 == 0;
      ResolveOutcome& o = outcomes[i];
      if (j >= 2) {
        o.user_id = users[trng() % users.size()];
        o.thread_id = threads[trng() % threads.size()];
        o.user_bound_now = o.thread_bound_now = j == 2;
      }
    }
  }
};

const Traffic& SharedTraffic() {
  static const Traffic t(1'000'000);
  return t;
}

std::unique_ptr<state::StateDb> OpenDb(const std::string& name) {
  state::StateOptions so;
  so.path = (std::filesystem::temp_directory_path() /
             ("spanpipe_rollup_bench_" + name + "_" + std::to_string(::getpid())))
                .string();
  std::filesystem::remove_all(so.path);
  so.memory_budget_mib = 128;
  so.stores = {"windows", "unbound", "merged"};
  so.expiring_stores = {"unbound"};
  std::unique_ptr<state::StateDb> db;
  if (!state::StateDb::Open(so, &db).ok()) return nullptr;
  return db;
}

void BM_RollupApply(benchmark::State& st) {
  const Traffic& t = SharedTraffic();
  const size_t interval = static_cast<size_t>(st.range(0));
  auto db = OpenDb("apply" + std::to_string(interval));
  RollupAggregator agg(db->store("windows"), db->store("unbound"));
  CountingEmitter out;
  size_t i = 0, processed = 0;
  int64_t now = 0;
  for (auto _ : st) {
    const SpanRecord& s = t.spans[i];
    now = std::max(now, s.start_ms());
    Status status = agg.Apply(s, t.outcomes[i], 0, now);
    if (!status.ok()) st.SkipWithError(status.ToString().c_str());
    ++processed;
    if (++i == t.spans.size()) i = 0;
    if (processed % interval == 0) {
      (void)agg.EmitPartials(&out);
      (void)db->Commit();
    }
  }
  st.SetItemsProcessed(static_cast<int64_t>(processed));
  st.counters["partials_per_1M_spans"] =
      processed ? 1e6 * static_cast<double>(out.records) / static_cast<double>(processed) : 0;
  st.counters["partial_bytes_avg"] =
      out.records ? static_cast<double>(out.bytes) / static_cast<double>(out.records) : 0;
}
BENCHMARK(BM_RollupApply)
    ->Arg(10'000)
    ->Arg(100'000)
    ->Iterations(1'000'000)
    ->Unit(benchmark::kNanosecond);

void BM_RollupMerge(benchmark::State& st) {
  const Traffic& t = SharedTraffic();
  auto db = OpenDb("merge");
  RollupAggregator agg(db->store("windows"), db->store("unbound"));
  CountingEmitter partials;
  partials.keep = true;
  int64_t now = 0;
  for (size_t i = 0; i < 200'000; ++i) {
    now = std::max(now, t.spans[i].start_ms());
    (void)agg.Apply(t.spans[i], t.outcomes[i], static_cast<int32_t>(i % 4), now);
    if ((i + 1) % 50'000 == 0) (void)agg.EmitPartials(&partials);
  }
  (void)db->Commit();
  RollupMerge merge(db->store("merged"));
  CountingEmitter rollups;
  size_t applied = 0;
  // One pass: a second would only hit the (cheap) stale-version path.
  for (auto _ : st) {
    for (const auto& [key, value] : partials.kept) {
      (void)merge.Apply(key, value);
      if (++applied % 10'000 == 0) (void)merge.Emit(&rollups);
    }
    (void)merge.Emit(&rollups);
  }
  st.SetItemsProcessed(static_cast<int64_t>(applied));
  st.counters["partials"] = static_cast<double>(partials.kept.size());
  st.counters["rollup_records"] = static_cast<double>(rollups.records);
}
BENCHMARK(BM_RollupMerge)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace spanpipe::rollup

BENCHMARK_MAIN();
