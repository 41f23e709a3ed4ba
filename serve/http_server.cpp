#include "serve/http_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "serve/dashboard.h"
#include "serve/query_api.h"

namespace spanpipe::serve {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Reply(httplib::Response& res, const ApiResult& r) {
  res.status = r.status;
  res.set_content(r.body.dump(), "application/json");
}

Params ToParams(const httplib::Request& req) {
  Params p;
  for (const auto& [k, v] : req.params) p.emplace(k, v);
  return p;
}

}  // namespace

HttpServer::HttpServer(ServeOptions options, QueryStore* store, MetricsRegistry* metrics, ContentFn content)
    : options_(std::move(options)), store_(store), metrics_(metrics), content_(std::move(content)) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  server_ = std::make_unique<httplib::Server>();
  auto& s = *server_;
  s.set_payload_max_length(options_.max_body);

  // Authenticates and authorises; on failure writes the 401/403 and returns false.
  auto guard = [this](const httplib::Request& req, httplib::Response& res, int min_role, std::string* project) {
    std::string header_project = req.get_header_value("x-project-id");
    if (options_.open_on_loopback) {
      *project = header_project.empty() ? "default" : header_project;
      return true;
    }
    std::string auth = req.get_header_value("Authorization");
    std::string token = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : "";
    Principal who;
    std::string why;
    int64_t now_s = NowMs() / 1000;
    if (!Authenticate(token, options_.api_keys, options_.jwt_hs256_secret, now_s, &who, &why)) {
      Reply(res, Error(401, why));
      return false;
    }
    if (header_project.empty()) {
      if (who.projects.size() != 1) {
        Reply(res, Error(400, "x-project-id header required: the key has several projects"));
        return false;
      }
      header_project = who.projects[0];
    }
    if (std::find(who.projects.begin(), who.projects.end(), header_project) == who.projects.end()) {
      spdlog::info("http: {} denied project {}", who.name, header_project);
      Reply(res, Error(403, "no access to project '" + header_project + "'"));
      return false;
    }
    if (who.role < min_role) {
      Reply(res, Error(403, "role too low for this endpoint"));
      return false;
    }
    *project = header_project;
    return true;
  };

  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    res.status = ready_ ? 200 : 503;
    res.set_content(ready_ ? "ready\n" : "not ready\n", "text/plain");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_ ? metrics_->Render() : "", "text/plain; version=0.0.4");
  });
  s.Get("/", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(DashboardHtml(options_.open_on_loopback), "text/html; charset=utf-8");
  });
  s.Get("/group", [this, guard](const httplib::Request& req, httplib::Response& res) {
    std::string project;
    if (guard(req, res, 1, &project)) Reply(res, GroupQuery(*store_, project, ToParams(req), NowMs()));
  });
  s.Get(R"(/group/thread/([^/]+))", [this, guard](const httplib::Request& req, httplib::Response& res) {
    std::string project;
    if (guard(req, res, 1, &project)) Reply(res, ThreadSpans(*store_, project, req.matches[1], ToParams(req)));
  });
  s.Get("/api/v1/metrics", [this, guard](const httplib::Request& req, httplib::Response& res) {
    std::string project;
    if (guard(req, res, 1, &project)) Reply(res, MetricsSeries(*store_, project, ToParams(req), NowMs()));
  });
  s.Get("/api/v1/metrics/summary", [this, guard](const httplib::Request& req, httplib::Response& res) {
    std::string project;
    if (guard(req, res, 1, &project)) Reply(res, MetricsSummary(*store_, project, ToParams(req), NowMs()));
  });
  s.Post("/api/v1/metrics/query", [this, guard](const httplib::Request& req, httplib::Response& res) {
    std::string project;
    if (!guard(req, res, 2, &project)) return;
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (body.is_discarded()) return Reply(res, Error(400, "body is not JSON"));
    Reply(res, MetricsQuery(*store_, project, body, NowMs()));
  });
  s.Get(R"(/api/v1/traces/([0-9a-fA-F]{32}))", [this, guard](const httplib::Request& req, httplib::Response& res) {
    std::string project;
    if (guard(req, res, 1, &project)) Reply(res, TraceRecord(*store_, project, req.matches[1]));
  });
  s.Get(R"(/api/v1/traces/([0-9a-fA-F]{32})/content)", [this, guard](const httplib::Request& req,
                                                                      httplib::Response& res) {
    std::string project;
    if (!guard(req, res, 3, &project)) return;
    std::string out;
    Status st = content_ ? content_(project, req.matches[1].str(), &out) : Status::NotSupported("no content store");
    if (st.IsNotFound()) return Reply(res, Error(404, st.message()));
    if (!st.ok()) return Reply(res, Error(500, st.message()));
    res.set_content(out, "application/json");
  });
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 413) return Reply(res, Error(413, "request body larger than 1 MiB"));
    if (res.body.empty()) Reply(res, Error(res.status, res.status == 404 ? "not found" : "error"));
  });

  std::string host = options_.listen.substr(0, options_.listen.rfind(':'));
  int port = std::atoi(options_.listen.substr(options_.listen.rfind(':') + 1).c_str());
  if (port == 0) {
    port_ = s.bind_to_any_port(host);
  } else {
    port_ = s.bind_to_port(host, port) ? port : -1;
  }
  if (port_ <= 0) return Status::IOError("cannot listen on " + options_.listen);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return Status::OK();
}

void HttpServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace spanpipe::serve
