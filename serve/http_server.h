// HttpServer: the query API, /metrics, health endpoints and the dashboard (cpp-httplib).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
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
};

// Reconstructed content of a trace as a JSON array (bound by the topology to the content store).
using ContentFn = std::function<Status(std::string_view project, std::string_view trace_id, std::string* json_array)>;

class HttpServer {
 public:
  HttpServer(ServeOptions options, QueryStore* store, MetricsRegistry* metrics, ContentFn content);
  ~HttpServer();
  Status Start();  // port 0 = ephemeral
  int port() const { return port_; }
  void Stop();
  void SetReady(bool ready) { ready_ = ready; }

 private:
  ServeOptions options_;
  QueryStore* store_;
  MetricsRegistry* metrics_;
  ContentFn content_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> ready_{false};
  int port_ = 0;
};

}  // namespace spanpipe::serve
