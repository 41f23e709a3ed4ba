#include "serve/query_store.h"

#include "common/coding.h"

namespace spanpipe::serve {
namespace {

std::string K(std::initializer_list<std::string_view> parts) {
  std::string k;
  bool first = true;
  for (auto p : parts) {
    if (!first) k.push_back('\0');
    k.append(p);
    first = false;
  }
  return k;
}

std::string S(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Status QueryStore::Open(const std::string& path, uint64_t memory_mib, std::unique_ptr<QueryStore>* out) {
  std::unique_ptr<QueryStore> q(new QueryStore());
  state::StateOptions o;
  o.path = path;
  o.memory_budget_mib = memory_mib;
  o.stores = {"views"};
  SPANPIPE_RETURN_IF_ERROR(state::StateDb::Open(o, &q->db_));
  q->kv_ = q->db_->store("views");
  *out = std::move(q);
  return Status::OK();
}

Status QueryStore::Apply(std::string_view topic, std::string_view key, std::string_view value) {
  nlohmann::json j = nlohmann::json::parse(value.begin(), value.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("record is not a JSON object");
  ++applied_;
  if (topic == "spanpipe.rollups") {
    std::string ws;
    PutFixed64BE(&ws, static_cast<uint64_t>(j.value("window_start_ms", int64_t{0})));
    std::string dims = K({S(j, "service"), S(j, "provider"), S(j, "model"), S(j, "operation"), S(j, "environment")});
    kv_->Put(K({"g", S(j, "granularity"), S(j, "project"), ws, dims}), value);
  } else if (topic == "spanpipe.threads") {
    kv_->Put(K({"t", S(j, "project"), S(j, "thread_id")}), value);
    if (j.contains("trace_ids") && j["trace_ids"].is_array())
      for (const auto& t : j["trace_ids"])
        if (t.is_string()) kv_->Put(K({"x", S(j, "project"), S(j, "thread_id"), t.get<std::string>()}), "");
  } else if (topic == "spanpipe.traces") {
    kv_->Put(K({"r", S(j, "trace_id")}), value);
    if (!S(j, "thread_id").empty()) kv_->Put(K({"x", S(j, "project"), S(j, "thread_id"), S(j, "trace_id")}), "");
  } else if (topic == "spanpipe.spans") {
    kv_->Put(K({"s", S(j, "trace_id"), S(j, "span_id")}), value);
    if (!S(j, "thread_id").empty()) kv_->Put(K({"x", S(j, "project"), S(j, "thread_id"), S(j, "trace_id")}), "");
  } else {
    --applied_;
    return Status::InvalidArgument("unexpected topic " + std::string(topic));
  }
  (void)key;
  return Status::OK();
}

Status QueryStore::Commit() { return db_->Commit(); }

Status QueryStore::ScanRollups(std::string_view g, std::string_view project, int64_t from_ms, int64_t to_ms,
                               const std::function<void(const nlohmann::json&)>& fn) const {
  std::string prefix = K({"g", g, project}) + std::string(1, '\0');
  std::string start = prefix;
  PutFixed64BE(&start, static_cast<uint64_t>(std::max<int64_t>(from_ms, 0)));
  for (auto it = kv_->Scan(prefix, start); it->Valid(); it->Next()) {
    std::string_view k = it->key();
    if (k.size() < prefix.size() + 8) continue;
    int64_t ws = static_cast<int64_t>(DecodeFixed64BE(k.data() + prefix.size()));
    if (ws >= to_ms) break;
    auto v = it->value();
    fn(nlohmann::json::parse(v.begin(), v.end(), nullptr, false));
  }
  return Status::OK();
}

Status QueryStore::ScanThreads(std::string_view project, const std::function<void(const nlohmann::json&)>& fn) const {
  for (auto it = kv_->Scan(K({"t", project}) + std::string(1, '\0')); it->Valid(); it->Next()) {
    auto v = it->value();
    fn(nlohmann::json::parse(v.begin(), v.end(), nullptr, false));
  }
  return Status::OK();
}

Status QueryStore::GetThread(std::string_view project, std::string_view thread_id, nlohmann::json* out,
                             bool* found) const {
  std::string v;
  SPANPIPE_RETURN_IF_ERROR(kv_->Get(K({"t", project, thread_id}), &v, found));
  if (*found) *out = nlohmann::json::parse(v, nullptr, false);
  return Status::OK();
}

Status QueryStore::GetTrace(std::string_view trace_id, nlohmann::json* out, bool* found) const {
  std::string v;
  SPANPIPE_RETURN_IF_ERROR(kv_->Get(K({"r", trace_id}), &v, found));
  if (*found) *out = nlohmann::json::parse(v, nullptr, false);
  return Status::OK();
}

Status QueryStore::TraceSpans(std::string_view trace_id, std::vector<nlohmann::json>* out) const {
  out->clear();
  for (auto it = kv_->Scan(K({"s", trace_id}) + std::string(1, '\0')); it->Valid(); it->Next()) {
    auto v = it->value();
    out->push_back(nlohmann::json::parse(v.begin(), v.end(), nullptr, false));
  }
  return Status::OK();
}

Status QueryStore::ThreadTraceIds(std::string_view project, std::string_view thread_id,
                                  std::vector<std::string>* out) const {
  out->clear();
  std::string prefix = K({"x", project, thread_id}) + std::string(1, '\0');
  for (auto it = kv_->Scan(prefix); it->Valid(); it->Next()) out->emplace_back(it->key().substr(prefix.size()));
  return Status::OK();
}

}  // namespace spanpipe::serve
