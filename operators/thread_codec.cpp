#include "operators/thread_codec.h"

#include <algorithm>
#include <cstring>

#include "common/coding.h"
#include "common/json_cursor.h"
#include "common/time_format.h"

namespace spanpipe::threads {
namespace {

constexpr uint8_t kPartialV1 = 1;
constexpr uint64_t kMaxListDecode = 100000;  // sanity bound on untrusted list lengths

bool GetString(std::string_view* in, std::string* s) {
  std::string_view v;
  if (!GetLengthPrefixed(in, &v)) return false;
  s->assign(v);
  return true;
}
void PutList(std::string* out, const std::vector<std::string>& list) {
  PutVarint64(out, list.size());
  for (const auto& s : list) PutLengthPrefixed(out, s);
}
bool GetList(std::string_view* in, std::vector<std::string>* list) {
  uint64_t n;
  if (!GetVarint64(in, &n) || n > kMaxListDecode) return false;
  list->resize(n);
  for (auto& s : *list) {
    if (!GetString(in, &s)) return false;
  }
  return true;
}
// The listed trace with this id, or end. Called for every trace added to a thread and for every
// trace of every partial merged, over lists of up to max_trace_ids: ids (32 hex digits) are told
// apart by their first 8 bytes before a whole comparison.
std::vector<ThreadTrace>::iterator FindTrace(std::vector<ThreadTrace>& v, std::string_view id) {
  if (id.size() < 8) {
    return std::find_if(v.begin(), v.end(),
                        [&](const ThreadTrace& x) { return x.trace_id_hex == id; });
  }
  uint64_t head;
  std::memcpy(&head, id.data(), 8);
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& x = it->trace_id_hex;
    if (x.size() != id.size()) continue;
    uint64_t h;
    std::memcpy(&h, x.data(), 8);
    if (h == head && std::memcmp(x.data() + 8, id.data() + 8, id.size() - 8) == 0) return it;
  }
  return v.end();
}
bool TraceLess(const ThreadTrace& a, const ThreadTrace& b) {
  return a.start_unix_nano != b.start_unix_nano ? a.start_unix_nano < b.start_unix_nano
                                                : a.trace_id_hex < b.trace_id_hex;
}

}  // namespace

std::string ThreadOutputKey(std::string_view project, std::string_view thread_id) {
  std::string k;
  k.reserve(project.size() + 1 + thread_id.size());
  k.append(project);
  k.push_back('|');
  k.append(thread_id);
  return k;
}

void EncodeThreadPartial(const ThreadPartial& p, std::string* out) {
  const ThreadTotals& t = p.totals;
  out->push_back(static_cast<char>(kPartialV1));
  PutFixed32BE(out, static_cast<uint32_t>(p.partition));
  PutVarint64(out, p.version);
  PutLengthPrefixed(out, p.project);
  PutLengthPrefixed(out, p.thread_id);
  PutZigZag(out, t.trace_count);
  PutZigZag(out, t.span_count);
  PutZigZag(out, t.llm_calls);
  PutZigZag(out, t.errors);
  PutZigZag(out, t.input_tokens);
  PutZigZag(out, t.output_tokens);
  PutDouble(out, t.cost_usd);
  PutVarint64(out, t.first_seen_unix_nano);
  PutVarint64(out, t.last_seen_unix_nano);
  PutVarint64(out, t.traces.size());
  for (const auto& tr : t.traces) {
    PutVarint64(out, tr.start_unix_nano);
    PutLengthPrefixed(out, tr.trace_id_hex);
  }
  PutList(out, t.models);
  PutList(out, t.user_ids);
}

bool DecodeThreadPartial(std::string_view in, ThreadPartial* p) {
  if (in.size() < 5 || static_cast<uint8_t>(in[0]) != kPartialV1) return false;
  p->partition = static_cast<int32_t>(DecodeFixed32BE(in.data() + 1));
  in.remove_prefix(5);
  ThreadTotals& t = p->totals;
  uint64_t n = 0;
  if (!GetVarint64(&in, &p->version) || !GetString(&in, &p->project) ||
      !GetString(&in, &p->thread_id) || !GetZigZag(&in, &t.trace_count) ||
      !GetZigZag(&in, &t.span_count) || !GetZigZag(&in, &t.llm_calls) ||
      !GetZigZag(&in, &t.errors) || !GetZigZag(&in, &t.input_tokens) ||
      !GetZigZag(&in, &t.output_tokens) || !GetDouble(&in, &t.cost_usd) ||
      !GetVarint64(&in, &t.first_seen_unix_nano) || !GetVarint64(&in, &t.last_seen_unix_nano) ||
      !GetVarint64(&in, &n) || n > kMaxListDecode) {
    return false;
  }
  t.traces.resize(n);
  for (auto& tr : t.traces) {
    if (!GetVarint64(&in, &tr.start_unix_nano) || !GetString(&in, &tr.trace_id_hex)) return false;
  }
  return GetList(&in, &t.models) && GetList(&in, &t.user_ids) && in.empty();
}

bool DecodeThreadPartialVersion(std::string_view in, uint64_t* version) {
  if (in.size() < 5 || static_cast<uint8_t>(in[0]) != kPartialV1) return false;
  in.remove_prefix(5);
  return GetVarint64(&in, version);
}

void AddThreadTrace(ThreadTotals* t, uint64_t start, std::string_view trace_id_hex, size_t cap) {
  auto& v = t->traces;
  auto it = FindTrace(v, trace_id_hex);
  if (it != v.end()) {
    if (start >= it->start_unix_nano) return;
    v.erase(it);
  }
  ThreadTrace tr{start, std::string(trace_id_hex)};
  auto pos = std::lower_bound(v.begin(), v.end(), tr, TraceLess);
  if (v.size() >= cap && pos == v.end()) return;  // newer than every kept trace
  v.insert(pos, std::move(tr));
  if (v.size() > cap) v.resize(cap);
}

void AddDistinct(std::vector<std::string>* list, std::string_view s, size_t cap) {
  if (s.empty() || list->size() >= cap) return;
  if (std::find(list->begin(), list->end(), s) == list->end()) list->emplace_back(s);
}

void MergeThreadTotals(const ThreadTotals& o, const ThreadLimits& limits, ThreadTotals* t) {
  if (o.span_count > 0) {
    const bool first = t->span_count == 0;
    t->first_seen_unix_nano =
        first ? o.first_seen_unix_nano : std::min(t->first_seen_unix_nano, o.first_seen_unix_nano);
    t->last_seen_unix_nano =
        first ? o.last_seen_unix_nano : std::max(t->last_seen_unix_nano, o.last_seen_unix_nano);
  }
  t->trace_count += o.trace_count;
  t->span_count += o.span_count;
  t->llm_calls += o.llm_calls;
  t->errors += o.errors;
  t->input_tokens += o.input_tokens;
  t->output_tokens += o.output_tokens;
  t->cost_usd += o.cost_usd;
  for (const auto& tr : o.traces) {
    AddThreadTrace(t, tr.start_unix_nano, tr.trace_id_hex, limits.max_trace_ids);
  }
  for (const auto& m : o.models) AddDistinct(&t->models, m, limits.max_models);
  for (const auto& u : o.user_ids) AddDistinct(&t->user_ids, u, limits.max_user_ids);
}

void AppendThreadJson(std::string_view project, std::string_view thread_id, const ThreadTotals& t,
                      std::string* out) {
  // Written through a cursor (one reservation per field): up to max_trace_ids ids per record.
  JsonCursor c(out);
  c.Literal("{\"project\":");
  c.String(project);
  c.Literal(",\"thread_id\":");
  c.String(thread_id);
  c.Literal(",\"trace_ids\":[");
  for (size_t i = 0; i < t.traces.size(); ++i) {
    if (i) c.Char(',');
    c.String(t.traces[i].trace_id_hex);
  }
  c.Literal("],\"trace_count\":");
  c.Int(t.trace_count);
  c.Literal(",\"span_count\":");
  c.Int(t.span_count);
  c.Literal(",\"llm_calls\":");
  c.Int(t.llm_calls);
  c.Literal(",\"errors\":");
  c.Int(t.errors);
  c.Literal(",\"input_tokens\":");
  c.Int(t.input_tokens);
  c.Literal(",\"output_tokens\":");
  c.Int(t.output_tokens);
  c.Literal(",\"cost_usd\":");
  c.Double(t.cost_usd);
  c.Literal(",\"first_seen\":");
  c.String(FormatRfc3339Nanos(static_cast<int64_t>(t.first_seen_unix_nano)));
  c.Literal(",\"last_seen\":");
  c.String(FormatRfc3339Nanos(static_cast<int64_t>(t.last_seen_unix_nano)));
  c.Literal(",\"models\":[");
  for (size_t i = 0; i < t.models.size(); ++i) {
    if (i) c.Char(',');
    c.String(t.models[i]);
  }
  c.Literal("],\"user_ids\":[");
  for (size_t i = 0; i < t.user_ids.size(); ++i) {
    if (i) c.Char(',');
    c.String(t.user_ids[i]);
  }
  c.Literal("]}");
}

}  // namespace spanpipe::threads
