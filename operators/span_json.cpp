#include "operators/span_json.h"

#include "common/hex.h"
#include "common/json_cursor.h"

namespace spanpipe {
namespace {
constexpr int kMaxRenderDepth = 64;

void AppendValue(const otlp::Batch& b, const otlp::AnyValue& v, JsonCursor& out, int depth) {
  switch (v.kind) {
    case otlp::ValueKind::kEmpty:
      out.Literal("null");
      return;
    case otlp::ValueKind::kString:
      out.String(v.s);
      return;
    case otlp::ValueKind::kBytes:
      out.String(Base64Encode(v.s));
      return;
    case otlp::ValueKind::kBool:
      out.Bool(v.b);
      return;
    case otlp::ValueKind::kInt:
      out.Int(v.i);
      return;
    case otlp::ValueKind::kDouble:
      out.Double(v.d);
      return;
    case otlp::ValueKind::kArray:
    case otlp::ValueKind::kKvlist: {
      if (depth >= kMaxRenderDepth) {
        out.Literal("null");
        return;
      }
      bool obj = v.kind == otlp::ValueKind::kKvlist;
      out.Char(obj ? '{' : '[');
      for (uint32_t i = 0; i < v.child_count; ++i) {
        if (i) out.Char(',');
        const otlp::KeyValue& kv = b.kvs[v.child_begin + i];
        if (obj) {
          out.String(kv.key);
          out.Char(':');
        }
        AppendValue(b, kv.value, out, depth + 1);
      }
      out.Char(obj ? '}' : ']');
      return;
    }
  }
}
}  // namespace

void AppendAnyValueJson(const otlp::Batch& batch, const otlp::AnyValue& v, std::string* out) {
  JsonCursor c(out);
  AppendValue(batch, v, c, 0);
}

// Member names are written with their separators as one literal each; the record's shape is fixed
// (CONTRACT §4), so no "first member" state is needed.
void AppendSpanJson(const SpanRecord& s, const ResolveOutcome& r,
                    const std::function<bool(std::string_view, std::string_view)>& is_content,
                    std::string_view content_refs_json, std::string* out) {
  JsonCursor c(out);
  c.Literal("{\"trace_id\":");
  c.HexString(s.trace_id, 16);
  c.Literal(",\"span_id\":");
  c.HexString(s.span_id, 8);
  c.Literal(",\"parent_span_id\":");
  if (s.has_parent) {
    c.HexString(s.parent_span_id, 8);
  } else {
    c.Literal("\"\"");
  }
  c.Literal(",\"trace_uuid\":");
  c.String(r.trace_uuid);
  c.Literal(",\"name\":");
  c.String(s.name);
  c.Literal(",\"kind\":");
  c.Int(s.kind);
  c.Literal(",\"start_unix_nano\":");
  c.Uint(s.start_unix_nano);
  c.Literal(",\"end_unix_nano\":");
  c.Uint(s.end_unix_nano);
  c.Literal(",\"duration_ms\":");
  c.MillisFromNanos(s.duration_ns());  // the text of s.duration_ms(), without a float writer
  c.Literal(",\"status_code\":");
  c.Int(s.status_code);
  c.Literal(",\"status_message\":");
  c.String(s.status_message);
  c.Literal(",\"error\":");
  c.Bool(s.error);
  c.Literal(",\"project\":");
  c.String(s.project);
  c.Literal(",\"service\":");
  c.String(s.service);
  c.Literal(",\"model\":");
  c.String(s.model);
  c.Literal(",\"provider\":");
  c.String(s.provider);
  c.Literal(",\"operation\":");
  c.String(s.operation);
  c.Literal(",\"input_tokens\":");
  c.Int(s.input_tokens);
  c.Literal(",\"output_tokens\":");
  c.Int(s.output_tokens);
  c.Literal(",\"cost_usd\":");
  c.Double(s.cost_usd);
  // The trace's binding wins over the span's own value (late binding, CONTRACT §3).
  c.Literal(",\"thread_id\":");
  c.String(r.thread_id.empty() ? s.thread_id : std::string_view(r.thread_id));
  c.Literal(",\"user_id\":");
  c.String(r.user_id.empty() ? s.user_id : std::string_view(r.user_id));
  c.Literal(",\"environment\":");
  c.String(s.environment);
  c.Literal(",\"attributes\":{");
  bool first = true;
  if (s.batch) {
    for (uint32_t i = s.attr_begin; i < s.attr_begin + s.attr_count; ++i) {
      const otlp::KeyValue& kv = s.batch->kvs[i];
      if (kv.value.kind == otlp::ValueKind::kString && is_content && is_content(kv.key, kv.value.s))
        continue;
      if (!first) c.Char(',');
      first = false;
      c.String(kv.key);
      c.Char(':');
      AppendValue(*s.batch, kv.value, c, 0);
    }
  }
  c.Literal("},\"content_refs\":");
  c.Raw(content_refs_json.empty() ? std::string_view("[]") : content_refs_json);
  c.Char('}');
}

}  // namespace spanpipe
