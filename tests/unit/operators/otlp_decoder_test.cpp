// OTLP decoders, as CONTRACT §2 specifies them: lenient JSON (both key styles, hex ids in either case,
// int64 as strings or numbers, enums as names or numbers, every AnyValue shape) and protobuf by field
// number; both produce the same Batch for the same message.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/hex.h"
#include "operators/otlp_detect.h"
#include "operators/otlp_json_decoder.h"
#include "operators/otlp_proto_decoder.h"
#include "operators/otlp_proto_encoder.h"
#include "topology/demo_traffic.h"

namespace spanpipe::otlp {
namespace {

std::string ReadFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Hex(const uint8_t* p, size_t n) { return HexEncode({reinterpret_cast<const char*>(p), n}); }

const AnyValue* Find(const Batch& b, uint32_t begin, uint32_t count, std::string_view key) {
  return b.Find(begin, count, key);
}

TEST(OtlpJson, SharedFixturesDecodeToSixSpans) {
  JsonDecoder d;
  size_t spans = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(SPANPIPE_SHARED_DIR) + "/fixtures/otlp")) {
    if (e.path().extension() != ".json") continue;
    Batch b;
    Status s = d.Decode(ReadFile(e.path()), &b);
    ASSERT_TRUE(s.ok()) << e.path() << ": " << s.ToString();
    for (const auto& sp : b.spans) EXPECT_TRUE(sp.invalid.empty()) << e.path() << ": " << sp.invalid;
    spans += b.spans.size();
  }
  EXPECT_EQ(spans, 6u);
}

TEST(OtlpJson, SpecExampleUppercaseIdsAndStringTimes) {
  JsonDecoder d;
  Batch b;
  ASSERT_TRUE(d.Decode(ReadFile(std::string(SPANPIPE_SHARED_DIR) + "/fixtures/otlp/opentelemetry-proto_examples_trace.json"), &b).ok());
  ASSERT_EQ(b.spans.size(), 1u);
  const Span& s = b.spans[0];
  EXPECT_EQ(Hex(s.trace_id, 16), "5b8efff798038103d269b633813fc60c");
  EXPECT_EQ(Hex(s.span_id, 8), "eee19b7ec3c1b174");
  EXPECT_EQ(s.name, "I'm a server span");
  EXPECT_EQ(s.kind, 2);
  EXPECT_EQ(s.start_unix_nano, 1544712660000000000ull);
  EXPECT_EQ(s.end_unix_nano, 1544712661000000000ull);
  const Resource& r = b.resources[s.resource];
  const AnyValue* svc = Find(b, r.attr_begin, r.attr_count, "service.name");
  ASSERT_NE(svc, nullptr);
  EXPECT_EQ(svc->s, "my.service");
}

TEST(OtlpJson, EnumNamesAndLiteLLMFixtureValues) {
  JsonDecoder d;
  Batch b;
  ASSERT_TRUE(d.Decode(ReadFile(std::string(SPANPIPE_SHARED_DIR) + "/fixtures/otlp/genai-interlingua_litellm_in.json"), &b).ok());
  ASSERT_EQ(b.spans.size(), 2u);
  const Span& s = b.spans[0];
  EXPECT_EQ(Hex(s.trace_id, 16), "b1d8ae1b3fb8f0217735e4f3496c3bdf");
  EXPECT_EQ(s.kind, 1);         // "SPAN_KIND_INTERNAL"
  EXPECT_EQ(s.status_code, 1);  // "STATUS_CODE_OK"
  const AnyValue* in = Find(b, s.attr_begin, s.attr_count, "gen_ai.usage.input_tokens");
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(in->kind, ValueKind::kInt);
  EXPECT_EQ(in->i, 412);
  const AnyValue* cost = Find(b, s.attr_begin, s.attr_count, "gen_ai.cost.total_cost");
  ASSERT_NE(cost, nullptr);
  EXPECT_DOUBLE_EQ(cost->d, 5.88e-05);
}

TEST(OtlpJson, EveryAnyValueShapeInSnakeCase) {
  std::string msg = R"({"resource_spans":[{"resource":{"attributes":[]},"scope_spans":[{"scope":{"name":"sc"},"spans":[{
    "trace_id":"0102030405060708090A0B0C0D0E0F10","span_id":"a1a2a3a4a5a6a7a8","parent_span_id":"",
    "name":"n","kind":"SPAN_KIND_CLIENT","start_time_unix_nano":100,"end_time_unix_nano":"200",
    "attributes":[
      {"key":"s","value":{"string_value":"x\"y"}},
      {"key":"b","value":{"bool_value":true}},
      {"key":"i","value":{"int_value":"-9223372036854775808"}},
      {"key":"i2","value":{"intValue":42}},
      {"key":"d","value":{"double_value":"NaN"}},
      {"key":"d2","value":{"doubleValue":1.5}},
      {"key":"by","value":{"bytes_value":"aGVsbG8="}},
      {"key":"arr","value":{"array_value":{"values":[{"intValue":"1"},{"stringValue":"two"},{"arrayValue":{"values":[{"boolValue":false}]}}]}}},
      {"key":"kv","value":{"kvlist_value":{"values":[{"key":"inner","value":{"stringValue":"v"}}]}}},
      {"key":"e","value":{}},
      {"value":{"stringValue":"order"},"key":"reversed"}],
    "events":[{"time_unix_nano":"150","name":"ev","attributes":[{"key":"body","value":{"stringValue":"hi"}}]}],
    "status":{"code":"STATUS_CODE_ERROR","message":"m"},"unknownField":{"a":[1,2]}}]}]}]})";
  JsonDecoder d;
  Batch b;
  Status st = d.Decode(msg, &b);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(b.spans.size(), 1u);
  const Span& s = b.spans[0];
  EXPECT_TRUE(s.invalid.empty()) << s.invalid;
  EXPECT_FALSE(s.has_parent);
  EXPECT_EQ(s.kind, 3);
  EXPECT_EQ(s.start_unix_nano, 100u);
  EXPECT_EQ(s.end_unix_nano, 200u);
  EXPECT_EQ(s.status_code, 2);
  EXPECT_EQ(s.status_message, "m");
  EXPECT_EQ(s.scope_name, "sc");
  ASSERT_EQ(s.attr_count, 11u);
  auto A = [&](const char* k) { return Find(b, s.attr_begin, s.attr_count, k); };
  EXPECT_EQ(A("s")->s, "x\"y");
  EXPECT_TRUE(A("b")->b);
  EXPECT_EQ(A("i")->i, INT64_MIN);
  EXPECT_EQ(A("i2")->i, 42);
  EXPECT_TRUE(std::isnan(A("d")->d));
  EXPECT_EQ(A("d2")->d, 1.5);
  EXPECT_EQ(A("by")->kind, ValueKind::kBytes);
  EXPECT_EQ(A("by")->s, "hello");
  const AnyValue* arr = A("arr");
  ASSERT_EQ(arr->kind, ValueKind::kArray);
  ASSERT_EQ(arr->child_count, 3u);
  EXPECT_EQ(b.kvs[arr->child_begin].value.i, 1);
  EXPECT_EQ(b.kvs[arr->child_begin + 1].value.s, "two");
  const AnyValue& nested = b.kvs[arr->child_begin + 2].value;
  ASSERT_EQ(nested.kind, ValueKind::kArray);
  EXPECT_FALSE(b.kvs[nested.child_begin].value.b);
  const AnyValue* kv = A("kv");
  ASSERT_EQ(kv->kind, ValueKind::kKvlist);
  EXPECT_EQ(b.kvs[kv->child_begin].key, "inner");
  EXPECT_EQ(A("e")->kind, ValueKind::kEmpty);
  EXPECT_EQ(A("reversed")->s, "order");
  ASSERT_EQ(s.event_count, 1u);
  const Event& ev = b.events[s.event_begin];
  EXPECT_EQ(ev.name, "ev");
  EXPECT_EQ(ev.time_unix_nano, 150u);
  EXPECT_EQ(b.Find(ev.attr_begin, ev.attr_count, "body")->s, "hi");
}

TEST(OtlpJson, InvalidSpansAreMarkedNotFatal) {
  auto one = [](const std::string& span) {
    return R"({"resourceSpans":[{"scopeSpans":[{"spans":[)" + span +
           R"(,{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"}]}]}]})";
  };
  struct Case {
    std::string span, reason;
  } cases[] = {
      {R"({"traceId":"0102","spanId":"0102030405060708"})", "trace id is not 16 bytes"},
      {R"({"traceId":"00000000000000000000000000000000","spanId":"0102030405060708"})", "trace id is all zero"},
      {R"({"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0000000000000000"})", "span id is all zero"},
      {R"({"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"01020304050607zz"})", "span id is not 8 bytes"},
      {R"({"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","parentSpanId":"01"})",
       "parent span id"},
      {R"({"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","startTimeUnixNano":"5","endTimeUnixNano":"4"})",
       "end time is before start time"},
      {R"({"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","kind":"SPAN_KIND_NOPE"})",
       "unknown span kind"},
  };
  JsonDecoder d;
  for (const auto& c : cases) {
    Batch b;
    ASSERT_TRUE(d.Decode(one(c.span), &b).ok()) << c.span;
    ASSERT_EQ(b.spans.size(), 2u);
    EXPECT_NE(std::string(b.spans[0].invalid).find(c.reason), std::string::npos) << c.span << " -> " << b.spans[0].invalid;
    EXPECT_TRUE(b.spans[1].invalid.empty());
  }
}

TEST(OtlpJson, MalformedMessagesFailWithAReason) {
  JsonDecoder d;
  const char* bad[] = {
      "", "{", "[]", "{\"resourceSpans\":{}}", "{\"resourceSpans\":[1]}",
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":5}]}]}]}",
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{\"key\":\"a\",\"value\":{\"intValue\":\"1.5x\"}}]}]}]}]}",
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":7}]}]}]}",
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"events\":[{\"timeUnixNano\":-1}]}]}]}]}",
  };
  for (const char* m : bad) {
    Batch b;
    Status s = d.Decode(m, &b);
    EXPECT_TRUE(s.IsInvalidArgument()) << m;
    EXPECT_FALSE(s.message().empty());
    EXPECT_TRUE(b.spans.empty());
  }
}

TEST(OtlpJson, DeepNestingIsRefusedNotOverflowed) {
  std::string v = "{\"stringValue\":\"x\"}";
  for (int i = 0; i < 5000; ++i) v = "{\"arrayValue\":{\"values\":[" + v + "]}}";
  std::string m = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[{\"key\":\"k\",\"value\":" + v + "}]}]}]}]}";
  JsonDecoder d;
  Batch b;
  EXPECT_FALSE(d.Decode(m, &b).ok());
}

// Compares two batches field by field (the protobuf decoder must see what the JSON decoder sees).
void ExpectSameValue(const Batch& a, const AnyValue& x, const Batch& b, const AnyValue& y) {
  ASSERT_EQ(x.kind, y.kind);
  switch (x.kind) {
    case ValueKind::kString:
    case ValueKind::kBytes: EXPECT_EQ(x.s, y.s); break;
    case ValueKind::kBool: EXPECT_EQ(x.b, y.b); break;
    case ValueKind::kInt: EXPECT_EQ(x.i, y.i); break;
    case ValueKind::kDouble:
      if (std::isnan(x.d)) {
        EXPECT_TRUE(std::isnan(y.d));
      } else {
        EXPECT_EQ(x.d, y.d);
      }
      break;
    case ValueKind::kArray:
    case ValueKind::kKvlist:
      ASSERT_EQ(x.child_count, y.child_count);
      for (uint32_t i = 0; i < x.child_count; ++i) {
        EXPECT_EQ(a.kvs[x.child_begin + i].key, b.kvs[y.child_begin + i].key);
        ExpectSameValue(a, a.kvs[x.child_begin + i].value, b, b.kvs[y.child_begin + i].value);
      }
      break;
    case ValueKind::kEmpty: break;
  }
}
void ExpectSameAttrs(const Batch& a, uint32_t ab, uint32_t an, const Batch& b, uint32_t bb, uint32_t bn) {
  ASSERT_EQ(an, bn);
  for (uint32_t i = 0; i < an; ++i) {
    EXPECT_EQ(a.kvs[ab + i].key, b.kvs[bb + i].key);
    ExpectSameValue(a, a.kvs[ab + i].value, b, b.kvs[bb + i].value);
  }
}
void ExpectSameBatch(const Batch& a, const Batch& b) {
  ASSERT_EQ(a.spans.size(), b.spans.size());
  for (size_t i = 0; i < a.spans.size(); ++i) {
    const Span &x = a.spans[i], &y = b.spans[i];
    EXPECT_EQ(0, std::memcmp(x.trace_id, y.trace_id, 16));
    EXPECT_EQ(0, std::memcmp(x.span_id, y.span_id, 8));
    EXPECT_EQ(x.has_parent, y.has_parent);
    if (x.has_parent) {
      EXPECT_EQ(0, std::memcmp(x.parent_span_id, y.parent_span_id, 8));
    }
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.start_unix_nano, y.start_unix_nano);
    EXPECT_EQ(x.end_unix_nano, y.end_unix_nano);
    EXPECT_EQ(x.status_code, y.status_code);
    EXPECT_EQ(x.status_message, y.status_message);
    EXPECT_EQ(x.invalid, y.invalid);
    ExpectSameAttrs(a, x.attr_begin, x.attr_count, b, y.attr_begin, y.attr_count);
    const Resource &ra = a.resources[x.resource], &rb = b.resources[y.resource];
    ExpectSameAttrs(a, ra.attr_begin, ra.attr_count, b, rb.attr_begin, rb.attr_count);
    ASSERT_EQ(x.event_count, y.event_count);
    for (uint32_t e = 0; e < x.event_count; ++e) {
      const Event &ea = a.events[x.event_begin + e], &eb = b.events[y.event_begin + e];
      EXPECT_EQ(ea.name, eb.name);
      EXPECT_EQ(ea.time_unix_nano, eb.time_unix_nano);
      ExpectSameAttrs(a, ea.attr_begin, ea.attr_count, b, eb.attr_begin, eb.attr_count);
    }
  }
}

TEST(OtlpProto, EveryFixtureDecodesIdenticallyFromProtobuf) {
  JsonDecoder jd;
  ProtoDecoder pd;
  for (const auto& e : std::filesystem::directory_iterator(std::string(SPANPIPE_SHARED_DIR) + "/fixtures/otlp")) {
    if (e.path().extension() != ".json") continue;
    std::string text = ReadFile(e.path());
    Batch from_json, from_proto;
    ASSERT_TRUE(jd.Decode(text, &from_json).ok());
    std::string wire = EncodeProto(from_json);
    EXPECT_EQ(DetectEncoding(wire), Encoding::kProto);
    EXPECT_EQ(DetectEncoding(text), Encoding::kJson);
    Status s = pd.Decode(wire, &from_proto);
    ASSERT_TRUE(s.ok()) << e.path() << ": " << s.ToString();
    ExpectSameBatch(from_json, from_proto);
  }
}

TEST(OtlpProto, GeneratedTrafficDecodesIdenticallyInBothEncodings) {
  DemoTrafficOptions jo;
  jo.protobuf = false;
  jo.malformed_rate = 0;
  jo.start_unix_ms = 1700000000000;  // not "now": the two generators must not straddle a millisecond
  DemoTrafficOptions po = jo;
  po.protobuf = true;
  DemoTraffic json_gen(jo), proto_gen(po);
  JsonDecoder jd;
  ProtoDecoder pd;
  for (int turn = 0; turn < 200; ++turn) {
    std::vector<DemoMessage> jm, pm;
    json_gen.NextTurn(&jm);
    proto_gen.NextTurn(&pm);
    ASSERT_EQ(jm.size(), pm.size());
    for (size_t i = 0; i < jm.size(); ++i) {
      Batch a, b;
      ASSERT_TRUE(jd.Decode(jm[i].payload, &a).ok());
      ASSERT_TRUE(pd.Decode(pm[i].payload, &b).ok());
      ExpectSameBatch(a, b);
    }
  }
}

TEST(OtlpProto, MalformedWireIsRejectedWithoutCrashing) {
  JsonDecoder jd;
  Batch a;
  ASSERT_TRUE(jd.Decode(ReadFile(std::string(SPANPIPE_SHARED_DIR) + "/fixtures/otlp/genai-interlingua_openllmetry_in.json"), &a).ok());
  std::string wire = EncodeProto(a);
  ProtoDecoder pd;
  // Every truncation is either an error or a clean prefix; none may crash or read past the end.
  for (size_t n = 1; n < wire.size(); ++n) {
    Batch b;
    (void)pd.Decode(std::string_view(wire.data(), n), &b);
  }
  Batch b;
  EXPECT_FALSE(pd.Decode(std::string("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11), &b).ok());  // overlong varint
  EXPECT_FALSE(pd.Decode(std::string("\x0a\x05\x01", 3), &b).ok());   // length past the end
  EXPECT_FALSE(pd.Decode(std::string("\x0b\x00", 2), &b).ok());       // group wire type
  EXPECT_FALSE(pd.Decode("", &b).ok());
  // Unknown fields of every wire type are skipped.
  std::string with_unknown = std::string("\x78\x05", 2) + std::string("\x81\x01", 2) + std::string(8, '\0') +
                             std::string("\x8d\x01", 2) + std::string(4, '\0') + wire;
  ASSERT_TRUE(pd.Decode(with_unknown, &b).ok());
  EXPECT_EQ(b.spans.size(), a.spans.size());
}

}  // namespace
}  // namespace spanpipe::otlp
