// HttpServer: the query API, /metrics, health endpoints and the dashboard (cpp-httplib).
// Access control (docs/query-api.md "Access control"): every /group and /api/v1 endpoint needs a
// bearer API key or HS256 JWT; the role levels are read < query < admin:
//   read  : GET /group, /group/thread/{id}, /api/v1/metrics, /api/v1/metrics/summary,
//   /api/v1/traces/{id} query : + POST /api/v1/metrics/query admin : + GET
//   /api/v1/traces/{id}/content (raw prompts and completions)
// /, /healthz, /readyz and /metrics are open.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "common/status.h"
#include "serve/auth.h"
#include "serve/bucket_cache.h"
#include "serve/query_api.h"
#include "serve/query_store.h"
#include "serve/response_cache.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace spanpipe::serve {

struct ServeOptions {
  std::string listen = "127.0.0.1:8080";
  std::vector<ApiKey> api_keys;
  std::string jwt_hs256_secret;
  bool open_on_loopback = false;  // no auth: the caller checked the address is loopback
  size_t max_body = 1 << 20;
  // Per caller (API key, JWT subject, or client address when open): a token bucket of this many
  // requests per second with this burst; beyond it, 429. rate_limit_rps <= 0 disables it.
  double rate_limit_rps = 1000;
  double rate_limit_burst = 2000;
  size_t threads = 16;  // worker threads (each keep-alive connection holds one while open)
  // Answers of GET /api/v1/metrics and /api/v1/metrics/summary with both start_time and end_time,
  // per project, kept until the store's next commit (serve/response_cache.h). 0 entries = off.
  size_t cache_entries = 256;
  size_t cache_bytes = size_t{64} << 20;
  // Partial results (serve/bucket_cache.h): the text of GET /api/v1/metrics's whole time buckets
  // and the decoded rows of whole rollup windows read by /summary and POST /query, each dropped
  // only when a commit writes into it. Byte budget; 0 = off.
  size_t bucket_cache_bytes = size_t{64} << 20;
};

// Reconstructed content of a trace as a JSON array (bound by the topology to the content store).
using ContentFn = std::function<Status(std::string_view project, std::string_view trace_id,
                                       std::string* json_array)>;

class HttpServer {
 public:
  HttpServer(ServeOptions options, QueryStore* store, MetricsRegistry* metrics, ContentFn content);
  ~HttpServer();
  Status Start();  // port 0 = ephemeral
  int port() const { return port_; }
  void Stop();
  // /readyz answers 200 while `not_ready` returns "", else 503 with the reason it returns (the
  // topology: the serve feed has caught up, and in run/demo the pipeline runs). Until set: 503.
  using ReadinessFn = std::function<std::string()>;
  void SetReadiness(ReadinessFn not_ready);
  void SetReady(bool ready);  // fixed readiness (tests, bench)

 private:
  ServeOptions options_;
  QueryStore* store_;
  MetricsRegistry* metrics_;
  ContentFn content_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string NotReadyReason() const;
  mutable std::mutex ready_mu_;
  ReadinessFn not_ready_;
  int port_ = 0;

  // Answers a read-only query from the cache when the same (project, path, parameters) was
  // answered at the store's current version; otherwise computes, sends and caches it.
  void Cached(const httplib::Request& req, httplib::Response& res, const std::string& project,
              const std::function<ApiResult()>& compute);
  std::unique_ptr<ResponseCache> cache_;
  std::unique_ptr<BucketCache> bucket_cache_;

  // Rate limiting and request metrics.
  bool Admit(const std::string& caller);
  void Count(const std::string& route, int status, double seconds);
  std::string RenderHttpMetrics() const;
  struct Bucket {
    double tokens = 0;
    int64_t last_ns = 0;
  };
  std::mutex limit_mu_;
  std::map<std::string, Bucket> buckets_;
  mutable std::mutex stats_mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, std::pair<double, uint64_t>> durations_;  // route -> (sum seconds, count)
  uint64_t rate_limited_ = 0;
};

}  // namespace spanpipe::serve
