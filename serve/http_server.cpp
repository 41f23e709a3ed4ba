#include "serve/http_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "serve/compression.h"
#include "serve/dashboard.h"
#include "serve/query_api.h"

namespace spanpipe::serve {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t MonoNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Start of the request being served on this worker thread (set before routing, read after).
thread_local int64_t t_request_start_ns = 0;

// JSON answers are compressed here, not by cpp-httplib (which would use brotli at quality 11 for
// browsers): this media type is not in its list of types to compress. libdeflate's fastest
// level: a 545 KB /api/v1/metrics answer becomes 66 KB in ~2.5 ms on the loaded bench machine
// (zlib level 1: 75 KB in ~4.6 ms).
constexpr char kJsonType[] = "application/json; charset=utf-8";
constexpr int kGzipLevel = 1;
constexpr size_t kGzipMinBytes = 1024;  // smaller answers gain nothing worth the header

bool WantsGzip(const httplib::Request& req, size_t bytes) {
  return bytes >= kGzipMinBytes && AcceptsGzip(req.get_header_value("Accept-Encoding"));
}

void SendJson(httplib::Response& res, int status, std::string body, bool gzipped) {
  res.status = status;
  res.set_header("Vary", "Accept-Encoding");
  if (gzipped) res.set_header("Content-Encoding", "gzip");
  res.body = std::move(body);
  res.set_header("Content-Type", kJsonType);
}

// Sends a JSON body, gzip-compressed when the client accepts it.
void SendJson(const httplib::Request& req, httplib::Response& res, int status, std::string body) {
  std::string gz;
  bool gzipped = WantsGzip(req, body.size()) && Gzip(body, kGzipLevel, &gz);
  SendJson(res, status, gzipped ? std::move(gz) : std::move(body), gzipped);
}

// Large answers come pre-serialised (moved, not copied); a series answer in pieces is gzipped
// from its buckets' deflate segments.
void Reply(const httplib::Request& req, httplib::Response& res, ApiResult&& r) {
  if (!r.parts.empty() || r.head) {
    std::string gz;
    if (WantsGzip(req, r.text.size()) && GzipAnswer(r, kGzipLevel, &gz))
      return SendJson(res, r.status, std::move(gz), true);
  }
  SendJson(req, res, r.status, r.text.empty() ? r.body.dump() : std::move(r.text));
}

Params ToParams(const httplib::Request& req) {
  Params p;
  for (const auto& [k, v] : req.params) p.emplace(k, v);
  return p;
}

// The route a path belongs to: a bounded label set for /metrics.
std::string RouteOf(const std::string& path) {
  static const char* kFixed[] = {"/",
                                 "/healthz",
                                 "/readyz",
                                 "/metrics",
                                 "/group",
                                 "/api/v1/metrics",
                                 "/api/v1/metrics/summary",
                                 "/api/v1/metrics/query"};
  for (const char* f : kFixed)
    if (path == f) return f;
  if (path.rfind("/group/thread/", 0) == 0) return "/group/thread/{thread_id}";
  if (path.rfind("/api/v1/traces/", 0) == 0) {
    return path.size() > 8 && path.compare(path.size() - 8, 8, "/content") == 0
               ? "/api/v1/traces/{trace_id}/content"
               : "/api/v1/traces/{trace_id}";
  }
  return "other";
}

std::string BearerToken(const std::string& auth) {
  if (auth.size() < 7) return "";
  std::string scheme = auth.substr(0, 7);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (scheme != "bearer ") return "";
  std::string t = auth.substr(7);
  while (!t.empty() && t.front() == ' ') t.erase(t.begin());
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return t;
}

}  // namespace

HttpServer::HttpServer(ServeOptions options, QueryStore* store, MetricsRegistry* metrics,
                       ContentFn content)
    : options_(std::move(options)), store_(store), metrics_(metrics), content_(std::move(content)) {
  if (options_.cache_entries > 0)
    cache_ = std::make_unique<ResponseCache>(options_.cache_entries, options_.cache_bytes);
  if (options_.bucket_cache_bytes > 0)
    bucket_cache_ = std::make_unique<BucketCache>(options_.bucket_cache_bytes);
}

HttpServer::~HttpServer() {
  Stop();
}

void HttpServer::SetReadiness(ReadinessFn not_ready) {
  std::lock_guard<std::mutex> l(ready_mu_);
  not_ready_ = std::move(not_ready);
}

void HttpServer::SetReady(bool ready) {
  SetReadiness([ready] { return ready ? std::string() : std::string("not ready"); });
}

std::string HttpServer::NotReadyReason() const {
  ReadinessFn fn;
  {
    std::lock_guard<std::mutex> l(ready_mu_);
    fn = not_ready_;
  }
  return fn ? fn() : "starting";
}

bool HttpServer::Admit(const std::string& caller) {
  if (options_.rate_limit_rps <= 0) return true;
  std::lock_guard<std::mutex> l(limit_mu_);
  int64_t now = MonoNs();
  if (buckets_.size() > 100000) {
    // Many callers (open mode: client addresses): forget those idle long enough to be full again.
    int64_t refill_ns =
        static_cast<int64_t>(options_.rate_limit_burst / options_.rate_limit_rps * 1e9);
    for (auto it = buckets_.begin(); it != buckets_.end();)
      it = now - it->second.last_ns > refill_ns ? buckets_.erase(it) : std::next(it);
  }
  auto [it, fresh] = buckets_.try_emplace(caller);
  Bucket& b = it->second;
  if (fresh) {
    b.tokens = options_.rate_limit_burst;
  } else {
    b.tokens = std::min(options_.rate_limit_burst, b.tokens + static_cast<double>(now - b.last_ns) /
                                                                  1e9 * options_.rate_limit_rps);
  }
  b.last_ns = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void HttpServer::Cached(const httplib::Request& req, httplib::Response& res,
                        const std::string& project, const std::function<ApiResult()>& compute) {
  // Without both ends of the range the answer depends on the clock, not only on the store.
  bool cacheable = cache_ && !req.get_param_value("start_time").empty() &&
                   !req.get_param_value("end_time").empty();
  if (!cacheable) return Reply(req, res, compute());
  std::string key = project + '\0' + req.path + '\0';
  for (const auto& [k, v] : req.params) key += k + '=' + v + '&';  // sorted by name
  uint64_t version = store_->version();  // before computing: the answer is at least this new
  std::shared_ptr<const CachedAnswer> hit = cache_->Get(key, version);
  bool gzip = false;
  if (!hit) {
    ApiResult r = compute();
    if (r.status != 200) return Reply(req, res, std::move(r));
    auto fresh = std::make_shared<CachedAnswer>();
    if (r.text.empty()) r.text = r.body.dump();
    gzip = WantsGzip(req, r.text.size()) && GzipAnswer(r, kGzipLevel, &fresh->gzip);
    if (!gzip) fresh->gzip.clear();
    fresh->json = std::move(r.text);
    cache_->Put(key, version, fresh);
    hit = fresh;
  } else if (WantsGzip(req, hit->json.size())) {
    if (hit->gzip.empty()) {
      auto both = std::make_shared<CachedAnswer>(*hit);
      if (Gzip(both->json, kGzipLevel, &both->gzip)) cache_->Put(key, version, both);
      hit = both;
    }
    gzip = !hit->gzip.empty();
  }
  SendJson(res, 200, gzip ? hit->gzip : hit->json, gzip);
}

void HttpServer::Count(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> l(stats_mu_);
  ++requests_[{route, status}];
  auto& d = durations_[route];
  d.first += seconds;
  ++d.second;
  if (status == 429) ++rate_limited_;
}

std::string HttpServer::RenderHttpMetrics() const {
  std::string out;
  std::lock_guard<std::mutex> l(stats_mu_);
  out += "# HELP spanpipe_http_requests_total Query API requests by route and status.\n";
  out += "# TYPE spanpipe_http_requests_total counter\n";
  for (const auto& [k, n] : requests_)
    out += "spanpipe_http_requests_total{route=\"" + k.first + "\",status=\"" +
           std::to_string(k.second) + "\"} " + std::to_string(n) + "\n";
  out +=
      "# HELP spanpipe_http_request_duration_seconds Query API request handling time by route.\n";
  out += "# TYPE spanpipe_http_request_duration_seconds summary\n";
  for (const auto& [route, d] : durations_) {
    out += "spanpipe_http_request_duration_seconds_sum{route=\"" + route + "\"} " +
           std::to_string(d.first) + "\n";
    out += "spanpipe_http_request_duration_seconds_count{route=\"" + route + "\"} " +
           std::to_string(d.second) + "\n";
  }
  out += "# HELP spanpipe_http_rate_limited_total Requests answered 429.\n";
  out += "# TYPE spanpipe_http_rate_limited_total counter\n";
  out += "spanpipe_http_rate_limited_total " + std::to_string(rate_limited_) + "\n";
  out += "# HELP spanpipe_http_cache_hits_total Query answers served from the response cache.\n";
  out += "# TYPE spanpipe_http_cache_hits_total counter\n";
  out += "spanpipe_http_cache_hits_total " + std::to_string(cache_ ? cache_->hits() : 0) + "\n";
  out += "# HELP spanpipe_http_cache_misses_total Cacheable query answers computed.\n";
  out += "# TYPE spanpipe_http_cache_misses_total counter\n";
  out += "spanpipe_http_cache_misses_total " + std::to_string(cache_ ? cache_->misses() : 0) + "\n";
  if (bucket_cache_) {
    out +=
        "# HELP spanpipe_http_bucket_cache_hits_total Series buckets and rollup windows served "
        "from "
        "the bucket cache.\n";
    out += "# TYPE spanpipe_http_bucket_cache_hits_total counter\n";
    out += "spanpipe_http_bucket_cache_hits_total " + std::to_string(bucket_cache_->hits()) + "\n";
    out +=
        "# HELP spanpipe_http_bucket_cache_misses_total Series buckets and rollup windows read.\n";
    out += "# TYPE spanpipe_http_bucket_cache_misses_total counter\n";
    out +=
        "spanpipe_http_bucket_cache_misses_total " + std::to_string(bucket_cache_->misses()) + "\n";
    out +=
        "# HELP spanpipe_http_bucket_cache_invalidated_total Cached buckets dropped because a "
        "commit wrote into them.\n";
    out += "# TYPE spanpipe_http_bucket_cache_invalidated_total counter\n";
    out += "spanpipe_http_bucket_cache_invalidated_total " +
           std::to_string(bucket_cache_->invalidated()) + "\n";
    out += "# HELP spanpipe_http_bucket_cache_bytes Memory held by the bucket cache.\n";
    out += "# TYPE spanpipe_http_bucket_cache_bytes gauge\n";
    out += "spanpipe_http_bucket_cache_bytes " + std::to_string(bucket_cache_->bytes()) + "\n";
    out += "# HELP spanpipe_http_bucket_cache_entries Time buckets in the bucket cache.\n";
    out += "# TYPE spanpipe_http_bucket_cache_entries gauge\n";
    out += "spanpipe_http_bucket_cache_entries " + std::to_string(bucket_cache_->size()) + "\n";
  }
  out +=
      "# HELP spanpipe_serve_records_applied_total Published records materialised into the query "
      "store.\n";
  out += "# TYPE spanpipe_serve_records_applied_total counter\n";
  out += "spanpipe_serve_records_applied_total " + std::to_string(store_ ? store_->applied() : 0) +
         "\n";
  out +=
      "# HELP spanpipe_serve_ready 1 once the query side has caught up with the published "
      "topics.\n";
  out += "# TYPE spanpipe_serve_ready gauge\n";
  out += std::string("spanpipe_serve_ready ") + (NotReadyReason().empty() ? "1" : "0") + "\n";
  return out;
}

Status HttpServer::Start() {
  server_ = std::make_unique<httplib::Server>();
  auto& s = *server_;
  size_t threads = std::max<size_t>(options_.threads, 2);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_payload_max_length(options_.max_body);
  s.set_keep_alive_max_count(1000);
  // Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and the
  // client's delayed ACK hold small answers back ~40 ms.
  s.set_tcp_nodelay(true);

  // Authenticates, authorises and rate-limits; on failure writes the 401/403/400/429 and returns
  // false. The project is x-project-id, or the principal's only project.
  auto guard = [this](const httplib::Request& req, httplib::Response& res, int min_role,
                      std::string* project) {
    std::string header_project = req.get_header_value("x-project-id");
    if (options_.open_on_loopback) {
      if (!Admit("addr:" + req.remote_addr)) {
        res.set_header("Retry-After", "1");
        Reply(req, res, Error(429, "rate limit exceeded"));
        return false;
      }
      *project = header_project.empty() ? "default" : header_project;
      return true;
    }
    std::string token = BearerToken(req.get_header_value("Authorization"));
    Principal who;
    std::string why;
    if (!Authenticate(token, options_.api_keys, options_.jwt_hs256_secret, NowMs() / 1000, &who,
                      &why)) {
      res.set_header("WWW-Authenticate", "Bearer");
      Reply(req, res, Error(401, why));
      return false;
    }
    if (!Admit(who.name)) {
      res.set_header("Retry-After", "1");
      Reply(req, res, Error(429, "rate limit exceeded"));
      return false;
    }
    if (header_project.empty()) {
      if (who.projects.size() != 1) {
        Reply(req, res, Error(400, "x-project-id header required: the key has several projects"));
        return false;
      }
      header_project = who.projects[0];
    }
    if (std::find(who.projects.begin(), who.projects.end(), header_project) == who.projects.end()) {
      spdlog::info("http: {} denied project {}", who.name, header_project);
      Reply(req, res, Error(403, "no access to project '" + header_project + "'"));
      return false;
    }
    if (who.role < min_role) {
      static const char* kRoles[] = {"", "read", "query", "admin"};
      Reply(req, res,
            Error(403, std::string("this endpoint needs the '") + kRoles[min_role] + "' role"));
      return false;
    }
    *project = header_project;
    return true;
  };

  s.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    t_request_start_ns = MonoNs();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Runs once the final status is known (after the error handler), before the response is sent.
  s.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // Requests rejected before routing (e.g. 413) never passed the pre-routing handler.
    double secs =
        t_request_start_ns ? static_cast<double>(MonoNs() - t_request_start_ns) / 1e9 : 0.0;
    t_request_start_ns = 0;
    Count(RouteOf(req.path), res.status, secs);
  });

  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    std::string why = NotReadyReason();
    res.status = why.empty() ? 200 : 503;
    res.set_content(why.empty() ? "ready\n" : "not ready: " + why + "\n", "text/plain");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content((metrics_ ? metrics_->Render() : std::string()) + RenderHttpMetrics(),
                    "text/plain; version=0.0.4");
  });
  s.Get("/", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(DashboardHtml(options_.open_on_loopback), "text/html; charset=utf-8");
  });
  s.Get("/group", [this, guard](const httplib::Request& req, httplib::Response& res) {
    std::string project;
    if (guard(req, res, 1, &project))
      Reply(req, res, GroupQuery(*store_, project, ToParams(req), NowMs()));
  });
  // Thread ids may contain any character (percent-encoded in the path, decoded before matching).
  s.Get(R"(/group/thread/(.+))",
        [this, guard](const httplib::Request& req, httplib::Response& res) {
          std::string project;
          if (guard(req, res, 1, &project))
            Reply(req, res, ThreadSpans(*store_, project, req.matches[1], ToParams(req)));
        });
  s.Get("/api/v1/metrics", [this, guard](const httplib::Request& req, httplib::Response& res) {
    std::string project;
    if (guard(req, res, 1, &project))
      Cached(req, res, project, [&] {
        return MetricsSeries(*store_, project, ToParams(req), NowMs(), bucket_cache_.get());
      });
  });
  s.Get("/api/v1/metrics/summary",
        [this, guard](const httplib::Request& req, httplib::Response& res) {
          std::string project;
          if (guard(req, res, 1, &project))
            Cached(req, res, project, [&] {
              return MetricsSummary(*store_, project, ToParams(req), NowMs(), bucket_cache_.get());
            });
        });
  s.Post("/api/v1/metrics/query",
         [this, guard](const httplib::Request& req, httplib::Response& res) {
           std::string project;
           if (!guard(req, res, 2, &project)) return;
           auto body = nlohmann::json::parse(req.body, nullptr, false);
           if (body.is_discarded()) return Reply(req, res, Error(400, "body is not JSON"));
           Reply(req, res, MetricsQuery(*store_, project, body, NowMs(), bucket_cache_.get()));
         });
  s.Get(R"(/api/v1/traces/([0-9a-fA-F]{32}))",
        [this, guard](const httplib::Request& req, httplib::Response& res) {
          std::string project;
          if (guard(req, res, 1, &project))
            Reply(req, res, TraceRecord(*store_, project, req.matches[1]));
        });
  s.Get(R"(/api/v1/traces/([0-9a-fA-F]{32})/content)",
        [this, guard](const httplib::Request& req, httplib::Response& res) {
          std::string project;
          if (!guard(req, res, 3, &project)) return;
          std::string out;
          Status st = content_ ? content_(project, req.matches[1].str(), &out)
                               : Status::NotFound("no content store configured");
          if (st.IsNotFound()) return Reply(req, res, Error(404, st.message()));
          if (!st.ok()) return Reply(req, res, Error(500, st.message()));
          SendJson(req, res, 200, std::move(out));
        });
  s.Get(R"(/api/v1/traces/([^/]*)(/content)?)",
        [](const httplib::Request& req, httplib::Response& res) {
          Reply(req, res,
                Error(404, "trace '" + req.matches[1].str() +
                               "' not found: a trace id is 32 hex characters"));
        });
  s.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const nlohmann::json::exception& e) {
          return Reply(req, res, Error(400, std::string("invalid request: ") + e.what()));
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("http: {} {}: {}", req.method, req.path, what);
        Reply(req, res, Error(500, what));
      });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 413) return Reply(req, res, Error(413, "request body larger than 1 MiB"));
    if (res.body.empty())
      Reply(req, res,
            Error(res.status, res.status == 404 ? "no such endpoint: " + req.method + " " + req.path
                                                : "HTTP " + std::to_string(res.status)));
  });

  size_t colon = options_.listen.rfind(':');
  if (colon == std::string::npos)
    return Status::InvalidArgument("listen address needs host:port: " + options_.listen);
  std::string host = options_.listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = std::atoi(options_.listen.substr(colon + 1).c_str());
  if (port == 0) {
    port_ = s.bind_to_any_port(host);
  } else {
    port_ = s.bind_to_port(host, port) ? port : -1;
  }
  if (port_ <= 0) return Status::IOError("cannot listen on " + options_.listen);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // httplib's stop() is a no-op until the accept loop runs: wait for it, so that a Stop() right
  // after Start() cannot leave the loop (and the join) running forever.
  for (int i = 0; i < 5000 && !server_->is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!server_->is_running())
    return Status::IOError("HTTP server did not start on " + options_.listen);
  return Status::OK();
}

void HttpServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace spanpipe::serve
