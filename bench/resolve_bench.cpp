// resolve + checkpoint throughput with more trace state than the block cache holds, beside the
// decode of the same spans in the same run (the issue's ratio).
// Each run: a fresh StateDb (memory budget SPANPIPE_BENCH_BUDGET_MIB, default 64), TraceRegistry
// with the default 100k-trace cache, Flush + CloseIdle + StateDb::Commit every
// SPANPIPE_BENCH_CHECKPOINT_SPANS spans (default 10k = 100 ms of the bench's clock; 100000 = the
// job's 1 s commit interval at this rate), and a Persist every 5 s of that clock (as the job).
// Traffic: traces arrive in waves of 5000 concurrently-active traces, each sending its spans
// interleaved with the others' (root last), 100 spans per event-time millisecond, 30 s idle close.
// The spans are OTLP/JSON messages of 100 spans each (an LLM call's attributes, as a collector
// would send them), built per wave outside the timed regions, then decoded and normalised
// (timed: decode) and resolved (timed: resolve, with the checkpoints and the final close). Each
// message's spans are read ahead in one batch (TraceRegistry::Prefetch), as the job and replay
// do; SPANPIPE_BENCH_PREFETCH=0 applies them one read at a time instead.
// Size: SPANPIPE_BENCH_TRACES (default 200000) traces x SPANPIPE_BENCH_SPANS (default 3) spans.
// Trace ids: 8 fixed bytes, then a bijective mix of the trace's number (random key order);
// SPANPIPE_BENCH_SEQUENTIAL_IDS=1: the number itself (ascending keys, the ids before 2026-11-30).
// SPANPIPE_BENCH_DB_STATS=1 prints RocksDB's statistics at the end (write stalls, compactions).
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "operators/hash64.h"
#include "operators/trace_registry.h"
#include "state/state_db.h"
#include "topology/config.h"
#include "topology/ingest_stage.h"
#include "topology/prices.h"

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

class NullDlq : public DeadLetters {
 public:
  void DeadLetter(std::string_view, std::string_view, std::string_view) override { ++count; }
  uint64_t count = 0;
};

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

constexpr int64_t kBaseNanos = 1'700'000'000'000'000'000;
constexpr int64_t kSpansPerMessage = 100;

void AppendHex(std::string* out, const uint8_t* bytes, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; ++i) {
    out->push_back(kHex[bytes[i] >> 4]);
    out->push_back(kHex[bytes[i] & 15]);
  }
}

// The OTLP/JSON messages of one wave: span s of trace t for s from the last down to the root,
// each pass over the wave's traces in order; *n counts spans (it sets their start time).
void WaveMessages(int64_t wave, int64_t wave_end, int64_t spans_per_trace, int64_t* n,
                  std::vector<std::string>* out) {
  static const char* const kThreads[4] = {"conv-a", "conv-b", "conv-c", "conv-d"};
  out->clear();
  std::string m;
  int64_t in_message = 0;
  auto close_message = [&] {
    m += "]}]}]}";
    out->push_back(std::move(m));
    m.clear();
    in_message = 0;
  };
  for (int64_t s = spans_per_trace - 1; s >= 0; --s) {
    for (int64_t t = wave; t < wave_end; ++t) {
      if (in_message == 0) {
        m = R"({"resourceSpans":[{"resource":{"attributes":[)"
            R"({"key":"service.name","value":{"stringValue":"chat-api"}},)"
            R"({"key":"deployment.environment","value":{"stringValue":"prod"}}]},)"
            R"("scopeSpans":[{"scope":{"name":"bench"},"spans":[)";
      } else {
        m += ',';
      }
      uint8_t trace_id[16], span_id[8] = {}, root_id[8] = {};
      // Trace ids are random, as OpenTelemetry SDKs make them (W3C trace context): new traces'
      // keys land all over the key space. SPANPIPE_BENCH_SEQUENTIAL_IDS=1 numbers them in order
      // instead (the bench's ids before 2026-11-30, docs/PERFORMANCE.md).
      static const bool sequential = EnvInt("SPANPIPE_BENCH_SEQUENTIAL_IDS", 0) != 0;
      const uint64_t id = sequential ? static_cast<uint64_t>(t) : Mix64(static_cast<uint64_t>(t));
      for (int i = 0; i < 8; ++i) {
        trace_id[i] = 0x5a;
        trace_id[8 + i] = static_cast<uint8_t>(id >> (56 - 8 * i));
      }
      span_id[7] = static_cast<uint8_t>(s + 1);
      root_id[7] = 1;
      const int64_t start = kBaseNanos + *n * 10'000;
      m += R"({"traceId":")";
      AppendHex(&m, trace_id, 16);
      m += R"(","spanId":")";
      AppendHex(&m, span_id, 8);
      if (s != 0) {
        m += R"(","parentSpanId":")";
        AppendHex(&m, root_id, 8);
      }
      m += s == 0 ? R"(","name":"agent","kind":1)" : R"(","name":"chat","kind":3)";
      m += R"(,"startTimeUnixNano":")" + std::to_string(start) + R"(","endTimeUnixNano":")" +
           std::to_string(start + 5'000'000) + R"(","attributes":[)";
      if (s != 0) {
        m += R"({"key":"gen_ai.system","value":{"stringValue":"openai"}},)"
             R"({"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},)"
             R"({"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o-mini"}},)"
             R"({"key":"gen_ai.usage.input_tokens","value":{"intValue":"100"}},)"
             R"({"key":"gen_ai.usage.output_tokens","value":{"intValue":"20"}})";
        if (s == 1) {
          m += R"(,{"key":"gen_ai.conversation.id","value":{"stringValue":")";
          m += kThreads[t & 3];
          m += R"("}})";
        }
      }
      m += R"(],"status":{}})";
      ++*n;
      if (++in_message == kSpansPerMessage) close_message();
    }
  }
  if (in_message > 0) close_message();
}

void BM_ResolveCheckpoint(benchmark::State& state, int64_t traces, int64_t spans_per_trace,
                          int64_t budget_mib, int64_t checkpoint_spans) {
  constexpr int64_t kWave = 5000, kSpansPerMs = 100;
  Config cfg;
  PriceTable prices;
  if (!LoadPrices(cfg, &prices).ok()) return state.SkipWithError("prices");
  for (auto _ : state) {
    auto dir = std::filesystem::temp_directory_path() /
               ("spanpipe_resolve_bench_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    state::StateOptions so;
    so.path = dir.string();
    so.memory_budget_mib = static_cast<uint64_t>(budget_mib);
    so.stores = {"traces", "spans", "idle"};
    so.expiring_stores = {"traces", "spans"};
    so.point_stores = {"traces", "spans"};  // as the job declares them (topology/state_layout)
    so.transient_stores = {"idle"};
    // The job's default: no write-ahead log, persisted by a flush every 5 s (below);
    // SPANPIPE_BENCH_WAL=1: every commit synced through the log (checkpoint.persist_interval_ms 0).
    so.write_ahead_log = EnvInt("SPANPIPE_BENCH_WAL", 0) != 0;
    std::unique_ptr<state::StateDb> db;
    if (!state::StateDb::Open(so, &db).ok()) {
      state.SkipWithError("cannot open state");
      return;
    }
    resolve::TraceRegistry reg(db->store("traces"), db->store("spans"), db->store("idle"), {});
    IngestStage ingest(cfg, &prices);
    NullDlq dlq;
    CountingEmitter em;
    std::vector<std::string> messages;
    std::vector<const SpanRecord*> decoded;
    int64_t n = 0, generated = 0;
    double decode_s = 0, decode_cpu = 0, resolve_s = 0, resolve_cpu = 0, close_flush_s = 0,
           commit_s = 0;
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    Status st;
    double close_flush_cpu = 0;
    int64_t persisted_at = 0;
    auto checkpoint = [&](int64_t now_ms) {
      const auto c0 = Clock::now();
      const double cc0 = ThreadCpuSeconds();
      st = reg.CloseIdle(now_ms, &em);
      if (st.ok()) st = reg.Flush();
      const auto c1 = Clock::now();
      close_flush_cpu += ThreadCpuSeconds() - cc0;
      // Every 5 s of the bench's clock, as the job's checkpoint.persist_interval_ms, and as the
      // job does it: the commits before this checkpoint's, whose write has landed by now.
      if (st.ok() && now_ms / 5000 != persisted_at / 5000 && !db->PersistPending()) {
        st = db->Persist(/*wait=*/false);
        persisted_at = now_ms;
      }
      if (st.ok()) st = db->CommitAsync();  // as Job::Checkpoint: written in the background
      close_flush_s += std::chrono::duration<double>(c1 - c0).count();
      commit_s += std::chrono::duration<double>(Clock::now() - c1).count();
    };
    for (int64_t wave = 0; wave < traces && st.ok(); wave += kWave) {
      WaveMessages(wave, std::min(traces, wave + kWave), spans_per_trace, &generated, &messages);
      for (const std::string& m : messages) {
        decoded.clear();
        const auto d0 = Clock::now();
        const double dc0 = ThreadCpuSeconds();
        ingest.Process(m, "", "bench", &dlq, [&](const SpanRecord& r) { decoded.push_back(&r); });
        const auto d1 = Clock::now();
        const double dc1 = ThreadCpuSeconds();
        static const bool prefetch = EnvInt("SPANPIPE_BENCH_PREFETCH", 1) != 0;
        if (prefetch && !(st = reg.Prefetch(decoded)).ok()) break;
        for (const SpanRecord* r : decoded) {
          ResolveOutcome out;
          const int64_t now_ms = 1'700'000'000'000 + n / kSpansPerMs;
          if (!(st = reg.Apply(*r, now_ms, &out)).ok()) break;
          if (++n % checkpoint_spans == 0) checkpoint(now_ms);
          if (!st.ok()) break;
          if (n % 2'000'000 == 0) {  // progress for long runs
            fprintf(
                stderr, "%lld spans  %.0f s  decode %.0f spans/s  resolve %.0f spans/s  open=%zu\n",
                static_cast<long long>(n), std::chrono::duration<double>(Clock::now() - t0).count(),
                static_cast<double>(n) / decode_s, static_cast<double>(n) / resolve_s,
                reg.open_traces());
          }
        }
        decode_s += std::chrono::duration<double>(d1 - d0).count();
        decode_cpu += dc1 - dc0;
        resolve_s += std::chrono::duration<double>(Clock::now() - d1).count();
        resolve_cpu += ThreadCpuSeconds() - dc1;
        if (!st.ok()) break;
      }
    }
    // End of input: close the open backlog over several checkpoints (bounded pending batch).
    const auto f0 = Clock::now();
    const double fc0 = ThreadCpuSeconds();
    for (bool complete = false; st.ok() && !complete;) {
      st = reg.CloseAll(&em, 100000, &complete);
      if (st.ok()) st = reg.Flush();
      if (st.ok()) st = db->CommitAsync();
    }
    if (st.ok()) st = db->Join();
    resolve_s += std::chrono::duration<double>(Clock::now() - f0).count();
    resolve_cpu += ThreadCpuSeconds() - fc0;
    if (!st.ok() || dlq.count != 0 || n != traces * spans_per_trace) {
      state.SkipWithError(("run failed: " + st.ToString()).c_str());
      return;
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    state.SetIterationTime(secs);
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    const auto per_s = [&](double s) { return static_cast<double>(n) / s; };
    state.counters["spans"] = static_cast<double>(n);
    state.counters["decode_spans_per_s"] = per_s(decode_s);
    state.counters["resolve_spans_per_s"] = per_s(resolve_s);
    state.counters["ratio"] = decode_s / resolve_s;
    state.counters["decode_cpu_spans_per_s"] = per_s(decode_cpu);
    state.counters["resolve_cpu_spans_per_s"] = per_s(resolve_cpu);
    state.counters["ratio_cpu"] = decode_cpu / resolve_cpu;
    state.counters["traces_emitted"] = static_cast<double>(em.records);
    state.counters["close_flush_s"] = close_flush_s;
    state.counters["close_flush_cpu_s"] = close_flush_cpu;
    state.counters["commit_s"] = commit_s;
    state.counters["close_snapshot_reads"] = static_cast<double>(reg.close_snapshot_reads());
    state.counters["close_store_reads"] = static_cast<double>(reg.close_store_reads());
    state.counters["peak_rss_mib"] = static_cast<double>(ru.ru_maxrss) / 1024.0;
    state.counters["state_mib"] = static_cast<double>(db->ApproximateSizeBytes()) / (1 << 20);
    if (EnvInt("SPANPIPE_BENCH_DB_STATS", 0) != 0) {
      fprintf(stderr, "%s\n", db->GetProperty("rocksdb.dbstats").c_str());
      fprintf(stderr, "%s\n", db->GetProperty("rocksdb.stats").c_str());
    }
    db.reset();
    std::filesystem::remove_all(dir);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t traces = EnvInt("SPANPIPE_BENCH_TRACES", 200000);
  const int64_t spans = EnvInt("SPANPIPE_BENCH_SPANS", 3);
  const int64_t budget = EnvInt("SPANPIPE_BENCH_BUDGET_MIB", 64);
  const int64_t checkpoint = std::max<int64_t>(1, EnvInt("SPANPIPE_BENCH_CHECKPOINT_SPANS", 10000));
  benchmark::RegisterBenchmark(
      ("ResolveCheckpoint/traces:" + std::to_string(traces) + "/spans:" + std::to_string(spans) +
       "/budget_mib:" + std::to_string(budget) + "/checkpoint_spans:" + std::to_string(checkpoint) +
       (EnvInt("SPANPIPE_BENCH_SEQUENTIAL_IDS", 0) != 0 ? "/ids:sequential" : "/ids:random"))
          .c_str(),
      [=](benchmark::State& st) { BM_ResolveCheckpoint(st, traces, spans, budget, checkpoint); })
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kSecond);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
