#include "serve/query_api.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "common/time_format.h"

namespace spanpipe::serve {
namespace {

using nlohmann::json;
constexpr int64_t kMaxRangeMs = int64_t{90} * 86400000;
constexpr int64_t kMaxLimit = 1000;

const std::vector<std::string> kMetrics = {"request_count", "error_count", "input_tokens", "output_tokens",
                                           "total_tokens",  "total_cost",  "duration",     "error_rate"};
const std::vector<std::string> kDims = {"provider", "model", "service", "operation", "environment"};
const std::vector<std::string> kAggs = {"sum", "avg", "min", "max", "count", "p50", "p90", "p95", "p99"};

std::string Get(const Params& p, const std::string& k, const std::string& def = "") {
  auto it = p.find(k);
  return it == p.end() ? def : it->second;
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t a = 0;
  while (a <= s.size()) {
    size_t b = s.find(',', a);
    std::string x = s.substr(a, b == std::string::npos ? std::string::npos : b - a);
    if (!x.empty()) out.push_back(x);
    if (b == std::string::npos) break;
    a = b + 1;
  }
  return out;
}

bool In(const std::vector<std::string>& list, const std::string& x) {
  return std::find(list.begin(), list.end(), x) != list.end();
}

// Parses start_time/end_time (RFC 3339 or epoch); defaults to the last `def_ms`.
bool Range(const Params& p, int64_t now_ms, int64_t def_ms, int64_t* from, int64_t* to, ApiResult* err) {
  *to = now_ms;
  *from = now_ms - def_ms;
  std::string s = Get(p, "start_time"), e = Get(p, "end_time");
  if (!s.empty() && !ParseTimestampMillis(s, from)) {
    *err = Error(400, "start_time: expected RFC 3339 or epoch, got '" + s + "'");
    return false;
  }
  if (!e.empty() && !ParseTimestampMillis(e, to)) {
    *err = Error(400, "end_time: expected RFC 3339 or epoch, got '" + e + "'");
    return false;
  }
  if (*to <= *from) {
    *err = Error(400, "end_time must be after start_time");
    return false;
  }
  if (*to - *from > kMaxRangeMs) {
    *err = Error(400, "time range exceeds 90 days");
    return false;
  }
  return true;
}

bool Paging(const Params& p, int64_t* offset, int64_t* limit, ApiResult* err) {
  try {
    *offset = std::stoll(Get(p, "offset", "0"));
    *limit = std::stoll(Get(p, "limit", "50"));
  } catch (...) {
    *err = Error(400, "offset and limit must be integers");
    return false;
  }
  if (*offset < 0 || *limit < 0 || *limit > kMaxLimit) {
    *err = Error(400, "limit must be 0..1000 and offset >= 0");
    return false;
  }
  return true;
}

double D(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

// Accumulates rollup rows into one point.
struct Acc {
  double requests = 0, errors = 0, in = 0, out = 0, cost = 0, dsum = 0;
  double dmin = INFINITY, dmax = 0;
  double p50w = 0, p90w = 0, p95w = 0, p99w = 0;  // request-weighted sums of row percentiles
  int64_t rows = 0;
  void Add(const json& r) {
    double n = D(r, "requests");
    requests += n;
    errors += D(r, "errors");
    in += D(r, "input_tokens");
    out += D(r, "output_tokens");
    cost += D(r, "cost_usd");
    dsum += D(r, "duration_ms_sum");
    if (n > 0) dmin = std::min(dmin, D(r, "duration_ms_min"));
    dmax = std::max(dmax, D(r, "duration_ms_max"));
    p50w += n * D(r, "duration_ms_p50");
    p90w += n * D(r, "duration_ms_p90");
    p95w += n * D(r, "duration_ms_p95");
    p99w += n * D(r, "duration_ms_p99");
    ++rows;
  }
  double Metric(const std::string& m, const std::string& agg) const {
    if (m == "request_count") return agg == "count" ? static_cast<double>(rows) : requests;
    if (m == "error_count") return errors;
    if (m == "input_tokens") return agg == "avg" && requests > 0 ? in / requests : in;
    if (m == "output_tokens") return agg == "avg" && requests > 0 ? out / requests : out;
    if (m == "total_tokens") return agg == "avg" && requests > 0 ? (in + out) / requests : in + out;
    if (m == "total_cost") return agg == "avg" && requests > 0 ? cost / requests : cost;
    if (m == "error_rate") return requests > 0 ? errors / requests : 0;
    if (m == "duration") {
      if (requests == 0) return 0;
      if (agg == "min") return dmin;
      if (agg == "max") return dmax;
      if (agg == "p50") return p50w / requests;
      if (agg == "p90") return p90w / requests;
      if (agg == "p95") return p95w / requests;
      if (agg == "p99") return p99w / requests;
      if (agg == "sum") return dsum;
      return dsum / requests;  // avg
    }
    return 0;
  }
};

bool MatchFilters(const json& r, const Params& p) {
  for (const auto& d : kDims) {
    std::string want = Get(p, d);
    if (!want.empty() && r.value(d, std::string()) != want) return false;
  }
  return true;
}

}  // namespace

ApiResult Error(int status, const std::string& message) { return {status, json{{"error", message}}}; }

ApiResult MetricsSeries(const QueryStore& store, const std::string& project, const Params& p, int64_t now_ms) {
  ApiResult err;
  std::vector<std::string> metrics = Split(Get(p, "metrics", "request_count"));
  if (metrics.empty() || metrics.size() > 20) return Error(400, "metrics: between 1 and 20 names");
  for (const auto& m : metrics)
    if (!In(kMetrics, m)) return Error(400, "metrics: unknown metric '" + m + "'");
  std::vector<std::string> group_by = Split(Get(p, "group_by"));
  if (group_by.size() > 5) return Error(400, "group_by: at most 5 dimensions");
  for (const auto& g : group_by)
    if (!In(kDims, g)) return Error(400, "group_by: unknown dimension '" + g + "'");
  std::string agg = Get(p, "aggregation", "sum");
  if (!In(kAggs, agg)) return Error(400, "aggregation: unknown value '" + agg + "'");
  std::string interval = Get(p, "interval", "1hour");
  int64_t bucket_ms;
  std::string gran;
  if (interval == "1min") bucket_ms = 60000, gran = "1m";
  else if (interval == "5min") bucket_ms = 300000, gran = "1m";
  else if (interval == "1hour") bucket_ms = 3600000, gran = "1h";
  else if (interval == "1day") bucket_ms = 86400000, gran = "1d";
  else return Error(400, "interval: unknown value '" + interval + "' (1min, 5min, 1hour, 1day)");
  int64_t from, to;
  if (!Range(p, now_ms, 86400000, &from, &to, &err)) return err;
  std::map<std::pair<int64_t, std::string>, std::pair<json, Acc>> points;
  Status s = store.ScanRollups(gran, project, FloorDiv(from, bucket_ms) * bucket_ms, to, [&](const json& r) {
    if (!r.is_object() || !MatchFilters(r, p)) return;
    int64_t ws = r.value("window_start_ms", int64_t{0});
    int64_t b = FloorDiv(ws, bucket_ms) * bucket_ms;
    json group = json::object();
    for (const auto& g : group_by) group[g] = r.value(g, std::string());
    auto& slot = points[{b, group.dump()}];
    slot.first = group;
    slot.second.Add(r);
  });
  if (!s.ok()) return Error(500, s.ToString());
  json data = json::array();
  for (const auto& [k, v] : points) {
    json pt{{"timestamp", FormatRfc3339Millis(k.first)}, {"timestamp_ms", k.first}};
    if (!group_by.empty()) pt["group"] = v.first;
    for (const auto& m : metrics) pt[m] = v.second.Metric(m, agg);
    data.push_back(pt);
  }
  json meta{{"interval", interval},        {"start_time", FormatRfc3339Millis(from)},
            {"end_time", FormatRfc3339Millis(to)}, {"metrics", metrics},
            {"group_by", group_by},        {"aggregation", agg},
            {"total_points", data.size()}};
  return {200, json{{"metadata", meta}, {"data", data}}};
}

ApiResult MetricsSummary(const QueryStore& store, const std::string& project, const Params& p, int64_t now_ms) {
  ApiResult err;
  int64_t from, to;
  if (!Range(p, now_ms, 86400000, &from, &to, &err)) return err;
  bool compare = Get(p, "compare_previous_period", "false") == "true";
  std::string gran = (to - from) <= 2 * 86400000 ? "1m" : "1h";
  auto period = [&](int64_t a, int64_t b) {
    Acc total;
    std::map<std::string, Acc> by_model;
    store.ScanRollups(gran, project, a, b, [&](const json& r) {
      if (!r.is_object()) return;
      total.Add(r);
      by_model[r.value("model", std::string())].Add(r);
    });
    std::set<std::string> users, threads;
    store.ScanThreads(project, [&](const json& t) {
      int64_t first = 0, last = 0;
      ParseTimestampMillis(t.value("first_seen", std::string()), &first);
      ParseTimestampMillis(t.value("last_seen", std::string()), &last);
      if (last < a || first >= b) return;
      threads.insert(t.value("thread_id", std::string()));
      if (t.contains("user_ids"))
        for (const auto& u : t["user_ids"])
          if (u.is_string()) users.insert(u.get<std::string>());
    });
    json out{{"requests", total.requests},
             {"errors", total.errors},
             {"cost_usd", total.cost},
             {"input_tokens", total.in},
             {"output_tokens", total.out},
             {"total_tokens", total.in + total.out},
             {"avg_duration_ms", total.Metric("duration", "avg")},
             {"p95_duration_ms", total.Metric("duration", "p95")},
             {"error_rate", total.Metric("error_rate", "")},
             {"success_rate", total.requests > 0 ? 1 - total.Metric("error_rate", "") : 0.0},
             {"unique_users", users.size()},
             {"unique_threads", threads.size()}};
    auto top = [&](const std::function<double(const Acc&)>& key) {
      std::vector<std::pair<double, std::string>> v;
      for (const auto& [m, acc] : by_model) v.push_back({key(acc), m});
      std::sort(v.rbegin(), v.rend());
      json arr = json::array();
      for (size_t i = 0; i < v.size() && i < 5; ++i) arr.push_back({{"model", v[i].second}, {"value", v[i].first}});
      return arr;
    };
    json tops{{"by_cost", top([](const Acc& x) { return x.cost; })},
              {"by_requests", top([](const Acc& x) { return x.requests; })},
              {"by_duration", top([](const Acc& x) { return x.Metric("duration", "avg"); })},
              {"by_errors", top([](const Acc& x) { return x.errors; })}};
    return std::make_pair(out, tops);
  };
  auto [current, tops] = period(from, to);
  json body{{"start_time", FormatRfc3339Millis(from)}, {"end_time", FormatRfc3339Millis(to)},
            {"current", current}, {"top", tops}};
  if (compare) {
    auto prev = period(from - (to - from), from).first;
    json change = json::object();
    for (auto it = current.begin(); it != current.end(); ++it) {
      double c = it.value().get<double>(), pv = prev[it.key()].get<double>();
      change[it.key()] = pv == 0 ? (c == 0 ? json(0.0) : json(nullptr)) : json((c - pv) / pv * 100.0);
    }
    body["previous"] = prev;
    body["change_percent"] = change;
  }
  // Most common errors: from the error spans of the threads active in the range (bounded scan).
  std::map<std::string, int64_t> errors;
  size_t scanned = 0;
  store.ScanThreads(project, [&](const json& t) {
    if (scanned > 2000) return;
    int64_t last = 0;
    ParseTimestampMillis(t.value("last_seen", std::string()), &last);
    if (last < from || t.value("errors", 0) == 0) return;
    ++scanned;
    std::vector<std::string> traces;
    store.ThreadTraceIds(project, t.value("thread_id", std::string()), &traces);
    for (const auto& tr : traces) {
      std::vector<json> spans;
      store.TraceSpans(tr, &spans);
      for (const auto& s : spans) {
        if (!s.value("error", false)) continue;
        std::string type = s.contains("attributes") && s["attributes"].contains("error.type") &&
                                   s["attributes"]["error.type"].is_string()
                               ? s["attributes"]["error.type"].get<std::string>()
                               : s.value("status_message", std::string("error"));
        errors[type]++;
      }
    }
  });
  std::vector<std::pair<int64_t, std::string>> ev;
  for (const auto& [k, v] : errors) ev.push_back({v, k});
  std::sort(ev.rbegin(), ev.rend());
  json common = json::array();
  for (size_t i = 0; i < ev.size() && i < 10; ++i) common.push_back({{"error", ev[i].second}, {"count", ev[i].first}});
  body["common_errors"] = common;
  return {200, body};
}

ApiResult GroupQuery(const QueryStore& store, const std::string& project, const Params& p, int64_t now_ms) {
  ApiResult err;
  std::string group_by = Get(p, "group_by", "time");
  if (group_by != "time" && group_by != "thread") return Error(400, "group_by: unknown value '" + group_by + "'");
  int64_t offset, limit, from, to;
  if (!Paging(p, &offset, &limit, &err) || !Range(p, now_ms, 86400000, &from, &to, &err)) return err;
  std::vector<std::string> wanted = Split(Get(p, "threadIds"));
  std::vector<json> items;
  if (group_by == "thread") {
    store.ScanThreads(project, [&](const json& t) {
      if (!t.is_object()) return;
      std::string id = t.value("thread_id", std::string());
      if (!wanted.empty() && !In(wanted, id)) return;
      int64_t first = 0, last = 0;
      ParseTimestampMillis(t.value("first_seen", std::string()), &first);
      ParseTimestampMillis(t.value("last_seen", std::string()), &last);
      if (last < from || first >= to) return;
      items.push_back(json{{"group_by", "thread"},
                           {"group_key", {{"thread_id", id}}},
                           {"trace_ids", t.value("trace_ids", json::array())},
                           {"trace_count", t.value("trace_count", 0)},
                           {"span_count", t.value("span_count", 0)},
                           {"cost", t.value("cost_usd", 0.0)},
                           {"llm_calls", t.value("llm_calls", 0)},
                           {"input_tokens", t.value("input_tokens", 0)},
                           {"output_tokens", t.value("output_tokens", 0)},
                           {"errors", t.value("errors", 0)},
                           {"models", t.value("models", json::array())},
                           {"user_ids", t.value("user_ids", json::array())},
                           {"first_seen", t.value("first_seen", std::string())},
                           {"last_seen", t.value("last_seen", std::string())},
                           {"_last_ms", last}});
    });
    std::sort(items.begin(), items.end(), [](const json& a, const json& b) { return a["_last_ms"] > b["_last_ms"]; });
    for (auto& i : items) i.erase("_last_ms");
  } else {
    int64_t bucket_s;
    try {
      bucket_s = std::stoll(Get(p, "bucketSize", "3600"));
    } catch (...) {
      return Error(400, "bucketSize must be an integer number of seconds");
    }
    if (bucket_s < 60 || bucket_s % 60 != 0) return Error(400, "bucketSize must be a multiple of 60 seconds");
    int64_t bms = bucket_s * 1000;
    std::map<int64_t, Acc> buckets;
    std::map<int64_t, std::pair<int64_t, int64_t>> seen;
    store.ScanRollups("1m", project, from, to, [&](const json& r) {
      if (!r.is_object()) return;
      int64_t ws = r.value("window_start_ms", int64_t{0});
      int64_t b = FloorDiv(ws, bms) * bms;
      buckets[b].Add(r);
      auto& s = seen.try_emplace(b, ws, ws + 60000).first->second;
      s.first = std::min(s.first, ws);
      s.second = std::max(s.second, ws + 60000);
    });
    std::map<int64_t, std::vector<std::string>> threads_in;
    store.ScanThreads(project, [&](const json& t) {
      int64_t last = 0;
      ParseTimestampMillis(t.value("last_seen", std::string()), &last);
      int64_t b = FloorDiv(last, bms) * bms;
      if (buckets.count(b) && threads_in[b].size() < 100) threads_in[b].push_back(t.value("thread_id", std::string()));
    });
    for (auto it = buckets.rbegin(); it != buckets.rend(); ++it) {
      const Acc& a = it->second;
      items.push_back(json{{"group_by", "time"},
                           {"group_key", {{"time_bucket", it->first * 1000}}},
                           {"thread_ids", threads_in[it->first]},
                           {"cost", a.cost},
                           {"llm_calls", a.requests},
                           {"input_tokens", a.in},
                           {"output_tokens", a.out},
                           {"errors", a.errors},
                           {"first_seen", FormatRfc3339Millis(seen[it->first].first)},
                           {"last_seen", FormatRfc3339Millis(seen[it->first].second)}});
    }
  }
  json data = json::array();
  for (int64_t i = offset; i < static_cast<int64_t>(items.size()) && i < offset + limit; ++i) data.push_back(items[i]);
  return {200, json{{"pagination", {{"offset", offset}, {"limit", limit}, {"total", items.size()}}}, {"data", data}}};
}

ApiResult ThreadSpans(const QueryStore& store, const std::string& project, const std::string& thread_id,
                      const Params& p) {
  ApiResult err;
  int64_t offset, limit;
  if (!Paging(p, &offset, &limit, &err)) return err;
  std::vector<std::string> traces;
  store.ThreadTraceIds(project, thread_id, &traces);
  if (traces.empty()) return Error(404, "thread '" + thread_id + "' not found");
  std::vector<json> spans;
  for (const auto& t : traces) {
    std::vector<json> ts;
    store.TraceSpans(t, &ts);
    for (auto& s : ts)
      if (s.value("project", std::string()) == project) spans.push_back(std::move(s));
  }
  std::sort(spans.begin(), spans.end(), [](const json& a, const json& b) {
    return a.value("start_unix_nano", uint64_t{0}) > b.value("start_unix_nano", uint64_t{0});
  });
  json data = json::array();
  for (int64_t i = offset; i < static_cast<int64_t>(spans.size()) && i < offset + limit; ++i) data.push_back(spans[i]);
  return {200, json{{"pagination", {{"offset", offset}, {"limit", limit}, {"total", spans.size()}}}, {"data", data}}};
}

ApiResult MetricsQuery(const QueryStore& store, const std::string& project, const json& body, int64_t now_ms) {
  if (!body.is_object()) return Error(400, "body must be a JSON object");
  Params p;
  for (const char* k : {"start_time", "end_time", "interval"})
    if (body.contains(k) && body[k].is_string()) p.emplace(k, body[k].get<std::string>());
  if (!body.contains("metrics") || !body["metrics"].is_array() || body["metrics"].empty() || body["metrics"].size() > 20)
    return Error(400, "metrics: an array of 1 to 20 {name, aggregation, alias}");
  std::vector<std::string> group_by;
  if (body.contains("group_by")) {
    if (!body["group_by"].is_array() || body["group_by"].size() > 5) return Error(400, "group_by: at most 5 dimensions");
    for (const auto& g : body["group_by"]) {
      if (!g.is_string() || !In(kDims, g.get<std::string>())) return Error(400, "group_by: unknown dimension " + g.dump());
      group_by.push_back(g.get<std::string>());
    }
  }
  struct M {
    std::string name, agg, alias;
  };
  std::vector<M> ms;
  for (const auto& m : body["metrics"]) {
    if (!m.is_object() || !m.contains("name") || !m["name"].is_string()) return Error(400, "metrics: each needs a name");
    M x{m["name"].get<std::string>(), m.value("aggregation", std::string("sum")), ""};
    x.alias = m.value("alias", x.name);
    if (!In(kMetrics, x.name)) return Error(400, "metrics: unknown metric '" + x.name + "'");
    if (!In(kAggs, x.agg)) return Error(400, "aggregation: unknown value '" + x.agg + "'");
    ms.push_back(x);
  }
  struct F {
    std::string field, op;
    std::vector<std::string> values;
  };
  std::vector<F> filters;
  if (body.contains("filters")) {
    if (!body["filters"].is_array()) return Error(400, "filters: an array of {field, op, value}");
    for (const auto& f : body["filters"]) {
      F x{f.value("field", std::string()), f.value("op", std::string("eq")), {}};
      if (!In(kDims, x.field)) return Error(400, "filters: unknown field '" + x.field + "'");
      if (x.op != "eq" && x.op != "ne" && x.op != "in" && x.op != "not_in")
        return Error(400, "filters: unknown op '" + x.op + "'");
      if (f.contains("value") && f["value"].is_string()) x.values.push_back(f["value"].get<std::string>());
      if (f.contains("values") && f["values"].is_array())
        for (const auto& v : f["values"])
          if (v.is_string()) x.values.push_back(v.get<std::string>());
      filters.push_back(x);
    }
  }
  ApiResult err;
  int64_t from, to;
  if (!Range(p, now_ms, 86400000, &from, &to, &err)) return err;
  std::string gran = (to - from) <= 2 * 86400000 ? "1m" : "1h";
  std::map<std::string, std::pair<json, Acc>> groups;
  store.ScanRollups(gran, project, from, to, [&](const json& r) {
    if (!r.is_object()) return;
    for (const auto& f : filters) {
      std::string v = r.value(f.field, std::string());
      bool in = In(f.values, v);
      if ((f.op == "eq" || f.op == "in") != in) return;
    }
    json g = json::object();
    for (const auto& d : group_by) g[d] = r.value(d, std::string());
    auto& slot = groups[g.dump()];
    slot.first = g;
    slot.second.Add(r);
  });
  std::vector<json> rows;
  for (const auto& [k, v] : groups) {
    json row = v.first;
    for (const auto& m : ms) row[m.alias] = v.second.Metric(m.name, m.agg);
    rows.push_back(row);
  }
  // having: [{"metric": alias, "op": "gt|gte|lt|lte|eq|ne", "value": number}]
  if (body.contains("having")) {
    if (!body["having"].is_array()) return Error(400, "having: an array of {metric, op, value}");
    for (const auto& h : body["having"]) {
      std::string metric = h.value("metric", std::string()), op = h.value("op", std::string("gt"));
      if (!h.contains("value") || !h["value"].is_number()) return Error(400, "having: value must be a number");
      double val = h["value"].get<double>();
      bool known = std::any_of(ms.begin(), ms.end(), [&](const M& m) { return m.alias == metric; });
      if (!known) return Error(400, "having: '" + metric + "' is not a requested metric alias");
      std::vector<json> kept;
      for (auto& r : rows) {
        double x = r[metric].get<double>();
        bool ok = op == "gt" ? x > val : op == "gte" ? x >= val : op == "lt" ? x < val : op == "lte" ? x <= val
                : op == "eq" ? x == val : op == "ne" ? x != val : false;
        if (op != "gt" && op != "gte" && op != "lt" && op != "lte" && op != "eq" && op != "ne")
          return Error(400, "having: unknown op '" + op + "'");
        if (ok) kept.push_back(std::move(r));
      }
      rows = std::move(kept);
    }
  }
  if (body.contains("sort_by")) {
    std::string sb = body["sort_by"].is_object() ? body["sort_by"].value("field", std::string()) : "";
    bool desc = body["sort_by"].is_object() && body["sort_by"].value("order", std::string("desc")) == "desc";
    if (!sb.empty()) {
      std::stable_sort(rows.begin(), rows.end(), [&](const json& a, const json& b) {
        return desc ? a.value(sb, json()) > b.value(sb, json()) : a.value(sb, json()) < b.value(sb, json());
      });
    }
  }
  int64_t limit = body.value("limit", int64_t{100});
  if (limit < 0 || limit > kMaxLimit) return Error(400, "limit must be 0..1000");
  if (static_cast<int64_t>(rows.size()) > limit) rows.resize(static_cast<size_t>(limit));
  return {200, json{{"data", rows}, {"total", rows.size()}}};
}

ApiResult TraceRecord(const QueryStore& store, const std::string& project, const std::string& trace_id) {
  json t;
  bool found = false;
  store.GetTrace(trace_id, &t, &found);
  if (!found || t.value("project", std::string()) != project) return Error(404, "trace '" + trace_id + "' not found");
  std::vector<json> spans;
  store.TraceSpans(trace_id, &spans);
  t["spans"] = spans;
  return {200, t};
}

}  // namespace spanpipe::serve
