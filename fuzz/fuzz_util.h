// Shared by the OTLP fuzz targets: structural invariants of a decoded Batch, the normaliser run
// on it, and the JSON -> protobuf -> JSON differential check. A violated invariant aborts, so
// libFuzzer records the input as a crash.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "operators/normalize.h"
#include "operators/otlp_model.h"

namespace spanpipe::fuzz {

[[noreturn]] inline void Die(const char* what) {
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
  std::abort();
}
#define SPANPIPE_FUZZ_CHECK(cond)              \
  do {                                         \
    if (!(cond)) ::spanpipe::fuzz::Die(#cond); \
  } while (0)

// Touches every byte of a view so that ASan sees a dangling or out-of-range one.
inline unsigned Touch(std::string_view s) {
  unsigned h = 0;
  for (char c : s) h = h * 31 + static_cast<unsigned char>(c);
  return h;
}

inline unsigned CheckValues(const otlp::Batch& b, uint32_t begin, uint32_t count, int depth) {
  SPANPIPE_FUZZ_CHECK(depth <= 64);
  SPANPIPE_FUZZ_CHECK(uint64_t{begin} + count <= b.kvs.size());
  unsigned h = 0;
  for (uint32_t i = begin; i < begin + count; ++i) {
    const otlp::KeyValue& kv = b.kvs[i];
    h += Touch(kv.key);
    const otlp::AnyValue& v = kv.value;
    switch (v.kind) {
      case otlp::ValueKind::kString:
      case otlp::ValueKind::kBytes:
        h += Touch(v.s);
        break;
      case otlp::ValueKind::kArray:
      case otlp::ValueKind::kKvlist:
        h += CheckValues(b, v.child_begin, v.child_count, depth + 1);
        break;
      default:
        break;
    }
  }
  return h;
}

inline unsigned CheckBatch(const otlp::Batch& b) {
  unsigned h = 0;
  for (const otlp::Resource& r : b.resources) h += CheckValues(b, r.attr_begin, r.attr_count, 0);
  for (const otlp::Span& s : b.spans) {
    SPANPIPE_FUZZ_CHECK(s.resource < b.resources.size());
    SPANPIPE_FUZZ_CHECK(uint64_t{s.event_begin} + s.event_count <= b.events.size());
    h += Touch(s.name) + Touch(s.status_message) + Touch(s.scope_name) + Touch(s.invalid);
    h += CheckValues(b, s.attr_begin, s.attr_count, 0);
    for (uint32_t e = s.event_begin; e < s.event_begin + s.event_count; ++e) {
      h += Touch(b.events[e].name);
      h += CheckValues(b, b.events[e].attr_begin, b.events[e].attr_count, 0);
    }
  }
  return h;
}

// Normalises every span; each valid span yields a record or a reject, never both or neither.
inline unsigned NormalizeAll(otlp::Batch* b, std::string_view header_project) {
  static const Normalizer normalizer{NormalizeOptions{}};
  std::vector<SpanRecord> out;
  std::vector<SpanReject> rejects;
  normalizer.Normalize(b, header_project, &out, &rejects);
  SPANPIPE_FUZZ_CHECK(out.size() + rejects.size() == b->spans.size());
  unsigned h = 0;
  for (const SpanRecord& r : out) {
    h += Touch(r.model) + Touch(r.provider) + Touch(r.operation) + Touch(r.thread_id) +
         Touch(r.user_id) + Touch(r.environment) + Touch(r.service) + Touch(r.project) +
         Touch(r.name);
    SPANPIPE_FUZZ_CHECK(r.input_tokens >= 0 && r.output_tokens >= 0);
    SPANPIPE_FUZZ_CHECK(std::isfinite(r.cost_usd) && r.cost_usd >= 0);
  }
  for (const SpanReject& r : rejects) {
    SPANPIPE_FUZZ_CHECK(r.span_index < b->spans.size());
    SPANPIPE_FUZZ_CHECK(!r.reason.empty());
  }
  return h;
}

inline bool SameValue(const otlp::Batch& a, const otlp::AnyValue& x, const otlp::Batch& b,
                      const otlp::AnyValue& y);
inline bool SameList(const otlp::Batch& a, uint32_t ab, uint32_t an, const otlp::Batch& b,
                     uint32_t bb, uint32_t bn) {
  if (an != bn) return false;
  for (uint32_t i = 0; i < an; ++i)
    if (a.kvs[ab + i].key != b.kvs[bb + i].key ||
        !SameValue(a, a.kvs[ab + i].value, b, b.kvs[bb + i].value))
      return false;
  return true;
}
inline bool SameValue(const otlp::Batch& a, const otlp::AnyValue& x, const otlp::Batch& b,
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
      return std::memcmp(&x.d, &y.d, sizeof x.d) == 0;
    case otlp::ValueKind::kArray:
    case otlp::ValueKind::kKvlist:
      return SameList(a, x.child_begin, x.child_count, b, y.child_begin, y.child_count);
  }
  return false;
}

// The protobuf decoder must see, span for span, what the JSON decoder saw (valid spans only: an
// invalid JSON id has no protobuf form).
inline bool SameSpans(const otlp::Batch& a, const otlp::Batch& b) {
  if (a.spans.size() != b.spans.size()) return false;
  for (size_t i = 0; i < a.spans.size(); ++i) {
    const otlp::Span &x = a.spans[i], &y = b.spans[i];
    if (std::memcmp(x.trace_id, y.trace_id, 16) || std::memcmp(x.span_id, y.span_id, 8) ||
        x.has_parent != y.has_parent ||
        (x.has_parent && std::memcmp(x.parent_span_id, y.parent_span_id, 8)) || x.name != y.name ||
        x.kind != y.kind || x.start_unix_nano != y.start_unix_nano ||
        x.end_unix_nano != y.end_unix_nano || x.status_code != y.status_code ||
        x.status_message != y.status_message || x.invalid != y.invalid)
      return false;
    if (!SameList(a, x.attr_begin, x.attr_count, b, y.attr_begin, y.attr_count)) return false;
    const otlp::Resource &ra = a.resources[x.resource], &rb = b.resources[y.resource];
    if (!SameList(a, ra.attr_begin, ra.attr_count, b, rb.attr_begin, rb.attr_count)) return false;
    if (x.event_count != y.event_count) return false;
    for (uint32_t e = 0; e < x.event_count; ++e) {
      const otlp::Event &ea = a.events[x.event_begin + e], &eb = b.events[y.event_begin + e];
      if (ea.name != eb.name || ea.time_unix_nano != eb.time_unix_nano ||
          !SameList(a, ea.attr_begin, ea.attr_count, b, eb.attr_begin, eb.attr_count))
        return false;
    }
  }
  return true;
}

}  // namespace spanpipe::fuzz
