// AppendSpanJson (written through JsonCursor) against the previous JsonWriter formulation of the
// same record, kept here as the reference, on random spans: every byte must match (CONTRACT §4).
#include "operators/span_json.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "common/hex.h"
#include "common/json_writer.h"

namespace spanpipe {
namespace {

// Doubles as fmt's run-time "{}" writes them (independent of the compiled form the writers use).
void RefDouble(JsonWriter& w, double d) {
  if (std::isfinite(d)) {
    w.Raw(fmt::format("{}", d));
  } else {
    w.Null();
  }
}

void RefValue(const otlp::Batch& b, const otlp::AnyValue& v, JsonWriter& w, int depth) {
  switch (v.kind) {
    case otlp::ValueKind::kEmpty:
      w.Null();
      return;
    case otlp::ValueKind::kString:
      w.String(v.s);
      return;
    case otlp::ValueKind::kBytes:
      w.String(Base64Encode(v.s));
      return;
    case otlp::ValueKind::kBool:
      w.Bool(v.b);
      return;
    case otlp::ValueKind::kInt:
      w.Int(v.i);
      return;
    case otlp::ValueKind::kDouble:
      RefDouble(w, v.d);
      return;
    case otlp::ValueKind::kArray:
    case otlp::ValueKind::kKvlist: {
      if (depth >= 64) {
        w.Null();
        return;
      }
      const bool obj = v.kind == otlp::ValueKind::kKvlist;
      obj ? w.BeginObject() : w.BeginArray();
      for (uint32_t i = 0; i < v.child_count; ++i) {
        const otlp::KeyValue& kv = b.kvs[v.child_begin + i];
        if (obj) w.Key(kv.key);
        RefValue(b, kv.value, w, depth + 1);
      }
      obj ? w.EndObject() : w.EndArray();
      return;
    }
  }
}

std::string Reference(const SpanRecord& s, const ResolveOutcome& r,
                      const std::function<bool(std::string_view, std::string_view)>& is_content,
                      std::string_view refs) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("trace_id").String(HexEncode(s.trace_id_bytes()));
  w.Key("span_id").String(HexEncode(s.span_id_bytes()));
  w.Key("parent_span_id")
      .String(s.has_parent ? HexEncode({reinterpret_cast<const char*>(s.parent_span_id), 8}) : "");
  w.Key("trace_uuid").String(r.trace_uuid);
  w.Key("name").String(s.name);
  w.Key("kind").Int(s.kind);
  w.Key("start_unix_nano").Uint(s.start_unix_nano);
  w.Key("end_unix_nano").Uint(s.end_unix_nano);
  w.Key("duration_ms");
  RefDouble(w, s.duration_ms());
  w.Key("status_code").Int(s.status_code);
  w.Key("status_message").String(s.status_message);
  w.Key("error").Bool(s.error);
  w.Key("project").String(s.project);
  w.Key("service").String(s.service);
  w.Key("model").String(s.model);
  w.Key("provider").String(s.provider);
  w.Key("operation").String(s.operation);
  w.Key("input_tokens").Int(s.input_tokens);
  w.Key("output_tokens").Int(s.output_tokens);
  w.Key("cost_usd");
  RefDouble(w, s.cost_usd);
  w.Key("thread_id").String(r.thread_id.empty() ? s.thread_id : std::string_view(r.thread_id));
  w.Key("user_id").String(r.user_id.empty() ? s.user_id : std::string_view(r.user_id));
  w.Key("environment").String(s.environment);
  w.Key("attributes").BeginObject();
  if (s.batch) {
    for (uint32_t i = s.attr_begin; i < s.attr_begin + s.attr_count; ++i) {
      const otlp::KeyValue& kv = s.batch->kvs[i];
      if (kv.value.kind == otlp::ValueKind::kString && is_content && is_content(kv.key, kv.value.s))
        continue;
      w.Key(kv.key);
      RefValue(*s.batch, kv.value, w, 0);
    }
  }
  w.EndObject();
  w.Key("content_refs").Raw(refs.empty() ? std::string_view("[]") : refs);
  w.EndObject();
  return out;
}

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}

  std::string_view Text(otlp::Batch* b) {
    static const std::vector<std::string> pieces = {"\"",
                                                    "\\",
                                                    "\n",
                                                    "\t",
                                                    std::string(1, '\0'),
                                                    "\x1f",
                                                    "\xc3\xa9",
                                                    "\xf0\x9f\x98\x80",
                                                    "\xff",
                                                    "\xc3",
                                                    "gen_ai.",
                                                    "0123456789abcdef",
                                                    "x"};
    std::string s;
    const size_t len = rng_() % 4 == 0 ? rng_() % 300 : rng_() % 20;
    while (s.size() < len) {
      if (rng_() % 4 == 0) {
        s += pieces[rng_() % pieces.size()];
      } else {
        s.push_back(static_cast<char>(' ' + rng_() % 95));
      }
    }
    return b->Own(std::move(s));
  }

  double Double() {
    switch (rng_() % 5) {
      case 0:
        return std::bit_cast<double>(rng_());
      case 1:
        return std::numeric_limits<double>::infinity();
      case 2:
        return -0.0;
      default:
        return static_cast<double>(rng_() % 10000000) / 1e3;
    }
  }

  // n list entries, contiguous in b->kvs; children of nested values follow later.
  uint32_t List(otlp::Batch* b, uint32_t n, bool keyed, int depth) {
    const auto begin = static_cast<uint32_t>(b->kvs.size());
    b->kvs.resize(begin + n);
    for (uint32_t i = 0; i < n; ++i) {
      otlp::KeyValue kv;
      if (keyed) kv.key = Text(b);
      kv.value = Value(b, depth);
      b->kvs[begin + i] = kv;
    }
    return begin;
  }

  otlp::AnyValue Value(otlp::Batch* b, int depth) {
    otlp::AnyValue v;
    const int kinds = depth < 3 ? 8 : 6;
    switch (rng_() % kinds) {
      case 0:
        v.kind = otlp::ValueKind::kEmpty;
        break;
      case 1:
        v.kind = otlp::ValueKind::kString;
        v.s = Text(b);
        break;
      case 2:
        v.kind = otlp::ValueKind::kBool;
        v.b = rng_() % 2;
        break;
      case 3:
        v.kind = otlp::ValueKind::kInt;
        v.i = rng_() % 3 == 0 ? INT64_MIN : static_cast<int64_t>(rng_());
        break;
      case 4:
        v.kind = otlp::ValueKind::kDouble;
        v.d = Double();
        break;
      case 5:
        v.kind = otlp::ValueKind::kBytes;
        v.s = Text(b);
        break;
      default: {
        v.kind = rng_() % 2 ? otlp::ValueKind::kArray : otlp::ValueKind::kKvlist;
        v.child_count = static_cast<uint32_t>(rng_() % 4);
        v.child_begin = List(b, v.child_count, v.kind == otlp::ValueKind::kKvlist, depth + 1);
      }
    }
    return v;
  }

  void Span(otlp::Batch* b, SpanRecord* s, ResolveOutcome* r) {
    *s = SpanRecord{};
    for (auto& x : s->trace_id) x = static_cast<uint8_t>(rng_());
    for (auto& x : s->span_id) x = static_cast<uint8_t>(rng_());
    for (auto& x : s->parent_span_id) x = static_cast<uint8_t>(rng_());
    s->has_parent = rng_() % 2;
    s->name = Text(b);
    s->kind = static_cast<int32_t>(rng_() % 6);
    s->start_unix_nano = rng_() % 4 == 0 ? UINT64_MAX - rng_() % 1000 : rng_() >> 4;
    s->end_unix_nano = s->start_unix_nano + rng_() % 100000000000;
    if (rng_() % 8 == 0) s->end_unix_nano = 0;
    s->status_code = static_cast<int32_t>(rng_() % 3);
    s->status_message = Text(b);
    s->error = rng_() % 2;
    s->project = Text(b);
    s->service = Text(b);
    s->model = Text(b);
    s->provider = Text(b);
    s->operation = Text(b);
    s->thread_id = Text(b);
    s->user_id = Text(b);
    s->environment = Text(b);
    s->input_tokens = static_cast<int64_t>(rng_() % 100000) - 10;
    s->output_tokens = rng_() % 5 == 0 ? INT64_MAX : static_cast<int64_t>(rng_() % 100000);
    s->cost_usd = Double();
    r->trace_uuid = std::string(Text(b));
    r->thread_id = rng_() % 2 ? std::string(Text(b)) : "";
    r->user_id = rng_() % 2 ? std::string(Text(b)) : "";
    if (rng_() % 10 == 0) return;  // no batch: no attributes
    s->batch = b;
    s->attr_count = static_cast<uint32_t>(rng_() % 12);
    s->attr_begin = List(b, s->attr_count, true, 0);
  }

  uint64_t Next() { return rng_(); }

 private:
  std::mt19937_64 rng_;
};

TEST(SpanJson, MatchesTheJsonWriterFormulationOnRandomSpans) {
  Gen gen(42);
  std::string out;  // reused, as TaskStage reuses its buffer
  for (int round = 0; round < 3000; ++round) {
    otlp::Batch batch;
    SpanRecord s;
    ResolveOutcome r;
    gen.Span(&batch, &s, &r);
    const uint64_t drop = gen.Next();
    std::function<bool(std::string_view, std::string_view)> is_content;
    if (drop % 3 != 0) {
      is_content = [drop](std::string_view key, std::string_view value) {
        return (key.size() + value.size() + drop) % 3 == 0;
      };
    }
    const std::string refs = drop % 5 == 0 ? "" : R"([{"key":"k","manifest":"m","length":3}])";
    const std::string expected = Reference(s, r, is_content, refs);
    out.clear();
    AppendSpanJson(s, r, is_content, refs, &out);
    ASSERT_EQ(out, expected) << "round " << round;
    // Appending keeps what was there.
    std::string appended = "x";
    AppendSpanJson(s, r, is_content, refs, &appended);
    ASSERT_EQ(appended, "x" + expected);
  }
}

TEST(SpanJson, RecordIsValidJsonWithEscapedValues) {
  otlp::Batch batch;
  SpanRecord s;
  ResolveOutcome r;
  s.name = "say \"hi\"\n";
  s.has_parent = true;
  s.parent_span_id[7] = 0xab;
  s.start_unix_nano = 1000;
  s.end_unix_nano = 2500;
  s.batch = &batch;
  batch.kvs.push_back({"k\\", otlp::AnyValue{otlp::ValueKind::kString, false, 0, 0, "v\x01"}});
  s.attr_count = 1;
  std::string out;
  AppendSpanJson(s, r, nullptr, "", &out);
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["name"], "say \"hi\"\n");
  EXPECT_EQ(j["parent_span_id"], "00000000000000ab");
  EXPECT_EQ(j["duration_ms"], 0.0015);
  EXPECT_EQ(j["attributes"]["k\\"], "v\x01");
  EXPECT_EQ(j["content_refs"], nlohmann::json::array());
}

}  // namespace
}  // namespace spanpipe
