#include "operators/span_json.h"

#include <charconv>

#include "common/hex.h"
#include "common/json_writer.h"

namespace spanpipe {
namespace {
constexpr int kMaxRenderDepth = 64;

void AppendValue(const otlp::Batch& b, const otlp::AnyValue& v, std::string* out, int depth) {
  switch (v.kind) {
    case otlp::ValueKind::kEmpty:
      out->append("null");
      return;
    case otlp::ValueKind::kString:
      AppendJsonString(out, v.s);
      return;
    case otlp::ValueKind::kBytes:
      AppendJsonString(out, Base64Encode(v.s));
      return;
    case otlp::ValueKind::kBool:
      out->append(v.b ? "true" : "false");
      return;
    case otlp::ValueKind::kInt: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof(buf), v.i);
      out->append(buf, static_cast<size_t>(r.ptr - buf));
      return;
    }
    case otlp::ValueKind::kDouble:
      AppendJsonDouble(out, v.d);
      return;
    case otlp::ValueKind::kArray:
    case otlp::ValueKind::kKvlist: {
      if (depth >= kMaxRenderDepth) {
        out->append("null");
        return;
      }
      bool obj = v.kind == otlp::ValueKind::kKvlist;
      out->push_back(obj ? '{' : '[');
      for (uint32_t i = 0; i < v.child_count; ++i) {
        if (i) out->push_back(',');
        const otlp::KeyValue& kv = b.kvs[v.child_begin + i];
        if (obj) {
          AppendJsonString(out, kv.key);
          out->push_back(':');
        }
        AppendValue(b, kv.value, out, depth + 1);
      }
      out->push_back(obj ? '}' : ']');
      return;
    }
  }
}

// Lower-case hex of an id, in a caller's buffer (no allocation per field).
std::string_view Hex(const uint8_t* p, size_t n, char* buf) {
  HexEncodeTo(p, n, buf);
  return {buf, 2 * n};
}
}  // namespace

void AppendAnyValueJson(const otlp::Batch& batch, const otlp::AnyValue& v, std::string* out) {
  AppendValue(batch, v, out, 0);
}

void AppendSpanJson(const SpanRecord& s, const ResolveOutcome& r,
                    const std::function<bool(std::string_view, std::string_view)>& is_content,
                    std::string_view content_refs_json, std::string* out) {
  JsonWriter w(out);
  w.BeginObject();
  char hex[32];
  w.Key("trace_id").String(Hex(s.trace_id, 16, hex));
  w.Key("span_id").String(Hex(s.span_id, 8, hex));
  w.Key("parent_span_id").String(s.has_parent ? Hex(s.parent_span_id, 8, hex) : "");
  w.Key("trace_uuid").String(r.trace_uuid);
  w.Key("name").String(s.name);
  w.Key("kind").Int(s.kind);
  w.Key("start_unix_nano").Uint(s.start_unix_nano);
  w.Key("end_unix_nano").Uint(s.end_unix_nano);
  w.Key("duration_ms").Double(s.duration_ms());
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
  w.Key("cost_usd").Double(s.cost_usd);
  // The trace's binding wins over the span's own value (late binding, CONTRACT §3).
  w.Key("thread_id").String(r.thread_id.empty() ? s.thread_id : std::string_view(r.thread_id));
  w.Key("user_id").String(r.user_id.empty() ? s.user_id : std::string_view(r.user_id));
  w.Key("environment").String(s.environment);
  // Attributes are written in place (the writer only needs to know a value followed the key).
  w.Key("attributes").Raw("{");
  std::string& attrs = *out;
  bool first = true;
  if (s.batch) {
    for (uint32_t i = s.attr_begin; i < s.attr_begin + s.attr_count; ++i) {
      const otlp::KeyValue& kv = s.batch->kvs[i];
      if (kv.value.kind == otlp::ValueKind::kString && is_content && is_content(kv.key, kv.value.s))
        continue;
      if (!first) attrs.push_back(',');
      first = false;
      AppendJsonString(&attrs, kv.key);
      attrs.push_back(':');
      AppendValue(*s.batch, kv.value, &attrs, 0);
    }
  }
  attrs.push_back('}');
  w.Key("content_refs").Raw(content_refs_json.empty() ? std::string_view("[]") : content_refs_json);
  w.EndObject();
}

}  // namespace spanpipe
