// The whole pipeline beside its parts, on the same messages in the same run (issues: foundation,
// trace resolution, rollups). Messages: the demo generator's OTLP/JSON (or protobuf with
// SPANPIPE_BENCH_PROTO=1) traffic, SPANPIPE_BENCH_TURNS conversation turns (default 20000, ~3 spans
// each). Stages measured, each over all messages:
//   dom_parse          simdjson DOM parse of each message (the bare-parse baseline)
//   decode_normalise   IngestStage: decode + normalise into SpanRecords
//   resolve_checkpoint decode + normalise + trace registry + RocksDB commit every 10k spans
//   pipeline_no_content  decode .. resolve + thread groups + rollups + merge + checkpoints
//   pipeline_content   the same with content chunked, compressed and packed to a file store
// Ratios (docs/PERFORMANCE.md) divide each stage's spans/s by decode_normalise's.
// SPANPIPE_BENCH_DUMP=FILE also writes the JSON corpus, one message a line (input for `replay`).
// SPANPIPE_BENCH_START_MS=<unix ms> fixes the corpus's start time (reproducible instruction
// counts).
// SPANPIPE_BENCH_RECORDS_DUMP=FILE writes the pipeline's spanpipe.rollups and spanpipe.threads
// records (stream, key, value; one a line) for comparing two builds' outputs; not for timing.
// Each message's spans are read ahead (TaskStage::Prefetch) before they are applied, as replay
// and the job on keyed input do; SPANPIPE_BENCH_PREFETCH=0 skips that (A/B of the read-ahead).
#include <benchmark/benchmark.h>
#include <simdjson.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "connectors/object_store.h"
#include "operators/emitter.h"
#include "operators/trace_registry.h"
#include "topology/config.h"
#include "topology/demo_traffic.h"
#include "topology/ingest_stage.h"
#include "topology/prices.h"
#include "topology/state_layout.h"
#include "topology/task_stage.h"

namespace {

using namespace spanpipe;

int64_t EnvInt(const char* name, int64_t def) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : def;
}

struct Corpus {
  std::vector<std::string> messages;
  uint64_t bytes = 0;
};

const Corpus& Messages() {
  static Corpus c = [] {
    Corpus c;
    DemoTrafficOptions o;
    o.seed = 7;
    o.protobuf = EnvInt("SPANPIPE_BENCH_PROTO", 0) != 0;
    o.malformed_rate = 0;
    // SPANPIPE_BENCH_START_MS fixes the corpus's first timestamp (default: an hour ago): with it
    // two runs see the same rollup windows, so their instruction counts compare exactly.
    o.start_unix_ms =
        EnvInt("SPANPIPE_BENCH_START_MS", std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                                  .count() -
                                              3600000);
    DemoTraffic t(o);
    std::vector<DemoMessage> batch;
    for (int64_t i = 0, n = EnvInt("SPANPIPE_BENCH_TURNS", 20000); i < n; ++i) t.NextTurn(&batch);
    for (auto& m : batch) {
      c.bytes += m.payload.size();
      c.messages.push_back(std::move(m.payload));
    }
    // SPANPIPE_BENCH_DUMP=FILE writes the JSON corpus one message a line, for timing `spanpipe
    // replay`.
    if (const char* dump = std::getenv("SPANPIPE_BENCH_DUMP"); dump && *dump && !o.protobuf) {
      std::ofstream f(dump);
      for (const auto& m : c.messages) f << m << "\n";
    }
    return c;
  }();
  return c;
}

class NullDlq : public DeadLetters {
 public:
  void DeadLetter(std::string_view, std::string_view, std::string_view) override { ++count; }
  uint64_t count = 0;
};

// Partials to the merge stage (as the Kafka round trip would), everything else counted (and the
// merge's records written to SPANPIPE_BENCH_RECORDS_DUMP when set).
class Router : public Emitter {
 public:
  explicit Router(MergeStage* merge) : merge_(merge) {
    if (const char* f = std::getenv("SPANPIPE_BENCH_RECORDS_DUMP"); f && *f && merge_) {
      dump_.open(f);
      dumping_ = true;
    }
  }
  void Emit(std::string_view stream, std::string_view key, std::string_view value) override {
    ++records;
    if (merge_ && (stream == streams::kRollupPartials || stream == streams::kThreadPartials))
      status = merge_->Process(stream, key, value);
    if (dumping_ && (stream == streams::kRollups || stream == streams::kThreads))
      dump_ << stream << '\t' << key << '\t' << value << '\n';
  }
  uint64_t records = 0;
  Status status;

 private:
  MergeStage* merge_;
  bool dumping_ = false;  // a flag, not dump_.is_open(): a test per record in the measured region
  std::ofstream dump_;
};

// CPU time of the calling thread: on a shared machine it varies far less than wall time. The
// pipeline runs on one thread; RocksDB's background flushes and compactions are not in it.
double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Wraps each measured region, so that `valgrind --tool=callgrind --collect-atstart=no
// --toggle-collect='*MeasuredRegion*'` counts exactly its instructions: a figure that does not
// depend on what else the machine runs (docs/PERFORMANCE.md).
[[gnu::noinline]] void MeasuredRegion(const std::function<void()>& fn) {
  fn();
}

void Report(benchmark::State& state, uint64_t spans, double secs, double cpu_secs) {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  state.SetIterationTime(secs);
  state.counters["cpu_ms"] = cpu_secs * 1e3;
  state.counters["cpu_spans_per_s"] = spans ? static_cast<double>(spans) / cpu_secs : 0;
  state.counters["MB_per_s"] = static_cast<double>(Messages().bytes) / 1e6 / secs;
  state.counters["spans"] = static_cast<double>(spans);
  state.counters["spans_per_s"] = static_cast<double>(spans) / secs;
  state.counters["peak_rss_mib"] = static_cast<double>(ru.ru_maxrss) / 1024.0;
}

void BM_DomParse(benchmark::State& state) {
  const Corpus& c = Messages();
  if (EnvInt("SPANPIPE_BENCH_PROTO", 0)) {
    state.SkipWithError("protobuf corpus: no JSON to parse");
    return;
  }
  simdjson::dom::parser parser;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = ThreadCpuSeconds();
    uint64_t elements = 0;
    for (const auto& m : c.messages) {
      simdjson::dom::element doc;
      if (parser.parse(m).get(doc) == simdjson::SUCCESS) ++elements;
    }
    benchmark::DoNotOptimize(elements);
    Report(state, 0, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
           ThreadCpuSeconds() - c0);
  }
}

void BM_DecodeNormalise(benchmark::State& state) {
  const Corpus& c = Messages();
  Config cfg;
  PriceTable prices;
  if (!LoadPrices(cfg, &prices).ok()) return state.SkipWithError("prices");
  for (auto _ : state) {
    IngestStage ingest(cfg, &prices);
    NullDlq dlq;
    uint64_t spans = 0;
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = ThreadCpuSeconds();
    MeasuredRegion([&] {
      for (const auto& m : c.messages)
        ingest.Process(m, "", "bench", &dlq, [&](const SpanRecord&) { ++spans; });
    });
    Report(state, spans,
           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
           ThreadCpuSeconds() - c0);
  }
}

// `mode`: 0 resolve + checkpoint, 1 whole pipeline without content, 2 with content.
void BM_Pipeline(benchmark::State& state, int mode) {
  const Corpus& c = Messages();
  for (auto _ : state) {
    auto dir = std::filesystem::temp_directory_path() /
               ("spanpipe_pipeline_bench_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    Config cfg;
    cfg.content.enabled = mode == 2;
    cfg.state.memory_mib = 256;
    // 0: checkpoints synced through RocksDB's write-ahead log (before the fourth session).
    cfg.checkpoint.persist_interval_ms =
        EnvInt("SPANPIPE_BENCH_PERSIST_MS", cfg.checkpoint.persist_interval_ms);
    PriceTable prices;
    std::unique_ptr<state::StateDb> db;
    std::unique_ptr<ObjectStore> objects;
    ObjectStoreOptions oo;
    oo.url = "file://" + (dir / "objects").string();
    if (!LoadPrices(cfg, &prices).ok() ||
        !state::StateDb::Open(stores::JobStateOptions(cfg, (dir / "state").string()), &db).ok() ||
        !OpenObjectStore(oo, &objects).ok())
      return state.SkipWithError("setup");
    IngestStage ingest(cfg, &prices);
    NullDlq dlq;
    uint64_t spans = 0;
    Status st;
    const std::vector<int32_t> partitions = {0};
    int64_t max_ms = 0;
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = ThreadCpuSeconds();
    const double p0 = ProcessCpuSeconds();
    // The clock stops before the operators are destroyed (freeing caches is not throughput).
    double secs = 0, cpu_secs = 0;
    auto stop = [&] {
      secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      cpu_secs = ThreadCpuSeconds() - c0;
    };
    // Checkpoint cadence: every SPANPIPE_BENCH_CHECKPOINT_SPANS spans (default 10 000), or, with
    // SPANPIPE_BENCH_CHECKPOINT_MS, when that much processing time has passed since the last one,
    // as the job does (`checkpoint.interval_ms`, default 1000).
    const int64_t every_spans = EnvInt("SPANPIPE_BENCH_CHECKPOINT_SPANS", 10000);
    const int64_t every_ms = EnvInt("SPANPIPE_BENCH_CHECKPOINT_MS", 0);
    auto last_checkpoint = t0;
    uint64_t checkpoints = 0;
    auto due = [&](uint64_t n) {
      bool now;
      if (every_ms > 0) {
        if ((n & 255) != 0) return false;  // read the clock every 256 spans
        auto t = std::chrono::steady_clock::now();
        now = t - last_checkpoint >= std::chrono::milliseconds(every_ms);
        if (now) last_checkpoint = t;
      } else {
        now = n % static_cast<uint64_t>(every_spans) == 0;
      }
      checkpoints += now;
      return now;
    };
    // Time inside the operators (apply) and in checkpoints, to split the stage from decode.
    double apply_s = 0, checkpoint_s = 0;
    auto timed = [](double* acc, auto&& fn) {
      auto a = std::chrono::steady_clock::now();
      fn();
      *acc += std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
    };
    // Decodes every message, reads its spans' traces ahead in one batch (`prefetch`, as replay
    // and the job on keyed input do per message), hands each span to `apply`, checkpoints on the
    // cadence and at the end.
    std::vector<const SpanRecord*> message_spans;
    auto run = [&](auto&& prefetch, auto&& apply, auto&& checkpoint, auto&& final_checkpoint) {
      MeasuredRegion([&] {
        for (const auto& m : c.messages) {
          message_spans.clear();
          ingest.Process(m, "", "bench", &dlq,
                         [&](const SpanRecord& s) { message_spans.push_back(&s); });
          static const bool read_ahead = EnvInt("SPANPIPE_BENCH_PREFETCH", 1) != 0;
          if (read_ahead) {
            timed(&apply_s, [&] {
              if (st.ok()) st = prefetch(message_spans);
            });
          }
          for (const SpanRecord* s : message_spans) {
            max_ms = std::max<int64_t>(max_ms, static_cast<int64_t>(s->end_unix_nano / 1000000));
            timed(&apply_s, [&] {
              if (st.ok()) st = apply(*s);
            });
            if (due(++spans)) timed(&checkpoint_s, checkpoint);
          }
        }
        timed(&checkpoint_s, final_checkpoint);
      });
      stop();
    };
    if (mode == 0) {
      resolve::TraceRegistry reg(db->store(stores::kTraces), db->store(stores::kTraceSpans),
                                 db->store(stores::kTraceIdle), {});
      Router out(nullptr);
      ResolveOutcome r;  // reused across spans, as TaskStage does
      run([&](const std::vector<const SpanRecord*>& b) { return reg.Prefetch(b); },
          [&](const SpanRecord& s) { return reg.Apply(s, max_ms, &r); },
          [&] {
            if (st.ok()) st = reg.CloseIdle(max_ms, &out);
            if (st.ok()) st = reg.Flush();
            if (st.ok()) st = db->Commit();
          },
          [&] {
            if (st.ok()) st = reg.Flush();
            if (st.ok()) st = db->Commit();
          });
    } else {
      TaskStage task(cfg, db.get(), objects.get());
      MergeStage merge(db.get());
      Router out(&merge);
      auto checkpoint = [&] {
        if (st.ok()) st = task.Tick(partitions, max_ms, &out);
        if (st.ok()) st = task.PrepareCheckpoint(&out);
        if (st.ok()) st = merge.Emit(&out);
        if (st.ok()) st = out.status;
        if (st.ok()) st = db->CommitAsync();  // as Job::Checkpoint
      };
      run([&](const std::vector<const SpanRecord*>& b) { return task.Prefetch(b); },
          [&](const SpanRecord& s) { return task.Process(s, 0, max_ms, "bench", &out, &dlq); },
          checkpoint,
          [&] {
            checkpoint();
            if (st.ok()) st = db->Join();  // the job's last checkpoint persists: it waits too
          });
      state.counters["output_records"] = static_cast<double>(out.records);
      state.counters["content_ratio"] =
          task.content().stats().stored_bytes
              ? static_cast<double>(task.content().stats().raw_bytes) /
                    task.content().stats().stored_bytes
              : 0;
    }
    if (!st.ok()) return state.SkipWithError(st.ToString().c_str());
    // All CPU of the process, RocksDB's background threads included, through a final flush of
    // the memtables: the work the processing thread defers (the commit's writes, flushes).
    if (Status f = db->FlushMemtables(); !f.ok()) return state.SkipWithError(f.ToString().c_str());
    state.counters["process_cpu_spans_per_s"] =
        static_cast<double>(spans) / (ProcessCpuSeconds() - p0);
    state.counters["state_mib"] = static_cast<double>(db->ApproximateSizeBytes()) / (1 << 20);
    state.counters["apply_ms"] = apply_s * 1e3;
    state.counters["checkpoint_ms"] = checkpoint_s * 1e3;
    state.counters["checkpoints"] = static_cast<double>(checkpoints + 1);  // + the final one
    // The stages after decode on their own (their spans/s if decode were free or ran elsewhere).
    state.counters["stage_spans_per_s"] = static_cast<double>(spans) / (apply_s + checkpoint_s);
    Report(state, spans, secs, cpu_secs);
    db.reset();
    std::filesystem::remove_all(dir);
  }
}

}  // namespace

BENCHMARK(BM_DomParse)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_DecodeNormalise)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK_CAPTURE(BM_Pipeline, resolve_checkpoint, 0)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_Pipeline, pipeline_no_content, 1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_Pipeline, pipeline_content, 2)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK_MAIN();
