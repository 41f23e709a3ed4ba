// Content store: stored bytes, de-duplication, compression and object-store requests of the real
// ContentProcessor (RocksDB index, zstd frames in packs, segments with the flushes' manifests,
// index runs) on the demo corpus (topology/demo_traffic: multi-turn conversations re-sending their
// history each turn, shared system prompts, four attribute dialects) or a long-context chat corpus,
// for several chunkings, frame sizes, zstd levels and with or without a dictionary, next to the
// reference design of issue 5 (newline chunks, one gzip object per chunk, a HEAD and a PUT per
// chunk) computed on the same values in the same run; and the content path's throughput next to
// plain zstd -1 of the same bytes in this process.
//
// A plain main (no Google Benchmark loop): every configuration runs once over the same corpus.
//   content_bench [--corpus demo|long] [--turns N] [--seed S] [--flush-spans N] [--csv]
// --corpus long: a synthetic long-context chat corpus (ForEachLongSpan) next to the demo one.
// Checkpoints: the job flushes at every checkpoint (1 s by default); --flush-spans is the number
// of spans between flushes (1000 = a 1000 spans/s deployment).
#include <zdict.h>
#include <zlib.h>
#include <zstd.h>

#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "operators/content_format.h"
#include "operators/content_processor.h"
#include "state/state_db.h"
#include "topology/demo_traffic.h"
#include "topology/ingest_stage.h"
#include "topology/prices.h"

namespace {

using namespace spanpipe;
// CPU time of this thread, not wall time: the figures stay comparable on a shared machine.
// (RocksDB's background flushes and compactions run on other threads and are not counted.)
struct Clock {
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<Clock, duration>;
  static time_point now() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return time_point(duration(int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec));
  }
};

class NullDeadLetters : public DeadLetters {
 public:
  void DeadLetter(std::string_view, std::string_view, std::string_view) override { ++count; }
  uint64_t count = 0;
};

// Counts what the processor writes; reads the pack indexes to split stored bytes into frames
// (compressed unique chunks), pack overhead and manifests.
class CountingSink : public PackSink {
 public:
  Status Put(std::string_view key, std::string_view bytes) override {
    auto t0 = Clock::now();
    ++puts;
    if (key.substr(0, 6) == "packs/" || key.substr(0, 5) == "segs/") {
      ++packs;
      pack_bytes += bytes.size();
      std::vector<content::PackFrameInfo> index;
      Status s = content::DecodePackIndex(bytes, &index);
      if (!s.ok()) return s;
      uint64_t frames = 0;
      for (const auto& e : index) {
        frames += e.stored_len;
        unique_raw += e.raw_len;
      }
      frame_bytes += frames;
      // Segments carry the flush's manifest frames and trace table; with the pack index they
      // are the "manifest" share.
      manifest_bytes += bytes.size() - frames;
    } else {
      ++manifests;
      manifest_bytes += bytes.size();
      other_bytes += bytes.size();
    }
    own_time += Clock::now() - t0;
    return Status::OK();
  }
  Status Get(std::string_view, std::string*) override { return Status::NotSupported("bench"); }
  Status GetRange(std::string_view, uint64_t, uint64_t, std::string*) override {
    return Status::NotSupported("bench");
  }
  uint64_t puts = 0, packs = 0, manifests = 0;
  uint64_t pack_bytes = 0, manifest_bytes = 0, frame_bytes = 0, unique_raw = 0, other_bytes = 0;
  Clock::duration own_time{};
};

struct Args {
  int turns = 20000;
  uint64_t seed = 42;
  int flush_spans = 1000;
  bool csv = false;
  bool long_corpus = false;
};

// The "long" corpus: long-context chats as the benchmark describes them. 200 concurrent
// conversations of 4-20 turns; 6 shared system prompts of 3-8 KB; user turns of 0.1-2 KB and
// answers of 0.3-6 KB of text drawn from a 4000-word vocabulary (compresses like prose, ~3x);
// each turn one LLM span whose gen_ai.input.messages re-sends the system prompt and the whole
// history as a JSON array, and gen_ai.output.messages the answer.
void ForEachLongSpan(const Args& a, const std::function<void(const SpanRecord&)>& fn) {
  std::mt19937_64 rng(a.seed);
  std::vector<std::string> vocab;
  const char* syl[] = {"ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "qu", "an", "el",
                       "or", "is", "ut", "be", "do", "fa", "gi", "hu", "ja", "ko", "ly", "pe"};
  for (int i = 0; i < 4000; ++i) {
    std::string w;
    for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n; ++k) w += syl[rng() % 24];
    vocab.push_back(w);
  }
  auto text = [&](size_t n) {
    std::string t;
    while (t.size() < n) {
      // Zipf-ish: frequent words much more frequent.
      double u = std::uniform_real_distribution<double>(0, 1)(rng);
      t += vocab[static_cast<size_t>(std::pow(u, 3.0) * 3999)];
      t += rng() % 12 == 0 ? ". " : " ";
    }
    return t;
  };
  auto jstr = [](const std::string& v) { return nlohmann::json(v).dump(); };
  std::vector<std::string> systems;
  for (int i = 0; i < 6; ++i) systems.push_back(text(3000 + rng() % 5000));
  struct Conv {
    int system = 0, left = 0;
    std::string history;  // JSON array body
  };
  std::vector<Conv> convs(200);
  auto fresh = [&](Conv* c) {
    c->system = static_cast<int>(rng() % systems.size());
    c->left = 4 + static_cast<int>(rng() % 17);
    c->history = "{\"role\":\"system\",\"content\":" + jstr(systems[c->system]) + "}";
  };
  for (auto& c : convs) fresh(&c);
  uint64_t id = 1;
  for (int t = 0; t < a.turns; ++t) {
    Conv& c = convs[rng() % convs.size()];
    std::string user = text(100 + rng() % 1900), answer = text(300 + rng() % 5700);
    c.history += ",{\"role\":\"user\",\"content\":" + jstr(user) + "}";
    otlp::Batch b;
    auto str = [&](std::string k, std::string v) {
      otlp::AnyValue av;
      av.kind = otlp::ValueKind::kString;
      av.s = b.Own(std::move(v));
      b.kvs.push_back({b.Own(std::move(k)), av});
    };
    str("gen_ai.request.model", "gpt-4o");
    str("gen_ai.input.messages", "[" + c.history + "]");
    str("gen_ai.output.messages", "[{\"role\":\"assistant\",\"content\":" + jstr(answer) + "}]");
    SpanRecord r;
    ++id;
    for (int i = 0; i < 16; ++i)
      r.trace_id[i] = static_cast<uint8_t>((id * 0x9E3779B97F4A7C15ull) >> (i % 8 * 8)) ^
                      static_cast<uint8_t>(i);
    for (int i = 0; i < 8; ++i) r.span_id[i] = static_cast<uint8_t>(id >> (i * 8)) | 1;
    r.project = "default";
    r.start_unix_nano = 1764000000000000000ull + static_cast<uint64_t>(t) * 1000000ull;
    r.batch = &b;
    r.attr_begin = 0;
    r.attr_count = static_cast<uint32_t>(b.kvs.size());
    fn(r);
    c.history += ",{\"role\":\"assistant\",\"content\":" + jstr(answer) + "}";
    if (--c.left == 0) fresh(&c);
  }
}

// Runs the demo corpus through ingest (decode + normalise) and hands every span to `fn`.
void ForEachSpan(const Args& a, const std::function<void(const SpanRecord&)>& fn) {
  if (a.long_corpus) return ForEachLongSpan(a, fn);
  Config cfg;
  PriceTable prices;
  (void)LoadPrices(cfg, &prices);
  IngestStage ingest(cfg, &prices);
  NullDeadLetters dlq;
  DemoTrafficOptions o;
  o.seed = a.seed;
  o.duplicate_rate = 0;  // the job drops duplicate spans before content: keep them out
  o.malformed_rate = 0;
  o.start_unix_ms = 1764000000000;
  DemoTraffic traffic(o);
  std::vector<DemoMessage> msgs;
  for (int t = 0; t < a.turns; ++t) {
    msgs.clear();
    traffic.NextTurn(&msgs);
    for (const auto& m : msgs) ingest.Process(m.payload, m.project, "bench", &dlq, fn);
  }
}

struct Result {
  std::string name;
  uint64_t raw = 0, values = 0, chunks = 0, unique_chunks = 0, unique_raw = 0;
  uint64_t frame_bytes = 0, stored = 0, manifest_bytes = 0;
  uint64_t puts = 0, heads = 0, packs = 0, manifests = 0;
  double seconds = 0;
};

constexpr double kMiB = 1024.0 * 1024.0;

Result RunProcessor(const Args& a, const std::string& name, content::ContentOptions co) {
  namespace fs = std::filesystem;
  fs::path dir =
      fs::temp_directory_path() / ("spanpipe_content_bench_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  std::unique_ptr<state::StateDb> db;
  state::StateOptions so;
  so.path = dir.string();
  so.memory_budget_mib = 256;
  so.stores = {"content"};
  Status s = state::StateDb::Open(so, &db);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::exit(1);
  }
  CountingSink sink;
  content::ContentProcessor p(db->store("content"), &sink, co);
  std::vector<content::ContentRef> refs;
  Clock::duration busy{};
  int since_flush = 0;
  auto flush = [&] {
    auto t0 = Clock::now();
    Status fs = p.Flush();
    if (fs.ok()) fs = db->Commit();
    busy += Clock::now() - t0;
    if (!fs.ok()) {
      std::fprintf(stderr, "%s\n", fs.ToString().c_str());
      std::exit(1);
    }
  };
  ForEachSpan(a, [&](const SpanRecord& span) {
    refs.clear();
    auto t0 = Clock::now();
    Status ps = p.Process(span, &refs);
    busy += Clock::now() - t0;
    if (!ps.ok()) {
      std::fprintf(stderr, "%s\n", ps.ToString().c_str());
      std::exit(1);
    }
    if (++since_flush >= a.flush_spans) {
      since_flush = 0;
      flush();
    }
  });
  flush();
  Result r;
  r.name = name;
  auto st = p.stats();
  r.raw = st.raw_bytes;
  r.values = st.values;
  r.chunks = st.chunks;
  r.unique_chunks = st.new_chunks;
  r.unique_raw = sink.unique_raw;
  r.frame_bytes = sink.frame_bytes;
  r.stored = sink.pack_bytes + sink.other_bytes;
  r.manifest_bytes = sink.manifest_bytes;
  r.puts = sink.puts;
  r.packs = sink.packs;
  r.manifests = sink.manifests;
  r.seconds = std::chrono::duration<double>(busy - sink.own_time).count();
  db.reset();
  fs::remove_all(dir);
  return r;
}

// Every content value of the corpus, as the processor sees them (same extraction rule).
std::vector<std::string> ContentValues(const Args& a) {
  std::vector<std::string> values;
  content::ContentOptions co;
  ForEachSpan(a, [&](const SpanRecord& span) {
    const otlp::Batch& b = *span.batch;
    auto take = [&](uint32_t begin, uint32_t count) {
      for (uint32_t i = begin; i < begin + count; ++i) {
        const otlp::KeyValue& kv = b.kvs[i];
        if (kv.value.kind == otlp::ValueKind::kString &&
            content::IsContentAttribute(kv.key, kv.value.s.size(), co))
          values.emplace_back(kv.value.s);
      }
    };
    take(span.attr_begin, span.attr_count);
    for (uint32_t e = 0; e < span.event_count; ++e)
      take(b.events[span.event_begin + e].attr_begin, b.events[span.event_begin + e].attr_count);
  });
  return values;
}

// gzip (zlib's default level 6, gzip wrapper) of one chunk, as the reference design stores it.
size_t GzipSize(std::string_view data) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  size_t n = z.total_out;
  deflateEnd(&z);
  return n;
}

// The reference: newline chunks; per chunk a HEAD (exists?) and, when new, a PUT of its gzip.
Result RunReference(const std::vector<std::string>& values) {
  Result r;
  r.name = "reference: newline + gzip object per chunk";
  std::unordered_set<std::string> stored;
  content::ChunkerOptions co;
  co.algorithm = content::ChunkAlgorithm::kNewline;
  co.max_size = SIZE_MAX;
  std::vector<size_t> lengths;
  auto t0 = Clock::now();
  for (const auto& v : values) {
    r.raw += v.size();
    ++r.values;
    lengths.clear();
    content::ChunkBoundaries(v, co, &lengths);
    size_t pos = 0;
    for (size_t len : lengths) {
      std::string_view chunk(v.data() + pos, len);
      pos += len;
      ++r.chunks;
      ++r.heads;
      if (!stored.insert(content::Sha256(chunk)).second) continue;
      ++r.puts;
      ++r.unique_chunks;
      r.unique_raw += len;
      size_t gz = GzipSize(chunk);
      r.frame_bytes += gz;
      r.stored += gz;
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

// zstd -1 of the same bytes in this process: value by value (one context), and as one stream.
void ZstdBaseline(const std::vector<std::string>& values, double* per_value_mbs, double* stream_mbs,
                  uint64_t* stream_bytes) {
  uint64_t raw = 0;
  for (const auto& v : values) raw += v.size();
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::string out;
  auto t0 = Clock::now();
  for (const auto& v : values) {
    out.resize(ZSTD_compressBound(v.size()));
    ZSTD_compressCCtx(cctx, out.data(), out.size(), v.data(), v.size(), 1);
  }
  double s1 = std::chrono::duration<double>(Clock::now() - t0).count();
  ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
  std::string buf(ZSTD_CStreamOutSize(), '\0');
  *stream_bytes = 0;
  t0 = Clock::now();
  for (size_t i = 0; i < values.size(); ++i) {
    ZSTD_inBuffer in{values[i].data(), values[i].size(), 0};
    ZSTD_EndDirective mode = i + 1 == values.size() ? ZSTD_e_end : ZSTD_e_continue;
    bool done = false;
    while (!done) {
      ZSTD_outBuffer o{buf.data(), buf.size(), 0};
      size_t rem = ZSTD_compressStream2(cctx, &o, &in, mode);
      *stream_bytes += o.pos;
      done = mode == ZSTD_e_end ? rem == 0 : in.pos == in.size;
    }
  }
  double s2 = std::chrono::duration<double>(Clock::now() - t0).count();
  ZSTD_freeCCtx(cctx);
  *per_value_mbs = raw / kMiB / s1;
  *stream_mbs = raw / kMiB / s2;
}

void Print(const Result& r, bool csv) {
  double ratio = static_cast<double>(r.raw) / static_cast<double>(std::max<uint64_t>(r.stored, 1));
  double dedup =
      static_cast<double>(r.raw) / static_cast<double>(std::max<uint64_t>(r.unique_raw, 1));
  double comp =
      static_cast<double>(r.unique_raw) / static_cast<double>(std::max<uint64_t>(r.frame_bytes, 1));
  double stored_mib = r.stored / kMiB, raw_mib = r.raw / kMiB;
  double puts_per_mib = r.puts / std::max(stored_mib, 1e-9);
  double reqs_per_raw_mib = (r.puts + r.heads) / std::max(raw_mib, 1e-9);
  double mbs = raw_mib / std::max(r.seconds, 1e-9);
  if (csv) {
    std::printf("%s,%llu,%llu,%.3f,%.2f,%.2f,%.2f,%llu,%llu,%.1f,%.1f,%.0f\n", r.name.c_str(),
                static_cast<unsigned long long>(r.raw), static_cast<unsigned long long>(r.stored),
                r.manifest_bytes / kMiB, ratio, dedup, comp,
                static_cast<unsigned long long>(r.puts), static_cast<unsigned long long>(r.heads),
                puts_per_mib, reqs_per_raw_mib, mbs);
    return;
  }
  std::printf(
      "| %-44s | %8.1f | %7.2f | %6.2f | %6.1fx | %6.1fx | %5.2fx | %8llu | %8llu | %8.1f | %8.1f "
      "| %6.0f |\n",
      r.name.c_str(), raw_mib, stored_mib, r.manifest_bytes / kMiB, ratio, dedup, comp,
      static_cast<unsigned long long>(r.puts), static_cast<unsigned long long>(r.heads),
      puts_per_mib, reqs_per_raw_mib, mbs);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", f.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (f == "--turns")
      a.turns = std::atoi(next());
    else if (f == "--seed")
      a.seed = std::strtoull(next(), nullptr, 10);
    else if (f == "--flush-spans")
      a.flush_spans = std::atoi(next());
    else if (f == "--csv")
      a.csv = true;
    else if (f == "--corpus")
      a.long_corpus = std::string(next()) == "long";
    else {
      std::fprintf(stderr,
                   "usage: content_bench [--corpus demo|long] [--turns N] [--seed S] "
                   "[--flush-spans N] [--csv]\n");
      return 2;
    }
  }
  std::vector<std::string> values = ContentValues(a);
  uint64_t raw = 0, max_len = 0;
  for (const auto& v : values) {
    raw += v.size();
    max_len = std::max<uint64_t>(max_len, v.size());
  }
  std::printf(
      "corpus: %s seed %llu, %d turns, %zu content values, %.1f MiB raw "
      "(mean %.0f B, max %llu B); flush every %d spans\n\n",
      a.long_corpus ? "long-context chats" : "demo traffic",
      static_cast<unsigned long long>(a.seed), a.turns, values.size(), raw / kMiB,
      static_cast<double>(raw) / static_cast<double>(std::max<size_t>(values.size(), 1)),
      static_cast<unsigned long long>(max_len), a.flush_spans);
  if (a.csv)
    std::printf(
        "config,raw_bytes,stored_bytes,manifest_mib,ratio,dedup,compression,puts,heads,"
        "puts_per_stored_mib,requests_per_raw_mib,mb_per_s\n");
  else
    std::printf(
        "| configuration | raw MiB | stored MiB | of which manifests | raw/stored | dedup "
        "| zstd/gzip | PUTs | HEADs | PUTs/MiB stored | requests/MiB raw | MiB/s |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n");

  struct Variant {
    std::string name;
    content::ChunkAlgorithm algo;
    size_t min, avg, max;
    int level;
    size_t frame_kib;
    bool dict;
  };
  using content::ChunkAlgorithm;
  const std::vector<Variant> configs = {
      {"fastcdc 64/256/4K zstd-3 128K frames (default)", ChunkAlgorithm::kFastCdc, 64, 256, 4096, 3,
       128, false},
      {"fastcdc 64/256/4K zstd-3 128K frames + dict", ChunkAlgorithm::kFastCdc, 64, 256, 4096, 3,
       128, true},
      {"fastcdc 64/256/4K zstd-1 128K frames", ChunkAlgorithm::kFastCdc, 64, 256, 4096, 1, 128,
       false},
      {"fastcdc 64/256/4K zstd-3 32K frames", ChunkAlgorithm::kFastCdc, 64, 256, 4096, 3, 32,
       false},
      {"fastcdc 64/256/4K zstd-3 32K frames + dict", ChunkAlgorithm::kFastCdc, 64, 256, 4096, 3, 32,
       true},
      {"fastcdc 128/512/8K zstd-3 128K frames", ChunkAlgorithm::kFastCdc, 128, 512, 8192, 3, 128,
       false},
      {"fastcdc 256/1K/16K zstd-3 128K frames", ChunkAlgorithm::kFastCdc, 256, 1024, 16384, 3, 128,
       false},
      {"fastcdc 2K/8K/64K zstd-3 128K frames", ChunkAlgorithm::kFastCdc, 2048, 8192, 65536, 3, 128,
       false},
      {"fixed 256 zstd-3 128K frames", ChunkAlgorithm::kFixed, 256, 256, 256, 3, 128, false},
      {"newline zstd-3 128K frames", ChunkAlgorithm::kNewline, 1, 1, 4096, 3, 128, false},
  };
  Result fastcdc_default;
  // CONTENT_BENCH_ONLY=text: run the default and the configurations whose name contains text.
  const char* only = std::getenv("CONTENT_BENCH_ONLY");
  for (const auto& c : configs) {
    if (only && c.name.find(only) == std::string::npos && !fastcdc_default.name.empty()) continue;
    content::ContentOptions co;
    co.chunk_algorithm = c.algo;
    co.min_chunk = c.min;
    co.avg_chunk = c.avg;
    co.max_chunk = c.max;
    co.zstd_level = c.level;
    co.frame_target_bytes = c.frame_kib << 10;
    co.train_dictionary = c.dict;
    Result r = RunProcessor(a, c.name, co);
    if (fastcdc_default.name.empty()) fastcdc_default = r;
    Print(r, a.csv);
  }
  // CONTENT_BENCH_PROCESSOR_ONLY: stop here (for profiling the content path alone).
  if (std::getenv("CONTENT_BENCH_PROCESSOR_ONLY")) return 0;
  Result ref = RunReference(values);
  Print(ref, a.csv);
  // Its chunk lists must live somewhere too (in the span records): 32 B per chunk reference.
  Result ref_lists = ref;
  ref_lists.name = "reference + its chunk lists (32 B/chunk)";
  ref_lists.manifest_bytes = 32 * ref.chunks;
  ref_lists.stored += ref_lists.manifest_bytes;
  Print(ref_lists, a.csv);

  double per_value_mbs = 0, stream_mbs = 0;
  uint64_t stream_bytes = 0;
  ZstdBaseline(values, &per_value_mbs, &stream_mbs, &stream_bytes);
  double ours_mbs = fastcdc_default.raw / kMiB / std::max(fastcdc_default.seconds, 1e-9);
  std::printf(
      "\nzstd -1 of the same bytes: value by value %.0f MiB/s; one stream %.0f MiB/s, %.2f MiB "
      "(%.1fx, no dedup)\n",
      per_value_mbs, stream_mbs, stream_bytes / kMiB,
      static_cast<double>(raw) / static_cast<double>(std::max<uint64_t>(stream_bytes, 1)));
  std::printf(
      "content path (fastcdc default: chunk + SHA-256 + RocksDB index + zstd + packs + "
      "manifests): %.0f MiB/s = %.2fx of zstd -1 value by value\n",
      ours_mbs, ours_mbs / per_value_mbs);
  std::printf(
      "reference / default: stored bytes %.2f (%.2f counting its chunk lists), "
      "requests %.1f\n",
      static_cast<double>(ref.stored) /
          static_cast<double>(std::max<uint64_t>(fastcdc_default.stored, 1)),
      static_cast<double>(ref_lists.stored) /
          static_cast<double>(std::max<uint64_t>(fastcdc_default.stored, 1)),
      static_cast<double>(ref.puts + ref.heads) /
          static_cast<double>(std::max<uint64_t>(fastcdc_default.puts, 1)));
  return 0;
}
