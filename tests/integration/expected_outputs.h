// The answer the rollups and thread groups must reproduce, computed here by plain sums over the
// corpus the test wrote (otlp_corpus.h), never by spanpipe's own code. Comparison helpers report
// every mismatch; percentiles are checked against the exact order statistics (±1%, CONTRACT §4).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "otlp_corpus.h"

namespace spanpipe::testutil {

struct ExpectedRollup {
  std::string project, granularity, service, provider, model, operation, environment;
  int64_t window_start_ms = 0, requests = 0, errors = 0, input_tokens = 0, output_tokens = 0;
  double cost_usd = 0;
  int64_t duration_sum = 0, duration_min = INT64_MAX, duration_max = 0;
  std::vector<int64_t> durations;
  std::set<std::string> users, threads;
};

struct ExpectedThread {
  std::string project, thread_id;
  std::set<std::string> trace_ids, models, user_ids;
  int64_t span_count = 0, llm_calls = 0, errors = 0, input_tokens = 0, output_tokens = 0;
  double cost_usd = 0;
};

// Event times a day back from now, crossing a UTC midnight: inside every granularity's retention,
// several 1m and 1h windows and two 1d windows.
inline int64_t RecentCorpusBaseMs() {
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  return now / 86400000 * 86400000 - 86400000 - 2 * 3600000;
}

inline std::map<std::string, ExpectedRollup> ExpectRollups(const Corpus& c) {
  const std::pair<const char*, int64_t> grans[] = {{"1m", 60000}, {"1h", 3600000}, {"1d", 86400000}};
  std::map<std::string, ExpectedRollup> out;
  for (const auto& s : c.llm_spans) {
    for (const auto& [g, len] : grans) {
      int64_t w = s.start_ms / len * len;  // corpus times are after 1970
      std::string key = s.project + "|" + g + "|" + std::to_string(w) + "|" + s.service + "|" + s.provider + "|" +
                        s.model + "|" + s.operation + "|";
      ExpectedRollup& r = out[key];
      r.project = s.project, r.granularity = g, r.service = s.service, r.provider = s.provider;
      r.model = s.model, r.operation = s.operation, r.window_start_ms = w;
      r.requests++;
      r.errors += s.error;
      r.input_tokens += s.input_tokens;
      r.output_tokens += s.output_tokens;
      r.cost_usd += s.cost_usd;
      r.duration_sum += s.duration_ms;
      r.duration_min = std::min(r.duration_min, s.duration_ms);
      r.duration_max = std::max(r.duration_max, s.duration_ms);
      r.durations.push_back(s.duration_ms);
      r.users.insert(s.user_id);
      r.threads.insert(s.thread_id);
    }
  }
  return out;
}

inline std::map<std::string, ExpectedThread> ExpectThreads(const Corpus& c) {
  std::map<std::string, ExpectedThread> out;
  for (const auto& [id, t] : c.traces) {
    ExpectedThread& e = out[t.project + "|" + t.thread_id];
    e.project = t.project, e.thread_id = t.thread_id;
    e.trace_ids.insert(id);
    e.span_count += t.span_count;
    e.llm_calls += t.llm_calls;
    e.errors += t.errors;
    e.input_tokens += t.input_tokens;
    e.output_tokens += t.output_tokens;
    e.cost_usd += t.cost_usd;
    e.models.insert(t.models.begin(), t.models.end());
    e.user_ids.insert(t.user_id);
  }
  return out;
}

// Newest record per key, in arrival order (what a compacted topic converges to).
inline std::map<std::string, nlohmann::json> NewestByKey(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& [k, v] : kv) out[k] = nlohmann::json::parse(v);
  return out;
}

inline bool WithinQuantile(std::vector<int64_t> d, double q, double got) {
  std::sort(d.begin(), d.end());
  double pos = q * static_cast<double>(d.size() - 1);
  double lo = static_cast<double>(d[static_cast<size_t>(std::floor(pos))]);
  double hi = static_cast<double>(d[static_cast<size_t>(std::ceil(pos))]);
  return got >= lo * 0.99 - 1e-9 && got <= hi * 1.01 + 1e-9;
}

// Returns the differences (empty when equal); `limit` caps the list.
inline std::vector<std::string> DiffRollups(const std::map<std::string, ExpectedRollup>& want,
                                            const std::map<std::string, nlohmann::json>& got, size_t limit = 10) {
  std::vector<std::string> diffs;
  auto add = [&](const std::string& d) {
    if (diffs.size() < limit) diffs.push_back(d);
  };
  if (got.size() != want.size())
    add("rollup keys: got " + std::to_string(got.size()) + ", want " + std::to_string(want.size()));
  for (const auto& [key, w] : want) {
    auto it = got.find(key);
    if (it == got.end()) {
      add("missing rollup " + key);
      continue;
    }
    const nlohmann::json& r = it->second;
    bool ok = r["granularity"] == w.granularity && r["window_start_ms"] == w.window_start_ms &&
              r["project"] == w.project && r["service"] == w.service && r["provider"] == w.provider &&
              r["model"] == w.model && r["operation"] == w.operation && r["environment"] == "" &&
              r["requests"] == w.requests && r["errors"] == w.errors && r["input_tokens"] == w.input_tokens &&
              r["output_tokens"] == w.output_tokens && r["total_tokens"] == w.input_tokens + w.output_tokens &&
              std::abs(r["cost_usd"].get<double>() - w.cost_usd) < 1e-9 &&
              std::abs(r["duration_ms_sum"].get<double>() - static_cast<double>(w.duration_sum)) < 1e-6 &&
              r["duration_ms_min"].get<double>() == static_cast<double>(w.duration_min) &&
              r["duration_ms_max"].get<double>() == static_cast<double>(w.duration_max) &&
              WithinQuantile(w.durations, 0.5, r["duration_ms_p50"].get<double>()) &&
              WithinQuantile(w.durations, 0.9, r["duration_ms_p90"].get<double>()) &&
              WithinQuantile(w.durations, 0.95, r["duration_ms_p95"].get<double>()) &&
              WithinQuantile(w.durations, 0.99, r["duration_ms_p99"].get<double>()) &&
              r["unique_users"] == static_cast<int64_t>(w.users.size()) &&
              r["unique_threads"] == static_cast<int64_t>(w.threads.size());
    if (!ok)
      add("rollup " + key + ": got " + r.dump() + " want requests=" + std::to_string(w.requests) +
          " errors=" + std::to_string(w.errors) + " in=" + std::to_string(w.input_tokens) +
          " out=" + std::to_string(w.output_tokens) + " dur_sum=" + std::to_string(w.duration_sum) +
          " users=" + std::to_string(w.users.size()) + " threads=" + std::to_string(w.threads.size()));
  }
  return diffs;
}

inline std::vector<std::string> DiffThreads(const std::map<std::string, ExpectedThread>& want,
                                            const std::map<std::string, nlohmann::json>& got, size_t limit = 10) {
  std::vector<std::string> diffs;
  auto add = [&](const std::string& d) {
    if (diffs.size() < limit) diffs.push_back(d);
  };
  if (got.size() != want.size())
    add("thread keys: got " + std::to_string(got.size()) + ", want " + std::to_string(want.size()));
  for (const auto& [key, w] : want) {
    auto it = got.find(key);
    if (it == got.end()) {
      add("missing thread " + key);
      continue;
    }
    const nlohmann::json& t = it->second;
    std::set<std::string> trace_ids(t["trace_ids"].begin(), t["trace_ids"].end());
    std::set<std::string> models(t["models"].begin(), t["models"].end());
    std::set<std::string> users(t["user_ids"].begin(), t["user_ids"].end());
    bool ok = t["project"] == w.project && t["thread_id"] == w.thread_id &&
              t["trace_count"] == static_cast<int64_t>(w.trace_ids.size()) &&
              (w.trace_ids.size() > 100 || trace_ids == w.trace_ids) && t["span_count"] == w.span_count &&
              t["llm_calls"] == w.llm_calls && t["errors"] == w.errors && t["input_tokens"] == w.input_tokens &&
              t["output_tokens"] == w.output_tokens && std::abs(t["cost_usd"].get<double>() - w.cost_usd) < 1e-9 &&
              models == w.models && users == w.user_ids;
    if (!ok)
      add("thread " + key + ": got " + t.dump() + " want traces=" + std::to_string(w.trace_ids.size()) +
          " spans=" + std::to_string(w.span_count) + " llm=" + std::to_string(w.llm_calls) +
          " errors=" + std::to_string(w.errors));
  }
  return diffs;
}

inline std::vector<std::string> DiffTraces(const std::map<std::string, ExpectedTrace>& want,
                                           const std::map<std::string, nlohmann::json>& got, size_t limit = 10) {
  std::vector<std::string> diffs;
  auto add = [&](const std::string& d) {
    if (diffs.size() < limit) diffs.push_back(d);
  };
  if (got.size() != want.size())
    add("trace keys: got " + std::to_string(got.size()) + ", want " + std::to_string(want.size()));
  for (const auto& [id, e] : want) {
    auto it = got.find(id);
    if (it == got.end()) {
      add("missing trace " + id);
      continue;
    }
    const nlohmann::json& t = it->second;
    bool ok = t["span_count"] == e.span_count && t["llm_calls"] == e.llm_calls && t["errors"] == e.errors &&
              t["input_tokens"] == e.input_tokens && t["output_tokens"] == e.output_tokens &&
              std::abs(t["cost_usd"].get<double>() - e.cost_usd) < 1e-9 && t["project"] == e.project &&
              t["thread_id"] == e.thread_id && t["user_id"] == e.user_id && t["name"] == e.root_name &&
              std::set<std::string>(t["models"].begin(), t["models"].end()) == e.models;
    if (!ok) add("trace " + id + ": got " + t.dump());
  }
  return diffs;
}

}  // namespace spanpipe::testutil
