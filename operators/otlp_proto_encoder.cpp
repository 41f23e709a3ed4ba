#include "operators/otlp_proto_encoder.h"

#include <cstring>

#include "operators/protobuf_wire.h"

namespace spanpipe::otlp {
namespace {

void EncodeAnyValue(const Batch& b, const AnyValue& v, std::string* out);

void EncodeKeyValue(const Batch& b, const KeyValue& kv, std::string* out) {
  std::string inner, value;
  pb::PutLenField(&inner, 1, kv.key);
  EncodeAnyValue(b, kv.value, &value);
  pb::PutLenField(&inner, 2, value);
  out->append(inner);
}

void EncodeAnyValue(const Batch& b, const AnyValue& v, std::string* out) {
  switch (v.kind) {
    case ValueKind::kEmpty: break;
    case ValueKind::kString: pb::PutLenField(out, 1, v.s); break;
    case ValueKind::kBool: pb::PutVarintField(out, 2, v.b ? 1 : 0); break;
    case ValueKind::kInt: pb::PutVarintField(out, 3, static_cast<uint64_t>(v.i)); break;
    case ValueKind::kDouble: {
      uint64_t bits;
      std::memcpy(&bits, &v.d, 8);
      pb::PutFixed64Field(out, 4, bits);
      break;
    }
    case ValueKind::kBytes: pb::PutLenField(out, 7, v.s); break;
    case ValueKind::kArray:
    case ValueKind::kKvlist: {
      std::string list;
      for (uint32_t i = v.child_begin; i < v.child_begin + v.child_count; ++i) {
        std::string item;
        if (v.kind == ValueKind::kArray) EncodeAnyValue(b, b.kvs[i].value, &item);
        else EncodeKeyValue(b, b.kvs[i], &item);
        pb::PutLenField(&list, 1, item);
      }
      pb::PutLenField(out, v.kind == ValueKind::kArray ? 5 : 6, list);
      break;
    }
  }
}

void EncodeAttributes(const Batch& b, uint32_t begin, uint32_t count, uint32_t field, std::string* out) {
  for (uint32_t i = begin; i < begin + count; ++i) {
    std::string kv;
    EncodeKeyValue(b, b.kvs[i], &kv);
    pb::PutLenField(out, field, kv);
  }
}

void EncodeSpan(const Batch& b, const Span& s, std::string* out) {
  pb::PutLenField(out, 1, {reinterpret_cast<const char*>(s.trace_id), 16});
  pb::PutLenField(out, 2, {reinterpret_cast<const char*>(s.span_id), 8});
  if (s.has_parent) pb::PutLenField(out, 4, {reinterpret_cast<const char*>(s.parent_span_id), 8});
  pb::PutLenField(out, 5, s.name);
  if (s.kind) pb::PutVarintField(out, 6, static_cast<uint64_t>(s.kind));
  pb::PutFixed64Field(out, 7, s.start_unix_nano);
  pb::PutFixed64Field(out, 8, s.end_unix_nano);
  EncodeAttributes(b, s.attr_begin, s.attr_count, 9, out);
  for (uint32_t e = s.event_begin; e < s.event_begin + s.event_count; ++e) {
    const Event& ev = b.events[e];
    std::string em;
    pb::PutFixed64Field(&em, 1, ev.time_unix_nano);
    pb::PutLenField(&em, 2, ev.name);
    EncodeAttributes(b, ev.attr_begin, ev.attr_count, 3, &em);
    pb::PutLenField(out, 11, em);
  }
  if (s.status_code || !s.status_message.empty()) {
    std::string st;
    if (!s.status_message.empty()) pb::PutLenField(&st, 2, s.status_message);
    if (s.status_code) pb::PutVarintField(&st, 3, static_cast<uint64_t>(s.status_code));
    pb::PutLenField(out, 15, st);
  }
}

}  // namespace

std::string EncodeProto(const Batch& b) {
  std::string out;
  for (uint32_t r = 0; r < b.resources.size(); ++r) {
    std::string rs, resource, scope_spans, scope;
    EncodeAttributes(b, b.resources[r].attr_begin, b.resources[r].attr_count, 1, &resource);
    pb::PutLenField(&rs, 1, resource);
    std::string_view scope_name;
    bool any = false;
    for (const Span& s : b.spans) {
      if (s.resource != r) continue;
      scope_name = s.scope_name;
      std::string span;
      EncodeSpan(b, s, &span);
      pb::PutLenField(&scope_spans, 2, span);
      any = true;
    }
    if (!any) continue;
    if (!scope_name.empty()) pb::PutLenField(&scope, 1, scope_name);
    std::string ss;
    pb::PutLenField(&ss, 1, scope);
    ss.append(scope_spans);
    pb::PutLenField(&rs, 2, ss);
    pb::PutLenField(&out, 1, rs);
  }
  return out;
}

}  // namespace spanpipe::otlp
