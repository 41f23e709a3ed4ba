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
#include "serve/query_store.h"

namespace httplib {
class Server;
}

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
