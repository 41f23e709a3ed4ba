// A hand-written data set for the query API tests, and a real HttpServer on 127.0.0.1 (ephemeral
// port) over it. Every record below is what the pipeline would publish (CONTRACT §4); every
// expected value in the tests is derived by hand from these records, in comments next to it.
//
// Day 0 is 2025-03-10 (20157 days after 1970-01-01): kDay0 = 20157 * 86400000.
//
// Project "alpha" (service "chat", operation "chat", environment "prod"):
//   trace A (thread th-1, user u-1): root 10:00:05-10:00:45 (no model)
//     S1 gpt-4o/openai       start 10:00:10  100 ms  in 100 out  50  $0.25
//     S2 gpt-4o/openai       start 10:00:40  300 ms  in 200 out 100  $0.50  error (error.type
//     RateLimitError)
//   trace B (thread th-2, user u-2): root 10:01:15-10:01:30 (no model)
//     S3 claude-3-5-sonnet/anthropic 10:01:20 200 ms in 400 out 40  $0.125 error (status 2, no
//     message, no type)
//   trace D (thread th-old, user u-1): no root
//     S4 gpt-4o/openai       start 09:30:00  400 ms  in  50 out  10  $0.25
// Rollups of alpha (each row = the spans above in that window and dimension set):
//   1m 09:30 gpt-4o : S4          req 1 err 0 in  50 out  10 $0.25  dur sum 400 min 400 max 400 p*
//   400 1m 10:00 gpt-4o : S1+S2       req 2 err 1 in 300 out 150 $0.75  dur sum 400 min 100 max 300
//   p50 100 p90..p99 300 1m 10:01 claude : S3          req 1 err 1 in 400 out  40 $0.125 dur sum
//   200 min=max=p* 200 1h 09:00 gpt-4o = 1m 09:30 gpt-4o; 1h 10:00 gpt-4o = 1m 10:00 gpt-4o; 1h
//   10:00 claude = 1m 10:01 claude 1d day0 gpt-4o  : S1+S2+S4    req 3 err 1 in 350 out 160 $1.00
//   dur sum 800 min 100 max 400 p50 100 p90..p99 400 1d day0 claude  = 1m 10:01 claude
// Project "beta" (service "svc-b"): one rollup row per granularity at 10:00 / day 0,
// gpt-4o-mini/openai,
//   req 7 err 0 in 700 out 70 $9.00; trace C (thread th-beta, user u-9) with one error span
//   (error.type BetaOnlyError) at 10:02:00; and a trace with the same id as alpha's trace A (one
//   span).
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <unistd.h>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "serve/http_server.h"
#include "serve/query_store.h"

namespace spanpipe::serve::servetest {

using nlohmann::json;

constexpr int64_t kDay0 = 1741564800000;  // 2025-03-10T00:00:00Z
constexpr int64_t kMin = 60000, kHour = 3600000, kDayMs = 86400000;
constexpr int64_t kT0900 = kDay0 + 9 * kHour;   // 1741597200000
constexpr int64_t kT0930 = kT0900 + 30 * kMin;  // 1741599000000
constexpr int64_t kT1000 = kDay0 + 10 * kHour;  // 1741600800000
constexpr int64_t kT1001 = kT1000 + kMin;       // 1741600860000
constexpr int64_t kT1100 = kDay0 + 11 * kHour;  // 1741604400000

inline const std::string kTraceA = "a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0";
inline const std::string kTraceB = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
inline const std::string kTraceC = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";
inline const std::string kTraceD = "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0";

// API keys of the tests (config form: key, projects, role).
inline const std::string kAlphaRead = "alpha-read-key-0001";
inline const std::string kAlphaQuery = "alpha-query-key-001";
inline const std::string kAlphaAdmin = "alpha-admin-key-001";
inline const std::string kBetaRead = "beta-read-key-00001";
inline const std::string kMultiRead = "multi-read-key-0001";
inline const std::string kJwtSecret = "jwt-secret-for-the-tests";

struct RollupSpec {
  std::string gran;
  int64_t window_ms;
  std::string project, service, provider, model;
  int64_t requests, errors, in, out;
  double cost, dsum, dmin, dmax, p50, p90, p95, p99;
};

inline std::string RollupJson(const RollupSpec& r) {
  return json{{"granularity", r.gran},
              {"window_start", "(not read by serve)"},
              {"window_start_ms", r.window_ms},
              {"project", r.project},
              {"service", r.service},
              {"provider", r.provider},
              {"model", r.model},
              {"operation", "chat"},
              {"environment", "prod"},
              {"requests", r.requests},
              {"errors", r.errors},
              {"input_tokens", r.in},
              {"output_tokens", r.out},
              {"total_tokens", r.in + r.out},
              {"cost_usd", r.cost},
              {"duration_ms_sum", r.dsum},
              {"duration_ms_min", r.dmin},
              {"duration_ms_max", r.dmax},
              {"duration_ms_p50", r.p50},
              {"duration_ms_p90", r.p90},
              {"duration_ms_p95", r.p95},
              {"duration_ms_p99", r.p99},
              {"unique_users", 1},
              {"unique_threads", 1},
              {"final", true}}
      .dump();
}

struct SpanSpec {
  std::string project, trace, span, parent, name, model, provider, thread, user;
  int64_t start_ms, duration_ms, in, out;
  double cost;
  bool error;
  int status_code;
  std::string status_message;
  json attributes;
};

inline std::string SpanJson(const SpanSpec& s) {
  return json{{"trace_id", s.trace},
              {"span_id", s.span},
              {"parent_span_id", s.parent},
              {"trace_uuid", "00000000-0000-0000-0000-000000000000"},
              {"name", s.name},
              {"kind", 1},
              {"start_unix_nano", static_cast<uint64_t>(s.start_ms) * 1000000},
              {"end_unix_nano", static_cast<uint64_t>(s.start_ms + s.duration_ms) * 1000000},
              {"duration_ms", static_cast<double>(s.duration_ms)},
              {"status_code", s.status_code},
              {"status_message", s.status_message},
              {"error", s.error},
              {"project", s.project},
              {"service", s.project == "beta" ? "svc-b" : "chat"},
              {"model", s.model},
              {"provider", s.provider},
              {"operation", s.model.empty() ? "" : "chat"},
              {"input_tokens", s.in},
              {"output_tokens", s.out},
              {"cost_usd", s.cost},
              {"thread_id", s.thread},
              {"user_id", s.user},
              {"environment", "prod"},
              {"attributes", s.attributes.is_null() ? json::object() : s.attributes},
              {"content_refs", json::array()}}
      .dump();
}

inline std::string ThreadJson(const std::string& project, const std::string& id,
                              const std::string& trace, int64_t spans, int64_t llm, int64_t errors,
                              int64_t in, int64_t out, double cost, const std::string& first,
                              const std::string& last, const std::string& model,
                              const std::string& user) {
  return json{{"project", project}, {"thread_id", id},     {"trace_ids", {trace}},
              {"trace_count", 1},   {"span_count", spans}, {"llm_calls", llm},
              {"errors", errors},   {"input_tokens", in},  {"output_tokens", out},
              {"cost_usd", cost},   {"first_seen", first}, {"last_seen", last},
              {"models", {model}},  {"user_ids", {user}}}
      .dump();
}

inline std::string TraceJson(const std::string& project, const std::string& id,
                             const std::string& name, const std::string& thread,
                             const std::string& user, const std::string& start,
                             const std::string& end, int64_t spans, int64_t llm, int64_t errors,
                             int64_t in, int64_t out, double cost, const std::string& model) {
  return json{{"trace_id", id},       {"trace_uuid", "00000000-0000-0000-0000-000000000000"},
              {"project", project},   {"service", project == "beta" ? "svc-b" : "chat"},
              {"name", name},         {"thread_id", thread},
              {"user_id", user},      {"environment", "prod"},
              {"start", start},       {"end", end},
              {"span_count", spans},  {"llm_calls", llm},
              {"errors", errors},     {"input_tokens", in},
              {"output_tokens", out}, {"cost_usd", cost},
              {"models", {model}}}
      .dump();
}

// Applies the data set described at the top of this file and commits it.
inline void Seed(QueryStore* q) {
  auto apply = [&](const char* topic, const std::string& v) {
    ASSERT_TRUE(q->Apply(topic, "", v).ok()) << v;
  };
  const char* R = "spanpipe.rollups";
  // alpha rollups
  for (auto [g, w] : {std::pair{"1m", kT0930}, std::pair{"1h", kT0900}})
    apply(R, RollupJson({g, w, "alpha", "chat", "openai", "gpt-4o", 1, 0, 50, 10, 0.25, 400, 400,
                         400, 400, 400, 400, 400}));
  for (auto [g, w] : {std::pair{"1m", kT1000}, std::pair{"1h", kT1000}})
    apply(R, RollupJson({g, w, "alpha", "chat", "openai", "gpt-4o", 2, 1, 300, 150, 0.75, 400, 100,
                         300, 100, 300, 300, 300}));
  for (auto [g, w] : {std::pair{"1m", kT1001}, std::pair{"1h", kT1000}, std::pair{"1d", kDay0}})
    apply(R, RollupJson({g, w, "alpha", "chat", "anthropic", "claude-3-5-sonnet", 1, 1, 400, 40,
                         0.125, 200, 200, 200, 200, 200, 200, 200}));
  apply(R, RollupJson({"1d", kDay0, "alpha", "chat", "openai", "gpt-4o", 3, 1, 350, 160, 1.0, 800,
                       100, 400, 100, 400, 400, 400}));
  // beta rollups
  for (auto [g, w] : {std::pair{"1m", kT1000}, std::pair{"1h", kT1000}, std::pair{"1d", kDay0}})
    apply(R, RollupJson({g, w, "beta", "svc-b", "openai", "gpt-4o-mini", 7, 0, 700, 70, 9.0, 70, 10,
                         10, 10, 10, 10, 10}));

  const char* S = "spanpipe.spans";
  json rate_limit{{"error.type", "RateLimitError"}, {"http.status_code", 429}};
  apply(S, SpanJson({"alpha",
                     kTraceA,
                     "a000000000000001",
                     "",
                     "handle-a",
                     "",
                     "",
                     "th-1",
                     "u-1",
                     kT1000 + 5000,
                     40000,
                     0,
                     0,
                     0.0,
                     false,
                     0,
                     "",
                     {}}));
  apply(S, SpanJson({"alpha",
                     kTraceA,
                     "a000000000000002",
                     "a000000000000001",
                     "llm",
                     "gpt-4o",
                     "openai",
                     "th-1",
                     "u-1",
                     kT1000 + 10000,
                     100,
                     100,
                     50,
                     0.25,
                     false,
                     0,
                     "",
                     {}}));
  apply(S, SpanJson({"alpha", kTraceA, "a000000000000003", "a000000000000001", "llm", "gpt-4o",
                     "openai", "th-1", "u-1", kT1000 + 40000, 300, 200, 100, 0.5, true, 2,
                     "rate limited", rate_limit}));
  apply(S, SpanJson({"alpha",
                     kTraceB,
                     "b000000000000001",
                     "",
                     "handle-b",
                     "",
                     "",
                     "th-2",
                     "u-2",
                     kT1001 + 15000,
                     15000,
                     0,
                     0,
                     0.0,
                     false,
                     0,
                     "",
                     {}}));
  apply(S, SpanJson({"alpha",
                     kTraceB,
                     "b000000000000002",
                     "b000000000000001",
                     "llm",
                     "claude-3-5-sonnet",
                     "anthropic",
                     "th-2",
                     "u-2",
                     kT1001 + 20000,
                     200,
                     400,
                     40,
                     0.125,
                     true,
                     2,
                     "",
                     {}}));
  apply(S, SpanJson({"alpha",
                     kTraceD,
                     "d000000000000001",
                     "",
                     "llm",
                     "gpt-4o",
                     "openai",
                     "th-old",
                     "u-1",
                     kT0930,
                     400,
                     50,
                     10,
                     0.25,
                     false,
                     0,
                     "",
                     {}}));
  apply(S, SpanJson({"beta", kTraceC, "c000000000000001", "", "llm", "gpt-4o-mini", "openai",
                     "th-beta", "u-9", kT1000 + 120000, 10, 100, 10, 1.0, true, 2, "",
                     json{{"error.type", "BetaOnlyError"}}}));
  apply(S, SpanJson({"beta",
                     kTraceA,
                     "a0000000000000ff",
                     "",
                     "beta-root",
                     "",
                     "",
                     "th-beta",
                     "u-9",
                     kT1000 + 120000,
                     10,
                     0,
                     0,
                     0.0,
                     false,
                     0,
                     "",
                     {}}));

  const char* T = "spanpipe.threads";
  // An older version of th-1 first (as the compacted topic may still deliver it): the newest wins.
  apply(T, ThreadJson("alpha", "th-1", kTraceA, 2, 1, 0, 100, 50, 0.25, "2025-03-10T10:00:05Z",
                      "2025-03-10T10:00:20Z", "gpt-4o", "u-1"));
  apply(T, ThreadJson("alpha", "th-1", kTraceA, 3, 2, 1, 300, 150, 0.75, "2025-03-10T10:00:05Z",
                      "2025-03-10T10:00:45Z", "gpt-4o", "u-1"));
  apply(T, ThreadJson("alpha", "th-2", kTraceB, 2, 1, 1, 400, 40, 0.125, "2025-03-10T10:01:15Z",
                      "2025-03-10T10:01:30Z", "claude-3-5-sonnet", "u-2"));
  apply(T, ThreadJson("alpha", "th-old", kTraceD, 1, 1, 0, 50, 10, 0.25, "2025-03-10T09:30:00Z",
                      "2025-03-10T09:30:00.400Z", "gpt-4o", "u-1"));
  apply(T, ThreadJson("beta", "th-beta", kTraceC, 1, 1, 1, 100, 10, 1.0, "2025-03-10T10:02:00Z",
                      "2025-03-10T10:02:00.010Z", "gpt-4o-mini", "u-9"));

  const char* X = "spanpipe.traces";
  apply(X, TraceJson("alpha", kTraceA, "handle-a", "th-1", "u-1", "2025-03-10T10:00:05Z",
                     "2025-03-10T10:00:45Z", 3, 2, 1, 300, 150, 0.75, "gpt-4o"));
  apply(X, TraceJson("alpha", kTraceB, "handle-b", "th-2", "u-2", "2025-03-10T10:01:15Z",
                     "2025-03-10T10:01:30Z", 2, 1, 1, 400, 40, 0.125, "claude-3-5-sonnet"));
  apply(X, TraceJson("alpha", kTraceD, "", "th-old", "u-1", "2025-03-10T09:30:00Z",
                     "2025-03-10T09:30:00.400Z", 1, 1, 0, 50, 10, 0.25, "gpt-4o"));
  apply(X, TraceJson("beta", kTraceC, "", "th-beta", "u-9", "2025-03-10T10:02:00Z",
                     "2025-03-10T10:02:00.010Z", 1, 1, 1, 100, 10, 1.0, "gpt-4o-mini"));
  ASSERT_TRUE(q->Commit().ok());
}

inline std::string TempPath(const std::string& name) {
  static int n = 0;
  auto p =
      std::filesystem::temp_directory_path() /
      ("spanpipe_serve_" + std::to_string(::getpid()) + "_" + std::to_string(++n) + "_" + name);
  std::filesystem::remove_all(p);
  return p.string();
}

inline ServeOptions DefaultOptions() {
  ServeOptions o;
  o.listen = "127.0.0.1:0";
  o.api_keys = {{kAlphaRead, {"alpha"}, "read"},
                {kAlphaQuery, {"alpha"}, "query"},
                {kAlphaAdmin, {"alpha"}, "admin"},
                {kBetaRead, {"beta"}, "read"},
                {kMultiRead, {"alpha", "beta"}, "read"}};
  o.jwt_hs256_secret = kJwtSecret;
  return o;
}

// The content store stub: trace A of alpha has one stored value; everything else is NotFound.
inline ContentFn StubContent() {
  return [](std::string_view project, std::string_view trace, std::string* out) {
    if (project == "alpha" && trace == kTraceA) {
      *out = json::array({{{"trace_id", kTraceA},
                           {"span_id", "a000000000000002"},
                           {"key", "gen_ai.prompt"},
                           {"value", "hello"}}})
                 .dump();
      return Status::OK();
    }
    return Status::NotFound("no stored content for trace " + std::string(trace));
  };
}

struct Reply {
  int status = 0;
  json body;
  std::string text;
  httplib::Headers headers;
};

// A seeded store and a started server; one client per request.
class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override { StartWith(DefaultOptions()); }
  void TearDown() override {
    if (server_) server_->Stop();
    server_.reset();
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void StartWith(ServeOptions o) {
    if (server_) server_->Stop();
    server_.reset();
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    dir_ = TempPath(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(QueryStore::Open(dir_, 16, &store_).ok());
    Seed(store_.get());
    server_ = std::make_unique<HttpServer>(o, store_.get(), &metrics_, StubContent());
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_GT(server_->port(), 0);
  }

  static Reply From(const httplib::Result& r) {
    Reply out;
    if (!r) {
      ADD_FAILURE() << "request failed: " << httplib::to_string(r.error());
      return out;
    }
    out.status = r->status;
    out.text = r->body;
    out.headers = r->headers;
    out.body = json::parse(r->body, nullptr, false);
    return out;
  }

  httplib::Headers Auth(const std::string& key, const std::string& project = "") const {
    httplib::Headers h;
    if (!key.empty()) h.emplace("Authorization", "Bearer " + key);
    if (!project.empty()) h.emplace("x-project-id", project);
    return h;
  }

  Reply Get(const std::string& path, const httplib::Headers& h) {
    httplib::Client c("127.0.0.1", server_->port());
    return From(c.Get(path.c_str(), h));
  }
  Reply Get(const std::string& path, const std::string& key = kAlphaRead) {
    return Get(path, Auth(key));
  }
  Reply Post(const std::string& path, const std::string& body, const httplib::Headers& h) {
    httplib::Client c("127.0.0.1", server_->port());
    return From(c.Post(path.c_str(), h, body, "application/json"));
  }
  Reply Post(const std::string& path, const json& body, const std::string& key = kAlphaQuery) {
    return Post(path, body.dump(), Auth(key));
  }
  // The value of an unlabelled series on /metrics, or "missing".
  std::string Metric(const std::string& name) {
    std::string text = Get("/metrics", "").text;
    size_t p = text.find("\n" + name + " ");
    return p == std::string::npos
               ? "missing"
               : text.substr(p + name.size() + 2, text.find('\n', p + 1) - p - name.size() - 2);
  }

  MetricsRegistry metrics_;
  std::unique_ptr<QueryStore> store_;
  std::unique_ptr<HttpServer> server_;
  std::string dir_;
};

// The alpha range used by most tests: 09:00 to 11:00 on day 0 (RFC 3339, URL-safe).
inline const std::string kRange = "start_time=2025-03-10T09:00:00Z&end_time=2025-03-10T11:00:00Z";
inline const std::string kHour10 = "start_time=2025-03-10T10:00:00Z&end_time=2025-03-10T11:00:00Z";

}  // namespace spanpipe::serve::servetest
