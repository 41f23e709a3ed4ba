#include "operators/normalize.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "common/hex.h"

namespace spanpipe {
namespace {

enum Field : uint8_t {
  kModel,
  kProvider,
  kOperation,
  kInputTokens,
  kOutputTokens,
  kCost,
  kThread,
  kUser,
  kEnvironment,
  kService,
  kProject,
  kErrorType,
  kFieldCount
};

struct Match {
  Field field;
  uint8_t priority;  // lower wins
};

// CONTRACT §3, in order. One hash lookup per attribute instead of one scan per candidate key.
const std::unordered_map<std::string_view, Match>& MappingTable() {
  static const auto* table = [] {
    auto* m = new std::unordered_map<std::string_view, Match>();
    auto add = [&](Field f, std::initializer_list<std::string_view> keys) {
      uint8_t p = 0;
      for (auto k : keys) m->emplace(k, Match{f, p++});
    };
    add(kModel, {"gen_ai.response.model", "gen_ai.request.model", "langfuse.observation.model.name",
                 "llm.model_name", "llm.response.model_name", "llm.request.model_name"});
    add(kProvider, {"gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"});
    add(kOperation, {"gen_ai.operation.name", "openinference.span.kind"});
    add(kInputTokens, {"gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
                       "llm.token_count.prompt", "llm.usage.prompt_tokens"});
    add(kOutputTokens, {"gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
                        "llm.token_count.completion", "llm.usage.completion_tokens"});
    add(kCost, {"gen_ai.usage.cost", "gen_ai.cost.total_cost", "llm.cost.total"});
    add(kThread, {"gen_ai.conversation.id", "session.id", "langfuse.session.id",
                  "traceloop.association.properties.session_id", "thread_id", "thread.id"});
    add(kUser, {"user.id", "enduser.id", "langfuse.user.id", "traceloop.association.properties.user_id"});
    add(kEnvironment, {"deployment.environment.name", "deployment.environment", "langfuse.environment"});
    add(kService, {"service.name"});
    add(kProject, {"spanpipe.project"});
    add(kErrorType, {"error.type"});
    return m;
  }();
  return *table;
}

using Found = std::array<const otlp::AnyValue*, kFieldCount>;

void Scan(const otlp::Batch& b, uint32_t begin, uint32_t count, Found* found) {
  std::array<uint8_t, kFieldCount> best;
  best.fill(255);
  const auto& table = MappingTable();
  for (uint32_t i = begin; i < begin + count; ++i) {
    const otlp::KeyValue& kv = b.kvs[i];
    auto it = table.find(kv.key);
    if (it == table.end()) continue;
    const Match m = it->second;
    if (m.priority >= best[m.field]) continue;
    // Empty values do not count as present: a later candidate may still supply the field.
    if (kv.value.kind == otlp::ValueKind::kEmpty ||
        (kv.value.kind == otlp::ValueKind::kString && kv.value.s.empty()))
      continue;
    (*found)[m.field] = &kv.value;
    best[m.field] = m.priority;
  }
}

// Text of a scalar value; ints and bools are rendered (a numeric user id is still an id).
std::string_view AsText(const otlp::AnyValue* v, otlp::Batch* b) {
  if (!v) return {};
  switch (v->kind) {
    case otlp::ValueKind::kString: return v->s;
    case otlp::ValueKind::kInt: return b->Own(std::to_string(v->i));
    case otlp::ValueKind::kBool: return v->b ? "true" : "false";
    case otlp::ValueKind::kDouble: {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, v->d);
      return b->Own(std::string(buf, r.ptr));
    }
    default: return {};
  }
}

// A number from int, double or numeric string. false when present but not a number.
bool AsNumber(const otlp::AnyValue* v, double* out) {
  switch (v->kind) {
    case otlp::ValueKind::kInt: *out = static_cast<double>(v->i); return true;
    case otlp::ValueKind::kDouble: *out = v->d; return true;
    case otlp::ValueKind::kString: {
      std::string_view s = v->s;
      while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
      while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
      if (s.empty()) return false;
      auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
      return r.ec == std::errc() && r.ptr == s.data() + s.size();
    }
    default: return false;
  }
}

std::string_view Lower(std::string_view s, otlp::Batch* b) {
  bool upper = false;
  for (char c : s) upper |= (c >= 'A' && c <= 'Z');
  if (!upper) return s;
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return b->Own(std::move(out));
}

// Tokens: a non-negative whole number (doubles such as 12.0 are accepted; 12.5 is not).
bool ParseTokens(const otlp::AnyValue* v, int64_t* out, std::string* why, std::string_view name) {
  if (!v) return true;
  double d;
  if (!AsNumber(v, &d)) {
    *why = std::string(name) + " is not a number";
    return false;
  }
  if (!std::isfinite(d) || d < 0 || d != std::floor(d) || d > 9.0e15) {
    *why = std::string(name) + " must be a non-negative integer";
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

}  // namespace

std::string DescribeSpan(const otlp::Span& span) {
  return "span " + HexEncode({reinterpret_cast<const char*>(span.span_id), 8}) + " of trace " +
         HexEncode({reinterpret_cast<const char*>(span.trace_id), 16});
}

void Normalizer::Normalize(otlp::Batch* batch, std::string_view header_project,
                           std::vector<SpanRecord>* out, std::vector<SpanReject>* rejects) const {
  out->reserve(out->size() + batch->spans.size());
  for (uint32_t idx = 0; idx < batch->spans.size(); ++idx) {
    const otlp::Span& s = batch->spans[idx];
    if (!s.invalid.empty()) {
      rejects->push_back({idx, DescribeSpan(s) + ": " + std::string(s.invalid)});
      continue;
    }
    Found found{};
    Scan(*batch, s.attr_begin, s.attr_count, &found);
    if (s.resource < batch->resources.size()) {
      const otlp::Resource& r = batch->resources[s.resource];
      Found res{};
      Scan(*batch, r.attr_begin, r.attr_count, &res);
      for (int f = 0; f < kFieldCount; ++f)
        if (!found[f]) found[f] = res[f];
    }

    SpanRecord rec;
    std::memcpy(rec.trace_id, s.trace_id, 16);
    std::memcpy(rec.span_id, s.span_id, 8);
    std::memcpy(rec.parent_span_id, s.parent_span_id, 8);
    rec.has_parent = s.has_parent;
    rec.name = s.name;
    rec.kind = s.kind;
    rec.start_unix_nano = s.start_unix_nano;
    rec.end_unix_nano = s.end_unix_nano;
    rec.status_code = s.status_code;
    rec.status_message = s.status_message;

    std::string why;
    if (!ParseTokens(found[kInputTokens], &rec.input_tokens, &why, "input tokens") ||
        !ParseTokens(found[kOutputTokens], &rec.output_tokens, &why, "output tokens")) {
      rejects->push_back({idx, DescribeSpan(s) + ": " + why});
      continue;
    }
    rec.model = AsText(found[kModel], batch);
    if (found[kCost]) {
      double c;
      if (!AsNumber(found[kCost], &c) || !std::isfinite(c) || c < 0) {
        rejects->push_back({idx, DescribeSpan(s) + ": cost must be a finite non-negative number"});
        continue;
      }
      rec.cost_usd = c;
    } else if (!rec.model.empty() && options_.prices) {
      rec.cost_usd = options_.prices->Cost(rec.model, rec.input_tokens, rec.output_tokens);
    }
    rec.provider = Lower(AsText(found[kProvider], batch), batch);
    rec.operation = found[kOperation] ? AsText(found[kOperation], batch) : s.name;
    rec.thread_id = AsText(found[kThread], batch);
    rec.user_id = AsText(found[kUser], batch);
    rec.environment = AsText(found[kEnvironment], batch);
    rec.service = AsText(found[kService], batch);
    if (!header_project.empty()) {
      rec.project = header_project;
    } else if (found[kProject]) {
      rec.project = AsText(found[kProject], batch);
    } else {
      rec.project = options_.default_project;
    }
    rec.error = s.status_code == 2 || found[kErrorType] != nullptr;
    rec.batch = batch;
    rec.attr_begin = s.attr_begin;
    rec.attr_count = s.attr_count;
    rec.event_begin = s.event_begin;
    rec.event_count = s.event_count;
    out->push_back(rec);
  }
}

}  // namespace spanpipe
