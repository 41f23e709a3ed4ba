#include "operators/otlp_proto_decoder.h"

#include <cstring>

#include "operators/otlp_ids.h"
#include "operators/protobuf_wire.h"

namespace spanpipe::otlp {
namespace {

using pb::Reader;

// Field numbers: opentelemetry-proto (collector/trace/v1/trace_service.proto, trace/v1/trace.proto,
// common/v1/common.proto, resource/v1/resource.proto); see docs/otlp-decoding.md.
namespace f {
constexpr uint32_t kRequestResourceSpans = 1;
constexpr uint32_t kResourceSpansResource = 1, kResourceSpansScopeSpans = 2, kResourceSpansIlSpans = 1000;
constexpr uint32_t kResourceAttributes = 1;
constexpr uint32_t kScopeSpansScope = 1, kScopeSpansSpans = 2;
constexpr uint32_t kScopeName = 1;
constexpr uint32_t kSpanTraceId = 1, kSpanSpanId = 2, kSpanParentSpanId = 4, kSpanName = 5, kSpanKind = 6,
                   kSpanStart = 7, kSpanEnd = 8, kSpanAttributes = 9, kSpanEvents = 11, kSpanStatus = 15;
constexpr uint32_t kEventTime = 1, kEventName = 2, kEventAttributes = 3;
constexpr uint32_t kStatusMessage = 2, kStatusCode = 3;
constexpr uint32_t kKeyValueKey = 1, kKeyValueValue = 2;
constexpr uint32_t kAnyString = 1, kAnyBool = 2, kAnyInt = 3, kAnyDouble = 4, kAnyArray = 5, kAnyKvlist = 6,
                   kAnyBytes = 7;
constexpr uint32_t kListValues = 1;
}  // namespace f

struct Ctx {
  Batch* b;
  std::vector<std::vector<KeyValue>>* scratch;
  std::vector<Event>* events;
  const char* err = nullptr;
};

bool Fail(Ctx& c, const char* why) {
  if (!c.err) c.err = why;
  return false;
}

bool DecodeAnyValue(Ctx& c, std::string_view msg, int depth, AnyValue* out);

// Appends a list of KeyValue (keyed) or AnyValue (array items) messages taken from `field` of msg.
bool DecodeList(Ctx& c, std::string_view msg, uint32_t field, int depth, bool keyed, uint32_t* begin,
                uint32_t* count) {
  if (depth >= ProtoDecoder::kMaxValueDepth) return Fail(c, "attribute values nested deeper than 32 levels");
  auto& tmp = (*c.scratch)[depth];
  size_t mark = tmp.size();
  Reader r(msg);
  while (!r.done()) {
    uint32_t fn, wt;
    if (!r.Tag(&fn, &wt)) return Fail(c, "malformed field tag");
    if (fn != field || wt != pb::kLen) {
      if (!r.Skip(wt)) return Fail(c, "malformed field");
      continue;
    }
    std::string_view item;
    if (!r.Bytes(&item)) return Fail(c, "truncated attribute");
    KeyValue kv;
    if (keyed) {
      Reader kr(item);
      while (!kr.done()) {
        uint32_t kf, kw;
        if (!kr.Tag(&kf, &kw)) return Fail(c, "malformed attribute");
        if (kf == f::kKeyValueKey && kw == pb::kLen) {
          if (!kr.Bytes(&kv.key)) return Fail(c, "truncated attribute key");
        } else if (kf == f::kKeyValueValue && kw == pb::kLen) {
          std::string_view v;
          if (!kr.Bytes(&v) || !DecodeAnyValue(c, v, depth, &kv.value)) return Fail(c, "malformed attribute value");
        } else if (!kr.Skip(kw)) {
          return Fail(c, "malformed attribute");
        }
      }
    } else if (!DecodeAnyValue(c, item, depth, &kv.value)) {
      return false;
    }
    tmp.push_back(kv);
  }
  *begin = static_cast<uint32_t>(c.b->kvs.size());
  *count = static_cast<uint32_t>(tmp.size() - mark);
  c.b->kvs.insert(c.b->kvs.end(), tmp.begin() + static_cast<std::ptrdiff_t>(mark), tmp.end());
  tmp.resize(mark);
  return true;
}

bool DecodeAnyValue(Ctx& c, std::string_view msg, int depth, AnyValue* out) {
  Reader r(msg);
  out->kind = ValueKind::kEmpty;
  while (!r.done()) {
    uint32_t fn, wt;
    if (!r.Tag(&fn, &wt)) return Fail(c, "malformed attribute value");
    uint64_t v;
    switch (fn) {
      case f::kAnyString:
      case f::kAnyBytes:
        if (wt != pb::kLen || !r.Bytes(&out->s)) return Fail(c, "malformed string value");
        out->kind = fn == f::kAnyString ? ValueKind::kString : ValueKind::kBytes;
        break;
      case f::kAnyBool:
        if (wt != pb::kVarint || !r.Varint(&v)) return Fail(c, "malformed bool value");
        out->kind = ValueKind::kBool;
        out->b = v != 0;
        break;
      case f::kAnyInt:
        if (wt != pb::kVarint || !r.Varint(&v)) return Fail(c, "malformed int value");
        out->kind = ValueKind::kInt;
        out->i = static_cast<int64_t>(v);
        break;
      case f::kAnyDouble:
        if (wt != pb::kFixed64 || !r.Fixed64(&v)) return Fail(c, "malformed double value");
        out->kind = ValueKind::kDouble;
        std::memcpy(&out->d, &v, 8);
        break;
      case f::kAnyArray:
      case f::kAnyKvlist: {
        std::string_view inner;
        if (wt != pb::kLen || !r.Bytes(&inner)) return Fail(c, "malformed list value");
        bool keyed = fn == f::kAnyKvlist;
        out->kind = keyed ? ValueKind::kKvlist : ValueKind::kArray;
        if (!DecodeList(c, inner, f::kListValues, depth + 1, keyed, &out->child_begin, &out->child_count))
          return false;
        break;
      }
      default:
        if (!r.Skip(wt)) return Fail(c, "malformed attribute value");
    }
  }
  return true;
}

// Copies a bytes id; ok=false when its length is wrong.
void Id(std::string_view bytes, uint8_t* out, size_t n, bool* ok) {
  *ok = bytes.size() == n;
  if (*ok) std::memcpy(out, bytes.data(), n);
}

bool DecodeEvent(Ctx& c, std::string_view msg) {
  Reader r(msg);
  Event e;
  while (!r.done()) {
    uint32_t fn, wt;
    if (!r.Tag(&fn, &wt)) return Fail(c, "malformed event");
    if (fn == f::kEventTime && wt == pb::kFixed64) {
      if (!r.Fixed64(&e.time_unix_nano)) return Fail(c, "truncated event time");
    } else if (fn == f::kEventName && wt == pb::kLen) {
      if (!r.Bytes(&e.name)) return Fail(c, "truncated event name");
    } else if (fn == f::kEventAttributes && wt == pb::kLen) {
      // Attributes are a repeated field: collect them all once, below.
      std::string_view ignored;
      if (!r.Bytes(&ignored)) return Fail(c, "truncated event attribute");
    } else if (!r.Skip(wt)) {
      return Fail(c, "malformed event");
    }
  }
  if (!DecodeList(c, msg, f::kEventAttributes, 0, true, &e.attr_begin, &e.attr_count)) return false;
  c.events->push_back(e);
  return true;
}

bool DecodeSpan(Ctx& c, std::string_view msg, uint32_t resource, std::string_view scope) {
  Reader r(msg);
  Span s;
  s.resource = resource;
  s.scope_name = scope;
  bool trace_ok = false, span_ok = false, parent_ok = true;
  size_t ev_mark = c.events->size();
  while (!r.done()) {
    uint32_t fn, wt;
    if (!r.Tag(&fn, &wt)) return Fail(c, "malformed span");
    std::string_view bytes;
    uint64_t v;
    switch (fn) {
      case f::kSpanTraceId:
      case f::kSpanSpanId:
      case f::kSpanParentSpanId:
      case f::kSpanName:
      case f::kSpanAttributes:
      case f::kSpanEvents:
      case f::kSpanStatus:
        if (wt != pb::kLen || !r.Bytes(&bytes)) return Fail(c, "malformed span field");
        break;
      case f::kSpanKind:
        if (wt != pb::kVarint || !r.Varint(&v)) return Fail(c, "malformed span kind");
        s.kind = static_cast<int32_t>(v);
        continue;
      case f::kSpanStart:
      case f::kSpanEnd:
        if (wt != pb::kFixed64 || !r.Fixed64(&v)) return Fail(c, "malformed span time");
        (fn == f::kSpanStart ? s.start_unix_nano : s.end_unix_nano) = v;
        continue;
      default:
        if (!r.Skip(wt)) return Fail(c, "malformed span");
        continue;
    }
    switch (fn) {
      case f::kSpanTraceId: Id(bytes, s.trace_id, 16, &trace_ok); break;
      case f::kSpanSpanId: Id(bytes, s.span_id, 8, &span_ok); break;
      case f::kSpanParentSpanId:
        s.has_parent = !bytes.empty();
        if (s.has_parent) Id(bytes, s.parent_span_id, 8, &parent_ok);
        break;
      case f::kSpanName: s.name = bytes; break;
      case f::kSpanEvents:
        if (!DecodeEvent(c, bytes)) return false;
        break;
      case f::kSpanStatus: {
        Reader sr(bytes);
        while (!sr.done()) {
          uint32_t sf, sw;
          if (!sr.Tag(&sf, &sw)) return Fail(c, "malformed status");
          if (sf == f::kStatusMessage && sw == pb::kLen) {
            if (!sr.Bytes(&s.status_message)) return Fail(c, "truncated status message");
          } else if (sf == f::kStatusCode && sw == pb::kVarint) {
            uint64_t code;
            if (!sr.Varint(&code)) return Fail(c, "malformed status code");
            s.status_code = static_cast<int32_t>(code);
          } else if (!sr.Skip(sw)) {
            return Fail(c, "malformed status");
          }
        }
        break;
      }
      default: break;  // attributes: collected below in one pass
    }
  }
  if (!DecodeList(c, msg, f::kSpanAttributes, 0, true, &s.attr_begin, &s.attr_count)) return false;
  s.event_begin = static_cast<uint32_t>(c.b->events.size());
  s.event_count = static_cast<uint32_t>(c.events->size() - ev_mark);
  c.b->events.insert(c.b->events.end(), c.events->begin() + static_cast<std::ptrdiff_t>(ev_mark), c.events->end());
  c.events->resize(ev_mark);
  ValidateSpan(&s, trace_ok, span_ok, parent_ok);
  c.b->spans.push_back(s);
  return true;
}

bool DecodeScopeSpans(Ctx& c, std::string_view msg, uint32_t resource) {
  // The scope name may follow the spans on the wire: find it first.
  std::string_view scope_name;
  {
    Reader r(msg);
    while (!r.done()) {
      uint32_t fn, wt;
      if (!r.Tag(&fn, &wt)) return Fail(c, "malformed scopeSpans");
      std::string_view bytes;
      if (fn == f::kScopeSpansScope && wt == pb::kLen) {
        if (!r.Bytes(&bytes)) return Fail(c, "truncated scope");
        Reader sr(bytes);
        while (!sr.done()) {
          uint32_t sf, sw;
          if (!sr.Tag(&sf, &sw)) return Fail(c, "malformed scope");
          if (sf == f::kScopeName && sw == pb::kLen) {
            if (!sr.Bytes(&scope_name)) return Fail(c, "truncated scope name");
          } else if (!sr.Skip(sw)) {
            return Fail(c, "malformed scope");
          }
        }
      } else if (!r.Skip(wt)) {
        return Fail(c, "malformed scopeSpans");
      }
    }
  }
  Reader r(msg);
  while (!r.done()) {
    uint32_t fn, wt;
    if (!r.Tag(&fn, &wt)) return Fail(c, "malformed scopeSpans");
    if (fn == f::kScopeSpansSpans && wt == pb::kLen) {
      std::string_view span;
      if (!r.Bytes(&span)) return Fail(c, "truncated span");
      if (!DecodeSpan(c, span, resource, scope_name)) return false;
    } else if (!r.Skip(wt)) {
      return Fail(c, "malformed scopeSpans");
    }
  }
  return true;
}

bool DecodeResourceSpans(Ctx& c, std::string_view msg) {
  uint32_t resource = static_cast<uint32_t>(c.b->resources.size());
  c.b->resources.push_back(Resource{});
  Reader r(msg);
  while (!r.done()) {
    uint32_t fn, wt;
    if (!r.Tag(&fn, &wt)) return Fail(c, "malformed resourceSpans");
    std::string_view bytes;
    if (wt == pb::kLen && (fn == f::kResourceSpansResource || fn == f::kResourceSpansScopeSpans ||
                           fn == f::kResourceSpansIlSpans)) {
      if (!r.Bytes(&bytes)) return Fail(c, "truncated resourceSpans field");
      if (fn == f::kResourceSpansResource) {
        uint32_t b, n;
        if (!DecodeList(c, bytes, f::kResourceAttributes, 0, true, &b, &n)) return false;
        c.b->resources[resource] = Resource{b, n};
      } else if (!DecodeScopeSpans(c, bytes, resource)) {
        return false;
      }
    } else if (!r.Skip(wt)) {
      return Fail(c, "malformed resourceSpans");
    }
  }
  return true;
}

}  // namespace

ProtoDecoder::ProtoDecoder() : scratch_(kMaxValueDepth + 2) {}

Status ProtoDecoder::Decode(std::string_view message, Batch* out) {
  out->Clear();
  if (message.empty()) return Status::InvalidArgument("empty message");
  for (auto& s : scratch_) s.clear();
  events_.clear();
  Ctx c{out, &scratch_, &events_};
  Reader r(message);
  bool ok = true;
  while (ok && !r.done()) {
    uint32_t fn, wt;
    if (!r.Tag(&fn, &wt)) {
      ok = Fail(c, "malformed field tag");
      break;
    }
    if (fn == f::kRequestResourceSpans && wt == pb::kLen) {
      std::string_view rs;
      if (!r.Bytes(&rs)) ok = Fail(c, "truncated resourceSpans");
      else ok = DecodeResourceSpans(c, rs);
    } else if (!r.Skip(wt)) {
      ok = Fail(c, "malformed field");
    }
  }
  if (!ok) {
    out->Clear();
    return Status::InvalidArgument(std::string("OTLP/protobuf: ") + (c.err ? c.err : "malformed"));
  }
  return Status::OK();
}

}  // namespace spanpipe::otlp
