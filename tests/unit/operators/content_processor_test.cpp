#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include "common/hex.h"
#include "connectors/file_object_store.h"
#include "operators/content_processor.h"
#include "operators/content_reader.h"
#include "state/state_db.h"
#include "tests/unit/operators/batch_builder.h"

namespace spanpipe::content {
namespace {
namespace fs = std::filesystem;
using testing::BatchBuilder;

// A real file store and a real RocksDB in a temp folder.
class ContentProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("spanpipe_content_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = std::make_unique<FileObjectStore>((dir_ / "objects").string());
    OpenDb();
  }
  void TearDown() override {
    db_.reset();
    fs::remove_all(dir_);
  }
  void OpenDb() {
    db_.reset();
    state::StateOptions o;
    o.path = (dir_ / "state").string();
    o.memory_budget_mib = 16;
    o.stores = {"content"};
    ASSERT_TRUE(state::StateDb::Open(o, &db_).ok());
  }
  state::KvStore* index() { return db_->store("content"); }

  ListFn List() {
    return [this](std::string_view prefix, std::vector<std::string>* keys) {
      ++lists_;
      return store_->List(prefix, keys);
    };
  }
  Status Read(std::string_view project, std::string_view trace_hex, std::vector<ContentValue>* out,
              std::string_view span_hex = "") {
    std::string p(project);
    return ReadTraceContent(store_.get(), List(), &p, trace_hex, span_hex, out);
  }

  fs::path dir_;
  uint64_t lists_ = 0;  // List calls made through List()
  std::unique_ptr<FileObjectStore> store_;
  std::unique_ptr<state::StateDb> db_;
};

// One span of a batch, as normalize would hand it over.
SpanRecord Record(const otlp::Batch& b, size_t i, std::string_view project) {
  const otlp::Span& s = b.spans[i];
  SpanRecord r;
  std::memcpy(r.trace_id, s.trace_id, 16);
  std::memcpy(r.span_id, s.span_id, 8);
  r.start_unix_nano = s.start_unix_nano;
  r.end_unix_nano = s.end_unix_nano;
  r.project = project;
  r.batch = &b;
  r.attr_begin = s.attr_begin;
  r.attr_count = s.attr_count;
  r.event_begin = s.event_begin;
  r.event_count = s.event_count;
  return r;
}

std::string Words(size_t n, std::mt19937_64* rng) {
  static const char* words[] = {"please ", "summarise ", "the ",       "incident ", "report ",
                                "for ",    "service ",   "checkout, ", "latency ",  "rose ",
                                "after ",  "deploy ",    "42. ",       "\n",        "thanks! "};
  std::string s;
  while (s.size() < n) s += words[(*rng)() % (sizeof(words) / sizeof(words[0]))];
  s.resize(n);
  return s;
}

struct Expected {
  std::string project, trace_hex;
  std::map<std::pair<std::string, std::string>, std::string> values;  // (span hex, key) -> value
};

// A multi-turn chat corpus: each turn is a trace whose LLM span re-sends the whole history after a
// system prompt shared by many conversations; some spans carry events with a body.
struct Corpus {
  otlp::Batch batch;
  std::vector<std::pair<size_t, std::string>> spans;  // (span index, project)
  std::vector<Expected> traces;
  size_t raw_bytes = 0;
};

void BuildCorpus(Corpus* c, int conversations, int turns) {
  std::mt19937_64 rng(99);
  BatchBuilder bb(&c->batch);
  uint32_t res = bb.Resource({{"service.name", BatchBuilder::Str(&c->batch, "chat")}});
  std::vector<std::string> system_prompts;
  for (int i = 0; i < 3; ++i)
    system_prompts.push_back("You are assistant #" + std::to_string(i) + ". " + Words(6000, &rng));
  int trace_no = 0;
  for (int conv = 0; conv < conversations; ++conv) {
    std::string history = "[{\"role\":\"system\",\"content\":\"" + system_prompts[conv % 3] + "\"}";
    std::string project =
        conv % 4 == 3 ? "team/a b" : "default";  // a project name that needs encoding
    for (int turn = 0; turn < turns; ++turn, ++trace_no) {
      history += ",{\"role\":\"user\",\"content\":\"" + Words(300 + rng() % 2000, &rng) + "\"}";
      std::string input = history + "]";
      std::string output =
          "[{\"role\":\"assistant\",\"content\":\"" + Words(500 + rng() % 3000, &rng) + "\"}]";
      uint8_t tb = static_cast<uint8_t>(trace_no + 1);
      auto* bp = &c->batch;
      std::vector<std::pair<std::string, otlp::AnyValue>> attrs = {
          {"gen_ai.request.model", BatchBuilder::Str(bp, "gpt-4o")},
          {"gen_ai.input.messages", BatchBuilder::Str(bp, input)},
          {"gen_ai.output.messages", BatchBuilder::Str(bp, output)},
          {"gen_ai.usage.input_tokens", BatchBuilder::Int(100)},
          {"http.url", BatchBuilder::Str(bp, "https://api.example.com/v1")},  // small: not content
      };
      history += "," + output.substr(1, output.size() - 2);  // the answer is re-sent next turn
      if (turn == 0)
        attrs.push_back(
            {"tool.schema", BatchBuilder::Str(bp, Words(1500, &rng))});  // large: content
      otlp::Span& span = bb.Span(res, tb, static_cast<uint8_t>(2 * trace_no + 1), attrs);
      span.trace_id[0] = static_cast<uint8_t>(conv);  // distinct trace ids beyond 255 turns
      size_t span_index = c->batch.spans.size() - 1;
      Expected e;
      e.project = project;
      e.trace_hex = HexEncode(std::string_view(reinterpret_cast<const char*>(span.trace_id), 16));
      std::string span_hex =
          HexEncode(std::string_view(reinterpret_cast<const char*>(span.span_id), 8));
      e.values[{span_hex, "gen_ai.input.messages"}] = input;
      e.values[{span_hex, "gen_ai.output.messages"}] = output;
      if (turn == 0)
        e.values[{span_hex, "tool.schema"}] = c->batch.kvs[span.attr_begin + 5].value.s;
      if (turn % 2 == 1) {
        // Events: a body (content) and a small attribute (not content).
        std::string body = "{\"tool\":\"search\",\"result\":\"" + Words(2500, &rng) + "\"}";
        uint32_t begin = bb.List(
            {{"body", BatchBuilder::Str(bp, body)}, {"level", BatchBuilder::Str(bp, "info")}});
        c->batch.spans[span_index].event_begin = static_cast<uint32_t>(c->batch.events.size());
        c->batch.events.push_back({"log", 0, begin, 2});
        uint32_t begin2 =
            bb.List({{"gen_ai.completion", BatchBuilder::Str(bp, "short completion")}});
        c->batch.events.push_back({"choice", 0, begin2, 1});
        c->batch.spans[span_index].event_count = 2;
        e.values[{span_hex, "event[0].body"}] = body;
        e.values[{span_hex, "event[1].gen_ai.completion"}] = "short completion";
      }
      for (const auto& [k, v] : e.values) c->raw_bytes += v.size();
      c->spans.emplace_back(span_index, project);
      c->traces.push_back(std::move(e));
    }
  }
}

void ExpectTraceMatches(const Expected& e, const std::vector<ContentValue>& got) {
  ASSERT_EQ(got.size(), e.values.size()) << e.trace_hex;
  for (const auto& v : got) {
    EXPECT_EQ(v.trace_id_hex, e.trace_hex);
    auto it = e.values.find({v.span_id_hex, v.key});
    ASSERT_NE(it, e.values.end()) << v.span_id_hex << " " << v.key;
    EXPECT_TRUE(it->second == v.value) << "value differs: " << v.key;
  }
}

TEST_F(ContentProcessorTest, MultiTurnCorpusRoundTripsByteForByte) {
  Corpus c;
  BuildCorpus(&c, 12, 12);
  ContentOptions o;
  o.pack_target_bytes = 64 << 10;  // several packs, so chunks are referenced across packs
  ContentProcessor p(index(), store_.get(), o);
  std::vector<ContentRef> refs;
  size_t n = 0;
  for (const auto& [i, project] : c.spans) {
    refs.clear();
    ASSERT_TRUE(p.Process(Record(c.batch, i, project), &refs).ok());
    // Refs: one per value, with the value's length and content address.
    ASSERT_FALSE(refs.empty());
    for (const auto& r : refs) {
      EXPECT_EQ(r.manifest.size(), 64u);
      EXPECT_GT(r.length, 0u);
    }
    if (++n % 20 == 0) {  // checkpoints in the middle of the run
      ASSERT_TRUE(p.Flush().ok());
      ASSERT_TRUE(db_->Commit().ok());
    }
  }
  ASSERT_TRUE(p.Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());

  for (const auto& e : c.traces) {
    std::vector<ContentValue> got;
    Status s = Read(e.project, e.trace_hex, &got);
    ASSERT_TRUE(s.ok()) << s.message();
    ExpectTraceMatches(e, got);
  }
  auto st = p.stats();
  EXPECT_EQ(st.raw_bytes, c.raw_bytes);
  // History re-sent each turn dedups: most raw bytes are never stored again.
  EXPECT_GT(st.dedup_hits, st.new_chunks / 2);
  // Stored bytes (packs, their indexes, manifests) far below raw: measured on disk, not trusted
  // from the stats.
  uint64_t on_disk = 0;
  for (auto& f : fs::recursive_directory_iterator(dir_ / "objects"))
    if (f.is_regular_file()) on_disk += f.file_size();
  EXPECT_EQ(on_disk, st.stored_bytes);
  EXPECT_LT(on_disk * 5, c.raw_bytes) << on_disk << " stored for " << c.raw_bytes << " raw";
  EXPECT_EQ(st.puts, store_->puts());
}

TEST_F(ContentProcessorTest, SameValueInTwoTracesIsStoredOnce) {
  otlp::Batch b;
  BatchBuilder bb(&b);
  std::mt19937_64 rng(3);
  std::string big = Words(200000, &rng);
  uint32_t res = bb.Resource({});
  bb.Span(res, 1, 1, {{"gen_ai.prompt", BatchBuilder::Str(&b, big)}});
  bb.Span(res, 2, 2, {{"gen_ai.prompt", BatchBuilder::Str(&b, big)}});
  bb.Span(res, 3, 3, {{"gen_ai.prompt", BatchBuilder::Str(&b, big)}});
  std::vector<ContentRef> refs;
  {
    ContentProcessor p(index(), store_.get(), {});
    ASSERT_TRUE(p.Process(Record(b, 0, "default"), &refs).ok());
    auto first = p.stats();
    EXPECT_EQ(first.new_chunks, first.chunks);
    ASSERT_TRUE(p.Process(Record(b, 1, "default"), &refs).ok());  // same checkpoint
    auto second = p.stats();
    EXPECT_EQ(second.new_chunks, first.new_chunks);
    EXPECT_EQ(second.dedup_hits, first.chunks);
    EXPECT_EQ(second.stored_bytes, first.stored_bytes);
    ASSERT_TRUE(p.Flush().ok());
    ASSERT_TRUE(db_->Commit().ok());
  }
  OpenDb();  // a restart: dedup now comes from the RocksDB index
  ContentProcessor p2(index(), store_.get(), {});
  ASSERT_TRUE(p2.Process(Record(b, 2, "default"), &refs).ok());
  EXPECT_EQ(p2.stats().new_chunks, 0u);
  EXPECT_GT(p2.stats().dedup_hits, 10u);
  ASSERT_TRUE(p2.Flush().ok());
  ASSERT_EQ(refs.size(), 3u);
  EXPECT_EQ(refs[0].manifest, refs[2].manifest);
  EXPECT_EQ(refs[0].manifest, HexEncode(Sha256(big)));
  for (uint8_t t = 1; t <= 3; ++t) {
    std::vector<ContentValue> got;
    ASSERT_TRUE(Read("default", HexEncode(std::string(16, static_cast<char>(t))), &got).ok());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(got[0].value == big);
  }
}

TEST_F(ContentProcessorTest, SpanFilterAndEmptyValues) {
  otlp::Batch b;
  BatchBuilder bb(&b);
  uint32_t res = bb.Resource({});
  bb.Span(res, 9, 1, {{"input.value", BatchBuilder::Str(&b, "question")}});
  bb.Span(res, 9, 2,
          {{"output.value", BatchBuilder::Str(&b, "")}, {"other", BatchBuilder::Str(&b, "tiny")}});
  ContentProcessor p(index(), store_.get(), {});
  std::vector<ContentRef> refs;
  ASSERT_TRUE(p.Process(Record(b, 0, "default"), &refs).ok());
  ASSERT_TRUE(p.Process(Record(b, 1, "default"), &refs).ok());
  ASSERT_TRUE(p.Flush().ok());
  ASSERT_EQ(refs.size(), 2u);  // "other" is small and not listed: not content
  std::string trace = HexEncode(std::string(16, '\x09'));
  std::vector<ContentValue> got;
  ASSERT_TRUE(Read("default", trace, &got, HexEncode(std::string(8, '\x02'))).ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key, "output.value");
  EXPECT_EQ(got[0].value, "");
  ASSERT_TRUE(Read("default", trace, &got).ok());
  EXPECT_EQ(got.size(), 2u);
  ASSERT_TRUE(Read("other-project", trace, &got).ok());
  EXPECT_TRUE(got.empty());
}

TEST_F(ContentProcessorTest, ReplayAfterCrashYieldsEachValueOnce) {
  Corpus c;
  BuildCorpus(&c, 3, 4);
  std::vector<ContentRef> refs;
  {
    ContentProcessor p(index(), store_.get(), {});
    for (const auto& [i, project] : c.spans)
      ASSERT_TRUE(p.Process(Record(c.batch, i, project), &refs).ok());
    ASSERT_TRUE(p.Flush().ok());
    db_->Rollback();  // crash before the checkpoint committed: index entries are lost
  }
  OpenDb();
  ContentProcessor p(index(), store_.get(), {});
  for (const auto& [i, project] : c.spans)
    ASSERT_TRUE(p.Process(Record(c.batch, i, project), &refs).ok());
  ASSERT_TRUE(p.Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  for (const auto& e : c.traces) {
    std::vector<ContentValue> got;
    ASSERT_TRUE(Read(e.project, e.trace_hex, &got).ok());
    ExpectTraceMatches(e, got);
  }
}

// Fails the first `failures` Puts, then passes through to the real store.
class FlakySink : public PackSink {
 public:
  FlakySink(PackSink* inner, int failures) : inner_(inner), failures_(failures) {}
  Status Put(std::string_view key, std::string_view bytes) override {
    if (failures_ > 0) {
      --failures_;
      return Status::Unavailable("injected failure");
    }
    return inner_->Put(key, bytes);
  }
  Status Get(std::string_view key, std::string* bytes) override { return inner_->Get(key, bytes); }
  Status GetRange(std::string_view key, uint64_t off, uint64_t len, std::string* bytes) override {
    return inner_->GetRange(key, off, len, bytes);
  }

 private:
  PackSink* inner_;
  int failures_;
};

TEST_F(ContentProcessorTest, FailedFlushIsRetriedWithoutLosingThePack) {
  Corpus c;
  BuildCorpus(&c, 2, 3);
  for (int failures : {1, 2}) {  // the pack's Put fails; then a manifest's Put fails
    fs::remove_all(dir_ / "objects");
    OpenDb();
    db_->Rollback();
    FlakySink flaky(store_.get(), failures);
    ContentProcessor p(index(), &flaky, {});
    std::vector<ContentRef> refs;
    for (const auto& [i, project] : c.spans)
      ASSERT_TRUE(p.Process(Record(c.batch, i, project), &refs).ok());
    EXPECT_FALSE(p.Flush().ok());
    if (failures == 2) {
      EXPECT_FALSE(p.Flush().ok());
    }
    ASSERT_TRUE(p.Flush().ok());
    for (const auto& e : c.traces) {
      std::vector<ContentValue> got;
      Status s = Read(e.project, e.trace_hex, &got);
      ASSERT_TRUE(s.ok()) << s.message();
      ExpectTraceMatches(e, got);
    }
  }
}

TEST_F(ContentProcessorTest, CorruptOrMissingChunkIsAnErrorNamingIt) {
  otlp::Batch b;
  BatchBuilder bb(&b);
  std::mt19937_64 rng(8);
  uint32_t res = bb.Resource({});
  bb.Span(res, 5, 5, {{"gen_ai.completion", BatchBuilder::Str(&b, Words(300000, &rng))}});
  ContentOptions o;
  o.pack_target_bytes = 32 << 10;  // plain packs sealed during Process, then the segment
  ContentProcessor p(index(), store_.get(), o);
  std::vector<ContentRef> refs;
  ASSERT_TRUE(p.Process(Record(b, 0, "default"), &refs).ok());
  ASSERT_TRUE(p.Flush().ok());
  std::vector<std::string> packs, segs;
  ASSERT_TRUE(store_->List("packs/", &packs).ok());
  ASSERT_TRUE(store_->List("segs/", &segs).ok());
  ASSERT_GE(packs.size(), 1u);
  ASSERT_EQ(segs.size(), 1u);
  fs::path pack = dir_ / "objects" / packs[0];
  std::string bytes;
  ASSERT_TRUE(store_->Get(packs[0], &bytes).ok());
  std::vector<PackFrameInfo> index;
  ASSERT_TRUE(DecodePackIndex(bytes, &index).ok());
  ASSERT_GE(index.size(), 1u);
  // Flip a byte inside a frame: its zstd checksum (or the value's SHA-256) no longer matches.
  std::string corrupt = bytes;
  corrupt[index[0].offset + index[0].stored_len / 2] ^= 0x55;
  std::ofstream(pack, std::ios::binary | std::ios::trunc)
      .write(corrupt.data(), static_cast<std::streamsize>(corrupt.size()));
  std::string trace = HexEncode(std::string(16, '\x05'));
  std::vector<ContentValue> got;
  Status s = Read("default", trace, &got);
  ASSERT_TRUE(s.IsCorruption());
  EXPECT_NE(
      s.message().find("frame at offset " + std::to_string(index[0].offset) + " of " + packs[0]),
      std::string::npos)
      << s.message();

  fs::remove(pack);
  s = Read("default", trace, &got);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(packs[0]), std::string::npos) << s.message();
  std::ofstream(pack, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(Read("default", trace, &got).ok());

  // A corrupt manifest frame (in the segment) is named too.
  std::string seg;
  ASSERT_TRUE(store_->Get(segs[0], &seg).ok());
  ASSERT_TRUE(DecodePackIndex(seg, &index).ok());
  uint64_t manifests_at = index.empty() ? 5 : index.back().offset + index.back().stored_len;
  std::string bad = seg;
  bad[manifests_at + 6] ^= 0x21;
  std::ofstream(dir_ / "objects" / segs[0], std::ios::binary | std::ios::trunc)
      .write(bad.data(), static_cast<std::streamsize>(bad.size()));
  s = Read("default", trace, &got);
  ASSERT_TRUE(s.IsCorruption());
  EXPECT_NE(s.message().find(segs[0]), std::string::npos) << s.message();
}

// Many flushes: segments are merged into index runs (16 segments -> a level-1 run, 16 of those
// -> a level-2 run), and every trace is still found, with a bounded number of requests.
TEST_F(ContentProcessorTest, IndexRunsFindEveryTraceAfterManyFlushes) {
  Corpus c;
  BuildCorpus(&c, 30, 10);  // 300 traces
  ContentOptions o;
  o.max_index_level = 2;
  ContentProcessor p(index(), store_.get(), o);
  std::vector<ContentRef> refs;
  for (const auto& [i, project] : c.spans) {
    ASSERT_TRUE(p.Process(Record(c.batch, i, project), &refs).ok());
    ASSERT_TRUE(p.Flush().ok());  // one segment per span
    ASSERT_TRUE(db_->Commit().ok());
  }
  EXPECT_EQ(p.stats().segments, 300u);
  EXPECT_EQ(p.stats().failed_merges, 0u);
  std::vector<std::string> l1;
  ASSERT_TRUE(store_->List("tindex/", &l1).ok());
  size_t level1 = 0, level2 = 0;
  for (const auto& k : l1) {
    level1 += k.find("/1/") != std::string::npos;
    level2 += k.find("/2/") != std::string::npos;
  }
  EXPECT_EQ(level1, 18u);  // 300 / 16
  EXPECT_EQ(level2, 1u);   // 18 / 16
  uint64_t max_gets = 0, max_lists = 0;
  for (const auto& e : c.traces) {
    std::vector<ContentValue> got;
    uint64_t before = store_->gets(), lists_before = lists_;
    Status s = Read(e.project, e.trace_hex, &got);
    ASSERT_TRUE(s.ok()) << s.message();
    ExpectTraceMatches(e, got);
    max_gets = std::max(max_gets, store_->gets() - before);
    max_lists = std::max(max_lists, lists_ - lists_before);
  }
  // writers/; group 0 of levels 1 (full) and 2 (one run: the top); level 1's live group; the live
  // segments' group.
  EXPECT_EQ(max_lists, 5u);
  // Live: 1 level-2 run, 2 level-1 runs, 12 segments: footers + blocks + tables + data, not
  // one GET per segment ever written.
  EXPECT_LT(max_gets, 40u);
  // A second writer (a restart) on the same store: both writers' traces are found.
  ContentProcessor p2(index(), store_.get(), o);
  ASSERT_TRUE(p2.Process(Record(c.batch, c.spans[0].first, c.spans[0].second), &refs).ok());
  ASSERT_TRUE(p2.Flush().ok());
  std::vector<std::string> writers;
  ASSERT_TRUE(store_->List("writers/", &writers).ok());
  EXPECT_EQ(writers.size(), 2u);
  std::vector<ContentValue> got;
  ASSERT_TRUE(Read(c.traces[0].project, c.traces[0].trace_hex, &got).ok());
  ExpectTraceMatches(c.traces[0], got);  // the value written twice is returned once
}

// content.dictionary: a zstd dictionary trained from the first new chunks, stored as dicts/<id>
// before any pack whose frames use it; reads load it.
TEST_F(ContentProcessorTest, DictionaryIsTrainedStoredAndUsed) {
  Corpus c;
  BuildCorpus(&c, 8, 6);
  ContentOptions o;
  o.train_dictionary = true;
  o.dictionary_train_bytes = 64 << 10;
  o.dictionary_bytes = 16 << 10;
  o.frame_target_bytes = 16 << 10;
  ContentProcessor p(index(), store_.get(), o);
  std::vector<ContentRef> refs;
  size_t n = 0;
  for (const auto& [i, project] : c.spans) {
    ASSERT_TRUE(p.Process(Record(c.batch, i, project), &refs).ok());
    if (++n % 10 == 0) {
      ASSERT_TRUE(p.Flush().ok());
    }
  }
  ASSERT_TRUE(p.Flush().ok());
  EXPECT_EQ(p.stats().dictionaries, 1u);
  std::vector<std::string> dicts;
  ASSERT_TRUE(store_->List("dicts/", &dicts).ok());
  ASSERT_EQ(dicts.size(), 1u);
  for (const auto& e : c.traces) {
    std::vector<ContentValue> got;
    Status s = Read(e.project, e.trace_hex, &got);
    ASSERT_TRUE(s.ok()) << s.message();
    ExpectTraceMatches(e, got);
  }
  // Without the dictionary the frames that use it cannot be read: the error names it.
  fs::remove(dir_ / "objects" / dicts[0]);
  bool named = false;
  for (const auto& e : c.traces) {
    std::vector<ContentValue> got;
    Status s = Read(e.project, e.trace_hex, &got);
    if (!s.ok()) named = named || s.message().find(dicts[0]) != std::string::npos;
  }
  EXPECT_TRUE(named);
}

// A pack upload that fails while spans are processed (the pack filled up) does not fail Process:
// the pack stays queued, and Flush (the checkpoint) stores it or fails.
TEST_F(ContentProcessorTest, PackUploadFailingDuringProcessIsRetriedByFlush) {
  Corpus c;
  BuildCorpus(&c, 3, 4);
  FlakySink flaky(store_.get(), 2);
  ContentOptions o;
  o.pack_target_bytes = 16 << 10;  // packs seal (and upload) during Process
  ContentProcessor p(index(), &flaky, o);
  std::vector<ContentRef> refs;
  for (const auto& [i, project] : c.spans)
    ASSERT_TRUE(p.Process(Record(c.batch, i, project), &refs).ok());
  EXPECT_GE(p.stats().failed_uploads, 1u);
  Status flushed = p.Flush();  // the sink may still have a failure left for it
  if (!flushed.ok()) flushed = p.Flush();
  ASSERT_TRUE(flushed.ok()) << flushed.message();
  ASSERT_TRUE(db_->Commit().ok());
  for (const auto& e : c.traces) {
    std::vector<ContentValue> got;
    Status s = Read(e.project, e.trace_hex, &got);
    ASSERT_TRUE(s.ok()) << s.message();
    ExpectTraceMatches(e, got);
  }
}

// Reading a trace costs a few LISTs (writers, index levels, live segments), a GET per live
// segment's trace table, one per manifest frame and one range GET per run of nearby frames in a
// pack: not one request per chunk.
TEST_F(ContentProcessorTest, ReadsAreCoalescedPerPack) {
  otlp::Batch b;
  BatchBuilder bb(&b);
  std::mt19937_64 rng(21);
  uint32_t res = bb.Resource({});
  std::string big = Words(400000, &rng), other = Words(50000, &rng);
  bb.Span(res, 6, 1, {{"gen_ai.prompt", BatchBuilder::Str(&b, big)}});
  bb.Span(res, 6, 2, {{"gen_ai.completion", BatchBuilder::Str(&b, other)}});
  ContentProcessor p(index(), store_.get(), {});
  std::vector<ContentRef> refs;
  ASSERT_TRUE(p.Process(Record(b, 0, "default"), &refs).ok());
  ASSERT_TRUE(p.Process(Record(b, 1, "default"), &refs).ok());
  ASSERT_TRUE(p.Flush().ok());
  EXPECT_GT(p.stats().chunks, 20u);
  uint64_t before = store_->gets();
  std::vector<ContentValue> got;
  ASSERT_TRUE(Read("default", HexEncode(std::string(16, '\x06')), &got).ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0].value == big);
  EXPECT_TRUE(got[1].value == other);
  // The segment's trace table, the trace's manifest frame, then one range of the data frames.
  EXPECT_EQ(store_->gets() - before, 3u);
  // --span reads only that span's frames.
  before = store_->gets();
  ASSERT_TRUE(
      Read("default", HexEncode(std::string(16, '\x06')), &got, HexEncode(std::string(8, '\x02')))
          .ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].value == other);
  EXPECT_EQ(store_->gets() - before, 3u);
}

TEST(ContentAttributes, ContractListAndSizeThreshold) {
  ContentOptions o;
  for (const char* k :
       {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
        "gen_ai.prompt", "gen_ai.completion", "gen_ai.prompt.0.content",
        "gen_ai.completion.12.content", "input.value", "output.value",
        "llm.input_messages.3.message.content", "llm.output_messages.0.message.content",
        "langfuse.observation.input", "langfuse.observation.output", "langfuse.trace.input",
        "langfuse.trace.output", "traceloop.entity.input", "traceloop.entity.output", "body"})
    EXPECT_TRUE(IsContentAttribute(k, 1, o)) << k;
  // Near misses of every listed name (same length, one byte off) are not content.
  for (const char* k :
       {"gen_ai.prompt.x.content", "gen_ai.prompt..content", "llm.input_messages.1.message.role",
        "gen_ai.request.model", "http.url", "bodY", "input.valuE", "output.valuE", "gen_ai.prompT",
        "gen_ai.completioN", "langfuse.trace.inpuT", "gen_ai.input.messageS",
        "langfuse.trace.outpuT", "gen_ai.output.messageS", "traceloop.entity.inpuT",
        "traceloop.entity.outpuT", "gen_ai.system_instructionS", "langfuse.observation.inpuT",
        "langfuse.observation.outpuT"})
    EXPECT_FALSE(IsContentAttribute(k, 10, o)) << k;
  EXPECT_FALSE(IsContentAttribute("http.url", 1024, o));
  EXPECT_TRUE(IsContentAttribute("http.url", 1025, o));
}

}  // namespace
}  // namespace spanpipe::content
