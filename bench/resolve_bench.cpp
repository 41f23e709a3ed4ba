// resolve + checkpoint throughput with more trace state than the block cache holds.
// Each run: a fresh StateDb (memory budget SPANPIPE_BENCH_BUDGET_MIB, default 64), TraceRegistry
// with the default 100k-trace cache, Flush + CloseIdle + StateDb::Commit every 10k spans.
// Traffic: traces arrive in waves of 5000 concurrently-active traces, each sending its spans
// interleaved with the others' (root last), 100 spans per event-time millisecond, 30 s idle close.
// Size: SPANPIPE_BENCH_TRACES (default 200000) traces x SPANPIPE_BENCH_SPANS (default 3) spans.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "operators/trace_registry.h"
#include "state/state_db.h"

namespace {

using namespace spanpipe;

class CountingEmitter : public Emitter {
 public:
  void Emit(std::string_view, std::string_view, std::string_view value) override {
    ++records;
    bytes += value.size();
  }
  int64_t records = 0, bytes = 0;
};

int64_t EnvInt(const char* name, int64_t def) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : def;
}

void BM_ResolveCheckpoint(benchmark::State& state, int64_t traces, int64_t spans_per_trace,
                          int64_t budget_mib) {
  constexpr int64_t kWave = 5000, kCheckpointSpans = 10000, kSpansPerMs = 100;
  const std::string thread_ids[4] = {"conv-a", "conv-b", "conv-c", "conv-d"};
  for (auto _ : state) {
    auto dir = std::filesystem::temp_directory_path() /
               ("spanpipe_resolve_bench_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    state::StateOptions so;
    so.path = dir.string();
    so.memory_budget_mib = static_cast<uint64_t>(budget_mib);
    so.stores = {"traces", "spans", "idle"};
    so.expiring_stores = {"traces", "spans"};
    std::unique_ptr<state::StateDb> db;
    if (!state::StateDb::Open(so, &db).ok()) {
      state.SkipWithError("cannot open state");
      return;
    }
    resolve::TraceRegistry reg(db->store("traces"), db->store("spans"), db->store("idle"), {});
    CountingEmitter em;
    SpanRecord r;
    r.project = "default";
    r.service = "chat-api";
    r.environment = "prod";
    int64_t n = 0;
    double close_flush_s = 0, commit_s = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t wave = 0; wave < traces; wave += kWave) {
      const int64_t wave_end = std::min(traces, wave + kWave);
      for (int64_t s = spans_per_trace - 1; s >= 0; --s) {  // root (s == 0) arrives last
        for (int64_t t = wave; t < wave_end; ++t) {
          for (int i = 0; i < 8; ++i) {
            r.trace_id[i] = static_cast<uint8_t>(0x5a);
            r.trace_id[8 + i] = static_cast<uint8_t>(static_cast<uint64_t>(t) >> (56 - 8 * i));
          }
          for (int i = 0; i < 8; ++i) r.span_id[i] = static_cast<uint8_t>(i == 7 ? s + 1 : 0);
          r.has_parent = s != 0;
          r.name = s == 0 ? std::string_view("agent") : std::string_view("chat");
          r.model = s == 0 ? std::string_view() : std::string_view("gpt-4o-mini");
          r.thread_id = s == 1 ? std::string_view(thread_ids[t & 3]) : std::string_view();
          r.start_unix_nano = 1'700'000'000'000'000'000ULL + static_cast<uint64_t>(n) * 10'000;
          r.end_unix_nano = r.start_unix_nano + 5'000'000;
          r.input_tokens = 100;
          r.output_tokens = 20;
          ResolveOutcome out;
          const int64_t now_ms = 1'700'000'000'000 + n / kSpansPerMs;
          if (!reg.Apply(r, now_ms, &out).ok()) {
            state.SkipWithError("apply failed");
            return;
          }
          if (++n % kCheckpointSpans == 0) {
            const auto c0 = std::chrono::steady_clock::now();
            if (!reg.CloseIdle(now_ms, &em).ok() || !reg.Flush().ok()) {
              state.SkipWithError("close/flush failed");
              return;
            }
            const auto c1 = std::chrono::steady_clock::now();
            if (!db->Commit().ok()) {
              state.SkipWithError("commit failed");
              return;
            }
            close_flush_s += std::chrono::duration<double>(c1 - c0).count();
            if (n % 2'000'000 == 0) {  // progress for long runs
              const double el =
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
              fprintf(stderr, "%lld spans  %.0f s  %.0f spans/s  open=%zu\n",
                      static_cast<long long>(n), el, static_cast<double>(n) / el,
                      reg.open_traces());
            }
            commit_s +=
                std::chrono::duration<double>(std::chrono::steady_clock::now() - c1).count();
          }
        }
      }
    }
    // End of input: close the open backlog over several checkpoints (bounded pending batch).
    for (bool complete = false; !complete;) {
      if (!reg.CloseAll(&em, 100000, &complete).ok() || !reg.Flush().ok() || !db->Commit().ok()) {
        state.SkipWithError("final checkpoint failed");
        return;
      }
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(secs);
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    state.counters["spans"] = static_cast<double>(n);
    state.counters["spans_per_s"] = static_cast<double>(n) / secs;
    state.counters["traces_emitted"] = static_cast<double>(em.records);
    state.counters["close_flush_s"] = close_flush_s;
    state.counters["commit_s"] = commit_s;
    state.counters["peak_rss_mib"] = static_cast<double>(ru.ru_maxrss) / 1024.0;
    state.counters["state_mib"] = static_cast<double>(db->ApproximateSizeBytes()) / (1 << 20);
    db.reset();
    std::filesystem::remove_all(dir);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t traces = EnvInt("SPANPIPE_BENCH_TRACES", 200000);
  const int64_t spans = EnvInt("SPANPIPE_BENCH_SPANS", 3);
  const int64_t budget = EnvInt("SPANPIPE_BENCH_BUDGET_MIB", 64);
  benchmark::RegisterBenchmark(
      ("ResolveCheckpoint/traces:" + std::to_string(traces) + "/spans:" + std::to_string(spans) +
       "/budget_mib:" + std::to_string(budget))
          .c_str(),
      [=](benchmark::State& st) { BM_ResolveCheckpoint(st, traces, spans, budget); })
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kSecond);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
