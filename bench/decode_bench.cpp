// OTLP decode throughput, JSON beside protobuf on the same spans in the same run (issue 6 target:
// protobuf spans/s >= 2x JSON spans/s). Dataset (second argument of each benchmark):
//   0  demo: SPANPIPE_BENCH_TURNS (default 400) conversation turns of the demo generator
//      (topology/demo_traffic.*), ~2 messages a turn, every attribute dialect, growing chat
//      history; the same turns generated twice from one seed, once as OTLP/JSON, once as protobuf;
//   1  fixtures: the shared OTLP/JSON fixtures, and each converted to protobuf.
// Benchmarks: (a) raw simdjson On-Demand walk of every value of the JSON messages (a baseline no
// JSON decoder can beat), (b) JSON decode, (c) JSON decode + normalise, (d) protobuf decode,
// (e) protobuf decode + normalise. bytes_per_second = input bytes of that encoding;
// items_per_second = spans. docs/perf/decode.md has the figures and the command.
//
// simdjson On-Demand runs the kernel its translation unit was compiled for: the walk (a) therefore
// lives in operators/otlp_json_decoder.cpp (JsonDecoder::WalkAllValues), built with
// -march=SPANPIPE_SIMD_ARCH like the decoder; the label names the kernel that ran.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "operators/normalize.h"
#include "operators/otlp_json_decoder.h"
#include "operators/otlp_proto_decoder.h"
#include "operators/otlp_proto_encoder.h"
#include "topology/demo_traffic.h"

namespace {

using namespace spanpipe;

struct Dataset {
  std::vector<std::string> json, proto;
  size_t json_bytes = 0, proto_bytes = 0, spans = 0;
};

const Dataset& Data(int which) {
  static Dataset sets[2];
  static bool ready[2] = {false, false};
  Dataset& d = sets[which];
  if (ready[which]) return d;
  ready[which] = true;
  if (which == 0) {
    const char* env = std::getenv("SPANPIPE_BENCH_TURNS");
    int turns = env && *env ? std::atoi(env) : 400;
    for (bool protobuf : {false, true}) {
      DemoTrafficOptions o;
      o.protobuf = protobuf;
      o.malformed_rate = 0;
      o.duplicate_rate = 0;
      o.start_unix_ms = 1700000000000;
      DemoTraffic gen(o);
      std::vector<DemoMessage> msgs;
      for (int t = 0; t < turns; ++t) gen.NextTurn(&msgs);
      for (auto& m : msgs) (protobuf ? d.proto : d.json).push_back(std::move(m.payload));
    }
  } else {
    otlp::JsonDecoder dec;
    for (const auto& e :
         std::filesystem::directory_iterator(std::string(SPANPIPE_SHARED_DIR) + "/fixtures/otlp")) {
      if (e.path().extension() != ".json") continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      otlp::Batch b;
      if (!dec.Decode(ss.str(), &b).ok()) std::abort();
      d.json.push_back(ss.str());
      d.proto.push_back(otlp::EncodeProto(b));
    }
  }
  otlp::JsonDecoder jd;
  otlp::ProtoDecoder pd;
  otlp::Batch b;
  for (size_t i = 0; i < d.json.size(); ++i) {
    if (!jd.Decode(d.json[i], &b).ok()) std::abort();
    d.spans += b.spans.size();
    if (!pd.Decode(d.proto[i], &b).ok()) std::abort();
    d.json_bytes += d.json[i].size();
    d.proto_bytes += d.proto[i].size();
  }
  return d;
}

void Report(benchmark::State& state, size_t bytes, size_t spans) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * spans));
  state.counters["input_bytes"] = static_cast<double>(bytes);  // per iteration: the whole dataset
  state.counters["spans"] = static_cast<double>(spans);
}

void BM_a_SimdjsonWalk(benchmark::State& state) {
  const Dataset& d = Data(static_cast<int>(state.range(0)));
  otlp::JsonDecoder dec;
  for (auto _ : state) {
    size_t n = 0;
    for (const auto& m : d.json) n += dec.WalkAllValues(m);
    if (n == 0) std::abort();
    benchmark::DoNotOptimize(n);
  }
  Report(state, d.json_bytes, d.spans);
  state.SetLabel(std::string("simdjson kernel: ") + otlp::JsonDecoder::Kernel());
}

template <bool kNormalize>
void BM_Json(benchmark::State& state) {
  const Dataset& d = Data(static_cast<int>(state.range(0)));
  otlp::JsonDecoder dec;
  otlp::Batch batch;
  Normalizer norm{NormalizeOptions{}};
  std::vector<SpanRecord> out;
  std::vector<SpanReject> rejects;
  for (auto _ : state) {
    for (const auto& m : d.json) {
      if (!dec.Decode(m, &batch).ok()) std::abort();
      if constexpr (kNormalize) {
        out.clear();
        rejects.clear();
        norm.Normalize(&batch, "", &out, &rejects);
        benchmark::DoNotOptimize(out.data());
      }
      benchmark::DoNotOptimize(batch.spans.data());
    }
  }
  Report(state, d.json_bytes, d.spans);
}

template <bool kNormalize>
void BM_Proto(benchmark::State& state) {
  const Dataset& d = Data(static_cast<int>(state.range(0)));
  otlp::ProtoDecoder dec;
  otlp::Batch batch;
  Normalizer norm{NormalizeOptions{}};
  std::vector<SpanRecord> out;
  std::vector<SpanReject> rejects;
  for (auto _ : state) {
    for (const auto& m : d.proto) {
      if (!dec.Decode(m, &batch).ok()) std::abort();
      if constexpr (kNormalize) {
        out.clear();
        rejects.clear();
        norm.Normalize(&batch, "", &out, &rejects);
        benchmark::DoNotOptimize(out.data());
      }
      benchmark::DoNotOptimize(batch.spans.data());
    }
  }
  Report(state, d.proto_bytes, d.spans);
}

void BM_b_JsonDecode(benchmark::State& s) {
  BM_Json<false>(s);
}
void BM_c_JsonDecodeNormalize(benchmark::State& s) {
  BM_Json<true>(s);
}
void BM_d_ProtoDecode(benchmark::State& s) {
  BM_Proto<false>(s);
}
void BM_e_ProtoDecodeNormalize(benchmark::State& s) {
  BM_Proto<true>(s);
}

void Datasets(benchmark::internal::Benchmark* b) {
  b->ArgName("dataset")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_a_SimdjsonWalk)->Apply(Datasets);
BENCHMARK(BM_b_JsonDecode)->Apply(Datasets);
BENCHMARK(BM_c_JsonDecodeNormalize)->Apply(Datasets);
BENCHMARK(BM_d_ProtoDecode)->Apply(Datasets);
BENCHMARK(BM_e_ProtoDecodeNormalize)->Apply(Datasets);

}  // namespace

BENCHMARK_MAIN();
