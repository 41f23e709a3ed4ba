// The query side's speed (issue 7, docs/PERFORMANCE.md): 30 days of 1-minute rollups for 100
// provider/model combinations (10 providers x 10 models), with the 1h and 1d rows the pipeline
// publishes beside them, ~14k threads, ~29k traces and their spans, materialised in a QueryStore.
//
//   serve_bench [--data DIR] [google-benchmark flags]
//       in-process latency of each query (no HTTP), and the feed's apply rate.
//   serve_bench --serve PORT [--no-cache] [--no-bucket-cache] [--feed] [--data DIR]
//       the same data behind a real HttpServer on 127.0.0.1:PORT (API key "bench-key-0001",
//       project "bench", rate limit off) for `wrk` from a second process; writes wrk scripts into
//       DIR and prints the commands. Stops on SIGINT/SIGTERM.
//         --no-cache         whole-response cache off (serve/response_cache.h)
//         --no-bucket-cache  per-bucket cache of /api/v1/metrics off (serve/bucket_cache.h)
//         --feed             a feed thread commits the current minute's, hour's and day's rows
//                            of the 100 combinations (same values) every second, as the live feed
//                            does: every commit drops the response cache and the bucket cache's
//                            buckets of those windows.
//       Scripts: metrics.lua, metrics_gzip.lua (Accept-Encoding: gzip) and summary.lua repeat one
//       query (range ending at the server's start); metrics_now.lua, metrics_now_gzip.lua and
//       summary_now.lua send a different range with every request (1 day ending `now - offset`,
//       to the second, the offset stepping by 16 s per request of a wrk thread: a thread never
//       repeats a range within a run; two threads rarely send the same one in the same second).
//
// The data set is generated once into DIR (default /tmp/spanpipe_serve_bench) and reused.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/time_format.h"
#include "serve/bucket_cache.h"
#include "serve/http_server.h"
#include "serve/query_api.h"
#include "serve/query_store.h"

namespace spanpipe::serve {
namespace {

using nlohmann::json;

constexpr int64_t kMin = 60000, kHour = 3600000, kDay = 86400000;
constexpr int kDays = 30, kProviders = 10, kModelsPerProvider = 10;
constexpr char kProject[] = "bench";
constexpr char kVersion[] = "serve-bench-v3";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb3f97a6ed1a9ULL;
  return x ^ (x >> 33);
}

struct Row {
  int64_t requests = 0, errors = 0, in = 0, out = 0;
  double cost = 0, dsum = 0, dmin = 1e18, dmax = 0, p50 = 0, p90 = 0, p95 = 0, p99 = 0;
  void Merge(const Row& r) {
    // Percentiles of merged rows: request-weighted (close enough for a synthetic data set).
    double n = static_cast<double>(requests + r.requests);
    auto w = [&](double a, double b) { return n > 0 ? (a * requests + b * r.requests) / n : 0; };
    p50 = w(p50, r.p50), p90 = w(p90, r.p90), p95 = w(p95, r.p95), p99 = w(p99, r.p99);
    requests += r.requests, errors += r.errors, in += r.in, out += r.out, cost += r.cost,
        dsum += r.dsum;
    dmin = std::min(dmin, r.dmin), dmax = std::max(dmax, r.dmax);
  }
};

std::string Provider(int p) {
  return "provider-" + std::to_string(p);
}
std::string Model(int p, int m) {
  return "model-" + std::to_string(p) + "-" + std::to_string(m) + "-2025-01-preview";
}

std::string RollupJson(const char* gran, int64_t ws, int p, int m, const Row& r) {
  return json{{"granularity", gran},
              {"window_start", FormatRfc3339Millis(ws)},
              {"window_start_ms", ws},
              {"project", kProject},
              {"service", "chat"},
              {"provider", Provider(p)},
              {"model", Model(p, m)},
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
              {"unique_users", 3},
              {"unique_threads", 2},
              {"final", true}}
      .dump();
}

Row MinuteRow(int64_t ws, int combo) {
  uint64_t h = Mix(static_cast<uint64_t>(ws) * 131 + static_cast<uint64_t>(combo));
  Row r;
  r.requests = 1 + static_cast<int64_t>(h % 20);
  r.errors = static_cast<int64_t>((h >> 8) % 3 == 0);
  r.in = r.requests * (200 + static_cast<int64_t>((h >> 16) % 800));
  r.out = r.requests * (50 + static_cast<int64_t>((h >> 24) % 300));
  r.cost = static_cast<double>(r.in) * 2.5e-6 + static_cast<double>(r.out) * 1e-5;
  double base = 200 + static_cast<double>((h >> 32) % 1800);
  r.dsum = base * static_cast<double>(r.requests);
  r.dmin = base / 2, r.dmax = base * 3, r.p50 = base, r.p90 = base * 2, r.p95 = base * 2.5,
  r.p99 = base * 2.9;
  return r;
}

// Generates the data set into `dir` unless it is there already. Returns the first day (ms).
int64_t EnsureData(const std::string& dir, std::unique_ptr<QueryStore>* out) {
  const int64_t day0 = NowMs() / kDay * kDay - (kDays - 1) * kDay;  // the last 29 days and today
  std::string marker = dir + "/READY";
  bool ready = false;
  int64_t stored_day0 = 0;
  {
    std::ifstream in(marker);
    std::string v;
    if (in >> v >> stored_day0 && v == kVersion && stored_day0 == day0) ready = true;
  }
  if (!ready) std::filesystem::remove_all(dir);
  if (!QueryStore::Open(dir + "/store", 256, out).ok()) {
    std::cerr << "cannot open " << dir << "\n";
    std::exit(1);
  }
  if (ready) return day0;
  QueryStore* q = out->get();
  auto started = std::chrono::steady_clock::now();
  uint64_t n = 0;
  auto apply = [&](const char* topic, const std::string& v) {
    if (!q->Apply(topic, "", v).ok()) std::abort();
    if (++n % 20000 == 0) q->Commit();
  };
  for (int d = 0; d < kDays; ++d) {
    std::vector<Row> day(kProviders * kModelsPerProvider);
    for (int h = 0; h < 24; ++h) {
      std::vector<Row> hour(day.size());
      for (int mi = 0; mi < 60; ++mi) {
        int64_t ws = day0 + d * kDay + h * kHour + mi * kMin;
        for (int c = 0; c < static_cast<int>(day.size()); ++c) {
          Row r = MinuteRow(ws, c);
          apply("spanpipe.rollups",
                RollupJson("1m", ws, c / kModelsPerProvider, c % kModelsPerProvider, r));
          hour[c].Merge(r);
        }
      }
      int64_t hs = day0 + d * kDay + h * kHour;
      for (int c = 0; c < static_cast<int>(day.size()); ++c) {
        apply("spanpipe.rollups",
              RollupJson("1h", hs, c / kModelsPerProvider, c % kModelsPerProvider, hour[c]));
        day[c].Merge(hour[c]);
      }
      // 20 threads per hour, 2 traces each, one LLM span per trace (5% errors).
      for (int t = 0; t < 20; ++t) {
        std::string thread =
            "thread-" + std::to_string(d) + "-" + std::to_string(h) + "-" + std::to_string(t);
        int64_t first = hs + t * 2 * kMin, last = first + 90000;
        json traces = json::array();
        for (int k = 0; k < 2; ++k) {
          uint64_t x = Mix(static_cast<uint64_t>(first) + k);
          char id[33];
          std::snprintf(id, sizeof id, "%016llx%016llx", static_cast<unsigned long long>(x),
                        static_cast<unsigned long long>(Mix(x)));
          traces.push_back(id);
          std::string user = "user-" + std::to_string(x % 500);
          int64_t start = first + k * 60000;
          bool error = x % 20 == 0;
          apply("spanpipe.traces", json{{"trace_id", id},
                                        {"project", kProject},
                                        {"thread_id", thread},
                                        {"user_id", user},
                                        {"start", FormatRfc3339Millis(start)},
                                        {"end", FormatRfc3339Millis(start + 30000)},
                                        {"span_count", 1},
                                        {"llm_calls", 1},
                                        {"errors", error ? 1 : 0}}
                                       .dump());
          apply("spanpipe.spans",
                json{{"trace_id", id},
                     {"span_id", "00000000000000" + std::to_string(10 + k)},
                     {"project", kProject},
                     {"thread_id", thread},
                     {"user_id", user},
                     {"model", Model(static_cast<int>(x % 10), static_cast<int>((x >> 8) % 10))},
                     {"start_unix_nano", static_cast<uint64_t>(start) * 1000000},
                     {"end_unix_nano", static_cast<uint64_t>(start + 30000) * 1000000},
                     {"error", error},
                     {"status_code", error ? 2 : 0},
                     {"status_message", ""},
                     {"attributes", error ? json{{"error.type", "Error" + std::to_string(x % 7)}}
                                          : json::object()}}
                    .dump());
        }
        apply("spanpipe.threads", json{{"project", kProject},
                                       {"thread_id", thread},
                                       {"trace_ids", traces},
                                       {"trace_count", 2},
                                       {"span_count", 2},
                                       {"llm_calls", 2},
                                       {"first_seen", FormatRfc3339Millis(first)},
                                       {"last_seen", FormatRfc3339Millis(last)},
                                       {"user_ids", json::array()}}
                                      .dump());
      }
    }
    for (int c = 0; c < static_cast<int>(day.size()); ++c)
      apply("spanpipe.rollups", RollupJson("1d", day0 + d * kDay, c / kModelsPerProvider,
                                           c % kModelsPerProvider, day[c]));
  }
  q->Commit();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cerr << "serve_bench: generated " << n << " records in " << secs << " s (" << n / secs
            << " records/s)\n";
  std::ofstream(marker) << kVersion << " " << day0 << "\n";
  return day0;
}

std::string g_dir = "/tmp/spanpipe_serve_bench";
std::unique_ptr<QueryStore> g_store;
int64_t g_now =
    0;  // "now" of the queries: the current minute of today, minus 17 s (unaligned ranges)

QueryStore& Store() {
  if (!g_store) {
    EnsureData(g_dir, &g_store);
    g_now = NowMs() / kMin * kMin - 17000;
  }
  return *g_store;
}

Params Last(int64_t ms, std::initializer_list<std::pair<std::string, std::string>> extra) {
  Params p{{"start_time", std::to_string(g_now - ms)}, {"end_time", std::to_string(g_now)}};
  for (const auto& kv : extra) p.emplace(kv.first, kv.second);
  return p;
}

void Check(benchmark::State& state, const ApiResult& r) {
  if (r.status != 200) state.SkipWithError(r.body.dump().c_str());
}

void BM_Series_1Day_1Hour_ByModel(benchmark::State& state) {
  QueryStore& q = Store();
  Params p = Last(kDay, {{"metrics", "request_count,error_count,total_tokens,total_cost,duration"},
                         {"interval", "1hour"},
                         {"group_by", "model"}});
  size_t points = 0;
  for (auto _ : state) {
    ApiResult r = MetricsSeries(q, kProject, p, g_now);
    Check(state, r);
    points = r.text.size();
    benchmark::DoNotOptimize(r);
  }
  state.counters["bytes"] = static_cast<double>(points);
}
BENCHMARK(BM_Series_1Day_1Hour_ByModel)->Unit(benchmark::kMillisecond);

// The same query shape with the bucket cache, a range one second later at every call (a dashboard
// ending at "now"): the 24 whole hours come from the cache, the current hour is read.
void BM_Series_1Day_1Hour_ByModel_BucketCache(benchmark::State& state) {
  QueryStore& q = Store();
  BucketCache cache(size_t{64} << 20);
  int64_t end = g_now;
  size_t bytes = 0;
  for (auto _ : state) {
    end += 1000;
    Params p{{"metrics", "request_count,error_count,total_tokens,total_cost,duration"},
             {"interval", "1hour"},
             {"group_by", "model"},
             {"start_time", std::to_string((end - kDay) / 1000)},
             {"end_time", std::to_string(end / 1000)}};
    ApiResult r = MetricsSeries(q, kProject, p, end, &cache);
    Check(state, r);
    bytes = r.text.size();
    benchmark::DoNotOptimize(r);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["cache_bytes"] = static_cast<double>(cache.bytes());
  state.counters["hit_ratio"] =
      static_cast<double>(cache.hits()) / static_cast<double>(cache.hits() + cache.misses());
}
BENCHMARK(BM_Series_1Day_1Hour_ByModel_BucketCache)->Unit(benchmark::kMillisecond);

void BM_Series_30Days_1Day(benchmark::State& state) {
  QueryStore& q = Store();
  Params p = Last(29 * kDay, {{"metrics", "request_count,total_cost"}, {"interval", "1day"}});
  for (auto _ : state) {
    ApiResult r = MetricsSeries(q, kProject, p, g_now);
    Check(state, r);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Series_30Days_1Day)->Unit(benchmark::kMillisecond);

void BM_Series_3Hours_1Min_ByModel(benchmark::State& state) {
  QueryStore& q = Store();
  Params p =
      Last(3 * kHour, {{"metrics", "request_count"}, {"interval", "1min"}, {"group_by", "model"}});
  for (auto _ : state) {
    ApiResult r = MetricsSeries(q, kProject, p, g_now);
    Check(state, r);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Series_3Hours_1Min_ByModel)->Unit(benchmark::kMillisecond);

void BM_Summary_1Day(benchmark::State& state) {
  QueryStore& q = Store();
  Params p = Last(kDay, {{"compare_previous_period", state.range(0) ? "true" : "false"}});
  for (auto _ : state) {
    ApiResult r = MetricsSummary(q, kProject, p, g_now);
    Check(state, r);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Summary_1Day)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// The same with the bucket cache, a range one second later at every call: the rows of whole
// rollup windows come from the cache.
void BM_Summary_1Day_BucketCache(benchmark::State& state) {
  QueryStore& q = Store();
  BucketCache cache(size_t{64} << 20);
  int64_t end = g_now;
  for (auto _ : state) {
    end += 1000;
    Params p{{"compare_previous_period", state.range(0) ? "true" : "false"},
             {"start_time", std::to_string((end - kDay) / 1000)},
             {"end_time", std::to_string(end / 1000)}};
    ApiResult r = MetricsSummary(q, kProject, p, end, &cache);
    Check(state, r);
    benchmark::DoNotOptimize(r);
  }
  state.counters["cache_bytes"] = static_cast<double>(cache.bytes());
  state.counters["hit_ratio"] =
      static_cast<double>(cache.hits()) / static_cast<double>(cache.hits() + cache.misses());
}
BENCHMARK(BM_Summary_1Day_BucketCache)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_Summary_30Days(benchmark::State& state) {
  QueryStore& q = Store();
  Params p = Last(29 * kDay, {});
  for (auto _ : state) {
    ApiResult r = MetricsSummary(q, kProject, p, g_now);
    Check(state, r);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Summary_30Days)->Unit(benchmark::kMillisecond);

void BM_Query_1Day_ByProviderModel(benchmark::State& state) {
  QueryStore& q = Store();
  json body = {{"start_time", std::to_string(g_now - kDay)},
               {"end_time", std::to_string(g_now)},
               {"metrics",
                {{{"name", "total_cost"}, {"alias", "cost"}},
                 {{"name", "duration"}, {"aggregation", "p95"}, {"alias", "p95"}}}},
               {"group_by", {"provider", "model"}},
               {"filters", {{{"field", "provider"}, {"op", "ne"}, {"value", "provider-0"}}}},
               {"having", {{{"metric", "cost"}, {"op", "gt"}, {"value", 0}}}},
               {"sort_by", {{"field", "cost"}, {"order", "desc"}}},
               {"limit", 10}};
  for (auto _ : state) {
    ApiResult r = MetricsQuery(q, kProject, body, g_now);
    Check(state, r);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Query_1Day_ByProviderModel)->Unit(benchmark::kMillisecond);

void BM_Group_1Day(benchmark::State& state) {
  QueryStore& q = Store();
  Params p = Last(kDay, {{"group_by", state.range(0) ? "thread" : "time"}, {"bucketSize", "3600"}});
  for (auto _ : state) {
    ApiResult r = GroupQuery(q, kProject, p, g_now);
    Check(state, r);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Group_1Day)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// The feed: published rollup records (JSON) applied and committed per 1000, into a fresh store.
void BM_ApplyRollups(benchmark::State& state) {
  std::string dir = g_dir + "_apply_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::unique_ptr<QueryStore> q;
  if (!QueryStore::Open(dir, 64, &q).ok()) return state.SkipWithError("open");
  std::vector<std::string> records;
  for (int i = 0; i < 10000; ++i)
    records.push_back(RollupJson("1m", 1741600800000 + (i / 100) * kMin, (i % 100) / 10, i % 10,
                                 MinuteRow(i, i)));
  size_t i = 0;
  for (auto _ : state) {
    if (!q->Apply("spanpipe.rollups", "", records[i++ % records.size()]).ok()) std::abort();
    if (i % 1000 == 0) q->Commit();
  }
  q->Commit();
  state.SetItemsProcessed(state.iterations());
  q.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ApplyRollups);

std::atomic<bool> g_stop{false};
void OnSignal(int) {
  g_stop = true;
}

int ServeForWrk(int port, bool cache, bool bucket_cache, bool feed) {
  QueryStore& q = Store();
  ServeOptions o;
  o.listen = "127.0.0.1:" + std::to_string(port);
  o.api_keys = {{"bench-key-0001", {kProject}, "read"}};
  o.rate_limit_rps = 0;
  if (!cache) o.cache_entries = 0;
  if (!bucket_cache) o.bucket_cache_bytes = 0;
  MetricsRegistry metrics;
  HttpServer server(o, &q, &metrics, nullptr);
  if (!server.Start().ok()) {
    std::cerr << "cannot listen on " << o.listen << "\n";
    return 1;
  }
  server.SetReady(true);
  std::string range = "start_time=" + std::to_string((g_now - kDay) / 1000) +
                      "&end_time=" + std::to_string(g_now / 1000);
  auto script = [&](const std::string& name, const std::string& path, bool gzip = false) {
    // wrk has no fixed-rate mode: each connection waits delay() ms before its next request,
    // uniform in [0, 2 * DELAY_MS] so that connections do not fire in lockstep; the offered rate
    // is about connections / (DELAY_MS + latency).
    std::ofstream(g_dir + "/" + name)
        << "wrk.method = \"GET\"\n"
        << "wrk.path = \"" << path << "\"\n"
        << "wrk.headers[\"Authorization\"] = \"Bearer bench-key-0001\"\n"
        << (gzip ? "wrk.headers[\"Accept-Encoding\"] = \"gzip\"\n" : "")
        << "local d = tonumber(os.getenv(\"DELAY_MS\") or \"0\")\n"
        << "function init(args) math.randomseed(os.time() + math.floor(os.clock() * 1e6)) end\n"
        << "function delay() return math.random(0, 2 * d) end\n";
  };
  const std::string metrics_path =
      "/api/v1/metrics?metrics=request_count,error_count,total_tokens,total_cost,duration"
      "&interval=1hour&group_by=model&" +
      range;
  script("metrics.lua", metrics_path);
  script("metrics_gzip.lua", metrics_path, true);
  script("summary.lua", "/api/v1/metrics/summary?compare_previous_period=true&" + range);
  // A different range with every request: end = now - offset seconds, start = end - 1 day. The
  // offset is (n * 16 + thread id) mod 3600 for the thread's n-th request (up to 16 threads): a
  // thread never repeats a range within a run (two threads rarely do in the same second).
  auto moving = [&](const std::string& name, const std::string& path, bool gzip = false) {
    std::ofstream(g_dir + "/" + name)
        << "wrk.method = \"GET\"\n"
        << "wrk.headers[\"Authorization\"] = \"Bearer bench-key-0001\"\n"
        << (gzip ? "wrk.headers[\"Accept-Encoding\"] = \"gzip\"\n" : "")
        << "local d = tonumber(os.getenv(\"DELAY_MS\") or \"0\")\n"
        << "local threads = 0\n"
        << "function setup(thread) thread:set(\"id\", threads); threads = threads + 1 end\n"
        << "local n = 0\n"
        << "function init(args) math.randomseed(os.time() + math.floor(os.clock() * 1e6) + id) "
           "end\n"
        << "function delay() return math.random(0, 2 * d) end\n"
        << "function request()\n"
        << "  n = n + 1\n"
        << "  local e = os.time() - (n * 16 + id) % 3600\n"
        << "  return wrk.format(nil, \"" << path << "&start_time=\" .. (e - 86400) .. "
        << "\"&end_time=\" .. e)\n"
        << "end\n";
  };
  moving("metrics_now.lua",
         "/api/v1/metrics?metrics=request_count,error_count,total_tokens,total_cost,duration"
         "&interval=1hour&group_by=model");
  moving("metrics_now_gzip.lua",
         "/api/v1/metrics?metrics=request_count,error_count,total_tokens,total_cost,duration"
         "&interval=1hour&group_by=model",
         true);
  moving("summary_now.lua", "/api/v1/metrics/summary?compare_previous_period=true");
  // The live feed: every second, what the pipeline publishes at a commit while traffic flows:
  // the current minute's 1m rows, the current hour's 1h rows and today's 1d rows of the 100
  // combinations (values as generated, so the data set stays the same).
  std::thread feeder;
  if (feed) {
    feeder = std::thread([&q] {
      const int combos = kProviders * kModelsPerProvider;
      auto apply = [&](const char* gran, int64_t ws, int c, const Row& r) {
        if (!q.Apply("spanpipe.rollups", "",
                     RollupJson(gran, ws, c / kModelsPerProvider, c % kModelsPerProvider, r))
                 .ok())
          std::abort();
      };
      while (!g_stop) {
        int64_t now = NowMs(), minute = now / kMin * kMin, hour = now / kHour * kHour,
                day = now / kDay * kDay;
        for (int c = 0; c < combos; ++c) {
          apply("1m", minute, c, MinuteRow(minute, c));
          Row day_row, hour_row;
          for (int h = 0; h < 24; ++h) {
            Row hr;  // summed in the generator's order
            for (int mi = 0; mi < 60; ++mi) {
              int64_t ws = day + h * kHour + mi * kMin;
              hr.Merge(MinuteRow(ws, c));
            }
            if (day + h * kHour == hour) hour_row = hr;
            day_row.Merge(hr);
          }
          apply("1h", hour, c, hour_row);
          apply("1d", day, c, day_row);
        }
        if (!q.Commit().ok()) std::abort();
        for (int i = 0; i < 10 && !g_stop; ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  std::cout << "serving on http://" << o.listen << "/ ; e.g.\n"
            << "  DELAY_MS=50 wrk -t2 -c10 -d30s --latency -s " << g_dir
            << "/metrics_now.lua http://" << o.listen << "\n"
            << "  DELAY_MS=50 wrk -t2 -c10 -d30s --latency -s " << g_dir
            << "/summary_now.lua http://" << o.listen << std::endl;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (feeder.joinable()) feeder.join();
  server.Stop();
  return 0;
}

}  // namespace
}  // namespace spanpipe::serve

int main(int argc, char** argv) {
  int port = 0;
  bool cache = true, bucket_cache = true, feed = false;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
      spanpipe::serve::g_dir = argv[++i];
    } else if (std::strcmp(argv[i], "--serve") == 0 && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--no-cache") == 0) {
      cache = false;
    } else if (std::strcmp(argv[i], "--no-bucket-cache") == 0) {
      bucket_cache = false;
    } else if (std::strcmp(argv[i], "--feed") == 0) {
      feed = true;
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (port > 0) {
    int rc = spanpipe::serve::ServeForWrk(port, cache, bucket_cache, feed);
    spanpipe::serve::g_store.reset();
    return rc;
  }
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  spanpipe::serve::g_store.reset();  // close RocksDB before static destructors run
  return 0;
}
