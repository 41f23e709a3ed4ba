#include "operators/span_codec.h"

#include <cstring>

#include "common/coding.h"

namespace spanpipe {
namespace {

constexpr uint8_t kVersion = 1;
constexpr int kMaxDepth = 64;

void EncodeAttrs(const otlp::Batch& b, uint32_t begin, uint32_t count, std::string* out);

void EncodeValue(const otlp::Batch& b, const otlp::AnyValue& v, std::string* out) {
  out->push_back(static_cast<char>(v.kind));
  switch (v.kind) {
    case otlp::ValueKind::kEmpty: break;
    case otlp::ValueKind::kString:
    case otlp::ValueKind::kBytes: PutLengthPrefixed(out, v.s); break;
    case otlp::ValueKind::kBool: out->push_back(v.b ? 1 : 0); break;
    case otlp::ValueKind::kInt: PutVarint64(out, ZigZag(v.i)); break;
    case otlp::ValueKind::kDouble: PutDouble(out, v.d); break;
    case otlp::ValueKind::kArray:
    case otlp::ValueKind::kKvlist: EncodeAttrs(b, v.child_begin, v.child_count, out); break;
  }
}

void EncodeAttrs(const otlp::Batch& b, uint32_t begin, uint32_t count, std::string* out) {
  PutVarint64(out, count);
  for (uint32_t i = begin; i < begin + count; ++i) {
    PutLengthPrefixed(out, b.kvs[i].key);
    EncodeValue(b, b.kvs[i].value, out);
  }
}

class Reader {
 public:
  Reader(std::string_view in, otlp::Batch* b) : in_(in), b_(b) {}

  bool Bytes(size_t n, const char** p) {
    if (in_.size() < n) return false;
    *p = in_.data();
    in_.remove_prefix(n);
    return true;
  }
  bool Byte(uint8_t* v) {
    const char* p;
    if (!Bytes(1, &p)) return false;
    *v = static_cast<uint8_t>(*p);
    return true;
  }
  bool Varint(uint64_t* v) { return GetVarint64(&in_, v); }
  bool Fixed64(uint64_t* v) { return GetFixed64BE(&in_, v); }
  bool Str(std::string_view* s) { return GetLengthPrefixed(&in_, s); }
  bool Dbl(double* d) { return GetDouble(&in_, d); }

  // Reserves the list's slots first so that nested lists appended later keep each list contiguous.
  bool Attrs(uint32_t* begin, uint32_t* count, int depth) {
    uint64_t n;
    if (depth > kMaxDepth || !Varint(&n) || n > in_.size()) return false;  // each entry takes ≥ 2 bytes
    *begin = static_cast<uint32_t>(b_->kvs.size());
    *count = static_cast<uint32_t>(n);
    b_->kvs.resize(b_->kvs.size() + n);
    for (uint64_t i = 0; i < n; ++i) {
      std::string_view key;
      otlp::AnyValue v;
      if (!Str(&key) || !Value(&v, depth)) return false;
      b_->kvs[*begin + i].key = key;
      b_->kvs[*begin + i].value = v;
    }
    return true;
  }

  bool Value(otlp::AnyValue* v, int depth) {
    uint8_t kind;
    if (!Byte(&kind) || kind > static_cast<uint8_t>(otlp::ValueKind::kKvlist)) return false;
    v->kind = static_cast<otlp::ValueKind>(kind);
    switch (v->kind) {
      case otlp::ValueKind::kEmpty: return true;
      case otlp::ValueKind::kString:
      case otlp::ValueKind::kBytes: return Str(&v->s);
      case otlp::ValueKind::kBool: {
        uint8_t x;
        if (!Byte(&x)) return false;
        v->b = x != 0;
        return true;
      }
      case otlp::ValueKind::kInt: {
        uint64_t x;
        if (!Varint(&x)) return false;
        v->i = UnZigZag(x);
        return true;
      }
      case otlp::ValueKind::kDouble: return Dbl(&v->d);
      case otlp::ValueKind::kArray:
      case otlp::ValueKind::kKvlist: return Attrs(&v->child_begin, &v->child_count, depth + 1);
    }
    return false;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
  otlp::Batch* b_;
};

}  // namespace

void EncodeSpanRecord(const SpanRecord& s, std::string* out) {
  out->push_back(static_cast<char>(kVersion));
  out->append(reinterpret_cast<const char*>(s.trace_id), 16);
  out->append(reinterpret_cast<const char*>(s.span_id), 8);
  out->append(reinterpret_cast<const char*>(s.parent_span_id), 8);
  out->push_back(static_cast<char>((s.has_parent ? 1 : 0) | (s.error ? 2 : 0)));
  PutVarint64(out, ZigZag(s.kind));
  PutFixed64BE(out, s.start_unix_nano);
  PutFixed64BE(out, s.end_unix_nano);
  PutVarint64(out, ZigZag(s.status_code));
  for (std::string_view f : {s.name, s.status_message, s.project, s.service, s.model, s.provider,
                             s.operation, s.thread_id, s.user_id, s.environment})
    PutLengthPrefixed(out, f);
  PutVarint64(out, static_cast<uint64_t>(s.input_tokens));
  PutVarint64(out, static_cast<uint64_t>(s.output_tokens));
  PutDouble(out, s.cost_usd);
  static const otlp::Batch kEmpty;
  const otlp::Batch& b = s.batch ? *s.batch : kEmpty;
  EncodeAttrs(b, s.attr_begin, s.batch ? s.attr_count : 0, out);
  uint32_t nev = s.batch ? s.event_count : 0;
  PutVarint64(out, nev);
  for (uint32_t i = s.event_begin; i < s.event_begin + nev; ++i) {
    const otlp::Event& e = b.events[i];
    PutLengthPrefixed(out, e.name);
    PutFixed64BE(out, e.time_unix_nano);
    EncodeAttrs(b, e.attr_begin, e.attr_count, out);
  }
}

Status DecodeSpanRecord(std::string_view data, otlp::Batch* batch, SpanRecord* s) {
  Reader r(data, batch);
  auto bad = [](const char* what) {
    return Status::Corruption(std::string("repartition record: ") + what);
  };
  uint8_t version, flags;
  const char* p;
  if (!r.Byte(&version)) return bad("empty");
  if (version != kVersion) return bad("unknown version");
  if (!r.Bytes(16, &p)) return bad("truncated trace id");
  std::memcpy(s->trace_id, p, 16);
  if (!r.Bytes(8, &p)) return bad("truncated span id");
  std::memcpy(s->span_id, p, 8);
  if (!r.Bytes(8, &p)) return bad("truncated parent id");
  std::memcpy(s->parent_span_id, p, 8);
  if (!r.Byte(&flags)) return bad("truncated flags");
  s->has_parent = flags & 1;
  s->error = flags & 2;
  uint64_t v;
  if (!r.Varint(&v)) return bad("truncated kind");
  s->kind = static_cast<int32_t>(UnZigZag(v));
  if (!r.Fixed64(&s->start_unix_nano) || !r.Fixed64(&s->end_unix_nano)) return bad("truncated times");
  if (!r.Varint(&v)) return bad("truncated status");
  s->status_code = static_cast<int32_t>(UnZigZag(v));
  for (std::string_view* f : {&s->name, &s->status_message, &s->project, &s->service, &s->model,
                              &s->provider, &s->operation, &s->thread_id, &s->user_id, &s->environment})
    if (!r.Str(f)) return bad("truncated string field");
  uint64_t in, outt;
  if (!r.Varint(&in) || !r.Varint(&outt) || !r.Dbl(&s->cost_usd)) return bad("truncated usage");
  s->input_tokens = static_cast<int64_t>(in);
  s->output_tokens = static_cast<int64_t>(outt);
  if (!r.Attrs(&s->attr_begin, &s->attr_count, 0)) return bad("malformed attributes");
  uint64_t nev;
  if (!r.Varint(&nev) || nev > data.size()) return bad("malformed events");
  s->event_begin = static_cast<uint32_t>(batch->events.size());
  s->event_count = static_cast<uint32_t>(nev);
  for (uint64_t i = 0; i < nev; ++i) {
    otlp::Event e;
    if (!r.Str(&e.name) || !r.Fixed64(&e.time_unix_nano) || !r.Attrs(&e.attr_begin, &e.attr_count, 0))
      return bad("malformed event");
    batch->events.push_back(e);
  }
  if (!r.done()) return bad("trailing bytes");
  s->batch = batch;
  return Status::OK();
}

}  // namespace spanpipe
