#include "operators/trace_registry.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "common/coding.h"
#include "common/hex.h"
#include "operators/trace_codec.h"
#include "operators/trace_uuid.h"
#include "resolve_test_util.h"

namespace spanpipe::resolve {
namespace {

using nlohmann::json;
using testutil::RecordingEmitter;
using testutil::SpanFactory;
using testutil::SpanSpec;

constexpr char kT1[] = "0123456789abcdef0123456789abcdef";

class TraceRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen(ResolveOptions opts = {}) {
    reg_.reset();
    db_.reset();
    db_ = dir_.Open({"traces", "spans", "idle"}, {"traces", "spans"});
    NewRegistry(std::move(opts));
  }
  // A fresh registry over the same stores (what a restarted task builds).
  void NewRegistry(ResolveOptions opts = {}) {
    opts_ = std::move(opts);
    reg_ = std::make_unique<TraceRegistry>(db_->store("traces"), db_->store("spans"),
                                           db_->store("idle"), opts_);
  }
  ResolveOutcome Apply(const SpanSpec& s, int64_t now_ms = 1000) {
    ResolveOutcome out;
    Status st = reg_->Apply(spans_.Make(s), now_ms, &out);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }
  std::vector<json> CloseAll() {
    RecordingEmitter em;
    Status st = reg_->CloseAll(&em);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return Parse(em);
  }
  std::vector<json> CloseIdle(int64_t now_ms) {
    RecordingEmitter em;
    Status st = reg_->CloseIdle(now_ms, &em);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return Parse(em);
  }
  // The traces-store key of a trace of the default project.
  static std::string DefaultTraceKey(const std::string& hex) {
    uint8_t id[16];
    EXPECT_TRUE(HexDecodeTo(hex, id, 16));
    std::string key;
    AppendTraceKey(&key, "default", id);
    return key;
  }
  // Overwrites a stored trace with bytes nothing can decode: a read of it then fails the test.
  void SpoilStoredTrace(const std::string& hex) {
    db_->store("traces")->Put(DefaultTraceKey(hex), state::WrapExpiring(INT64_MAX, "garbage"));
  }
  static std::vector<json> Parse(const RecordingEmitter& em) {
    std::vector<json> v;
    for (const auto& r : em.records) {
      EXPECT_EQ(r.stream, streams::kTraces);
      json j = json::parse(r.value);
      EXPECT_EQ(r.key, j["trace_id"].get<std::string>());
      v.push_back(std::move(j));
    }
    return v;
  }

  testutil::StateDir dir_{"resolve"};
  std::unique_ptr<state::StateDb> db_;
  std::unique_ptr<TraceRegistry> reg_;
  ResolveOptions opts_;
  SpanFactory spans_;
};

TEST(TraceUuidTest, MatchesIndependentlyComputedVersion5Goldens) {
  // python3: uuid.uuid5(uuid.UUID('df4ad7a9-573b-5c0a-96de-bc4c16285b04'), project + '\0' + hex)
  uint8_t id[16];
  ASSERT_TRUE(HexDecodeTo("0123456789abcdef0123456789abcdef", id, 16));
  EXPECT_EQ(TraceUuid("default", id), "5559fde4-a784-5d0a-bb68-01715ad7f535");
  EXPECT_EQ(TraceUuid("acme", id), "71ddeedb-7107-5ad0-8dba-2891d39c98de");
  ASSERT_TRUE(HexDecodeTo("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFF01", id, 16));
  EXPECT_EQ(TraceUuid("default", id), "432f10be-9988-5c78-a8fb-46a51abfb7ec");
}

TEST(TraceUuidTest, BytesFormatAsTheCanonicalText) {
  uint8_t id[16], bytes[16], expected[16];
  ASSERT_TRUE(HexDecodeTo("0123456789abcdef0123456789abcdef", id, 16));
  TraceUuidBytes("default", id, bytes);
  ASSERT_TRUE(HexDecodeTo("5559fde4a7845d0abb6801715ad7f535", expected, 16));
  EXPECT_EQ(0, std::memcmp(bytes, expected, 16));
  std::string text = "reused buffer, longer than a UUID's text";
  FormatUuidTo(bytes, &text);
  EXPECT_EQ(text, "5559fde4-a784-5d0a-bb68-01715ad7f535");
}

TEST(TraceUuidTest, NamespaceIsTheDocumentedDerivation) {
  // python3: uuid.uuid5(uuid.NAMESPACE_DNS, 'traces.spanpipe.dev')
  EXPECT_EQ(kTraceUuidNamespace, "df4ad7a9-573b-5c0a-96de-bc4c16285b04");
}

TEST(TraceCodecTest, KeyLayoutsAndOrder) {
  uint8_t id[16], span[8];
  ASSERT_TRUE(HexDecodeTo(kT1, id, 16));
  ASSERT_TRUE(HexDecodeTo("00000000000000ff", span, 8));
  std::string tk;
  AppendTraceKey(&tk, "p", id);
  EXPECT_EQ(tk, std::string("p\0", 2) + std::string(reinterpret_cast<char*>(id), 16));
  std::string sk;
  AppendSpanKey(&sk, "p", id, span);
  EXPECT_EQ(sk, tk + std::string(reinterpret_cast<char*>(span), 8));
  std::string_view project;
  const uint8_t* parsed = nullptr;
  ASSERT_TRUE(ParseTraceKey(tk, &project, &parsed));
  EXPECT_EQ(project, "p");
  EXPECT_EQ(0, memcmp(parsed, id, 16));

  // Idle keys sort by time first (negative before positive), then trace key.
  std::vector<int64_t> times = {-5, 0, 3, 1000, int64_t{1} << 40};
  std::vector<std::string> keys;
  for (int64_t t : times) {
    std::string k;
    AppendIdleKey(&k, t, tk);
    keys.push_back(k);
  }
  for (size_t i = 1; i < keys.size(); ++i) EXPECT_LT(keys[i - 1], keys[i]) << i;
  int64_t ms;
  std::string_view back;
  ASSERT_TRUE(ParseIdleKey(keys[0], &ms, &back));
  EXPECT_EQ(ms, -5);
  EXPECT_EQ(back, tk);
}

TEST(TraceCodecTest, StateRoundTrips) {
  TraceState st;
  st.open = true;
  st.has_root = true;
  st.last_update_ms = -7;
  st.agg.service = "svc";
  st.agg.name = "root";
  st.agg.thread_id = "th";
  st.agg.user_id = "u";
  st.agg.environment = "prod";
  st.agg.start_unix_nano = 5;
  st.agg.end_unix_nano = 9;
  st.agg.span_count = 3;
  st.agg.llm_calls = 2;
  st.agg.errors = 1;
  st.agg.input_tokens = 100;
  st.agg.output_tokens = 50;
  st.agg.cost_usd = 0.125;
  st.agg.models = {"a", "b"};
  std::string enc;
  EncodeTraceState(st, &enc);
  TraceState got;
  ASSERT_TRUE(DecodeTraceState(enc, &got));
  EXPECT_EQ(got.open, true);
  EXPECT_EQ(got.has_root, true);
  EXPECT_EQ(got.last_update_ms, -7);
  EXPECT_EQ(got.agg.name, "root");
  EXPECT_EQ(got.agg.end_unix_nano, 9u);
  EXPECT_EQ(got.agg.cost_usd, 0.125);
  EXPECT_EQ(got.agg.models, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(got.span_ids.empty());
  EXPECT_FALSE(got.spans_in_store);
  EXPECT_FALSE(DecodeTraceState(enc.substr(0, enc.size() - 1), &got));

  // Format 1 (before inline span ids) = format 2 without the trailing id list: still readable,
  // and every span id of such a trace must be looked up in the spans store.
  std::string v1 = enc;
  ASSERT_EQ(v1.back(), '\0');  // varint 0: no inline ids
  v1.pop_back();
  v1[0] = 1;
  ASSERT_TRUE(DecodeTraceState(v1, &got));
  EXPECT_TRUE(got.spans_in_store);
  EXPECT_EQ(got.agg.models, (std::vector<std::string>{"a", "b"}));

  // A close from a snapshot writes the snapshot with the open flag cleared: byte for byte the
  // encoding of the same state closed.
  st.span_ids = {1, 2, 3};
  st.spans_in_store = true;
  enc.clear();
  EncodeTraceState(st, &enc);
  std::string closed = "prefix", expected = "prefix";
  ASSERT_TRUE(AppendClosedTraceState(enc, &closed));
  st.open = false;
  EncodeTraceState(st, &expected);
  EXPECT_EQ(closed, expected);
  EXPECT_FALSE(AppendClosedTraceState("\x07\x01", &closed));
}

// Format 2 as a sequence of coding.h appends: the layout stored states have on disk. The encoder
// writes it through a pointer into a buffer sized once; both must agree byte for byte.
std::string ReferenceEncoding(const TraceState& st) {
  auto zigzag = [](std::string* o, int64_t v) {
    PutVarint64(o, (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  };
  const TraceAggregate& a = st.agg;
  std::string o;
  o.push_back(2);
  o.push_back(
      static_cast<char>((st.open ? 1 : 0) | (st.has_root ? 2 : 0) | (st.spans_in_store ? 4 : 0)));
  zigzag(&o, st.last_update_ms);
  zigzag(&o, st.idle_key_ms);
  PutVarint64(&o, a.start_unix_nano);
  PutVarint64(&o, a.end_unix_nano);
  for (int64_t v : {a.span_count, a.llm_calls, a.errors, a.input_tokens, a.output_tokens})
    zigzag(&o, v);
  PutDouble(&o, a.cost_usd);
  for (const std::string* s : {&a.service, &a.name, &a.thread_id, &a.user_id, &a.environment})
    PutLengthPrefixed(&o, *s);
  PutVarint64(&o, a.models.size());
  for (const auto& m : a.models) PutLengthPrefixed(&o, m);
  PutVarint64(&o, st.span_ids.size());
  for (uint64_t id : st.span_ids) o.append(reinterpret_cast<const char*>(&id), 8);
  return o;
}

TEST(TraceCodecTest, EncodingIsTheStoredFormatByteForByte) {
  std::mt19937_64 rng(11);
  auto any = [&rng] {
    switch (rng() % 4) {
      case 0:
        return static_cast<int64_t>(rng() % 300) - 150;
      case 1:
        return INT64_MIN;
      case 2:
        return INT64_MAX;
      default:
        return static_cast<int64_t>(rng());
    }
  };
  auto text = [&rng] { return std::string(rng() % 3 == 0 ? rng() % 400 : rng() % 12, 'x'); };
  for (int i = 0; i < 2000; ++i) {
    TraceState st;
    st.open = rng() & 1;
    st.has_root = rng() & 1;
    st.spans_in_store = rng() & 1;
    st.last_update_ms = any();
    st.idle_key_ms = any();
    st.agg.start_unix_nano = rng();
    st.agg.end_unix_nano = rng() % 1000;
    st.agg.span_count = any();
    st.agg.llm_calls = any();
    st.agg.errors = any();
    st.agg.input_tokens = any();
    st.agg.output_tokens = any();
    st.agg.cost_usd = static_cast<double>(any()) / 7;
    st.agg.service = text();
    st.agg.name = text();
    st.agg.thread_id = text();
    st.agg.user_id = text();
    st.agg.environment = text();
    for (size_t m = rng() % (i % 50 == 0 ? 257 : 4); m > 0; --m) st.agg.models.push_back(text());
    for (size_t n = rng() % (kInlineSpanIds + 1); n > 0; --n) st.span_ids.push_back(rng());
    std::string enc = "kept";  // appends
    EncodeTraceState(st, &enc);
    ASSERT_EQ(enc, "kept" + ReferenceEncoding(st)) << "state " << i;
  }
}

TEST(TraceCodecTest, InlineSpanIdsRoundTripAndAreBounded) {
  TraceState st;
  st.span_ids = {1, 0xfedcba9876543210ull, 42};
  st.spans_in_store = true;
  std::string enc;
  EncodeTraceState(st, &enc);
  TraceState got;
  ASSERT_TRUE(DecodeTraceState(enc, &got));
  EXPECT_EQ(got.span_ids, st.span_ids);
  EXPECT_TRUE(got.spans_in_store);
  EXPECT_FALSE(DecodeTraceState(enc + "x", &got));  // trailing bytes
  st.span_ids.assign(kInlineSpanIds + 1, 7);        // more than a writer ever stores
  enc.clear();
  EncodeTraceState(st, &enc);
  EXPECT_FALSE(DecodeTraceState(enc, &got));
}

TEST_F(TraceRegistryTest, AggregatesAllSpansOfATrace) {
  Apply({.trace_hex = kT1,
         .span_hex = "0000000000000001",
         .name = "agent run",
         .service = "chat-api",
         .environment = "prod",
         .start = 1'000'000'000,
         .end = 9'000'000'000});
  Apply({.trace_hex = kT1,
         .span_hex = "0000000000000002",
         .parent_hex = "0000000000000001",
         .name = "chat",
         .service = "chat-api",
         .model = "gpt-4o",
         .start = 2'000'000'000,
         .end = 3'000'000'000,
         .input_tokens = 100,
         .output_tokens = 20,
         .cost_usd = 0.5});
  Apply({.trace_hex = kT1,
         .span_hex = "0000000000000003",
         .parent_hex = "0000000000000001",
         .name = "chat",
         .model = "claude-3",
         .start = 4'000'000'000,
         .end = 10'500'000'000,
         .error = true,
         .input_tokens = 7,
         .output_tokens = 3,
         .cost_usd = 0.25});
  ResolveOutcome o = Apply({.trace_hex = kT1,
                            .span_hex = "0000000000000004",
                            .parent_hex = "0000000000000001",
                            .name = "chat",
                            .model = "gpt-4o",
                            .start = 5'000'000'000,
                            .end = 6'000'000'000,
                            .input_tokens = 1,
                            .output_tokens = 1});
  ASSERT_NE(o.trace, nullptr);
  EXPECT_EQ(o.trace->span_count, 4);
  EXPECT_EQ(reg_->open_traces(), 1u);

  auto out = CloseAll();
  ASSERT_EQ(out.size(), 1u);
  const json& j = out[0];
  EXPECT_EQ(j["trace_id"], kT1);
  EXPECT_EQ(j["trace_uuid"], "5559fde4-a784-5d0a-bb68-01715ad7f535");
  EXPECT_EQ(j["project"], "default");
  EXPECT_EQ(j["service"], "chat-api");
  EXPECT_EQ(j["name"], "agent run");
  EXPECT_EQ(j["environment"], "prod");
  EXPECT_EQ(j["thread_id"], "");
  EXPECT_EQ(j["user_id"], "");
  EXPECT_EQ(j["start"], "1970-01-01T00:00:01Z");
  EXPECT_EQ(j["end"], "1970-01-01T00:00:10.500Z");
  EXPECT_EQ(j["span_count"], 4);
  EXPECT_EQ(j["llm_calls"], 3);
  EXPECT_EQ(j["errors"], 1);
  EXPECT_EQ(j["input_tokens"], 108);
  EXPECT_EQ(j["output_tokens"], 24);
  EXPECT_DOUBLE_EQ(j["cost_usd"].get<double>(), 0.75);
  EXPECT_EQ(j["models"], json::array({"gpt-4o", "claude-3"}));
  EXPECT_EQ(reg_->open_traces(), 0u);
}

TEST_F(TraceRegistryTest, DuplicateChangesNothingEvenAfterRestart) {
  SpanSpec s{.trace_hex = kT1, .span_hex = "0000000000000001", .model = "m", .input_tokens = 5};
  EXPECT_FALSE(Apply(s).duplicate);
  ResolveOutcome d = Apply(s);
  EXPECT_TRUE(d.duplicate);
  EXPECT_EQ(d.trace->span_count, 1);
  EXPECT_EQ(d.trace->input_tokens, 5);
  // Same ids in another project are a different span.
  SpanSpec other = s;
  other.project = "acme";
  EXPECT_FALSE(Apply(other).duplicate);

  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  Reopen();  // cold cache: the stores alone must recognise it
  EXPECT_TRUE(Apply(s).duplicate);
  auto out = CloseAll();
  ASSERT_EQ(out.size(), 2u);
  for (const auto& j : out) {
    EXPECT_EQ(j["span_count"], 1);
    EXPECT_EQ(j["input_tokens"], 5);
  }
}

TEST_F(TraceRegistryTest, DuplicatesDetectedInLargeHotTrace) {
  // Past the in-memory span-id limit the registry falls back to the spans store.
  constexpr int kSpans = 1500;
  for (int i = 0; i < kSpans; ++i) {
    ASSERT_FALSE(Apply({.trace_hex = kT1, .span_hex = testutil::SpanHex(i)}).duplicate) << i;
  }
  for (int i : {0, 5, 1023, 1024, 1025, 1499}) {
    EXPECT_TRUE(Apply({.trace_hex = kT1, .span_hex = testutil::SpanHex(i)}).duplicate) << i;
  }
  auto fresh = Apply({.trace_hex = kT1, .span_hex = testutil::SpanHex(kSpans)});
  EXPECT_FALSE(fresh.duplicate);
  EXPECT_EQ(fresh.trace->span_count, kSpans + 1);
}

TEST_F(TraceRegistryTest, SmallTracesKeepTheirDedupSetInTheTraceValueOnly) {
  for (int t = 0; t < 3; ++t) {
    std::string trace = testutil::SpanHex(t) + testutil::SpanHex(t);
    for (int i = 0; i < 10; ++i) Apply({.trace_hex = trace, .span_hex = testutil::SpanHex(i)});
  }
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  EXPECT_FALSE(db_->store("spans")->Scan("")->Valid());  // one state write per trace, none per span
  Reopen();
  for (int t = 0; t < 3; ++t) {
    std::string trace = testutil::SpanHex(t) + testutil::SpanHex(t);
    for (int i = 0; i < 10; ++i) {
      EXPECT_TRUE(Apply({.trace_hex = trace, .span_hex = testutil::SpanHex(i)}).duplicate)
          << t << i;
    }
    ResolveOutcome fresh = Apply({.trace_hex = trace, .span_hex = testutil::SpanHex(10)});
    EXPECT_FALSE(fresh.duplicate);
    EXPECT_EQ(fresh.trace->span_count, 11);
  }
}

TEST_F(TraceRegistryTest, LargeTraceDedupsAcrossRestartThroughTheSpansStore) {
  constexpr int kSpans = static_cast<int>(kInlineSpanIds) + 50;
  for (int i = 0; i < kSpans; ++i) {
    ASSERT_FALSE(Apply({.trace_hex = kT1, .span_hex = testutil::SpanHex(i)}).duplicate) << i;
  }
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  size_t in_store = 0;
  for (auto it = db_->store("spans")->Scan(""); it->Valid(); it->Next()) ++in_store;
  EXPECT_EQ(in_store, 50u);  // only the ids past the inline limit
  Reopen();
  for (int i = 0; i < kSpans; ++i) {
    EXPECT_TRUE(Apply({.trace_hex = kT1, .span_hex = testutil::SpanHex(i)}).duplicate) << i;
  }
  ResolveOutcome fresh = Apply({.trace_hex = kT1, .span_hex = testutil::SpanHex(kSpans)});
  EXPECT_FALSE(fresh.duplicate);
  EXPECT_EQ(fresh.trace->span_count, kSpans + 1);
}

TEST_F(TraceRegistryTest, RootArrivingLastNamesTheTraceAndSetsService) {
  Apply({.trace_hex = kT1,
         .span_hex = "0000000000000002",
         .parent_hex = "0000000000000001",
         .name = "child",
         .service = "worker",
         .environment = "staging",
         .start = 5,
         .end = 50});
  Apply({.trace_hex = kT1,
         .span_hex = "0000000000000003",
         .parent_hex = "0000000000000002",
         .name = "grandchild",
         .service = "other",
         .start = 3,
         .end = 40});
  auto mid = Apply({.trace_hex = kT1,
                    .span_hex = "0000000000000004",
                    .parent_hex = "0000000000000001",
                    .name = "x",
                    .start = 6,
                    .end = 7});
  EXPECT_EQ(mid.trace->name, "");
  EXPECT_EQ(mid.trace->service, "worker");  // first seen until the root says otherwise
  Apply({.trace_hex = kT1,
         .span_hex = "0000000000000001",
         .name = "root",
         .service = "gateway",
         .start = 4,
         .end = 45});
  auto out = CloseAll();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["name"], "root");
  EXPECT_EQ(out[0]["service"], "gateway");
  EXPECT_EQ(out[0]["environment"], "staging");  // root had none: first seen stays
  EXPECT_EQ(out[0]["start"], "1970-01-01T00:00:00.000000003Z");
  EXPECT_EQ(out[0]["end"], "1970-01-01T00:00:00.000000050Z");
  EXPECT_EQ(out[0]["span_count"], 4);
}

TEST_F(TraceRegistryTest, RootThatNeverArrivesLeavesNameEmpty) {
  Apply({.trace_hex = kT1,
         .span_hex = "0000000000000002",
         .parent_hex = "0000000000000001",
         .name = "child",
         .service = "worker"});
  auto out = CloseAll();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["name"], "");
  EXPECT_EQ(out[0]["service"], "worker");
}

TEST_F(TraceRegistryTest, FirstThreadAndUserBindForTheWholeTrace) {
  auto a = Apply({.trace_hex = kT1, .span_hex = "0000000000000001"});
  EXPECT_FALSE(a.thread_bound_now);
  EXPECT_EQ(a.thread_id, "");
  auto b = Apply({.trace_hex = kT1, .span_hex = "0000000000000002", .thread_id = "th-1"});
  EXPECT_TRUE(b.thread_bound_now);
  EXPECT_FALSE(b.user_bound_now);
  EXPECT_EQ(b.thread_id, "th-1");
  auto c = Apply(
      {.trace_hex = kT1, .span_hex = "0000000000000003", .thread_id = "th-2", .user_id = "u-1"});
  EXPECT_FALSE(c.thread_bound_now);
  EXPECT_TRUE(c.user_bound_now);
  EXPECT_EQ(c.thread_id, "th-1");
  EXPECT_EQ(c.user_id, "u-1");
  auto d = Apply({.trace_hex = kT1, .span_hex = "0000000000000004", .user_id = "u-2"});
  EXPECT_FALSE(d.user_bound_now);
  EXPECT_EQ(d.user_id, "u-1");
  auto dup = Apply({.trace_hex = kT1, .span_hex = "0000000000000002", .thread_id = "th-1"});
  EXPECT_TRUE(dup.duplicate);
  EXPECT_FALSE(dup.thread_bound_now);
  auto out = CloseAll();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["thread_id"], "th-1");
  EXPECT_EQ(out[0]["user_id"], "u-1");
}

TEST_F(TraceRegistryTest, IdleTraceClosesOnceAndLateSpanReopensIt) {
  Apply({.trace_hex = kT1, .span_hex = "0000000000000001", .name = "root"}, /*now_ms=*/1000);
  const std::string t2 = "00000000000000000000000000000002";
  Apply({.trace_hex = t2, .span_hex = "0000000000000001"}, /*now_ms=*/20000);
  EXPECT_TRUE(CloseIdle(31000).empty());  // last update 1000 is not older than 31000 - 30000
  auto first = CloseIdle(31001);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]["trace_id"], kT1);
  EXPECT_EQ(first[0]["span_count"], 1);
  EXPECT_EQ(reg_->open_traces(), 1u);
  EXPECT_TRUE(CloseIdle(31002).empty());  // closed traces are not emitted twice

  // A late span re-opens the closed trace, which is emitted again (as a total) once idle again.
  auto late =
      Apply({.trace_hex = kT1, .span_hex = "0000000000000002", .parent_hex = "0000000000000001"},
            /*now_ms=*/40000);
  EXPECT_FALSE(late.duplicate);
  EXPECT_EQ(late.trace->span_count, 2);
  EXPECT_EQ(reg_->open_traces(), 2u);
  auto second = CloseIdle(70001);
  ASSERT_EQ(second.size(), 2u);  // oldest first
  EXPECT_EQ(second[0]["trace_id"], t2);
  EXPECT_EQ(second[1]["trace_id"], kT1);
  EXPECT_EQ(second[1]["span_count"], 2);
  EXPECT_EQ(second[1]["name"], "root");
  EXPECT_EQ(reg_->open_traces(), 0u);
  EXPECT_TRUE(CloseAll().empty());
}

TEST_F(TraceRegistryTest, TraceUpdatedAfterOpeningIsNotClosedEarly) {
  Apply({.trace_hex = kT1, .span_hex = "0000000000000001"}, /*now_ms=*/1000);
  ASSERT_TRUE(reg_->Flush().ok());
  Apply({.trace_hex = kT1, .span_hex = "0000000000000002"}, /*now_ms=*/25000);
  EXPECT_TRUE(CloseIdle(31001).empty());  // opened at 1000 but updated at 25000
  EXPECT_TRUE(CloseIdle(55000).empty());
  Apply({.trace_hex = kT1, .span_hex = "0000000000000003"}, /*now_ms=*/50000);
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  NewRegistry();  // the moved index entry is in the store, not only in memory
  EXPECT_TRUE(CloseIdle(79999).empty());
  auto out = CloseIdle(80001);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["span_count"], 3);
  EXPECT_TRUE(CloseAll().empty());
}

// A close scan moves an active trace to the bucket of its last update. When that update is
// just past the cutoff, the bucket lies below the cutoff: the next scan must still visit it.
TEST_F(TraceRegistryTest, TraceMovedToTheCutoffsBucketIsClosedByTheNextScan) {
  Apply({.trace_hex = kT1, .span_hex = "0000000000000001"}, /*now_ms=*/1000);
  ASSERT_TRUE(reg_->Flush().ok());
  Apply({.trace_hex = kT1, .span_hex = "0000000000000002"}, /*now_ms=*/31050);
  // cutoff 31020: the trace (bucket 1000, last update 31050) moves to bucket 31000 < 31020.
  EXPECT_TRUE(CloseIdle(61020).empty());
  auto out = CloseIdle(61051);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["span_count"], 2);
  EXPECT_EQ(reg_->open_traces(), 0u);
}

// The stored value of a trace ("default" project), or "" if absent.
std::string StoredTrace(state::StateDb* db, const std::string& trace_hex) {
  uint8_t id[16];
  EXPECT_TRUE(HexDecodeTo(trace_hex, id, 16));
  std::string key, value;
  AppendTraceKey(&key, "default", id);
  bool found = false;
  EXPECT_TRUE(db->store("traces")->Get(key, &value, &found).ok());
  return found ? value : std::string();
}

bool StoredOpen(const std::string& stored) {
  bool open = false;
  int64_t last_update = 0, idle_key = 0;
  EXPECT_TRUE(PeekTraceState(std::string_view(stored).substr(8), &open, &last_update, &idle_key));
  return open;
}

// A close that empties the trace's bucket writes nothing for the trace: the close mark in the
// meta key says that open traces indexed below it are closed, after a restart too.
TEST_F(TraceRegistryTest, ATraceClosedWithItsBucketIsNotRewrittenAndStaysClosed) {
  Apply({.trace_hex = kT1, .span_hex = "0000000000000001"}, /*now_ms=*/1000);
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  const std::string before = StoredTrace(db_.get(), kT1);
  ASSERT_TRUE(StoredOpen(before));
  ASSERT_EQ(CloseIdle(31001).size(), 1u);
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  EXPECT_EQ(StoredTrace(db_.get(), kT1), before);  // not written at its close

  NewRegistry();  // a restart reads the mark back
  EXPECT_EQ(reg_->open_traces(), 0u);
  EXPECT_TRUE(CloseAll().empty());
  auto late =
      Apply({.trace_hex = kT1, .span_hex = "0000000000000002"}, /*now_ms=*/40000);  // re-opens
  EXPECT_FALSE(late.duplicate);
  EXPECT_EQ(reg_->open_traces(), 1u);
  auto again = CloseIdle(70001);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0]["span_count"], 2);
}

// The cutoff's bucket keeps its traces that are not due: the mark stops below it, so a trace
// closed from that bucket is written closed.
TEST_F(TraceRegistryTest, ATraceClosedFromAKeptBucketIsWrittenClosed) {
  const std::string t2 = "00000000000000000000000000000002";
  Apply({.trace_hex = kT1, .span_hex = "0000000000000001"}, /*now_ms=*/1000);
  Apply({.trace_hex = t2, .span_hex = "0000000000000001"}, /*now_ms=*/1050);  // same bucket
  ASSERT_TRUE(reg_->Flush().ok());
  auto first = CloseIdle(31020);  // cutoff 1020: kT1 due, t2 not
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]["trace_id"], kT1);
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  EXPECT_FALSE(StoredOpen(StoredTrace(db_.get(), kT1)));
  NewRegistry();
  auto second = CloseIdle(31051);
  ASSERT_EQ(second.size(), 1u);  // kT1 is not emitted twice
  EXPECT_EQ(second[0]["trace_id"], t2);
  EXPECT_EQ(reg_->open_traces(), 0u);
}

// A trace that opens below the mark (the clock went back) is indexed at the mark, so that it
// does not read as closed: it is still closed on its own last update.
TEST_F(TraceRegistryTest, ATraceOpenedBelowTheCloseMarkIsStillEmitted) {
  Apply({.trace_hex = kT1, .span_hex = "0000000000000001"}, /*now_ms=*/5000);
  ASSERT_EQ(CloseIdle(40000).size(), 1u);  // the mark rises past bucket 5000
  const std::string t2 = "00000000000000000000000000000002";
  Apply({.trace_hex = t2, .span_hex = "0000000000000001"}, /*now_ms=*/1000);
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  NewRegistry();  // t2 read back from the store
  auto out = CloseIdle(40001);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["trace_id"], t2);
  EXPECT_EQ(reg_->open_traces(), 0u);
}

TEST_F(TraceRegistryTest, BoundedCloseSpreadsABacklogOverCalls) {
  for (int t = 0; t < 50; ++t)
    Apply({.trace_hex = testutil::TraceHex(t), .span_hex = "0000000000000001"}, t);
  std::set<std::string> seen;
  int calls = 0;
  for (bool complete = false; !complete; ++calls) {
    RecordingEmitter em;
    ASSERT_TRUE(reg_->CloseAll(&em, 20, &complete).ok());
    EXPECT_LE(em.records.size(), 20u);
    for (const auto& r : em.records) EXPECT_TRUE(seen.insert(r.key).second) << r.key;
    ASSERT_TRUE(reg_->Flush().ok());
    ASSERT_TRUE(db_->Commit().ok());
    ASSERT_LT(calls, 10);
  }
  EXPECT_EQ(seen.size(), 50u);
  EXPECT_EQ(reg_->open_traces(), 0u);
}

TEST_F(TraceRegistryTest, OpenTraceCountAndIdleIndexSurviveRestart) {
  Apply({.trace_hex = kT1, .span_hex = "0000000000000001"}, 1000);
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  Reopen();
  EXPECT_EQ(reg_->open_traces(), 1u);
  auto out = CloseIdle(100000);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(reg_->open_traces(), 0u);
}

// The idle index is one key per 100 ms of traces (docs/trace-resolution.md, "Idle index"): 100
// traces opening within 100 ms cost one index key, and the bucket that holds the cutoff
// gives up exactly the traces that are due, keeping the rest, across a restart too.
TEST_F(TraceRegistryTest, IdleIndexIsOneKeyPerBucketAndClosesWithinABucketExactly) {
  for (int t = 0; t < 100; ++t)
    Apply({.trace_hex = testutil::TraceHex(t), .span_hex = "0000000000000001"}, 5000 + t);
  ASSERT_TRUE(reg_->Flush().ok());
  auto idle_keys = [&] {
    std::vector<std::string> keys;
    for (auto it = db_->store("idle")->Scan({}); it->Valid(); it->Next())
      if (!it->key().empty()) keys.emplace_back(it->key());  // "" is the open-count meta key
    return keys;
  };
  std::string bucket;
  PutOrderedInt64(&bucket, 5000);
  EXPECT_EQ(idle_keys(), std::vector<std::string>{bucket});
  ASSERT_TRUE(db_->Commit().ok());

  auto first = CloseIdle(35050);  // due: last update < 5050
  ASSERT_EQ(first.size(), 50u);
  for (int t = 0; t < 50; ++t) EXPECT_EQ(first[t]["trace_id"], testutil::TraceHex(t));
  EXPECT_TRUE(CloseIdle(35050).empty());
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  NewRegistry();  // the rest of the bucket is in the store
  EXPECT_TRUE(CloseIdle(35050).empty());
  auto rest = CloseIdle(35100);
  ASSERT_EQ(rest.size(), 50u);
  for (int t = 50; t < 100; ++t) EXPECT_EQ(rest[t - 50]["trace_id"], testutil::TraceHex(t));
  EXPECT_TRUE(idle_keys().empty());
  EXPECT_EQ(reg_->open_traces(), 0u);
}

// Stores written before the bucketed index hold one key per trace (format 1): still closed.
TEST_F(TraceRegistryTest, FormatOneIdleKeysAreStillClosed) {
  Apply({.trace_hex = kT1, .span_hex = "0000000000000001"}, 1000);
  const std::string t2 = "00000000000000000000000000000002";
  Apply({.trace_hex = t2, .span_hex = "0000000000000001"}, 1000);
  ASSERT_TRUE(reg_->Flush().ok());
  // Rewrite the index as format 1 would have: ordered ms + trace key, one per trace.
  state::KvStore* idle = db_->store("idle");
  std::string bucket;
  PutOrderedInt64(&bucket, 1000);
  idle->Delete(bucket);
  for (const std::string& hex : {std::string(kT1), t2}) {
    uint8_t id[16];
    ASSERT_TRUE(HexDecodeTo(hex, id, 16));
    std::string tk, k;
    AppendTraceKey(&tk, "default", id);
    AppendIdleKey(&k, 1000, tk);
    idle->Put(k, {});
  }
  ASSERT_TRUE(db_->Commit().ok());
  NewRegistry();
  // The second trace is updated later: a format-1 entry of an active trace moves to a bucket.
  Apply({.trace_hex = t2, .span_hex = "0000000000000002"}, 20000);
  auto out = CloseIdle(31001);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["trace_id"], kT1);
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  NewRegistry();
  out = CloseIdle(50001);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["trace_id"], t2);
  EXPECT_EQ(out[0]["span_count"], 2);
  EXPECT_EQ(reg_->open_traces(), 0u);
}

// Closed and evicted traces' entries are recycled for the next traces loaded: nothing of a
// previous trace (thread, user, models, root name, span ids, service) may show through.
TEST_F(TraceRegistryTest, RecycledEntriesCarryNothingOfTheirPreviousTrace) {
  ResolveOptions o;
  o.cache_traces = 2;
  NewRegistry(o);
  for (int t = 0; t < 6; ++t) {
    Apply({.trace_hex = testutil::TraceHex(t),
           .span_hex = "00000000000000aa",
           .name = "full",
           .service = "svc",
           .model = "gpt-4o-2024-08-06-long-model-name",
           .thread_id = "th",
           .user_id = "user",
           .environment = "prod",
           .error = true,
           .input_tokens = 5},
          1000);
  }
  ASSERT_EQ(CloseAll().size(), 6u);  // closes and forgets them all: their entries are spare
  for (int t = 10; t < 16; ++t) {
    auto r = Apply({.trace_hex = testutil::TraceHex(t),
                    .span_hex = "00000000000000aa",
                    .parent_hex = "0000000000000001"},
                   2000);
    EXPECT_FALSE(r.duplicate) << t;  // the previous trace's span id must not be remembered
    EXPECT_EQ(r.trace->span_count, 1);
    EXPECT_TRUE(r.thread_id.empty());
    EXPECT_TRUE(r.user_id.empty());
    EXPECT_EQ(r.trace->trace_id_hex, testutil::TraceHex(t));
  }
  auto out = CloseAll();
  ASSERT_EQ(out.size(), 6u);
  for (const json& j : out) {
    EXPECT_EQ(j["name"], "");
    EXPECT_EQ(j["service"], "");
    EXPECT_EQ(j["thread_id"], "");
    EXPECT_EQ(j["user_id"], "");
    EXPECT_EQ(j["environment"], "");
    EXPECT_EQ(j["models"], json::array());
    EXPECT_EQ(j["errors"], 0);
    EXPECT_EQ(j["input_tokens"], 0);
    EXPECT_EQ(j["span_count"], 1);
  }
}

TEST_F(TraceRegistryTest, SmallCacheHandlesManyInterleavedTraces) {
  ResolveOptions o;
  o.cache_traces = 3;
  NewRegistry(o);
  constexpr int kTraces = 200, kSpans = 4;
  for (int s = 0; s < kSpans; ++s) {
    for (int t = 0; t < kTraces; ++t) {
      Apply({.trace_hex = testutil::TraceHex(t),
             .span_hex = testutil::SpanHex(s),
             .parent_hex = s == 0 ? "" : testutil::SpanHex(0),
             .name = "n" + std::to_string(t),
             .input_tokens = t},
            1000 + s);
      EXPECT_LE(reg_->cached_traces(), 3u);
    }
  }
  // Every span again: all duplicates, from the store since the cache holds only 3 traces.
  for (int t = 0; t < kTraces; ++t) {
    EXPECT_TRUE(
        Apply({.trace_hex = testutil::TraceHex(t), .span_hex = testutil::SpanHex(1)}).duplicate);
  }
  EXPECT_EQ(reg_->open_traces(), static_cast<size_t>(kTraces));
  auto out = CloseAll();
  ASSERT_EQ(out.size(), static_cast<size_t>(kTraces));
  std::map<std::string, json> by_id;
  for (auto& j : out) by_id[j["trace_id"]] = j;
  for (int t = 0; t < kTraces; ++t) {
    const json& j = by_id.at(testutil::TraceHex(t));
    EXPECT_EQ(j["span_count"], kSpans);
    EXPECT_EQ(j["input_tokens"], kSpans * t);
    EXPECT_EQ(j["name"], "n" + std::to_string(t));
  }
}

// Close snapshots (docs/trace-resolution.md): a trace that left the cache while open is closed
// from the state it had when it left, recorded in its idle bucket, not from a point read. The
// store's copy is overwritten with garbage here, so a close that read it would fail.
TEST_F(TraceRegistryTest, EvictedTraceClosesFromItsSnapshotNotTheStore) {
  ResolveOptions o;
  o.cache_traces = 1;
  NewRegistry(o);
  Apply({.trace_hex = kT1, .span_hex = "0000000000000001", .name = "root", .input_tokens = 7},
        1000);
  Apply({.trace_hex = testutil::TraceHex(2), .span_hex = "0000000000000001"}, 1001);  // evicts
  ASSERT_EQ(reg_->cached_traces(), 1u);
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  SpoilStoredTrace(kT1);
  ASSERT_TRUE(db_->Commit().ok());
  NewRegistry(o);  // after a restart too
  RecordingEmitter em;
  ASSERT_TRUE(reg_->CloseIdle(1000 + 30001, &em).ok()) << "the store was read";
  auto out = Parse(em);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["trace_id"], kT1);
  EXPECT_EQ(out[0]["name"], "root");
  EXPECT_EQ(out[0]["input_tokens"], 7);
}

// The close snapshots of one bucket, as stored: key -> value.
std::vector<std::pair<std::string, std::string>> SnapshotValues(state::KvStore* idle) {
  std::vector<std::pair<std::string, std::string>> out;
  auto it = idle->Scan({});
  for (; it->Valid(); it->Next()) {
    int64_t ms = 0;
    if (ParseIdleSnapshotKey(it->key(), &ms)) out.emplace_back(it->key(), it->value());
  }
  return out;
}

// An evicted trace's snapshot carries its UUID (format 2: a leading 0 byte, then per record the
// key, the state and the UUID's 16 bytes), so that its close does not compute the SHA-1 again.
TEST_F(TraceRegistryTest, ACloseFromASnapshotTakesTheUuidTheSnapshotCarries) {
  ResolveOptions o;
  o.cache_traces = 1;
  NewRegistry(o);
  Apply({.trace_hex = kT1, .span_hex = "0000000000000001", .name = "root"}, 1000);
  Apply({.trace_hex = testutil::TraceHex(2), .span_hex = "0000000000000001"}, 1001);  // evicts
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  uint8_t id[16];
  ASSERT_TRUE(HexDecodeTo(kT1, id, 16));
  std::string key;
  AppendTraceKey(&key, "default", id);
  auto snaps = SnapshotValues(db_->store("idle"));
  ASSERT_EQ(snaps.size(), 1u);
  std::string_view in = snaps[0].second, k, payload;
  ASSERT_EQ(in[0], '\0');
  in.remove_prefix(1);
  ASSERT_TRUE(GetLengthPrefixed(&in, &k));
  ASSERT_TRUE(GetLengthPrefixed(&in, &payload));
  EXPECT_EQ(k, key);
  ASSERT_EQ(in.size(), 16u);
  uint8_t expected[16];
  TraceUuidBytes("default", id, expected);
  EXPECT_EQ(in, std::string_view(reinterpret_cast<const char*>(expected), 16));
  // Shown by a UUID that is not the trace's: the close emits what the snapshot says.
  std::string changed(snaps[0].second);
  changed.replace(changed.size() - 16, 16, std::string(16, '\x11'));
  db_->store("idle")->Put(snaps[0].first, changed);
  ASSERT_TRUE(db_->Commit().ok());
  NewRegistry(o);
  auto out = CloseIdle(1000 + 30001);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["trace_id"], kT1);
  EXPECT_EQ(out[0]["trace_uuid"], "11111111-1111-1111-1111-111111111111");
}

// Snapshots written before 2026-12-01 (format 1: records of key and state, no UUID) are still
// read, and their traces' UUIDs computed.
TEST_F(TraceRegistryTest, FormatOneSnapshotsAreStillRead) {
  ResolveOptions o;
  o.cache_traces = 1;
  NewRegistry(o);
  const std::string t2 = testutil::TraceHex(2), t3 = testutil::TraceHex(3);
  Apply({.trace_hex = kT1, .span_hex = "0000000000000001", .name = "root", .input_tokens = 5},
        1000);
  Apply({.trace_hex = t2, .span_hex = "0000000000000001", .input_tokens = 6}, 1001);  // evicts kT1
  Apply({.trace_hex = t3, .span_hex = "0000000000000001"}, 1002);                     // evicts t2
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  auto snaps = SnapshotValues(db_->store("idle"));
  ASSERT_EQ(snaps.size(), 1u);
  std::string_view in = snaps[0].second, k, payload;
  ASSERT_EQ(in[0], '\0');
  in.remove_prefix(1);
  std::string v1;
  int records = 0;
  while (!in.empty()) {
    ASSERT_TRUE(GetLengthPrefixed(&in, &k));
    ASSERT_TRUE(GetLengthPrefixed(&in, &payload));
    ASSERT_GE(in.size(), 16u);
    in.remove_prefix(16);
    PutLengthPrefixed(&v1, k);
    PutLengthPrefixed(&v1, payload);
    ++records;
  }
  ASSERT_EQ(records, 2);
  db_->store("idle")->Put(snaps[0].first, v1);
  // The traces' own values say garbage: a close that read them instead of the snapshots fails.
  SpoilStoredTrace(kT1);
  SpoilStoredTrace(t2);
  ASSERT_TRUE(db_->Commit().ok());
  NewRegistry(o);
  auto out = CloseIdle(1002 + 30001);
  ASSERT_EQ(out.size(), 3u);
  std::map<std::string, json> by_id;
  for (const json& j : out) by_id[j["trace_id"]] = j;
  for (const std::string& hex : {std::string(kT1), t2}) {
    uint8_t id[16];
    ASSERT_TRUE(HexDecodeTo(hex, id, 16));
    EXPECT_EQ(by_id[hex]["trace_uuid"], TraceUuid("default", id)) << hex;
  }
  EXPECT_EQ(by_id[kT1]["name"], "root");
  EXPECT_EQ(by_id[kT1]["input_tokens"], 5);
  EXPECT_EQ(by_id[t2]["input_tokens"], 6);
}

// Prefetch reads a stored trace ahead of its span. A close scan between the two may write the
// trace (here: closed, from the bucket the scan keeps), so the span must read it again: the
// prefetched value would have it still open, and its close would be lost.
TEST_F(TraceRegistryTest, APrefetchedTraceClosedBeforeItsSpanIsReadAgain) {
  ResolveOptions o;
  o.cache_traces = 1;
  NewRegistry(o);
  const std::string t2 = testutil::TraceHex(2);
  Apply({.trace_hex = kT1, .span_hex = "0000000000000001"}, 1000);
  Apply({.trace_hex = t2, .span_hex = "0000000000000001"}, 1050);  // same bucket; evicts kT1
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  const SpanRecord late = spans_.Make({.trace_hex = kT1, .span_hex = "0000000000000002"});
  std::vector<const SpanRecord*> batch = {&late};
  std::vector<SpanRecord> others;  // new traces, so that the batch is large enough to be read ahead
  for (int t = 10; t < 17; ++t) {
    others.push_back(
        spans_.Make({.trace_hex = testutil::TraceHex(t), .span_hex = "0000000000000001"}));
  }
  for (const SpanRecord& o : others) batch.push_back(&o);
  ASSERT_TRUE(reg_->Prefetch(batch).ok());
  auto first = CloseIdle(31020);  // cutoff 1020: kT1 is due, t2 is not
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]["trace_id"], kT1);
  EXPECT_EQ(reg_->open_traces(), 1u);
  ResolveOutcome out;
  ASSERT_TRUE(reg_->Apply(late, 31020, &out).ok());
  EXPECT_FALSE(out.duplicate);
  EXPECT_EQ(out.trace->span_count, 2);
  EXPECT_EQ(reg_->open_traces(), 2u);  // re-opened
  std::map<std::string, int64_t> span_counts;
  for (const json& j : CloseIdle(61100)) span_counts[j["trace_id"]] = j["span_count"];
  const std::map<std::string, int64_t> want = {{kT1, 2}, {t2, 1}};
  EXPECT_EQ(span_counts, want);
}

// Apply takes a prefetched trace's state from the read-ahead, not from a second read: the stored
// value is overwritten with garbage after the Prefetch (only a test writes behind the registry's
// back), and the span still resolves against the state that was read ahead.
TEST_F(TraceRegistryTest, APrefetchedTraceIsNotReadAgainByItsSpan) {
  ResolveOptions o;
  o.cache_traces = 1;
  NewRegistry(o);
  Apply({.trace_hex = kT1, .span_hex = "0000000000000001", .input_tokens = 7}, 1000);
  std::vector<SpanRecord> batch;
  for (int t = 0; t < 8; ++t) {  // so that the batch is large enough to be read ahead
    batch.push_back(
        spans_.Make({.trace_hex = testutil::TraceHex(t), .span_hex = "0000000000000001"}));
  }
  for (int t = 0; t < 8; ++t) {  // these evict kT1 from the one-trace cache
    Apply({.trace_hex = testutil::TraceHex(t), .span_hex = "0000000000000009"}, 1000);
  }
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  batch.push_back(
      spans_.Make({.trace_hex = kT1, .span_hex = "0000000000000002", .input_tokens = 5}));
  std::vector<const SpanRecord*> ptrs;
  for (const SpanRecord& r : batch) ptrs.push_back(&r);
  ASSERT_TRUE(reg_->Prefetch(ptrs).ok());
  SpoilStoredTrace(kT1);
  ResolveOutcome out;
  ASSERT_TRUE(reg_->Apply(batch.back(), 2000, &out).ok()) << "the store was read again";
  EXPECT_EQ(out.trace->span_count, 2);
  EXPECT_EQ(out.trace->input_tokens, 12);
}

// A prefetched batch may name a trace twice, one that is cached, and a duplicate span: each span
// resolves as it would without the prefetch.
TEST_F(TraceRegistryTest, PrefetchedSpansResolveAsUnprefetchedOnes) {
  ResolveOptions o;
  o.cache_traces = 2;
  NewRegistry(o);
  for (int t = 0; t < 4; ++t) {  // stored; the last two cached
    Apply({.trace_hex = testutil::TraceHex(t), .span_hex = testutil::SpanHex(0), .input_tokens = t},
          1000);
  }
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  std::vector<SpanRecord> batch;
  for (int t : {0, 3, 0, 1, 9, 10, 11}) {
    batch.push_back(spans_.Make({.trace_hex = testutil::TraceHex(t),
                                 .span_hex = testutil::SpanHex(1),
                                 .input_tokens = 10}));
  }
  batch.push_back(spans_.Make(
      {.trace_hex = testutil::TraceHex(1), .span_hex = testutil::SpanHex(0)}));  // delivered again
  std::vector<const SpanRecord*> ptrs;
  for (const SpanRecord& r : batch) ptrs.push_back(&r);
  ASSERT_TRUE(reg_->Prefetch(ptrs).ok());
  const std::vector<std::pair<bool, int64_t>> want = {// duplicate, the trace's input tokens
                                                      {false, 10}, {false, 13}, {true, 10},
                                                      {false, 11}, {false, 10}, {false, 10},
                                                      {false, 10}, {true, 11}};
  for (size_t i = 0; i < batch.size(); ++i) {
    ResolveOutcome out;
    ASSERT_TRUE(reg_->Apply(batch[i], 2000, &out).ok());
    EXPECT_EQ(out.duplicate, want[i].first) << i;
    EXPECT_EQ(out.trace->input_tokens, want[i].second) << i;
  }
  EXPECT_EQ(reg_->open_traces(), 7u);
}

// A snapshot goes stale when a span reloads its trace; the newer state wins, whether it is in the
// cache, in a later snapshot or only in the store, and across a crash before the commit.
TEST_F(TraceRegistryTest, ReloadedTraceIsNeverClosedFromAnOlderSnapshot) {
  ResolveOptions o;
  o.cache_traces = 1;
  NewRegistry(o);
  const std::string other = testutil::TraceHex(9);
  Apply({.trace_hex = kT1, .span_hex = testutil::SpanHex(1), .input_tokens = 1}, 1000);
  Apply({.trace_hex = other, .span_hex = testutil::SpanHex(1)}, 1001);  // kT1 -> snapshot, 1 span
  Apply({.trace_hex = kT1, .span_hex = testutil::SpanHex(2), .input_tokens = 1}, 1002);  // reload
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  NewRegistry(o);  // kT1's newest state is only in the store now
  auto out = CloseIdle(40000);
  ASSERT_EQ(out.size(), 2u);
  for (const json& j : out) {
    if (j["trace_id"] == kT1) {
      EXPECT_EQ(j["span_count"], 2);
    }
  }

  // Evicted, reloaded, evicted again: the last snapshot wins. Then a crash loses a third span.
  Apply({.trace_hex = kT1, .span_hex = testutil::SpanHex(3)}, 50000);  // re-opens
  Apply({.trace_hex = other, .span_hex = testutil::SpanHex(2)}, 50001);
  Apply({.trace_hex = kT1, .span_hex = testutil::SpanHex(4)}, 50002);
  Apply({.trace_hex = other, .span_hex = testutil::SpanHex(3)}, 50003);
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  Apply({.trace_hex = kT1, .span_hex = testutil::SpanHex(5)}, 50004);
  Apply({.trace_hex = other, .span_hex = testutil::SpanHex(4)}, 50005);
  ASSERT_TRUE(reg_->Flush().ok());
  db_->Rollback();
  NewRegistry(o);
  out = CloseIdle(90000);
  ASSERT_EQ(out.size(), 2u);
  for (const json& j : out) EXPECT_EQ(j["span_count"], j["trace_id"] == kT1 ? 4 : 3) << j.dump();
  EXPECT_EQ(reg_->open_traces(), 0u);
}

// The bucket that holds the cutoff keeps its traces that are not due; those that left the cache
// are judged on their snapshots and not loaded back into it.
TEST_F(TraceRegistryTest, NotDueTracesOutsideTheCacheStayOutOfIt) {
  ResolveOptions o;
  o.cache_traces = 4;
  NewRegistry(o);
  for (int t = 0; t < 100; ++t)
    Apply({.trace_hex = testutil::TraceHex(t), .span_hex = "0000000000000001"}, 5000 + t);
  ASSERT_EQ(reg_->cached_traces(), 4u);
  auto first = CloseIdle(35050);
  ASSERT_EQ(first.size(), 50u);
  EXPECT_LE(reg_->cached_traces(), 4u);
  for (int t = 0; t < 50; ++t) EXPECT_EQ(first[t]["trace_id"], testutil::TraceHex(t));
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  auto rest = CloseIdle(35100);
  ASSERT_EQ(rest.size(), 50u);
  std::set<std::string> ids;
  for (const json& j : rest) ids.insert(j["trace_id"]);
  for (int t = 50; t < 100; ++t) EXPECT_EQ(ids.count(testutil::TraceHex(t)), 1u) << t;
  // Bucket and snapshots are gone with the last trace of the bucket.
  for (auto it = db_->store("idle")->Scan({}); it->Valid(); it->Next())
    EXPECT_TRUE(it->key().empty()) << "left in the idle store: " << HexEncode(it->key());
}

// The same random traffic through a registry that can hold every trace and through ones that
// hold 1 and 3 (constant eviction, so most closes go through snapshots), with restarts after
// commits: every close call emits the same records. In the last two rounds the small registry
// reads ahead (Prefetch) batches of 8 to 16 spans, and close scans fall inside batches.
TEST_F(TraceRegistryTest, TinyCacheEmitsWhatAnUnboundedCacheEmits) {
  for (auto [cache, prefetch] : {std::pair{size_t{1}, false}, std::pair{size_t{3}, false},
                                 std::pair{size_t{1}, true}, std::pair{size_t{3}, true}}) {
    testutil::StateDir big_dir{"resolve_big"}, small_dir{"resolve_small"};
    auto big_db = big_dir.Open({"traces", "spans", "idle"}, {"traces", "spans"});
    auto small_db = small_dir.Open({"traces", "spans", "idle"}, {"traces", "spans"});
    ResolveOptions big_o, small_o;
    big_o.idle_timeout_ms = small_o.idle_timeout_ms = 1500;
    small_o.cache_traces = cache;
    auto make = [](state::StateDb* db, const ResolveOptions& opts) {
      return std::make_unique<TraceRegistry>(db->store("traces"), db->store("spans"),
                                             db->store("idle"), opts);
    };
    auto big = make(big_db.get(), big_o);
    auto small = make(small_db.get(), small_o);
    std::mt19937_64 rng(42 + cache);
    int64_t now = 100000;
    size_t closes = 0;
    std::vector<SpanRecord> batch;
    size_t next = 0;  // in batch
    for (int op = 0; op < 6000; ++op) {
      now += static_cast<int64_t>(rng() % 12);
      if (next == batch.size()) {
        batch.clear();
        next = 0;
        for (size_t n = prefetch ? 8 + rng() % 9 : 1; n > 0; --n) {
          batch.push_back(spans_.Make({.trace_hex = testutil::TraceHex(rng() % 300),
                                       .span_hex = testutil::SpanHex(rng() % 8),
                                       .parent_hex = rng() % 3 ? testutil::SpanHex(0) : "",
                                       .model = "m" + std::to_string(rng() % 3),
                                       .thread_id = rng() % 5 ? "" : "th",
                                       .input_tokens = static_cast<int64_t>(rng() % 100)}));
        }
        if (prefetch) {
          std::vector<const SpanRecord*> ptrs;
          for (const SpanRecord& s : batch) ptrs.push_back(&s);
          ASSERT_TRUE(small->Prefetch(ptrs).ok());
        }
      }
      const SpanRecord& r = batch[next++];
      ResolveOutcome a, b;
      ASSERT_TRUE(big->Apply(r, now, &a).ok());
      ASSERT_TRUE(small->Apply(r, now, &b).ok());
      ASSERT_EQ(a.duplicate, b.duplicate) << op;
      ASSERT_EQ(a.trace->span_count, b.trace->span_count) << op;
      if (op % 25 == 0) {
        RecordingEmitter ea, eb;
        ASSERT_TRUE(big->CloseIdle(now, &ea).ok());
        ASSERT_TRUE(small->CloseIdle(now, &eb).ok());
        auto by_key = [](std::vector<testutil::Record> v) {
          std::sort(v.begin(), v.end(), [](const auto& x, const auto& y) {
            return std::tie(x.key, x.value) < std::tie(y.key, y.value);
          });
          return v;
        };
        ASSERT_EQ(by_key(ea.records), by_key(eb.records)) << "op " << op;
        closes += ea.records.size();
        ASSERT_TRUE(big->Flush().ok() && small->Flush().ok());
        ASSERT_TRUE(big_db->Commit().ok() && small_db->Commit().ok());
        if (op % 500 == 0) small = make(small_db.get(), small_o);  // restart
      }
    }
    EXPECT_GT(closes, 100u);
    RecordingEmitter ea, eb;
    ASSERT_TRUE(big->CloseAll(&ea).ok());
    ASSERT_TRUE(small->CloseAll(&eb).ok());
    EXPECT_EQ(ea.records.size(), eb.records.size());
    EXPECT_EQ(small->open_traces(), 0u);
  }
}

TEST_F(TraceRegistryTest, CrashReplayReproducesIdenticalOutput) {
  ResolveOptions o;
  o.cache_traces = 2;  // eviction mid-run must not change anything
  o.idle_timeout_ms = 100;
  NewRegistry(o);
  // Before the checkpoint.
  for (int t = 0; t < 5; ++t) {
    Apply({.trace_hex = testutil::TraceHex(t),
           .span_hex = testutil::SpanHex(0),
           .model = "m",
           .input_tokens = 1},
          1000);
  }
  RecordingEmitter pre;
  ASSERT_TRUE(reg_->CloseIdle(1050, &pre).ok());
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());

  // After the checkpoint: re-delivered spans, late spans, new traces, closes.
  auto run = [&]() {
    RecordingEmitter em;
    std::vector<ResolveOutcome> outs;
    for (int t = 0; t < 8; ++t) {
      SpanRecord r = spans_.Make({.trace_hex = testutil::TraceHex(t),
                                  .span_hex = testutil::SpanHex(t % 2),
                                  .parent_hex = t % 2 ? testutil::SpanHex(0) : "",
                                  .model = "m2",
                                  .thread_id = "th" + std::to_string(t % 3),
                                  .input_tokens = 2,
                                  .cost_usd = 0.1 * t});
      ResolveOutcome out;
      EXPECT_TRUE(reg_->Apply(r, 1100 + t * 20, &out).ok());
      outs.push_back(out);
      EXPECT_TRUE(reg_->CloseIdle(1100 + t * 20, &em).ok());
    }
    EXPECT_TRUE(reg_->CloseAll(&em).ok());
    std::string flags;
    for (auto& o : outs) {
      flags += o.duplicate ? 'D' : '-';
      flags += o.thread_bound_now ? 'T' : '-';
    }
    em.records.push_back({"flags", "", flags});
    return em.records;
  };
  auto first = run();
  ASSERT_TRUE(reg_->Flush().ok());
  db_->Rollback();  // crash before the next commit
  NewRegistry(o);
  auto second = run();
  EXPECT_GT(first.size(), 8u);
  EXPECT_EQ(first, second);
  // And the replayed state really is the post-checkpoint state: spans of 0 re-applied were dups.
  EXPECT_EQ(first.back().value.substr(0, 2), "D-");
}

TEST_F(TraceRegistryTest, RetentionExpiresTraceAndDedupState) {
  ResolveOptions o;
  o.retention_ms = 10;
  o.wall_clock_ms = [] { return int64_t{1000}; };  // written long ago: already expired now
  NewRegistry(o);
  SpanSpec s{.trace_hex = kT1, .span_hex = "0000000000000001"};
  Apply(s);
  EXPECT_EQ(CloseAll().size(), 1u);
  ASSERT_TRUE(reg_->Flush().ok());
  ASSERT_TRUE(db_->Commit().ok());
  ASSERT_TRUE(db_->CompactAll().ok());
  EXPECT_EQ(StoredTrace(db_.get(), kT1), "");  // expired and compacted away
  NewRegistry();                               // system clock
  ResolveOutcome again = Apply(s);
  EXPECT_FALSE(again.duplicate);  // the dedup entry expired with it
  EXPECT_EQ(again.trace->span_count, 1);
}

}  // namespace
}  // namespace spanpipe::resolve
