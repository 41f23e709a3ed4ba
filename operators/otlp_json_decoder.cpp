#include "operators/otlp_json_decoder.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/hex.h"
#include "operators/otlp_ids.h"

namespace spanpipe::otlp {
namespace {

using simdjson::error_code;
using simdjson::ondemand::array;
using simdjson::ondemand::json_type;
using simdjson::ondemand::number;
using simdjson::ondemand::number_type;
using simdjson::ondemand::object;
using simdjson::ondemand::value;

struct Ctx {
  Batch* b;
  std::vector<std::vector<KeyValue>>* scratch;
  std::vector<Event>* events;
  std::string err;
};

bool Fail(Ctx& c, std::string why) {
  if (c.err.empty()) c.err = std::move(why);
  return false;
}
bool Fail(Ctx& c, const char* where, error_code e) {
  return Fail(c, std::string(where) + ": " + simdjson::error_message(e));
}

inline bool Is(std::string_view k, std::string_view camel, std::string_view snake) {
  return k == camel || k == snake;
}

// 64-bit integers arrive as JSON numbers or as decimal strings (proto3 JSON mapping).
bool GetInt64(value v, int64_t* out) {
  json_type t;
  if (v.type().get(t)) return false;
  if (t == json_type::number) {
    number n;
    if (v.get_number().get(n)) return false;
    switch (n.get_number_type()) {
      case number_type::signed_integer: *out = n.get_int64(); return true;
      case number_type::unsigned_integer:
        if (n.get_uint64() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
        *out = static_cast<int64_t>(n.get_uint64());
        return true;
      case number_type::floating_point_number: {
        double d = n.get_double();
        if (d != std::floor(d) || std::abs(d) > 9.2e18) return false;
        *out = static_cast<int64_t>(d);
        return true;
      }
      default: return false;
    }
  }
  if (t == json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) return false;
    auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
  }
  return false;
}

bool GetUint64(value v, uint64_t* out) {
  json_type t;
  if (v.type().get(t)) return false;
  if (t == json_type::number) {
    number n;
    if (v.get_number().get(n)) return false;
    switch (n.get_number_type()) {
      case number_type::signed_integer:
        if (n.get_int64() < 0) return false;
        *out = static_cast<uint64_t>(n.get_int64());
        return true;
      case number_type::unsigned_integer: *out = n.get_uint64(); return true;
      case number_type::floating_point_number: {
        double d = n.get_double();
        if (d < 0 || d != std::floor(d) || d > 1.8e19) return false;
        *out = static_cast<uint64_t>(d);
        return true;
      }
      default: return false;
    }
  }
  if (t == json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) return false;
    auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
  }
  return false;
}

// Doubles as numbers, or as strings ("NaN", "Infinity", "-Infinity", or a number in text).
bool GetDouble(value v, double* out) {
  json_type t;
  if (v.type().get(t)) return false;
  if (t == json_type::number) return !v.get_double().get(*out);
  if (t == json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) return false;
    if (s == "NaN") *out = std::numeric_limits<double>::quiet_NaN();
    else if (s == "Infinity") *out = std::numeric_limits<double>::infinity();
    else if (s == "-Infinity") *out = -std::numeric_limits<double>::infinity();
    else {
      auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
      return r.ec == std::errc() && r.ptr == s.data() + s.size();
    }
    return true;
  }
  return false;
}

// Enums: integers or their names.
bool GetEnum(value v, int32_t (*by_name)(std::string_view), int32_t* out) {
  json_type t;
  if (v.type().get(t)) return false;
  if (t == json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) return false;
    int32_t x = by_name(s);
    if (x < 0) return false;
    *out = x;
    return true;
  }
  int64_t i;
  if (!GetInt64(v, &i) || i < 0 || i > 1000) return false;
  *out = static_cast<int32_t>(i);
  return true;
}

bool DecodeValueList(Ctx& c, array arr, int depth, bool keyed, uint32_t* begin, uint32_t* count);

bool DecodeAnyValue(Ctx& c, value v, int depth, AnyValue* out) {
  json_type t;
  if (v.type().get(t)) return Fail(c, "malformed attribute value");
  if (t == json_type::null) {
    out->kind = ValueKind::kEmpty;
    return true;
  }
  object o;
  if (v.get_object().get(o)) return Fail(c, "attribute value is not an object");
  out->kind = ValueKind::kEmpty;
  for (auto field : o) {
    std::string_view k;
    if (field.unescaped_key().get(k)) return Fail(c, "malformed attribute value key");
    value fv;
    if (field.value().get(fv)) return Fail(c, "malformed attribute value");
    if (Is(k, "stringValue", "string_value")) {
      out->kind = ValueKind::kString;
      if (fv.get_string().get(out->s)) return Fail(c, "stringValue is not a string");
    } else if (Is(k, "boolValue", "bool_value")) {
      out->kind = ValueKind::kBool;
      if (fv.get_bool().get(out->b)) return Fail(c, "boolValue is not a boolean");
    } else if (Is(k, "intValue", "int_value")) {
      out->kind = ValueKind::kInt;
      if (!GetInt64(fv, &out->i)) return Fail(c, "intValue is not a 64-bit integer");
    } else if (Is(k, "doubleValue", "double_value")) {
      out->kind = ValueKind::kDouble;
      if (!GetDouble(fv, &out->d)) return Fail(c, "doubleValue is not a number");
    } else if (Is(k, "bytesValue", "bytes_value")) {
      out->kind = ValueKind::kBytes;
      std::string_view b64;
      std::string raw;
      if (fv.get_string().get(b64) || !Base64Decode(b64, &raw)) return Fail(c, "bytesValue is not base64");
      out->s = c.b->Own(std::move(raw));
    } else if (Is(k, "arrayValue", "array_value") || Is(k, "kvlistValue", "kvlist_value")) {
      bool kv = k[0] == 'k';
      if (depth + 1 >= JsonDecoder::kMaxValueDepth) return Fail(c, "attribute values nested deeper than 32 levels");
      object inner;
      if (fv.get_object().get(inner)) return Fail(c, std::string(k) + " is not an object");
      out->kind = kv ? ValueKind::kKvlist : ValueKind::kArray;
      out->child_begin = static_cast<uint32_t>(c.b->kvs.size());
      out->child_count = 0;
      for (auto f2 : inner) {
        std::string_view k2;
        if (f2.unescaped_key().get(k2)) return Fail(c, "malformed " + std::string(k));
        if (k2 != "values") continue;
        array arr;
        if (f2.value().get_array().get(arr)) return Fail(c, std::string(k) + ".values is not an array");
        if (!DecodeValueList(c, arr, depth + 1, kv, &out->child_begin, &out->child_count)) return false;
      }
    }
  }
  return true;
}

// A list of KeyValue objects (keyed) or of AnyValues (array items), appended contiguously.
bool DecodeValueList(Ctx& c, array arr, int depth, bool keyed, uint32_t* begin, uint32_t* count) {
  auto& tmp = (*c.scratch)[depth];
  size_t mark = tmp.size();  // the list of this depth may be nested inside a longer one of ours
  for (auto elem : arr) {
    value ev;
    if (elem.get(ev)) return Fail(c, "malformed attribute list");
    KeyValue kv;
    if (keyed) {
      object o;
      if (ev.get_object().get(o)) return Fail(c, "attribute is not an object");
      for (auto f : o) {
        std::string_view k;
        if (f.unescaped_key().get(k)) return Fail(c, "malformed attribute");
        value fv;
        if (f.value().get(fv)) return Fail(c, "malformed attribute");
        if (k == "key") {
          if (fv.get_string().get(kv.key)) return Fail(c, "attribute key is not a string");
        } else if (k == "value") {
          if (!DecodeAnyValue(c, fv, depth, &kv.value)) return false;
        }
      }
    } else {
      if (!DecodeAnyValue(c, ev, depth, &kv.value)) return false;
    }
    tmp.push_back(kv);
  }
  *begin = static_cast<uint32_t>(c.b->kvs.size());
  *count = static_cast<uint32_t>(tmp.size() - mark);
  c.b->kvs.insert(c.b->kvs.end(), tmp.begin() + static_cast<std::ptrdiff_t>(mark), tmp.end());
  tmp.resize(mark);
  return true;
}

bool DecodeAttributes(Ctx& c, value v, uint32_t* begin, uint32_t* count) {
  array arr;
  if (v.get_array().get(arr)) return Fail(c, "attributes is not an array");
  return DecodeValueList(c, arr, 0, true, begin, count);
}

bool DecodeId(value v, uint8_t* out, size_t n, bool* ok, bool* present) {
  std::string_view s;
  if (v.get_string().get(s)) return false;
  *present = !s.empty();
  *ok = s.empty() ? false : HexDecodeTo(s, out, n);
  return true;
}

bool DecodeEvents(Ctx& c, value v, Span* s) {
  array arr;
  if (v.get_array().get(arr)) return Fail(c, "events is not an array");
  size_t mark = c.events->size();
  for (auto elem : arr) {
    object o;
    if (elem.get_object().get(o)) return Fail(c, "event is not an object");
    Event e;
    for (auto f : o) {
      std::string_view k;
      if (f.unescaped_key().get(k)) return Fail(c, "malformed event");
      value fv;
      if (f.value().get(fv)) return Fail(c, "malformed event");
      if (k == "name") {
        if (fv.get_string().get(e.name)) return Fail(c, "event name is not a string");
      } else if (Is(k, "timeUnixNano", "time_unix_nano")) {
        if (!GetUint64(fv, &e.time_unix_nano)) return Fail(c, "event timeUnixNano is not an integer");
      } else if (k == "attributes") {
        if (!DecodeAttributes(c, fv, &e.attr_begin, &e.attr_count)) return false;
      }
    }
    c.events->push_back(e);
  }
  s->event_begin = static_cast<uint32_t>(c.b->events.size());
  s->event_count = static_cast<uint32_t>(c.events->size() - mark);
  c.b->events.insert(c.b->events.end(), c.events->begin() + static_cast<std::ptrdiff_t>(mark), c.events->end());
  c.events->resize(mark);
  return true;
}

bool DecodeSpan(Ctx& c, value v, uint32_t resource) {
  object o;
  if (v.get_object().get(o)) return Fail(c, "span is not an object");
  Span s;
  s.resource = resource;
  bool trace_ok = false, span_ok = false, parent_ok = true, present = false;
  for (auto f : o) {
    std::string_view k;
    if (f.unescaped_key().get(k)) return Fail(c, "malformed span");
    value fv;
    if (f.value().get(fv)) return Fail(c, "malformed span");
    if (Is(k, "traceId", "trace_id")) {
      if (!DecodeId(fv, s.trace_id, 16, &trace_ok, &present)) return Fail(c, "traceId is not a string");
    } else if (Is(k, "spanId", "span_id")) {
      if (!DecodeId(fv, s.span_id, 8, &span_ok, &present)) return Fail(c, "spanId is not a string");
    } else if (Is(k, "parentSpanId", "parent_span_id")) {
      bool ok;
      if (!DecodeId(fv, s.parent_span_id, 8, &ok, &present)) return Fail(c, "parentSpanId is not a string");
      s.has_parent = present;
      parent_ok = !present || ok;
    } else if (k == "name") {
      if (fv.get_string().get(s.name)) return Fail(c, "span name is not a string");
    } else if (k == "kind") {
      if (!GetEnum(fv, SpanKindFromName, &s.kind) && s.invalid.empty()) s.invalid = "unknown span kind";
    } else if (Is(k, "startTimeUnixNano", "start_time_unix_nano")) {
      if (!GetUint64(fv, &s.start_unix_nano) && s.invalid.empty())
        s.invalid = "startTimeUnixNano is not an unsigned 64-bit integer";
    } else if (Is(k, "endTimeUnixNano", "end_time_unix_nano")) {
      if (!GetUint64(fv, &s.end_unix_nano) && s.invalid.empty())
        s.invalid = "endTimeUnixNano is not an unsigned 64-bit integer";
    } else if (k == "attributes") {
      if (!DecodeAttributes(c, fv, &s.attr_begin, &s.attr_count)) return false;
    } else if (k == "events") {
      if (!DecodeEvents(c, fv, &s)) return false;
    } else if (k == "status") {
      object so;
      if (fv.get_object().get(so)) return Fail(c, "status is not an object");
      for (auto sf : so) {
        std::string_view sk;
        if (sf.unescaped_key().get(sk)) return Fail(c, "malformed status");
        value sv;
        if (sf.value().get(sv)) return Fail(c, "malformed status");
        if (sk == "code") {
          if (!GetEnum(sv, StatusCodeFromName, &s.status_code) && s.invalid.empty())
            s.invalid = "unknown status code";
        } else if (sk == "message") {
          if (sv.get_string().get(s.status_message)) return Fail(c, "status message is not a string");
        }
      }
    }
  }
  ValidateSpan(&s, trace_ok, span_ok, parent_ok);
  c.b->spans.push_back(s);
  return true;
}

bool DecodeScopeSpans(Ctx& c, value v, uint32_t resource) {
  array arr;
  if (v.get_array().get(arr)) return Fail(c, "scopeSpans is not an array");
  for (auto elem : arr) {
    object o;
    if (elem.get_object().get(o)) return Fail(c, "scopeSpans entry is not an object");
    std::string_view scope_name;
    size_t first_span = c.b->spans.size();
    for (auto f : o) {
      std::string_view k;
      if (f.unescaped_key().get(k)) return Fail(c, "malformed scopeSpans");
      value fv;
      if (f.value().get(fv)) return Fail(c, "malformed scopeSpans");
      if (k == "scope" || Is(k, "instrumentationLibrary", "instrumentation_library")) {
        object so;
        if (fv.get_object().get(so)) return Fail(c, "scope is not an object");
        for (auto sf : so) {
          std::string_view sk;
          if (sf.unescaped_key().get(sk)) return Fail(c, "malformed scope");
          if (sk == "name") {
            value sv;
            if (sf.value().get(sv) || sv.get_string().get(scope_name)) return Fail(c, "scope name is not a string");
          }
        }
      } else if (k == "spans") {
        array spans;
        if (fv.get_array().get(spans)) return Fail(c, "spans is not an array");
        for (auto se : spans) {
          value sv;
          if (se.get(sv)) return Fail(c, "malformed span");
          if (!DecodeSpan(c, sv, resource)) return false;
        }
      }
    }
    // The scope may follow its spans in the text (as it may on the wire).
    for (size_t i = first_span; i < c.b->spans.size(); ++i) c.b->spans[i].scope_name = scope_name;
  }
  return true;
}

bool DecodeResourceSpans(Ctx& c, value v) {
  array arr;
  if (v.get_array().get(arr)) return Fail(c, "resourceSpans is not an array");
  for (auto elem : arr) {
    object o;
    if (elem.get_object().get(o)) return Fail(c, "resourceSpans entry is not an object");
    // The resource may follow its spans in the text: reserve its slot first.
    uint32_t resource = static_cast<uint32_t>(c.b->resources.size());
    c.b->resources.push_back(Resource{});
    for (auto f : o) {
      std::string_view k;
      if (f.unescaped_key().get(k)) return Fail(c, "malformed resourceSpans");
      value fv;
      if (f.value().get(fv)) return Fail(c, "malformed resourceSpans");
      if (k == "resource") {
        object ro;
        if (fv.get_object().get(ro)) return Fail(c, "resource is not an object");
        for (auto rf : ro) {
          std::string_view rk;
          if (rf.unescaped_key().get(rk)) return Fail(c, "malformed resource");
          if (rk == "attributes") {
            value rv;
            if (rf.value().get(rv)) return Fail(c, "malformed resource");
            uint32_t b, n;
            if (!DecodeAttributes(c, rv, &b, &n)) return false;
            c.b->resources[resource] = Resource{b, n};
          }
        }
      } else if (Is(k, "scopeSpans", "scope_spans") ||
                 Is(k, "instrumentationLibrarySpans", "instrumentation_library_spans")) {
        if (!DecodeScopeSpans(c, fv, resource)) return false;
      }
    }
  }
  return true;
}

// Visits every value once: keys and strings unescaped, numbers parsed (the benchmark baseline).
size_t Walk(value v, int depth) {
  json_type t;
  if (depth > 64 || v.type().get(t)) return 0;
  size_t n = 1;
  switch (t) {
    case json_type::object: {
      object o;
      if (v.get_object().get(o)) return n;
      for (auto f : o) {
        std::string_view k;
        value fv;
        if (f.unescaped_key().get(k) || f.value().get(fv)) return n;
        n += k.size() + Walk(fv, depth + 1);
      }
      break;
    }
    case json_type::array: {
      array a;
      if (v.get_array().get(a)) return n;
      for (auto e : a) {
        value ev;
        if (e.get(ev)) return n;
        n += Walk(ev, depth + 1);
      }
      break;
    }
    case json_type::string: {
      std::string_view s;
      if (!v.get_string().get(s)) n += s.size();
      break;
    }
    case json_type::number: {
      double d;
      if (!v.get_double().get(d)) n += d > 0;
      break;
    }
    case json_type::boolean: {
      bool b;
      if (!v.get_bool().get(b)) n += b;
      break;
    }
    case json_type::null: break;
  }
  return n;
}

}  // namespace

struct JsonDecoder::Parser {
  simdjson::ondemand::parser parser;
};

#define SPANPIPE_STR2(x) #x
#define SPANPIPE_STR(x) SPANPIPE_STR2(x)
// The kernel this file's On-Demand code was compiled for (simdjson's builtin_implementation() would
// name the shared library's, not ours).
const char* JsonDecoder::Kernel() { return SPANPIPE_STR(SIMDJSON_BUILTIN_IMPLEMENTATION); }
#undef SPANPIPE_STR
#undef SPANPIPE_STR2

size_t JsonDecoder::WalkAllValues(std::string_view message) {
  padded_.resize(message.size() + simdjson::SIMDJSON_PADDING);
  std::memcpy(padded_.data(), message.data(), message.size());
  std::memset(padded_.data() + message.size(), 0, simdjson::SIMDJSON_PADDING);
  simdjson::padded_string_view psv(padded_.data(), message.size(), padded_.size());
  simdjson::ondemand::document doc;
  value root;
  if (parser_->parser.iterate(psv).get(doc) || doc.get_value().get(root)) return 0;
  return Walk(root, 0);
}

JsonDecoder::JsonDecoder() : parser_(std::make_unique<Parser>()), scratch_(kMaxValueDepth + 2) {}
JsonDecoder::~JsonDecoder() = default;
JsonDecoder::JsonDecoder(JsonDecoder&&) noexcept = default;
JsonDecoder& JsonDecoder::operator=(JsonDecoder&&) noexcept = default;

Status JsonDecoder::Decode(std::string_view message, Batch* out) {
  out->Clear();
  if (message.empty()) return Status::InvalidArgument("empty message");
  // simdjson reads up to SIMDJSON_PADDING bytes past the end: copy into a reusable padded buffer.
  padded_.resize(message.size() + simdjson::SIMDJSON_PADDING);
  std::memcpy(padded_.data(), message.data(), message.size());
  std::memset(padded_.data() + message.size(), 0, simdjson::SIMDJSON_PADDING);
  simdjson::padded_string_view psv(padded_.data(), message.size(), padded_.size());

  events_.clear();
  Ctx c{out, &scratch_, &events_, {}};
  for (auto& s : scratch_) s.clear();

  simdjson::ondemand::document doc;
  error_code e = parser_->parser.iterate(psv).get(doc);
  if (e) return Status::InvalidArgument(std::string("not JSON: ") + simdjson::error_message(e));
  object top;
  if ((e = doc.get_object().get(top))) {
    out->Clear();
    return Status::InvalidArgument(std::string("message is not a JSON object: ") + simdjson::error_message(e));
  }
  bool ok = true;
  for (auto f : top) {
    std::string_view k;
    if ((e = f.unescaped_key().get(k))) {
      ok = Fail(c, "malformed message", e);
      break;
    }
    value fv;
    if ((e = f.value().get(fv))) {
      ok = Fail(c, "malformed message", e);
      break;
    }
    if (Is(k, "resourceSpans", "resource_spans")) {
      if (!(ok = DecodeResourceSpans(c, fv))) break;
    }
  }
  if (!ok) {
    out->Clear();
    return Status::InvalidArgument("OTLP/JSON: " + (c.err.empty() ? std::string("malformed") : c.err));
  }
  return Status::OK();
}

}  // namespace spanpipe::otlp
