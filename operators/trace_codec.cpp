#include "operators/trace_codec.h"

#include <cstring>

#include "common/coding.h"
#include "common/json_cursor.h"
#include "common/time_format.h"

namespace spanpipe::resolve {
namespace {

constexpr uint8_t kFormatV1 = 1;  // no inline span ids: every id is in the spans store
constexpr uint8_t kFormatV2 = 2;  // v1 + inline span ids
constexpr uint8_t kFlagOpen = 1;
constexpr uint8_t kFlagRoot = 2;
constexpr uint8_t kFlagSpansInStore = 4;
// Bounds a hostile trace's value size; no real trace calls this many distinct models.
constexpr uint64_t kMaxModels = 256;

bool GetString(std::string_view* in, std::string* s) {
  std::string_view v;
  if (!GetLengthPrefixed(in, &v)) return false;
  s->assign(v);
  return true;
}

}  // namespace

void AppendTraceKey(std::string* out, std::string_view project, const uint8_t trace_id[16]) {
  out->append(project);
  out->push_back('\0');
  out->append(reinterpret_cast<const char*>(trace_id), 16);
}

void AppendSpanKey(std::string* out, std::string_view project, const uint8_t trace_id[16],
                   const uint8_t span_id[8]) {
  AppendTraceKey(out, project, trace_id);
  out->append(reinterpret_cast<const char*>(span_id), 8);
}

int64_t IdleBucket(int64_t ms) {
  return FloorDiv(ms, kIdleBucketMs) * kIdleBucketMs;
}

void AppendIdleBucketKey(std::string* out, int64_t bucket_ms) {
  PutOrderedInt64(out, bucket_ms);
}

bool ParseIdleBucketKey(std::string_view key, int64_t* bucket_ms) {
  if (key.size() != 8) return false;
  *bucket_ms = DecodeOrderedInt64(key.data());
  return true;
}

void AppendIdleSnapshotPrefix(std::string* out, int64_t bucket_ms) {
  PutOrderedInt64(out, bucket_ms);
  out->push_back('\xff');
}

void AppendIdleSnapshotKey(std::string* out, int64_t bucket_ms, uint64_t seq) {
  AppendIdleSnapshotPrefix(out, bucket_ms);
  PutFixed64BE(out, seq);
}

bool ParseIdleSnapshotKey(std::string_view key, int64_t* bucket_ms) {
  if (key.size() != 17 || static_cast<uint8_t>(key[8]) != 0xff) return false;
  *bucket_ms = DecodeOrderedInt64(key.data());
  return true;
}

void AppendIdleKey(std::string* out, int64_t last_update_ms, std::string_view trace_key) {
  PutOrderedInt64(out, last_update_ms);
  out->append(trace_key);
}

bool ParseTraceKey(std::string_view key, std::string_view* project, const uint8_t** trace_id) {
  // The trace id is fixed-size at the end, so a project may contain any byte.
  if (key.size() < 17 || key[key.size() - 17] != '\0') return false;
  *project = key.substr(0, key.size() - 17);
  *trace_id = reinterpret_cast<const uint8_t*>(key.data() + key.size() - 16);
  return true;
}

bool ParseIdleKey(std::string_view key, int64_t* last_update_ms, std::string_view* trace_key) {
  if (key.size() < 8 + 17) return false;
  *last_update_ms = DecodeOrderedInt64(key.data());
  *trace_key = key.substr(8);
  return true;
}

// Sized once, then written through a pointer: the value is two dozen varints and strings, and an
// append each (a capacity test and a call per field) cost a third of the encode (perf, 2 M traces).
void EncodeTraceState(const TraceState& st, std::string* out) {
  const TraceAggregate& a = st.agg;
  size_t most = 2 + 12 * 10 + 8 + 8 * st.span_ids.size();
  for (const std::string* s : {&a.service, &a.name, &a.thread_id, &a.user_id, &a.environment})
    most += 10 + s->size();
  for (const auto& m : a.models) most += 10 + m.size();
  const size_t at = out->size();
  out->resize(at + most);
  char* const begin = out->data() + at;
  char* p = begin;
  auto varint = [&p](uint64_t v) { p = EncodeVarint64To(p, v); };
  auto zigzag = [&varint](int64_t v) { varint(ZigZag(v)); };
  auto string = [&](std::string_view v) {
    varint(v.size());
    p = EncodeBytesTo(p, v);
  };
  *p++ = static_cast<char>(kFormatV2);
  *p++ = static_cast<char>((st.open ? kFlagOpen : 0) | (st.has_root ? kFlagRoot : 0) |
                           (st.spans_in_store ? kFlagSpansInStore : 0));
  zigzag(st.last_update_ms);
  zigzag(st.idle_key_ms);
  varint(a.start_unix_nano);
  varint(a.end_unix_nano);
  zigzag(a.span_count);
  zigzag(a.llm_calls);
  zigzag(a.errors);
  zigzag(a.input_tokens);
  zigzag(a.output_tokens);
  uint64_t bits;
  std::memcpy(&bits, &a.cost_usd, 8);
  p = EncodeFixed64BETo(p, bits);  // PutDouble's layout
  string(a.service);
  string(a.name);
  string(a.thread_id);
  string(a.user_id);
  string(a.environment);
  varint(a.models.size());
  for (const auto& m : a.models) string(m);
  varint(st.span_ids.size());
  p = EncodeBytesTo(p, {reinterpret_cast<const char*>(st.span_ids.data()), 8 * st.span_ids.size()});
  out->resize(at + static_cast<size_t>(p - begin));
}

bool DecodeTraceState(std::string_view in, TraceState* st) {
  if (in.size() < 2) return false;
  const uint8_t format = static_cast<uint8_t>(in[0]);
  if (format != kFormatV1 && format != kFormatV2) return false;
  uint8_t flags = static_cast<uint8_t>(in[1]);
  in.remove_prefix(2);
  st->open = flags & kFlagOpen;
  st->has_root = flags & kFlagRoot;
  st->spans_in_store = format == kFormatV1 || (flags & kFlagSpansInStore);
  TraceAggregate& a = st->agg;
  uint64_t n = 0;
  if (!GetZigZag(&in, &st->last_update_ms) || !GetZigZag(&in, &st->idle_key_ms) ||
      !GetVarint64(&in, &a.start_unix_nano) || !GetVarint64(&in, &a.end_unix_nano) ||
      !GetZigZag(&in, &a.span_count) || !GetZigZag(&in, &a.llm_calls) ||
      !GetZigZag(&in, &a.errors) || !GetZigZag(&in, &a.input_tokens) ||
      !GetZigZag(&in, &a.output_tokens) || !GetDouble(&in, &a.cost_usd) ||
      !GetString(&in, &a.service) || !GetString(&in, &a.name) || !GetString(&in, &a.thread_id) ||
      !GetString(&in, &a.user_id) || !GetString(&in, &a.environment) || !GetVarint64(&in, &n) ||
      n > kMaxModels) {
    return false;
  }
  a.models.resize(n);
  for (auto& m : a.models) {
    if (!GetString(&in, &m)) return false;
  }
  st->span_ids.clear();
  if (format == kFormatV1) return in.empty();
  if (!GetVarint64(&in, &n) || n > kInlineSpanIds || in.size() != 8 * n) return false;
  st->span_ids.resize(n);
  if (n) std::memcpy(st->span_ids.data(), in.data(), 8 * n);
  return true;
}

bool AppendClosedTraceState(std::string_view in, std::string* out) {
  if (in.size() < 2 ||
      (static_cast<uint8_t>(in[0]) != kFormatV1 && static_cast<uint8_t>(in[0]) != kFormatV2)) {
    return false;
  }
  out->append(in);
  (*out)[out->size() - in.size() + 1] &= static_cast<char>(~kFlagOpen);
  return true;
}

bool PeekTraceState(std::string_view in, bool* open, int64_t* last_update_ms,
                    int64_t* idle_key_ms) {
  if (in.size() < 2) return false;
  const uint8_t format = static_cast<uint8_t>(in[0]);
  if (format != kFormatV1 && format != kFormatV2) return false;
  *open = static_cast<uint8_t>(in[1]) & kFlagOpen;
  in.remove_prefix(2);
  return GetZigZag(&in, last_update_ms) && GetZigZag(&in, idle_key_ms);
}

// Through JsonCursor, with the separators in the member-name literals: the record's shape is fixed
// (CONTRACT §4), and one is written per closed trace (5 % of resolve's thread at 10 M traces
// through JsonWriter, perf). The ids are hex and UUID text: quoted, never escaped.
void AppendTraceJson(const TraceAggregate& a, std::string* out) {
  JsonCursor c(out);
  c.Literal("{\"trace_id\":");
  c.PlainString(a.trace_id_hex);
  c.Literal(",\"trace_uuid\":");
  c.PlainString(a.trace_uuid);
  c.Literal(",\"project\":");
  c.String(a.project);
  c.Literal(",\"service\":");
  c.String(a.service);
  c.Literal(",\"name\":");
  c.String(a.name);
  c.Literal(",\"thread_id\":");
  c.String(a.thread_id);
  c.Literal(",\"user_id\":");
  c.String(a.user_id);
  c.Literal(",\"environment\":");
  c.String(a.environment);
  c.Literal(",\"start\":");
  c.Rfc3339Nanos(static_cast<int64_t>(a.start_unix_nano));
  c.Literal(",\"end\":");
  c.Rfc3339Nanos(static_cast<int64_t>(a.end_unix_nano));
  c.Literal(",\"span_count\":");
  c.Int(a.span_count);
  c.Literal(",\"llm_calls\":");
  c.Int(a.llm_calls);
  c.Literal(",\"errors\":");
  c.Int(a.errors);
  c.Literal(",\"input_tokens\":");
  c.Int(a.input_tokens);
  c.Literal(",\"output_tokens\":");
  c.Int(a.output_tokens);
  c.Literal(",\"cost_usd\":");
  c.Double(a.cost_usd);
  c.Literal(",\"models\":[");
  for (size_t i = 0; i < a.models.size(); ++i) {
    if (i != 0) c.Char(',');
    c.String(a.models[i]);
  }
  c.Literal("]}");
}

}  // namespace spanpipe::resolve
