// OTLP/JSON and OTLP/protobuf decoders agree (CONTRACT §2, issue 6): every shared JSON fixture and
// every generated demo message is converted to protobuf by a converter that shares no code with
// either decoder (nlohmann::json + the small wire writer below, with its own hex, base64 and enum
// tables), both forms are decoded and normalised, and the normalised spans must be identical.
// Also: unknown fields of every wire type are skipped, repeated fields may be split and
// interleaved, every AnyValue shape, the message key forms, per-message encoding detection and
// the config that forces one encoding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "operators/normalize.h"
#include "operators/otlp_detect.h"
#include "operators/otlp_json_decoder.h"
#include "operators/otlp_proto_decoder.h"
#include "topology/config.h"
#include "topology/dead_letters.h"
#include "topology/demo_traffic.h"
#include "topology/ingest_stage.h"

namespace spanpipe {
namespace {

using nlohmann::json;

std::string ReadFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> FixtureTexts() {
  std::vector<std::string> out;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(SPANPIPE_SHARED_DIR) + "/fixtures/otlp"))
    if (e.path().extension() == ".json") out.push_back(ReadFile(e.path()));
  EXPECT_GE(out.size(), 4u);
  return out;
}

// ---- An independent OTLP/JSON -> OTLP/protobuf converter -------------------------------------

// How the converter lays out the wire form; every layout must decode to the same spans.
struct Layout {
  bool unknown_fields =
      false;  // add unknown fields of every wire type (and a packed repeated one) everywhere
  bool reorder = false;  // emit fields in reverse order (scope after spans, resource last, ...)
  bool split_repeated =
      false;  // one ExportTraceServiceRequest field per ResourceSpans, spans interleaved with
              // unknown fields, attributes split around the other span fields
};

class Wire {
 public:
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      b_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    b_.push_back(static_cast<char>(v));
  }
  void Tag(uint32_t field, uint32_t wire) { Varint((uint64_t{field} << 3) | wire); }
  void VarintField(uint32_t f, uint64_t v) {
    Tag(f, 0);
    Varint(v);
  }
  void Fixed64Field(uint32_t f, uint64_t v) {
    Tag(f, 1);
    for (int i = 0; i < 8; ++i) b_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void Fixed32Field(uint32_t f, uint32_t v) {
    Tag(f, 5);
    for (int i = 0; i < 4; ++i) b_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void LenField(uint32_t f, const std::string& bytes) {
    Tag(f, 2);
    Varint(bytes.size());
    b_ += bytes;
  }
  // Unknown fields of every wire type, numbered past any OTLP field of these messages; one of them
  // a packed repeated varint field, one an unpacked repeated varint field.
  void Unknown() {
    VarintField(900, 7);
    VarintField(900, 1ull << 63);
    Fixed64Field(901, 0x0102030405060708ull);
    Fixed32Field(902, 0xdeadbeef);
    LenField(903, std::string("\x0a\x03xyz", 5));
    Wire packed;
    for (uint64_t v : {1ull, 300ull, ~0ull}) packed.Varint(v);
    LenField(904, packed.str());
  }
  const std::string& str() const { return b_; }
  void Append(const std::string& s) { b_ += s; }

 private:
  std::string b_;
};

// A message's fields, written in canonical order, or (reorder) by descending field number; the
// sort is stable, so the occurrences of one repeated field keep their order.
struct Fields {
  std::vector<std::pair<uint32_t, std::string>> parts;
  void Add(uint32_t field, const Wire& w) { parts.emplace_back(field, w.str()); }
  std::string Join(const Layout& l) const {
    std::string out;
    if (l.unknown_fields) {
      Wire u;
      u.Unknown();
      out += u.str();
    }
    auto sorted = parts;
    if (l.reorder)
      std::stable_sort(sorted.begin(), sorted.end(),
                       [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& p : sorted) out += p.second;
    return out;
  }
};

const json* Get(const json& o, const char* camel, const char* snake) {
  if (!o.is_object()) return nullptr;
  auto it = o.find(camel);
  if (it == o.end()) it = o.find(snake);
  return it == o.end() ? nullptr : &*it;
}

std::string FromHex(const std::string& h) {
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    ADD_FAILURE() << "not hex: " << c;
    return 0;
  };
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<char>(nib(h[i]) * 16 + nib(h[i + 1])));
  return out;
}

std::string FromBase64(const std::string& t) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : t) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;
    else if (c == '/' || c == '_')
      v = 63;
    else
      continue;  // '=' padding
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

uint64_t U64(const json& v) {
  if (v.is_string()) return std::stoull(v.get<std::string>());
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  return static_cast<uint64_t>(v.get<int64_t>());
}
int64_t I64(const json& v) {
  if (v.is_string()) return std::stoll(v.get<std::string>());
  return v.get<int64_t>();
}
double F64(const json& v) {
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
    return std::stod(s);
  }
  return v.get<double>();
}
uint64_t Enum(const json& v, const std::vector<std::string>& names) {
  if (v.is_string())
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == v.get<std::string>()) return i;
  return U64(v);
}
const std::vector<std::string> kKinds = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
                                         "SPAN_KIND_SERVER",      "SPAN_KIND_CLIENT",
                                         "SPAN_KIND_PRODUCER",    "SPAN_KIND_CONSUMER"};
const std::vector<std::string> kCodes = {"STATUS_CODE_UNSET", "STATUS_CODE_OK",
                                         "STATUS_CODE_ERROR"};

std::string AnyValueProto(const json& v, const Layout& l);
std::string KeyValueProto(const json& kv, const Layout& l) {
  Fields f;
  Wire k, v;
  if (const json* key = Get(kv, "key", "key")) k.LenField(1, key->get<std::string>());
  if (const json* val = Get(kv, "value", "value")) v.LenField(2, AnyValueProto(*val, l));
  f.Add(1, k);
  f.Add(2, v);
  return f.Join(l);
}
// A repeated message field, every item its own occurrence.
void Repeated(Fields* f, uint32_t field, const json* list, const Layout& l,
              std::string (*item)(const json&, const Layout&), size_t from = 0,
              size_t to = SIZE_MAX) {
  if (!list) return;
  for (size_t i = from; i < list->size() && i < to; ++i) {
    Wire w;
    w.LenField(field, item((*list)[i], l));
    f->Add(field, w);
  }
}
std::string AnyValueProto(const json& v, const Layout& l) {
  Wire w;
  uint32_t field = 0;
  if (v.is_null()) return {};
  if (const json* s = Get(v, "stringValue", "string_value")) {
    w.LenField(field = 1, s->get<std::string>());
  } else if (const json* b = Get(v, "boolValue", "bool_value")) {
    w.VarintField(field = 2, b->get<bool>() ? 1 : 0);
  } else if (const json* i = Get(v, "intValue", "int_value")) {
    w.VarintField(field = 3, static_cast<uint64_t>(I64(*i)));
  } else if (const json* d = Get(v, "doubleValue", "double_value")) {
    double x = F64(*d);
    uint64_t bits;
    std::memcpy(&bits, &x, 8);
    w.Fixed64Field(field = 4, bits);
  } else if (const json* by = Get(v, "bytesValue", "bytes_value")) {
    w.LenField(field = 7, FromBase64(by->get<std::string>()));
  } else if (const json* a = Get(v, "arrayValue", "array_value")) {
    Fields list;
    Repeated(&list, 1, Get(*a, "values", "values"), l, AnyValueProto);
    w.LenField(field = 5, list.Join(l));
  } else if (const json* kv = Get(v, "kvlistValue", "kvlist_value")) {
    Fields list;
    Repeated(&list, 1, Get(*kv, "values", "values"), l, KeyValueProto);
    w.LenField(field = 6, list.Join(l));
  }
  Fields f;
  if (field) f.Add(field, w);
  return f.Join(l);
}

std::string EventProto(const json& e, const Layout& l) {
  Fields f;
  Wire t, n;
  if (const json* x = Get(e, "timeUnixNano", "time_unix_nano")) {
    t.Fixed64Field(1, U64(*x));
    f.Add(1, t);
  }
  if (const json* x = Get(e, "name", "name")) {
    n.LenField(2, x->get<std::string>());
    f.Add(2, n);
  }
  Repeated(&f, 3, Get(e, "attributes", "attributes"), l, KeyValueProto);
  return f.Join(l);
}

std::string SpanProto(const json& s, const Layout& l) {
  Fields f;
  const json* attrs = Get(s, "attributes", "attributes");
  size_t half = l.split_repeated && attrs ? attrs->size() / 2 : 0;
  Repeated(&f, 9, attrs, l, KeyValueProto, 0,
           half);  // split: half of them before every other field
  auto add = [&](uint32_t field, auto&& write) {
    Wire w;
    write(w);
    f.Add(field, w);
  };
  auto id = [&](uint32_t field, const char* camel, const char* snake) {
    if (const json* x = Get(s, camel, snake))
      add(field, [&](Wire& w) { w.LenField(field, FromHex(x->get<std::string>())); });
  };
  id(1, "traceId", "trace_id");
  id(2, "spanId", "span_id");
  id(4, "parentSpanId", "parent_span_id");
  if (const json* x = Get(s, "name", "name"))
    add(5, [&](Wire& w) { w.LenField(5, x->get<std::string>()); });
  if (const json* x = Get(s, "kind", "kind"))
    add(6, [&](Wire& w) { w.VarintField(6, Enum(*x, kKinds)); });
  if (const json* x = Get(s, "startTimeUnixNano", "start_time_unix_nano"))
    add(7, [&](Wire& w) { w.Fixed64Field(7, U64(*x)); });
  if (const json* x = Get(s, "endTimeUnixNano", "end_time_unix_nano"))
    add(8, [&](Wire& w) { w.Fixed64Field(8, U64(*x)); });
  if (const json* x = Get(s, "flags", "flags"))
    add(16, [&](Wire& w) { w.Fixed32Field(16, static_cast<uint32_t>(U64(*x))); });
  add(3, [&](Wire& w) { w.LenField(3, "rojo=00f067aa0ba902b7"); });  // trace_state: known, unused
  add(10, [&](Wire& w) { w.VarintField(10, 0); });                   // dropped_attributes_count
  Repeated(&f, 9, attrs, l, KeyValueProto, half);
  Repeated(&f, 11, Get(s, "events", "events"), l, EventProto);
  if (const json* st = Get(s, "status", "status")) {
    Fields sf;
    if (const json* m = Get(*st, "message", "message")) {
      Wire w;
      w.LenField(2, m->get<std::string>());
      sf.Add(2, w);
    }
    if (const json* c = Get(*st, "code", "code")) {
      Wire w;
      w.VarintField(3, Enum(*c, kCodes));
      sf.Add(3, w);
    }
    add(15, [&](Wire& w) { w.LenField(15, sf.Join(l)); });
  }
  return f.Join(l);
}

std::string ScopeSpansProto(const json& ss, const Layout& l) {
  Fields f;
  const json* scope = Get(ss, "scope", "scope");
  if (!scope) scope = Get(ss, "instrumentationLibrary", "instrumentation_library");
  if (scope) {
    Fields sf;
    Wire name, version, sc;
    if (const json* n = Get(*scope, "name", "name")) {
      name.LenField(1, n->get<std::string>());
      sf.Add(1, name);
    }
    version.LenField(2, "1.0.0");  // known, unused
    sf.Add(2, version);
    sc.LenField(1, sf.Join(l));
    f.Add(1, sc);
  }
  if (const json* spans = Get(ss, "spans", "spans")) {
    for (const auto& s : *spans) {
      Wire w;
      w.LenField(2, SpanProto(s, l));
      if (l.split_repeated) w.VarintField(905, 1);  // an unknown field between two spans
      f.Add(2, w);
    }
  }
  return f.Join(l);
}

std::string ResourceSpansProto(const json& rs, const Layout& l) {
  Fields f;
  if (const json* r = Get(rs, "resource", "resource")) {
    Fields rf;
    Repeated(&rf, 1, Get(*r, "attributes", "attributes"), l, KeyValueProto);
    Wire w;
    w.LenField(1, rf.Join(l));
    f.Add(1, w);
  }
  const json* scopes = Get(rs, "scopeSpans", "scope_spans");
  if (!scopes) scopes = Get(rs, "instrumentationLibrarySpans", "instrumentation_library_spans");
  Repeated(&f, 2, scopes, l, ScopeSpansProto);
  Wire schema;
  schema.LenField(3, "https://opentelemetry.io/schemas/1.26.0");
  f.Add(3, schema);
  return f.Join(l);
}

std::string ToProto(const std::string& json_text, const Layout& l = {}) {
  json doc = json::parse(json_text);
  std::string out;
  const json* rss = Get(doc, "resourceSpans", "resource_spans");
  if (!rss) return out;
  // Canonical: one field per ResourceSpans anyway (a repeated field is never packed for messages);
  // split_repeated interleaves unknown top-level fields between them.
  for (const auto& rs : *rss) {
    Wire w;
    w.LenField(1, ResourceSpansProto(rs, l));
    if (l.split_repeated) w.LenField(906, "x");
    out += w.str();
  }
  return out;
}

// ---- Comparing normalised spans --------------------------------------------------------------

// Zero-copy: a Batch's strings point into the protobuf message or into the JSON decoder's buffers,
// so each Decoded owns its input and its decoders.
struct Decoded {
  std::string input;
  otlp::JsonDecoder json;
  otlp::ProtoDecoder proto;
  otlp::Batch batch;
  std::vector<SpanRecord> spans;
  std::vector<SpanReject> rejects;
};

// Records borrow from the normaliser too (the default project): one that outlives them.
const Normalizer& Norm() {
  static const Normalizer n{NormalizeOptions{}};
  return n;
}

void DecodeJson(const std::string& text, Decoded* d) {
  d->input = text;
  Status s = d->json.Decode(d->input, &d->batch);
  ASSERT_TRUE(s.ok()) << s.ToString();
  Norm().Normalize(&d->batch, "", &d->spans, &d->rejects);
}
void DecodeProto(const std::string& wire, Decoded* d) {
  d->input = wire;
  Status s = d->proto.Decode(d->input, &d->batch);
  ASSERT_TRUE(s.ok()) << s.ToString();
  Norm().Normalize(&d->batch, "", &d->spans, &d->rejects);
}

bool SameValue(const otlp::Batch& a, const otlp::AnyValue& x, const otlp::Batch& b,
               const otlp::AnyValue& y);
bool SameList(const otlp::Batch& a, uint32_t ab, uint32_t an, const otlp::Batch& b, uint32_t bb,
              uint32_t bn) {
  if (an != bn) return false;
  for (uint32_t i = 0; i < an; ++i)
    if (a.kvs[ab + i].key != b.kvs[bb + i].key ||
        !SameValue(a, a.kvs[ab + i].value, b, b.kvs[bb + i].value))
      return false;
  return true;
}
bool SameValue(const otlp::Batch& a, const otlp::AnyValue& x, const otlp::Batch& b,
               const otlp::AnyValue& y) {
  if (x.kind != y.kind) return false;
  switch (x.kind) {
    case otlp::ValueKind::kEmpty:
      return true;
    case otlp::ValueKind::kString:
    case otlp::ValueKind::kBytes:
      return x.s == y.s;
    case otlp::ValueKind::kBool:
      return x.b == y.b;
    case otlp::ValueKind::kInt:
      return x.i == y.i;
    case otlp::ValueKind::kDouble:
      return std::memcmp(&x.d, &y.d, 8) == 0 || (std::isnan(x.d) && std::isnan(y.d));
    case otlp::ValueKind::kArray:
    case otlp::ValueKind::kKvlist:
      return SameList(a, x.child_begin, x.child_count, b, y.child_begin, y.child_count);
  }
  return false;
}

void ExpectSameRecords(const Decoded& a, const Decoded& b, const std::string& what) {
  ASSERT_EQ(a.batch.spans.size(), b.batch.spans.size()) << what;
  ASSERT_EQ(a.spans.size(), b.spans.size()) << what;
  ASSERT_EQ(a.rejects.size(), b.rejects.size()) << what;
  for (size_t i = 0; i < a.rejects.size(); ++i)
    EXPECT_EQ(a.rejects[i].reason, b.rejects[i].reason) << what;
  for (size_t i = 0; i < a.batch.spans.size(); ++i)
    EXPECT_EQ(a.batch.spans[i].scope_name, b.batch.spans[i].scope_name) << what << " span " << i;
  for (size_t i = 0; i < a.spans.size(); ++i) {
    const SpanRecord &x = a.spans[i], &y = b.spans[i];
    std::string at = what + " span " + std::to_string(i);
    EXPECT_EQ(0, std::memcmp(x.trace_id, y.trace_id, 16)) << at;
    EXPECT_EQ(0, std::memcmp(x.span_id, y.span_id, 8)) << at;
    EXPECT_EQ(x.has_parent, y.has_parent) << at;
    if (x.has_parent) {
      EXPECT_EQ(0, std::memcmp(x.parent_span_id, y.parent_span_id, 8)) << at;
    }
    EXPECT_EQ(x.name, y.name) << at;
    EXPECT_EQ(x.kind, y.kind) << at;
    EXPECT_EQ(x.start_unix_nano, y.start_unix_nano) << at;
    EXPECT_EQ(x.end_unix_nano, y.end_unix_nano) << at;
    EXPECT_EQ(x.status_code, y.status_code) << at;
    EXPECT_EQ(x.status_message, y.status_message) << at;
    EXPECT_EQ(x.error, y.error) << at;
    EXPECT_EQ(x.project, y.project) << at;
    EXPECT_EQ(x.service, y.service) << at;
    EXPECT_EQ(x.model, y.model) << at;
    EXPECT_EQ(x.provider, y.provider) << at;
    EXPECT_EQ(x.operation, y.operation) << at;
    EXPECT_EQ(x.thread_id, y.thread_id) << at;
    EXPECT_EQ(x.user_id, y.user_id) << at;
    EXPECT_EQ(x.environment, y.environment) << at;
    EXPECT_EQ(x.input_tokens, y.input_tokens) << at;
    EXPECT_EQ(x.output_tokens, y.output_tokens) << at;
    EXPECT_EQ(x.cost_usd, y.cost_usd) << at;
    EXPECT_TRUE(
        SameList(*x.batch, x.attr_begin, x.attr_count, *y.batch, y.attr_begin, y.attr_count))
        << at;
    ASSERT_EQ(x.event_count, y.event_count) << at;
    for (uint32_t e = 0; e < x.event_count; ++e) {
      const otlp::Event &ea = x.batch->events[x.event_begin + e],
                        &eb = y.batch->events[y.event_begin + e];
      EXPECT_EQ(ea.name, eb.name) << at;
      EXPECT_EQ(ea.time_unix_nano, eb.time_unix_nano) << at;
      EXPECT_TRUE(
          SameList(*x.batch, ea.attr_begin, ea.attr_count, *y.batch, eb.attr_begin, eb.attr_count))
          << at;
    }
    const otlp::Resource& ra = x.batch->resources[x.batch->spans[i].resource];
    const otlp::Resource& rb = y.batch->resources[y.batch->spans[i].resource];
    EXPECT_TRUE(
        SameList(*x.batch, ra.attr_begin, ra.attr_count, *y.batch, rb.attr_begin, rb.attr_count))
        << at;
  }
}

void ExpectEquivalent(const std::string& text, const std::string& what) {
  Decoded from_json;
  DecodeJson(text, &from_json);
  const Layout layouts[] = {
      {}, {true, false, false}, {false, true, false}, {false, false, true}, {true, true, true}};
  for (const Layout& l : layouts) {
    std::string wire = ToProto(text, l);
    std::string at = what + " (layout unknown=" + std::to_string(l.unknown_fields) +
                     " reorder=" + std::to_string(l.reorder) +
                     " split=" + std::to_string(l.split_repeated) + ")";
    Decoded from_proto;
    DecodeProto(wire, &from_proto);
    ExpectSameRecords(from_json, from_proto, at);
  }
}

TEST(DecoderEquivalence, EverySharedFixture) {
  size_t spans = 0;
  for (const std::string& text : FixtureTexts()) {
    ExpectEquivalent(text, text.substr(0, 60));
    Decoded d;
    DecodeJson(text, &d);
    spans += d.spans.size();
  }
  EXPECT_EQ(spans, 6u);
}

TEST(DecoderEquivalence, EveryGeneratedDemoMessage) {
  DemoTrafficOptions o;
  o.protobuf = false;
  o.malformed_rate = 0;
  o.start_unix_ms = 1700000000000;
  DemoTraffic gen(o);
  std::vector<DemoMessage> msgs;
  for (int t = 0; t < 150; ++t) gen.NextTurn(&msgs);
  ASSERT_GT(msgs.size(), 250u);
  for (size_t i = 0; i < msgs.size(); ++i)
    ExpectEquivalent(msgs[i].payload, "demo message " + std::to_string(i));
}

// Every AnyValue shape, both key styles, ids in either case, int64 as numbers and strings, enums
// as names and numbers, a span whose scope follows its spans, and invalid spans (same reasons).
const char* kEveryShape = R"({"resource_spans":[{"scope_spans":[{"spans":[{
  "trace_id":"0102030405060708090A0B0C0D0E0F10","span_id":"A1a2a3a4a5a6a7a8","parent_span_id":"b1b2b3b4b5b6b7b8",
  "name":"chat gpt-4o","kind":"SPAN_KIND_CLIENT","start_time_unix_nano":1700000000000000000,
  "end_time_unix_nano":"1700000001000000000","flags":257,
  "attributes":[
    {"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},
    {"key":"gen_ai.system","value":{"string_value":"OpenAI"}},
    {"key":"gen_ai.usage.input_tokens","value":{"int_value":"12"}},
    {"key":"gen_ai.usage.output_tokens","value":{"intValue":7}},
    {"key":"gen_ai.usage.cost","value":{"doubleValue":0.25}},
    {"key":"session.id","value":{"intValue":"-9223372036854775808"}},
    {"key":"user.id","value":{"boolValue":true}},
    {"key":"nan","value":{"double_value":"NaN"}},
    {"key":"inf","value":{"doubleValue":"-Infinity"}},
    {"key":"bytes","value":{"bytes_value":"aGVsbG8gd29ybGQ="}},
    {"key":"arr","value":{"array_value":{"values":[{"intValue":1},{"stringValue":"two"},{},
        {"arrayValue":{"values":[{"boolValue":false}]}}]}}},
    {"key":"kv","value":{"kvlist_value":{"values":[{"key":"inner","value":{"stringValue":"v\u00e9\n"}},
        {"key":"deeper","value":{"kvlistValue":{"values":[{"key":"x","value":{"doubleValue":-0.0}}]}}}]}}},
    {"key":"empty","value":{}},
    {"key":"","value":{"stringValue":"empty key"}}],
  "events":[{"time_unix_nano":"1700000000500000000","name":"gen_ai.content.prompt",
    "attributes":[{"key":"gen_ai.prompt","value":{"stringValue":"hi"}}]},{"name":"no time"}],
  "status":{"code":"STATUS_CODE_ERROR","message":"boom"}},
  {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0000000000000000","kind":2},
  {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","startTimeUnixNano":"5",
   "endTimeUnixNano":"4"},
  {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060709","attributes":[
    {"key":"gen_ai.usage.input_tokens","value":{"intValue":"-3"}}]}],
  "scope":{"name":"scope-after-spans"}}],
  "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}},
    {"key":"spanpipe.project","value":{"stringValue":"proj"}}]}}]})";

TEST(DecoderEquivalence, EveryAnyValueShapeAndInvalidSpans) {
  ExpectEquivalent(kEveryShape, "every shape");
  Decoded d;
  DecodeProto(ToProto(kEveryShape, {true, true, true}), &d);
  ASSERT_EQ(d.batch.spans.size(), 4u);
  ASSERT_EQ(d.spans.size(), 1u);
  ASSERT_EQ(d.rejects.size(), 3u);
  EXPECT_NE(d.rejects[0].reason.find("span id is all zero"), std::string::npos);
  EXPECT_NE(d.rejects[1].reason.find("end time is before start time"), std::string::npos);
  EXPECT_NE(d.rejects[2].reason.find("input tokens"), std::string::npos);
  const SpanRecord& r = d.spans[0];
  EXPECT_EQ(r.model, "gpt-4o");
  EXPECT_EQ(r.provider, "openai");
  EXPECT_EQ(r.input_tokens, 12);
  EXPECT_EQ(r.output_tokens, 7);
  EXPECT_EQ(r.cost_usd, 0.25);
  EXPECT_EQ(r.thread_id, "-9223372036854775808");
  EXPECT_EQ(r.user_id, "true");
  EXPECT_EQ(r.service, "svc");
  EXPECT_EQ(r.project, "proj");
  EXPECT_TRUE(r.error);
  EXPECT_EQ(d.batch.spans[0].scope_name, "scope-after-spans");
  const otlp::Batch& b = d.batch;
  auto A = [&](const char* k) { return b.Find(r.attr_begin, r.attr_count, k); };
  EXPECT_EQ(A("bytes")->kind, otlp::ValueKind::kBytes);
  EXPECT_EQ(A("bytes")->s, "hello world");
  EXPECT_TRUE(std::isnan(A("nan")->d));
  EXPECT_EQ(A("inf")->d, -std::numeric_limits<double>::infinity());
  ASSERT_EQ(A("arr")->kind, otlp::ValueKind::kArray);
  ASSERT_EQ(A("arr")->child_count, 4u);
  EXPECT_EQ(b.kvs[A("arr")->child_begin + 2].value.kind, otlp::ValueKind::kEmpty);
  ASSERT_EQ(A("kv")->kind, otlp::ValueKind::kKvlist);
  EXPECT_EQ(b.kvs[A("kv")->child_begin].value.s, "v\xc3\xa9\n");
  EXPECT_EQ(A("empty")->kind, otlp::ValueKind::kEmpty);
  EXPECT_EQ(A("")->s, "empty key");
  ASSERT_EQ(r.event_count, 2u);
  EXPECT_EQ(b.events[r.event_begin + 1].time_unix_nano, 0u);
}

TEST(DecoderEquivalence, UnknownFieldsAndRepeatedLayoutsAreTransparent) {
  // Unknown fields of every wire type (varint, fixed64, length-delimited, fixed32, a packed
  // repeated varint and an unpacked repeated one) at every message level, repeated fields split and
  // interleaved, fields in reverse order: the same spans each time.
  std::string text = FixtureTexts()[0];
  Decoded canonical;
  DecodeProto(ToProto(text), &canonical);
  for (const Layout& l :
       {Layout{true, false, false}, Layout{false, true, true}, Layout{true, true, true}}) {
    std::string wire = ToProto(text, l);
    EXPECT_NE(wire, ToProto(text));
    Decoded d;
    DecodeProto(wire, &d);
    ExpectSameRecords(canonical, d, "layout");
  }
  // Group wire types (3/4) are not part of proto3: a message using them is refused, not misread.
  otlp::ProtoDecoder pd;
  otlp::Batch b;
  EXPECT_FALSE(pd.Decode(ToProto(text) + std::string("\xbb\x38", 2), &b).ok());
}

// The message key is the collector's: empty, or the trace id as hex when partition_traces_by_id is
// on (32 characters; 16 for a 64-bit id). Ingest has no key input at all (IngestStage::Process
// takes the payload, the x-project-id header and the source label): spans carry their own trace id,
// and the job routes each span by it (topology/job.cpp), so every key form yields the same spans.
// What is checked here: a keyed message's spans all belong to the trace its key names (so a keyed
// partitioning agrees with spanpipe's own), in both encodings, and the spans of a message do not
// depend on anything but its bytes.
TEST(DecoderEquivalence, MessageKeyFormsNameTheSpansTrace) {
  const PriceTable* prices = &PriceTable::Default();
  struct NoDlq : DeadLetters {
    int n = 0;
    void DeadLetter(std::string_view, std::string_view, std::string_view) override { ++n; }
  } dlq;
  for (bool protobuf : {true, false}) {
    DemoTrafficOptions o;
    o.protobuf = protobuf;
    o.malformed_rate = 0;
    o.duplicate_rate = 0;
    DemoTraffic gen(o);
    std::vector<DemoMessage> msgs;
    for (int t = 0; t < 20; ++t) gen.NextTurn(&msgs);
    Config cfg;
    IngestStage a(cfg, prices), b(cfg, prices);
    for (size_t i = 0; i < msgs.size(); ++i) {
      const DemoMessage& m = msgs[i];
      ASSERT_EQ(m.key.size(), 32u);
      std::vector<std::string> seen[2];
      for (int run = 0; run < 2; ++run) {
        // Different stage instances and source labels (keyed and unkeyed deliveries of one
        // payload).
        IngestStage& stage = run ? b : a;
        stage.Process(m.payload, "", run ? "otlp_spans/3/" + std::to_string(i) : "otlp_spans/0/0",
                      &dlq, [&](const SpanRecord& s) {
                        std::string hex;
                        for (uint8_t c : s.trace_id) {
                          hex += "0123456789abcdef"[c >> 4];
                          hex += "0123456789abcdef"[c & 15];
                        }
                        seen[run].push_back(hex + "/" + std::string(s.name));
                      });
      }
      ASSERT_FALSE(seen[0].empty());
      for (const auto& s : seen[0]) {
        EXPECT_EQ(s.substr(0, 32), m.key);  // the 32-character key is the span's trace id
        EXPECT_EQ(s.substr(16, 16), m.key.substr(16));  // the 16-character form: its low 64 bits
      }
      EXPECT_EQ(seen[0], seen[1]);
    }
  }
  EXPECT_EQ(dlq.n, 0);
}

TEST(DecoderEquivalence, EncodingDetectedPerMessageOrForcedByConfig) {
  std::string text = FixtureTexts()[0];
  std::string wire = ToProto(text);
  EXPECT_EQ(otlp::DetectEncoding(text), otlp::Encoding::kJson);
  EXPECT_EQ(otlp::DetectEncoding(" \r\n\t" + text), otlp::Encoding::kJson);
  EXPECT_EQ(otlp::DetectEncoding(wire), otlp::Encoding::kProto);
  EXPECT_EQ(otlp::DetectEncoding(""), otlp::Encoding::kUnknown);
  EXPECT_EQ(otlp::DetectEncoding("[1]"), otlp::Encoding::kUnknown);
  EXPECT_EQ(otlp::DetectEncoding(std::string("\x12\x00", 2)), otlp::Encoding::kUnknown);

  struct Dlq : DeadLetters {
    std::vector<std::string> reasons;
    void DeadLetter(std::string_view r, std::string_view, std::string_view) override {
      reasons.emplace_back(r);
    }
  };
  const PriceTable* prices = &PriceTable::Default();
  auto run = [&](const std::string& encoding, const std::vector<std::string>& payloads, Dlq* dlq) {
    Config cfg;
    cfg.input.encoding = encoding;
    IngestStage ingest(cfg, prices);
    size_t spans = 0;
    for (const auto& p : payloads)
      ingest.Process(p, "", "t/0/0", dlq, [&](const SpanRecord&) { ++spans; });
    return spans;
  };
  Decoded d;
  DecodeJson(text, &d);
  const size_t n = d.spans.size();
  ASSERT_GT(n, 0u);
  {  // auto: a JSON and a protobuf message in the same stream
    Dlq dlq;
    EXPECT_EQ(run("auto", {text, wire, "\x01garbage"}, &dlq), 2 * n);
    ASSERT_EQ(dlq.reasons.size(), 1u);
    EXPECT_NE(dlq.reasons[0].find("neither OTLP/JSON nor OTLP/protobuf"), std::string::npos);
  }
  {  // forced JSON: the protobuf message is dead-lettered as bad JSON
    Dlq dlq;
    EXPECT_EQ(run("otlp_json", {text, wire}, &dlq), n);
    ASSERT_EQ(dlq.reasons.size(), 1u);
    EXPECT_NE(dlq.reasons[0].find("JSON"), std::string::npos) << dlq.reasons[0];
  }
  {  // forced protobuf: also a message that does not start with 0x0A (fields in another order)
    Dlq dlq;
    std::string other_first = std::string("\x78\x01", 2) + wire;  // unknown field 15 first
    EXPECT_EQ(otlp::DetectEncoding(other_first), otlp::Encoding::kUnknown);
    EXPECT_EQ(run("otlp_proto", {wire, other_first, text}, &dlq), 2 * n);
    ASSERT_EQ(dlq.reasons.size(), 1u);
    EXPECT_NE(dlq.reasons[0].find("protobuf"), std::string::npos) << dlq.reasons[0];
  }
}

}  // namespace
}  // namespace spanpipe
