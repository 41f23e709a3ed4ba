#include "serve/query_api.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "common/json_writer.h"
#include "common/time_format.h"
#include "serve/bucket_cache.h"
#include "serve/compression.h"
#include "serve/metric_acc.h"

namespace spanpipe::serve {
namespace {

using nlohmann::json;

constexpr int64_t kMinute = 60000, kHour = 3600000, kDay = 86400000;

int64_t FloorTo(int64_t t, int64_t unit) {
  return FloorDiv(t, unit) * unit;
}
int64_t CeilTo(int64_t t, int64_t unit) {
  return -FloorDiv(-t, unit) * unit;
}

std::string Get(const Params& p, const std::string& k, const std::string& def = "") {
  auto it = p.find(k);
  return it == p.end() ? def : it->second;
}

bool Has(const Params& p, const std::string& k) {
  return p.find(k) != p.end();
}

// A comma-separated list parameter; repeating the parameter appends (metrics=a&metrics=b ==
// metrics=a,b).
std::vector<std::string> List(const Params& p, const std::string& k) {
  std::vector<std::string> out;
  auto [lo, hi] = p.equal_range(k);
  for (auto it = lo; it != hi; ++it) {
    const std::string& s = it->second;
    size_t a = 0;
    while (a <= s.size()) {
      size_t b = s.find(',', a);
      std::string x = s.substr(a, b == std::string::npos ? std::string::npos : b - a);
      if (!x.empty()) out.push_back(x);
      if (b == std::string::npos) break;
      a = b + 1;
    }
  }
  return out;
}

bool In(const std::vector<std::string>& list, std::string_view x) {
  return std::find(list.begin(), list.end(), x) != list.end();
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

bool ParseInt(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

// start_time / end_time (RFC 3339 or epoch seconds/millis); defaults to the `def_ms` before now.
bool Range(const Params& p, int64_t now_ms, int64_t def_ms, int64_t* from, int64_t* to,
           ApiResult* err) {
  *to = now_ms;
  std::string s = Get(p, "start_time"), e = Get(p, "end_time");
  if (!e.empty() && !ParseTimestampMillis(e, to)) {
    *err = Error(400, "end_time: expected RFC 3339 or epoch seconds/milliseconds, got '" + e + "'");
    return false;
  }
  *from = *to - def_ms;
  if (!s.empty() && !ParseTimestampMillis(s, from)) {
    *err =
        Error(400, "start_time: expected RFC 3339 or epoch seconds/milliseconds, got '" + s + "'");
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
  std::string o = Get(p, "offset", "0"), l = Get(p, "limit", std::to_string(kDefaultLimit));
  if (!ParseInt(o, offset) || *offset < 0) {
    *err = Error(400, "offset: expected an integer >= 0, got '" + o + "'");
    return false;
  }
  if (!ParseInt(l, limit) || *limit < 1 || *limit > kMaxLimit) {
    *err = Error(400, "limit: expected an integer from 1 to 1000, got '" + l + "'");
    return false;
  }
  return true;
}

json Page(const std::vector<json>& items, int64_t offset, int64_t limit) {
  json data = json::array();
  for (int64_t i = offset; i < static_cast<int64_t>(items.size()) && i < offset + limit; ++i)
    data.push_back(items[i]);
  return json{{"pagination", {{"offset", offset}, {"limit", limit}, {"total", items.size()}}},
              {"data", data}};
}

// Visits the rollup rows that cover [from, to) rounded out to whole minutes, counting every span
// once: whole UTC days from 1d rows, whole hours from 1h rows, whole 10 minutes from the store's
// derived 10m rows, the rest from 1m rows. A row never
// spans more than `coarsest` ms (so that it never straddles a caller's bucket). fn(row, row_ms).
// With a cache, whole windows' rows come from it (ScanRollupsCached: the same rows, same order).
Status ScanCovering(const QueryStore& store, const std::string& project, int64_t from, int64_t to,
                    int64_t coarsest, const std::function<void(const RollupRow&, int64_t)>& fn,
                    BucketCache* cache = nullptr) {
  struct Level {
    int64_t ms;
    const char* name;
  };
  static const Level kLevels[] = {
      {kDay, "1d"}, {kHour, "1h"}, {10 * kMinute, "10m"}, {kMinute, "1m"}};
  std::function<Status(int64_t, int64_t, size_t)> cover = [&](int64_t a, int64_t b,
                                                              size_t li) -> Status {
    if (a >= b) return Status::OK();
    const Level& l = kLevels[li];
    auto visit = [&](const RollupRow& r) { fn(r, l.ms); };
    if (l.ms == kMinute) return ScanRollupsCached(store, cache, l.name, project, a, b, visit);
    int64_t ca = CeilTo(a, l.ms), fb = FloorTo(b, l.ms);
    if (l.ms > coarsest || ca >= fb) return cover(a, b, li + 1);
    SPANPIPE_RETURN_IF_ERROR(cover(a, ca, li + 1));
    SPANPIPE_RETURN_IF_ERROR(ScanRollupsCached(store, cache, l.name, project, ca, fb, visit));
    return cover(fb, b, li + 1);
  };
  return cover(FloorTo(from, kMinute), CeilTo(to, kMinute), 0);
}

// Transparent string hash: unordered lookups by string_view without building a string.
struct Hash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

bool IntervalMs(const std::string& interval, int64_t* bucket_ms, std::string* gran) {
  if (interval == "1min")
    *bucket_ms = kMinute, *gran = "1m";
  else if (interval == "5min")
    *bucket_ms = 5 * kMinute, *gran = "1m";
  else if (interval == "1hour")
    *bucket_ms = kHour, *gran = "1h";
  else if (interval == "1day")
    *bucket_ms = kDay, *gran = "1d";
  else
    return false;
  return true;
}

void GroupKey(const RollupRow& r, const std::vector<std::string>& group_by, std::string* k) {
  k->clear();
  for (const auto& g : group_by) {
    k->append(r.Dim(g));
    k->push_back('\0');
  }
}

json GroupJson(const RollupRow& r, const std::vector<std::string>& group_by) {
  json g = json::object();
  for (const auto& d : group_by) g[d] = std::string(r.Dim(d));
  return g;
}

}  // namespace

const std::vector<std::string>& MetricNames() {
  static const std::vector<std::string> v(std::begin(kMetricNames), std::end(kMetricNames));
  return v;
}
const std::vector<std::string>& DimensionNames() {
  static const std::vector<std::string> v = {"provider", "model", "service", "operation",
                                             "environment"};
  return v;
}
const std::vector<std::string>& AggregationNames() {
  static const std::vector<std::string> v(std::begin(kAggregationNames),
                                          std::end(kAggregationNames));
  return v;
}
const std::vector<std::string>& IntervalNames() {
  static const std::vector<std::string> v = {"1min", "5min", "1hour", "1day"};
  return v;
}

ApiResult Error(int status, const std::string& message) {
  return {status, json{{"error", message}}};
}

ApiResult MetricsSeries(const QueryStore& store, const std::string& project, const Params& p,
                        int64_t now_ms, BucketCache* cache) {
  std::vector<std::string> metrics =
      Has(p, "metrics") ? List(p, "metrics") : std::vector<std::string>{"request_count"};
  if (metrics.empty() || metrics.size() > kMaxMetrics)
    return Error(400, "metrics: between 1 and 20 names");
  for (const auto& m : metrics)
    if (!In(MetricNames(), m))
      return Error(400, "metrics: unknown metric '" + m + "' (" + Join(MetricNames()) + ")");
  std::vector<std::string> group_by = List(p, "group_by");
  if (group_by.size() > kMaxGroupBy) return Error(400, "group_by: at most 5 dimensions");
  for (const auto& g : group_by)
    if (!In(DimensionNames(), g))
      return Error(400, "group_by: unknown dimension '" + g + "' (" + Join(DimensionNames()) + ")");
  std::string agg = Get(p, "aggregation", "sum");
  if (!In(AggregationNames(), agg))
    return Error(400,
                 "aggregation: unknown value '" + agg + "' (" + Join(AggregationNames()) + ")");
  std::string interval = Get(p, "interval", "1hour");
  int64_t bucket_ms;
  std::string gran;
  if (!IntervalMs(interval, &bucket_ms, &gran))
    return Error(400, "interval: unknown value '" + interval + "' (" + Join(IntervalNames()) + ")");
  std::vector<std::pair<std::string, std::string>> filters;
  for (const auto& d : DimensionNames())
    if (Has(p, d)) filters.emplace_back(d, Get(p, d));
  ApiResult err;
  int64_t from, to;
  if (!Range(p, now_ms, kDay, &from, &to, &err)) return err;

  // Points are whole buckets: the first is the one that contains start_time; a bucket holds the
  // rows whose window starts in it, before end_time. Each bucket's points (ordered by group) are
  // written as one piece of text and the answer is their concatenation, so that whole buckets can
  // come from the BucketCache and only the others are read: the answer is byte for byte the same.
  // A bucket is cached only when it ends by end_time (its text cannot depend on the range).
  const int64_t first_bucket = FloorTo(from, bucket_ms);
  const size_t nb = static_cast<size_t>((to - first_bucket + bucket_ms - 1) / bucket_ms);
  std::vector<std::shared_ptr<const BucketText>> parts(nb);
  auto bucket_at = [&](size_t i) { return first_bucket + static_cast<int64_t>(i) * bucket_ms; };
  auto whole = [&](size_t i) { return bucket_at(i) + bucket_ms <= to; };
  std::string shape;  // the query's shape: everything but the range
  uint64_t version = 0;
  // Not for thousands of tiny buckets (1min over days): one scan costs less than their entries.
  constexpr size_t kMaxCachedBuckets = 2048;
  if (nb > kMaxCachedBuckets) cache = nullptr;
  if (cache) {
    auto add = [&](std::string_view v) {
      shape += std::to_string(v.size());
      shape.push_back(':');
      shape.append(v);
    };
    add("series");
    add(project);
    add(interval);
    add(agg);
    add(std::to_string(metrics.size()));
    for (const auto& m : metrics) add(m);
    add(std::to_string(group_by.size()));
    for (const auto& g : group_by) add(g);
    for (const auto& [d, want] : filters) add(d), add(want);
    shape.push_back('@');
    version = cache->Sync(store);
    for (size_t i = 0; i < nb; ++i)
      if (whole(i)) parts[i] = cache->Get<BucketText>(shape + std::to_string(bucket_at(i)));
  }

  // Keys are fixed ASCII names: appended as they are; values go through the JSON writer.
  std::vector<std::string> metric_keys, group_keys;
  std::vector<MetricId> metric_ids;
  const AggId agg_id = AggIdOf(agg);
  bool percentiles = false;  // a duration percentile is asked: the points keep their rows'
  for (const auto& m : metrics) {
    metric_keys.push_back(",\"" + m + "\":");
    metric_ids.push_back(MetricIdOf(m));
    percentiles |= metric_ids.back() == MetricId::kDuration && IsPercentile(agg_id);
  }
  for (size_t i = 0; i < group_by.size(); ++i)
    group_keys.push_back((i ? ",\"" : "\"") + group_by[i] + "\":");

  // The buckets not cached, a run of adjacent ones at a time. A group is the group_by values,
  // each followed by \0, numbered as first seen (hashing, not string compares, per row); points
  // are sorted by (bucket, group) once per run.
  struct Point {
    int64_t bucket;
    uint32_t group;
    MetricAcc acc;
  };
  std::vector<Point> points;
  std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> group_ids;
  std::vector<std::string> groups;
  std::vector<std::string> group_text;            // each group's ,"group":{...} text, written once
  std::unordered_map<uint64_t, size_t> point_of;  // (bucket index << 24 | group) -> points[i]
  std::string key;
  for (size_t i = 0; i < nb;) {
    if (parts[i]) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < nb && !parts[j]) ++j;
    const int64_t run_from = bucket_at(i), run_to = std::min(bucket_at(j), to);
    points.clear();
    point_of.clear();
    Status s = store.ScanRollups(gran, project, run_from, run_to, [&](const RollupRow& r) {
      for (const auto& [d, want] : filters)
        if (r.Dim(d) != want) return;
      GroupKey(r, group_by, &key);
      auto g = group_ids.find(key);
      if (g == group_ids.end()) {
        g = group_ids.emplace(key, static_cast<uint32_t>(groups.size())).first;
        groups.push_back(key);
      }
      int64_t bucket = FloorTo(r.window_start_ms, bucket_ms);
      uint64_t id = (static_cast<uint64_t>((bucket - run_from) / bucket_ms) << 24) | g->second;
      auto [it, fresh] = point_of.try_emplace(id, points.size());
      if (fresh) {
        points.push_back(Point{bucket, g->second, MetricAcc()});
        points.back().acc.keep_durations = percentiles;
      }
      points[it->second].acc.Add(r);
    });
    if (!s.ok()) return Error(500, s.ToString());
    std::vector<uint32_t> rank(groups.size());
    {
      std::vector<uint32_t> order(groups.size());
      for (uint32_t k = 0; k < order.size(); ++k) order[k] = k;
      std::sort(order.begin(), order.end(),
                [&](uint32_t a, uint32_t b) { return groups[a] < groups[b]; });
      for (uint32_t k = 0; k < order.size(); ++k) rank[order[k]] = k;
    }
    std::sort(points.begin(), points.end(), [&](const Point& a, const Point& b) {
      return a.bucket != b.bucket ? a.bucket < b.bucket : rank[a.group] < rank[b.group];
    });
    if (!group_by.empty()) {
      for (size_t gi = group_text.size(); gi < groups.size(); ++gi) {
        std::string t = ",\"group\":{";
        size_t a = 0;
        for (const auto& g : group_keys) {
          size_t b = groups[gi].find('\0', a);
          t.append(g);
          AppendJsonString(&t, std::string_view(groups[gi]).substr(a, b - a));
          a = b + 1;
        }
        t.push_back('}');
        group_text.push_back(std::move(t));
      }
    }
    // Each bucket of the run gets its text (empty when it has no point).
    std::vector<std::shared_ptr<BucketText>> built(j - i);
    for (auto& b : built) b = std::make_shared<BucketText>();
    std::string ts_text;
    int64_t last_ts = INT64_MIN;
    BucketText* cur = nullptr;
    for (const Point& pt : points) {
      if (pt.bucket != last_ts) {
        last_ts = pt.bucket;
        ts_text = "\"timestamp\":\"" + FormatRfc3339Millis(pt.bucket) +
                  "\",\"timestamp_ms\":" + std::to_string(pt.bucket);
        cur = built[static_cast<size_t>((pt.bucket - run_from) / bucket_ms)].get();
      }
      std::string& text = cur->text;
      text.append(cur->points++ ? ",{" : "{");
      text.append(ts_text);
      if (!group_text.empty()) text.append(group_text[pt.group]);
      for (size_t m = 0; m < metrics.size(); ++m) {
        text.append(metric_keys[m]);
        pt.acc.Write(metric_ids[m], agg_id, &text);
      }
      text.push_back('}');
    }
    for (size_t k = i; k < j; ++k) {
      if (cache && whole(k)) built[k - i]->text.shrink_to_fit();  // counted as held
      parts[k] = built[k - i];
      if (cache && whole(k))
        cache->Put(store, shape + std::to_string(bucket_at(k)), project, RollupGranOf(gran),
                   bucket_at(k), bucket_at(k) + bucket_ms, version, parts[k]);
    }
    i = j;
  }

  // Written without a DOM: a day by model is thousands of points.
  size_t total_points = 0, bytes = 0;
  for (const auto& part : parts) total_points += part->points, bytes += part->text.size() + 1;
  json meta{{"interval", interval},
            {"start_time", FormatRfc3339Millis(from)},
            {"end_time", FormatRfc3339Millis(to)},
            {"metrics", metrics},
            {"group_by", group_by},
            {"aggregation", agg},
            {"total_points", total_points}};
  std::string head = meta.dump();
  ApiResult out;
  std::string& text = out.text;
  text.reserve(head.size() + bytes + 32);
  text.append("{\"metadata\":").append(head).append(",\"data\":[");
  // With a cache, the pieces go with the answer: its gzip form reuses the buckets' deflate
  // segments. Without, gzip compresses the whole text (libdeflate is faster than zlib's segments).
  if (cache) out.head = text.size();
  bool first = true;
  for (auto& part : parts) {
    if (part->points == 0) continue;
    if (!first) text.push_back(',');
    first = false;
    text.append(part->text);
    if (cache) out.parts.push_back(std::move(part));
  }
  text.append("]}");
  return out;
}

bool GzipAnswer(const ApiResult& r, int level, std::string* out) {
  std::string_view text = r.text;
  size_t expect = r.head + 2 + (r.parts.empty() ? 0 : r.parts.size() - 1);
  for (const auto& p : r.parts) expect += p->text.size();
  if (r.head == 0 || expect != text.size()) return Gzip(text, level, out);
  std::string edges;  // the few bytes between parts, as stored blocks (kept in place: reserved)
  edges.reserve(2 * (r.head + 5) + r.parts.size() * 6 + 16);
  std::vector<std::string_view> segments;
  auto stored = [&](std::string_view s) {
    size_t at = edges.size();
    AppendStoredSegment(s, &edges);
    segments.push_back(std::string_view(edges).substr(at));
  };
  stored(text.substr(0, r.head));
  for (size_t i = 0; i < r.parts.size(); ++i) {
    if (i) stored(",");
    segments.push_back(r.parts[i]->Deflated());
  }
  stored("]}");
  GzipFromSegments(segments, text, out);
  return true;
}

ApiResult MetricsSummary(const QueryStore& store, const std::string& project, const Params& p,
                         int64_t now_ms, BucketCache* cache) {
  ApiResult err;
  int64_t from, to;
  if (!Range(p, now_ms, kDay, &from, &to, &err)) return err;
  std::string cmp = Get(p, "compare_previous_period", "false");
  if (cmp != "true" && cmp != "false" && cmp != "1" && cmp != "0")
    return Error(400, "compare_previous_period: expected true or false, got '" + cmp + "'");
  bool compare = cmp == "true" || cmp == "1";

  struct Period {
    json totals;
    std::unordered_map<std::string, MetricAcc, Hash, std::equal_to<>> by_model;
  };
  Status failed;
  auto period = [&](int64_t a, int64_t b) {
    Period out;
    MetricAcc total;
    Status s = ScanCovering(
        store, project, a, b, kDay,
        [&](const RollupRow& r, int64_t) {
          total.Add(r);
          auto it = out.by_model.find(r.model);
          if (it == out.by_model.end()) {
            it = out.by_model.emplace(std::string(r.model), MetricAcc()).first;
            it->second.keep_durations = false;  // ranked by cost, requests, mean and errors
          }
          it->second.Add(r);
        },
        cache);
    size_t threads = 0;
    if (s.ok())
      s = store.ScanThreadActivity(project, a, b, [&](const ThreadActivity&) { ++threads; });
    std::unordered_set<std::string> users;
    if (s.ok())
      s = store.ScanTraceStarts(project, a, b, [&](const TraceStart& t) {
        if (!t.user_id.empty()) users.emplace(t.user_id);
      });
    if (!s.ok()) failed = s;
    out.totals = json{{"requests", total.requests},
                      {"errors", total.errors},
                      {"cost_usd", total.cost},
                      {"input_tokens", total.in},
                      {"output_tokens", total.out},
                      {"total_tokens", total.in + total.out},
                      {"avg_duration_ms", total.Metric("duration", "avg")},
                      {"p95_duration_ms", total.Metric("duration", "p95")},
                      {"error_rate", total.ErrorRate()},
                      {"success_rate", total.requests > 0 ? 1.0 - total.ErrorRate() : 0.0},
                      {"unique_users", users.size()},
                      {"unique_threads", threads}};
    return out;
  };
  Period current = period(from, to);
  if (!failed.ok()) return Error(500, failed.ToString());

  // Top models of the current period; items whose value is 0 are left out.
  auto top = [&](const std::function<double(const MetricAcc&)>& key) {
    std::vector<std::pair<double, std::string>> v;
    for (const auto& [m, acc] : current.by_model)
      if (key(acc) > 0) v.emplace_back(key(acc), m);
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    json arr = json::array();
    for (size_t i = 0; i < v.size() && i < 5; ++i)
      arr.push_back({{"model", v[i].second}, {"value", v[i].first}});
    return arr;
  };
  json tops{
      {"by_cost", top([](const MetricAcc& x) { return x.cost; })},
      {"by_requests", top([](const MetricAcc& x) { return static_cast<double>(x.requests); })},
      {"by_duration",
       top([](const MetricAcc& x) { return x.Metric("duration", "avg").get<double>(); })},
      {"by_errors", top([](const MetricAcc& x) { return static_cast<double>(x.errors); })}};
  json body{{"start_time", FormatRfc3339Millis(from)},
            {"end_time", FormatRfc3339Millis(to)},
            {"current", current.totals},
            {"top", tops}};
  if (compare) {
    int64_t len = to - from;
    json prev = period(from - len, from).totals;
    if (!failed.ok()) return Error(500, failed.ToString());
    json change = json::object();
    for (auto it = current.totals.begin(); it != current.totals.end(); ++it) {
      double c = it.value().get<double>(), pv = prev[it.key()].get<double>();
      change[it.key()] =
          pv == 0 ? (c == 0 ? json(0.0) : json(nullptr)) : json((c - pv) / pv * 100.0);
    }
    body["previous_start_time"] = FormatRfc3339Millis(from - len);
    body["previous"] = prev;
    body["change_percent"] = change;
  }
  // Most common errors: the error spans that started in the range, by ErrorLabel.
  std::map<std::string, int64_t, std::less<>> errors;
  Status s = store.ScanErrors(project, from, to, [&](std::string_view label) {
    auto it = errors.find(label);
    if (it == errors.end()) it = errors.emplace(std::string(label), 0).first;
    ++it->second;
  });
  if (!s.ok()) return Error(500, s.ToString());
  std::vector<std::pair<int64_t, std::string>> ev;
  for (const auto& [k, v] : errors) ev.emplace_back(v, k);
  std::sort(ev.begin(), ev.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  json common = json::array();
  for (size_t i = 0; i < ev.size() && i < 10; ++i)
    common.push_back({{"error", ev[i].second}, {"count", ev[i].first}});
  body["common_errors"] = common;
  return {200, body};
}

ApiResult GroupQuery(const QueryStore& store, const std::string& project, const Params& p,
                     int64_t now_ms) {
  ApiResult err;
  std::string group_by = Get(p, "group_by", "time");
  if (group_by != "time" && group_by != "thread")
    return Error(400, "group_by: unknown value '" + group_by + "' (time, thread)");
  int64_t offset, limit, from, to;
  if (!Paging(p, &offset, &limit, &err) || !Range(p, now_ms, kDay, &from, &to, &err)) return err;
  std::vector<std::string> wanted = List(p, "threadIds");
  std::set<std::string> wanted_set(wanted.begin(), wanted.end());
  std::vector<json> items;

  if (group_by == "thread") {
    // Threads active in the range (first_seen < end_time, last_seen >= start_time), newest first.
    std::vector<std::pair<int64_t, std::string>> ids;
    Status s = store.ScanThreadActivity(project, from, to, [&](const ThreadActivity& a) {
      if (wanted_set.empty() || wanted_set.count(std::string(a.thread_id)))
        ids.emplace_back(a.last_ms, a.thread_id);
    });
    if (!s.ok()) return Error(500, s.ToString());
    std::sort(ids.begin(), ids.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    json data = json::array();
    for (int64_t i = offset; i < static_cast<int64_t>(ids.size()) && i < offset + limit; ++i) {
      json t;
      bool found = false;
      s = store.GetThread(project, ids[i].second, &t, &found);
      if (!s.ok()) return Error(500, s.ToString());
      if (!found || !t.is_object()) continue;
      data.push_back(json{{"group_by", "thread"},
                          {"group_key", {{"thread_id", ids[i].second}}},
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
                          {"last_seen", t.value("last_seen", std::string())}});
    }
    return {200, json{{"pagination", {{"offset", offset}, {"limit", limit}, {"total", ids.size()}}},
                      {"data", data}}};
  }

  int64_t bucket_s;
  std::string bs = Get(p, "bucketSize", "3600");
  if (!ParseInt(bs, &bucket_s) || bucket_s < 60 || bucket_s % 60 != 0 ||
      bucket_s > kMaxRangeMs / 1000)
    return Error(400,
                 "bucketSize: expected a multiple of 60 seconds (60 .. 7776000), got '" + bs + "'");
  const int64_t bms = bucket_s * 1000;
  struct Bucket {
    int64_t llm_calls = 0, errors = 0, in = 0, out = 0;
    double cost = 0;
    int64_t first = INT64_MAX, last = INT64_MIN;
    std::vector<std::string> threads;
  };
  std::map<int64_t, Bucket> buckets;
  if (wanted.empty()) {
    // All of the project's LLM calls, from the rollups; first/last_seen are window bounds.
    int64_t coarsest = bms % kDay == 0             ? kDay
                       : bms % kHour == 0          ? kHour
                       : bms % (10 * kMinute) == 0 ? 10 * kMinute
                                                   : kMinute;
    Status s =
        ScanCovering(store, project, from, to, coarsest, [&](const RollupRow& r, int64_t row_ms) {
          if (r.requests <= 0) return;
          Bucket& b = buckets[FloorTo(r.window_start_ms, bms)];
          b.llm_calls += r.requests;
          b.errors += r.errors;
          b.in += r.input_tokens;
          b.out += r.output_tokens;
          b.cost += r.cost_usd;
          b.first = std::min(b.first, r.window_start_ms);
          b.last = std::max(b.last, r.window_start_ms + row_ms);
        });
    if (!s.ok()) return Error(500, s.ToString());
    // thread_ids: the threads active during each bucket (up to 100 per bucket).
    s = store.ScanThreadActivity(project, from, to, [&](const ThreadActivity& a) {
      for (auto it = buckets.lower_bound(FloorTo(std::max(a.first_ms, from), bms));
           it != buckets.end() && it->first <= a.last_ms; ++it)
        if (it->second.threads.size() < 100) it->second.threads.emplace_back(a.thread_id);
    });
    if (!s.ok()) return Error(500, s.ToString());
  } else {
    // Only the given threads: their LLM calls (spans with a model) that started in the range.
    for (const auto& id : wanted_set) {
      std::vector<std::string> traces;
      Status s = store.ThreadTraceIds(project, id, &traces);
      for (const auto& tr : traces) {
        std::vector<json> spans;
        if (s.ok()) s = store.TraceSpans(project, tr, &spans);
        for (const auto& sp : spans) {
          if (sp.value("model", std::string()).empty()) continue;
          int64_t start = static_cast<int64_t>(sp.value("start_unix_nano", uint64_t{0}) / 1000000);
          int64_t end = static_cast<int64_t>(sp.value("end_unix_nano", uint64_t{0}) / 1000000);
          if (start < from || start >= to) continue;
          Bucket& b = buckets[FloorTo(start, bms)];
          b.llm_calls += 1;
          b.errors += sp.value("error", false) ? 1 : 0;
          b.in += sp.value("input_tokens", int64_t{0});
          b.out += sp.value("output_tokens", int64_t{0});
          b.cost += sp.value("cost_usd", 0.0);
          b.first = std::min(b.first, start);
          b.last = std::max(b.last, end);
          if (!In(b.threads, id)) b.threads.push_back(id);
        }
      }
      if (!s.ok()) return Error(500, s.ToString());
    }
  }
  for (auto it = buckets.rbegin(); it != buckets.rend(); ++it) {
    const Bucket& b = it->second;
    items.push_back(json{{"group_by", "time"},
                         {"group_key", {{"time_bucket", it->first * 1000}}},
                         {"thread_ids", b.threads},
                         {"cost", b.cost},
                         {"llm_calls", b.llm_calls},
                         {"input_tokens", b.in},
                         {"output_tokens", b.out},
                         {"errors", b.errors},
                         {"first_seen", FormatRfc3339Millis(b.first)},
                         {"last_seen", FormatRfc3339Millis(b.last)}});
  }
  return {200, Page(items, offset, limit)};
}

ApiResult ThreadSpans(const QueryStore& store, const std::string& project,
                      const std::string& thread_id, const Params& p) {
  ApiResult err;
  int64_t offset, limit;
  if (!Paging(p, &offset, &limit, &err)) return err;
  std::vector<std::string> traces;
  Status s = store.ThreadTraceIds(project, thread_id, &traces);
  if (!s.ok()) return Error(500, s.ToString());
  if (traces.empty()) return Error(404, "thread '" + thread_id + "' not found");
  std::vector<json> spans;
  for (const auto& t : traces) {
    std::vector<json> ts;
    s = store.TraceSpans(project, t, &ts);
    if (!s.ok()) return Error(500, s.ToString());
    for (auto& x : ts) spans.push_back(std::move(x));
  }
  // Newest first (by span start); ties by span id so that pages are stable.
  std::sort(spans.begin(), spans.end(), [](const json& a, const json& b) {
    uint64_t sa = a.value("start_unix_nano", uint64_t{0}),
             sb = b.value("start_unix_nano", uint64_t{0});
    if (sa != sb) return sa > sb;
    return a.value("span_id", std::string()) < b.value("span_id", std::string());
  });
  return {200, Page(spans, offset, limit)};
}

ApiResult MetricsQuery(const QueryStore& store, const std::string& project, const json& body,
                       int64_t now_ms, BucketCache* cache) {
  if (!body.is_object()) return Error(400, "body must be a JSON object");
  Params p;
  for (const char* k : {"start_time", "end_time"}) {
    if (!body.contains(k)) continue;
    const json& v = body[k];
    if (v.is_string())
      p.emplace(k, v.get<std::string>());
    else if (v.is_number_integer())
      p.emplace(k, std::to_string(v.get<int64_t>()));
    else
      return Error(400, std::string(k) + ": expected RFC 3339 or epoch seconds/milliseconds");
  }
  // metrics: [{name, aggregation = "sum", alias = name}]
  if (!body.contains("metrics") || !body["metrics"].is_array() || body["metrics"].empty() ||
      body["metrics"].size() > kMaxMetrics)
    return Error(400, "metrics: an array of 1 to 20 {name, aggregation, alias}");
  struct M {
    std::string name, agg, alias;
  };
  std::vector<M> ms;
  std::set<std::string> aliases;
  for (const auto& m : body["metrics"]) {
    if (!m.is_object() || !m.contains("name") || !m["name"].is_string())
      return Error(400, "metrics: each needs a string 'name'");
    if ((m.contains("aggregation") && !m["aggregation"].is_string()) ||
        (m.contains("alias") && !m["alias"].is_string()))
      return Error(400, "metrics: 'aggregation' and 'alias' must be strings");
    M x{m["name"].get<std::string>(), m.value("aggregation", std::string("sum")), ""};
    x.alias = m.value("alias", x.name);
    if (!In(MetricNames(), x.name))
      return Error(400, "metrics: unknown metric '" + x.name + "' (" + Join(MetricNames()) + ")");
    if (!In(AggregationNames(), x.agg))
      return Error(400,
                   "aggregation: unknown value '" + x.agg + "' (" + Join(AggregationNames()) + ")");
    if (x.alias.empty() || In(DimensionNames(), x.alias) || x.alias == "timestamp" ||
        !aliases.insert(x.alias).second)
      return Error(400, "metrics: alias '" + x.alias + "' is empty, repeated or a reserved name");
    ms.push_back(x);
  }
  std::vector<std::string> group_by;
  if (body.contains("group_by")) {
    if (!body["group_by"].is_array()) return Error(400, "group_by: an array of dimension names");
    if (body["group_by"].size() > kMaxGroupBy) return Error(400, "group_by: at most 5 dimensions");
    for (const auto& g : body["group_by"]) {
      if (!g.is_string() || !In(DimensionNames(), g.get<std::string>()))
        return Error(
            400, "group_by: unknown dimension " + g.dump() + " (" + Join(DimensionNames()) + ")");
      group_by.push_back(g.get<std::string>());
    }
  }
  // interval (optional): also group by time bucket.
  int64_t bucket_ms = 0;
  std::string interval;
  if (body.contains("interval")) {
    std::string gran;
    if (!body["interval"].is_string() ||
        !IntervalMs(body["interval"].get<std::string>(), &bucket_ms, &gran))
      return Error(400, "interval: unknown value " + body["interval"].dump() + " (" +
                            Join(IntervalNames()) + ")");
    interval = body["interval"].get<std::string>();
  }
  // filters: [{field, op: eq|ne|in|not_in, value | values}]
  struct F {
    std::string field, op;
    std::vector<std::string> values;
  };
  std::vector<F> filters;
  if (body.contains("filters")) {
    if (!body["filters"].is_array())
      return Error(400, "filters: an array of {field, op, value|values}");
    for (const auto& f : body["filters"]) {
      if (!f.is_object() || !f.contains("field") || !f["field"].is_string() ||
          (f.contains("op") && !f["op"].is_string()))
        return Error(400, "filters: each needs a string 'field' and 'op'");
      F x{f["field"].get<std::string>(), f.value("op", std::string("eq")), {}};
      if (!In(DimensionNames(), x.field))
        return Error(400,
                     "filters: unknown field '" + x.field + "' (" + Join(DimensionNames()) + ")");
      if (x.op == "eq" || x.op == "ne") {
        if (!f.contains("value") || !f["value"].is_string())
          return Error(400, "filters: op '" + x.op + "' needs a string 'value'");
        x.values.push_back(f["value"].get<std::string>());
      } else if (x.op == "in" || x.op == "not_in") {
        if (!f.contains("values") || !f["values"].is_array())
          return Error(400, "filters: op '" + x.op + "' needs an array 'values'");
        for (const auto& v : f["values"]) {
          if (!v.is_string()) return Error(400, "filters: 'values' must be strings");
          x.values.push_back(v.get<std::string>());
        }
      } else {
        return Error(400, "filters: unknown op '" + x.op + "' (eq, ne, in, not_in)");
      }
      filters.push_back(std::move(x));
    }
  }
  // having: [{metric: alias, op: gt|gte|lt|lte|eq|ne, value: number}]
  struct H {
    std::string metric, op;
    double value;
  };
  std::vector<H> having;
  if (body.contains("having")) {
    if (!body["having"].is_array()) return Error(400, "having: an array of {metric, op, value}");
    for (const auto& h : body["having"]) {
      if (!h.is_object() || !h.contains("metric") || !h["metric"].is_string() ||
          !h.contains("value") || !h["value"].is_number() ||
          (h.contains("op") && !h["op"].is_string()))
        return Error(400,
                     "having: each needs a string 'metric', a string 'op' and a numeric 'value'");
      H x{h["metric"].get<std::string>(), h.value("op", std::string("gt")),
          h["value"].get<double>()};
      if (!aliases.count(x.metric))
        return Error(400, "having: '" + x.metric + "' is not a requested metric alias");
      if (!In({"gt", "gte", "lt", "lte", "eq", "ne"}, x.op))
        return Error(400, "having: unknown op '" + x.op + "' (gt, gte, lt, lte, eq, ne)");
      having.push_back(x);
    }
  }
  // sort_by: "alias" | {field: alias or dimension or "timestamp", order: asc|desc (default desc)}
  std::string sort_field, order = "desc";
  if (body.contains("sort_by")) {
    const json& sb = body["sort_by"];
    if (sb.is_string()) {
      sort_field = sb.get<std::string>();
    } else if (sb.is_object() && sb.contains("field") && sb["field"].is_string()) {
      sort_field = sb["field"].get<std::string>();
      if (sb.contains("order")) {
        if (!sb["order"].is_string()) return Error(400, "sort_by: order must be asc or desc");
        order = sb["order"].get<std::string>();
      }
    } else {
      return Error(400, "sort_by: a field name or {field, order}");
    }
    if (order != "asc" && order != "desc")
      return Error(400, "sort_by: unknown order '" + order + "' (asc, desc)");
    if (!aliases.count(sort_field) && !In(group_by, sort_field) &&
        !(sort_field == "timestamp" && bucket_ms))
      return Error(
          400, "sort_by: '" + sort_field + "' is neither a metric alias nor a group_by dimension");
  }
  int64_t limit = 100;
  if (body.contains("limit")) {
    if (!body["limit"].is_number_integer() || body["limit"].get<int64_t>() < 1 ||
        body["limit"].get<int64_t>() > kMaxLimit)
      return Error(400, "limit: expected an integer from 1 to 1000, got " + body["limit"].dump());
    limit = body["limit"].get<int64_t>();
  }
  ApiResult err;
  int64_t from, to;
  if (!Range(p, now_ms, kDay, &from, &to, &err)) return err;

  bool percentiles = false;  // a duration percentile is asked: the groups keep their rows'
  for (const auto& m : ms)
    percentiles |= MetricIdOf(m.name) == MetricId::kDuration && IsPercentile(AggIdOf(m.agg));
  std::string key;
  std::map<std::pair<int64_t, std::string>, std::pair<json, MetricAcc>> groups;
  int64_t coarsest = bucket_ms ? bucket_ms : kDay;
  int64_t scan_from = bucket_ms ? FloorTo(from, bucket_ms) : from;
  Status s = ScanCovering(
      store, project, scan_from, to, coarsest,
      [&](const RollupRow& r, int64_t) {
        for (const auto& f : filters) {
          bool in = In(f.values, r.Dim(f.field));
          if ((f.op == "eq" || f.op == "in") != in) return;
        }
        int64_t t = bucket_ms ? FloorTo(r.window_start_ms, bucket_ms) : 0;
        GroupKey(r, group_by, &key);
        auto& slot = groups[{t, key}];
        if (slot.second.rows == 0) {
          slot.first = GroupJson(r, group_by);
          slot.second.keep_durations = percentiles;
        }
        slot.second.Add(r);
      },
      cache);
  if (!s.ok()) return Error(500, s.ToString());
  std::vector<json> rows;
  for (const auto& [k, v] : groups) {
    json row = v.first;
    if (bucket_ms) {
      row["timestamp"] = FormatRfc3339Millis(k.first);
      row["timestamp_ms"] = k.first;
    }
    for (const auto& m : ms) row[m.alias] = v.second.Metric(m.name, m.agg);
    bool keep = true;
    for (const auto& h : having) {
      double x = row[h.metric].get<double>();
      keep = keep && (h.op == "gt"    ? x > h.value
                      : h.op == "gte" ? x >= h.value
                      : h.op == "lt"  ? x < h.value
                      : h.op == "lte" ? x <= h.value
                      : h.op == "eq"  ? x == h.value
                                      : x != h.value);
    }
    if (keep) rows.push_back(std::move(row));
  }
  if (!sort_field.empty()) {
    std::string key = sort_field == "timestamp" ? "timestamp_ms" : sort_field;
    std::stable_sort(rows.begin(), rows.end(), [&](const json& a, const json& b) {
      return order == "desc" ? b[key] < a[key] : a[key] < b[key];
    });
  }
  size_t total = rows.size();
  if (static_cast<int64_t>(rows.size()) > limit) rows.resize(static_cast<size_t>(limit));
  json meta{{"start_time", FormatRfc3339Millis(from)},
            {"end_time", FormatRfc3339Millis(to)},
            {"group_by", group_by},
            {"total_rows", total},
            {"returned_rows", rows.size()}};
  if (bucket_ms) meta["interval"] = interval;
  return {200, json{{"metadata", meta}, {"data", rows}}};
}

ApiResult TraceRecord(const QueryStore& store, const std::string& project,
                      const std::string& trace_id) {
  std::string id = trace_id;
  std::transform(id.begin(), id.end(), id.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  json t;
  bool found = false;
  Status s = store.GetTrace(project, id, &t, &found);
  std::vector<json> spans;
  if (s.ok()) s = store.TraceSpans(project, id, &spans);
  if (!s.ok()) return Error(500, s.ToString());
  if (!found && spans.empty()) return Error(404, "trace '" + id + "' not found");
  if (!found) {
    // Spans have been published but the trace has not closed yet (trace.idle_timeout_ms).
    t = json{{"trace_id", id}, {"project", project}};
  }
  t["complete"] = found;
  t["spans"] = spans;
  return {200, t};
}

}  // namespace spanpipe::serve
