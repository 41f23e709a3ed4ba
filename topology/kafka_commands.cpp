#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include "common/metrics.h"
#include "connectors/embedded_cluster.h"
#include "connectors/kafka_admin.h"
#include "connectors/kafka_sink.h"
#include "serve/http_server.h"
#include "serve/query_store.h"
#include "topology/commands.h"
#include "topology/config.h"
#include "topology/content_reader.h"
#include "topology/demo_traffic.h"
#include "topology/job.h"
#include "topology/serve_feed.h"
#include "topology/serve_options.h"

namespace spanpipe {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) {
  g_stop = true;
}
void InstallSignals() {
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
}

bool LoadCfg(const std::string& path, const std::vector<std::string>& sets, Config* cfg) {
  Status s = LoadConfig(path, ProcessEnvironment(), cfg);
  for (const auto& kv : sets) {
    if (!s.ok()) break;
    size_t eq = kv.find('=');
    s = eq == std::string::npos ? Status::InvalidArgument("--set '" + kv + "': expected key=value")
                                : SetConfigValue(cfg, kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (s.ok()) s = ValidateConfig(*cfg);
  if (!s.ok()) std::cerr << "spanpipe: " << s.message() << "\n";
  return s.ok();
}

// The query side inside run/demo, or alone in `serve`. Ready (/readyz) once its feed has caught up
// with the published topics and, inside run/demo (with_pipeline), while the job runs.
class QuerySide {
 public:
  Status Start(const Config& cfg, MetricsRegistry* metrics, bool with_pipeline) {
    SPANPIPE_RETURN_IF_ERROR(serve::QueryStore::Open(cfg.http.state_path, 64, &store_));
    feed_ = std::make_unique<ServeFeed>(cfg, store_.get());
    SPANPIPE_RETURN_IF_ERROR(feed_->Start());
    serve::ServeOptions so = ServeOptionsFrom(cfg);
    content_ = std::make_unique<ContentReader>(cfg);
    server_ = std::make_unique<serve::HttpServer>(
        so, store_.get(), metrics,
        [this](std::string_view project, std::string_view trace, std::string* json) {
          return content_->TraceContentJson(project, trace, json);
        });
    server_->SetReadiness([this, with_pipeline] {
      std::string why = feed_->NotReadyReason();
      if (!why.empty() || !with_pipeline) return why;
      std::lock_guard<std::mutex> l(mu_);
      return pipeline_;
    });
    SPANPIPE_RETURN_IF_ERROR(server_->Start());
    return Status::OK();
  }
  // "" while the in-process job runs, else why not.
  void SetPipelineState(std::string not_running) {
    std::lock_guard<std::mutex> l(mu_);
    pipeline_ = std::move(not_running);
  }
  void Stop() {
    if (server_) server_->Stop();
    if (feed_) feed_->Stop();
  }

 private:
  std::mutex mu_;  // guards pipeline_; declared first: outlives the server that reads it
  std::string pipeline_ = "pipeline: starting";
  std::unique_ptr<serve::QueryStore> store_;
  std::unique_ptr<ServeFeed> feed_;
  std::unique_ptr<ContentReader> content_;
  std::unique_ptr<serve::HttpServer> server_;
};

// Runs the job until stop; the query side (may be null) is told when it runs and when it stopped.
int RunJob(const Config& cfg, MetricsRegistry* metrics, const std::atomic<bool>* stop,
           QuerySide* query, const std::function<void(const Job&)>& on_second) {
  Job job(cfg, metrics);
  Status s = job.Open();
  if (!s.ok()) {
    spdlog::error("cannot start the job: {}", s.ToString());
    if (query) query->SetPipelineState("pipeline: cannot start: " + s.ToString());
    return s.IsInvalidArgument() ? 2 : 1;
  }
  if (query) query->SetPipelineState("");
  std::atomic<bool> done{false};
  std::thread ticker([&] {
    while (!done) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      if (!done && on_second) on_second(job);
    }
  });
  s = job.Run(stop);
  if (query)
    query->SetPipelineState(s.ok() ? "pipeline: stopped" : "pipeline: failed: " + s.ToString());
  done = true;
  ticker.join();
  if (!s.ok()) {
    spdlog::error("job failed: {} (a restart resumes from the last checkpoint)", s.ToString());
    return 1;
  }
  return 0;
}

struct DemoOptions {
  double duration = 0;
  double rate = 400;  // spans per second
  std::string encoding = "otlp_proto";
  bool generate_only = false;
  std::string brokers;
  std::string data_dir = "./data/demo";
  int partitions = 4;
  std::string http = "127.0.0.1:8080";
  uint64_t seed = 42;
};

// Produces generated traffic into the input topic at `rate` spans/s until stop.
void Generate(const DemoOptions& d, const std::string& brokers, const std::string& topic,
              const std::atomic<bool>* stop, std::atomic<uint64_t>* sent, Status* error) {
  kafka::SinkOptions so;
  so.brokers = brokers;
  std::unique_ptr<kafka::KafkaSink> sink;
  Status s = kafka::KafkaSink::Create(so, &sink);
  if (!s.ok()) {
    *error = s;
    return;
  }
  DemoTrafficOptions to;
  to.seed = d.seed;
  to.protobuf = d.encoding != "otlp_json";
  DemoTraffic traffic(to);
  std::vector<DemoMessage> msgs;
  auto start = std::chrono::steady_clock::now();
  uint64_t spans = 0;
  while (!stop->load()) {
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (spans > elapsed * d.rate) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    msgs.clear();
    traffic.NextTurn(&msgs);
    for (const auto& m : msgs) {
      std::vector<std::pair<std::string, std::string>> headers;
      if (!m.project.empty()) headers.emplace_back("x-project-id", m.project);
      s = sink->Produce(topic, m.key, m.payload, headers);
      if (!s.ok()) {
        *error = s;
        return;
      }
    }
    spans = traffic.spans();
    sent->store(traffic.spans());
  }
  s = sink->Flush(30000);
  if (!s.ok()) *error = s;
}

}  // namespace

void RegisterKafkaCommands(CLI::App& app, std::string* config_path, std::vector<std::string>* sets,
                           int* exit_code) {
  // run
  auto* run = app.add_subcommand("run", "Run the streaming job against a Kafka cluster");
  run->add_option("--config", *config_path, "Config file (YAML)")->required();
  run->add_option("--set", *sets, "Override a config key: --set key=value");
  run->callback([=] {
    Config cfg;
    if (!LoadCfg(*config_path, *sets, &cfg)) {
      *exit_code = 2;
      return;
    }
    InstallSignals();
    MetricsRegistry metrics;
    QuerySide query;
    if (cfg.http.enabled) {
      Status s = query.Start(cfg, &metrics, /*with_pipeline=*/true);
      if (!s.ok()) {
        spdlog::error("query API: {}", s.ToString());
        *exit_code = 1;
        return;
      }
    }
    *exit_code = RunJob(cfg, &metrics, &g_stop, cfg.http.enabled ? &query : nullptr, nullptr);
    query.Stop();
  });

  // demo
  static DemoOptions demo;
  auto* dm = app.add_subcommand(
      "demo", "Embedded Kafka, generated LLM traffic, the full pipeline and the dashboard");
  dm->add_option("--duration", demo.duration,
                 "Stop after this many seconds (default: until Ctrl-C)");
  dm->add_option("--rate", demo.rate, "Generated spans per second")->check(CLI::Range(1.0, 1e7));
  dm->add_option("--encoding", demo.encoding, "otlp_proto (the collector's default) or otlp_json")
      ->check(CLI::IsMember({"otlp_proto", "otlp_json"}));
  dm->add_flag("--generate-only", demo.generate_only,
               "Only produce generated traffic to --brokers");
  dm->add_option("--brokers", demo.brokers, "Use this Kafka cluster instead of the embedded one");
  dm->add_option("--data", demo.data_dir,
                 "Folder of the demo's state and objects (wiped at start)");
  dm->add_option("--partitions", demo.partitions, "Partitions of the demo topics")
      ->check(CLI::Range(1, 256));
  dm->add_option("--http", demo.http, "Dashboard address");
  dm->add_option("--seed", demo.seed, "Traffic generator seed");
  dm->add_option("--config", *config_path,
                 "Config file (YAML) applied before the demo's own settings");
  dm->add_option("--set", *sets, "Override a config key: --set key=value");
  dm->callback([=] {
    Config cfg;
    if (!LoadCfg(*config_path, *sets, &cfg)) {
      *exit_code = 2;
      return;
    }
    InstallSignals();
    std::unique_ptr<kafka::EmbeddedCluster> cluster;
    std::string brokers = demo.brokers;
    if (brokers.empty()) {
      if (demo.generate_only) {
        std::cerr << "spanpipe: --generate-only needs --brokers\n";
        *exit_code = 2;
        return;
      }
      Status s = kafka::EmbeddedCluster::Start(3, &cluster);
      if (!s.ok()) {
        spdlog::error("embedded broker: {}", s.ToString());
        *exit_code = 1;
        return;
      }
      brokers = cluster->bootstrap();
      spdlog::info("embedded Kafka cluster (librdkafka mock, 3 brokers) at {}", brokers);
      Config topics_cfg = cfg;
      topics_cfg.kafka.partitions = demo.partitions;
      for (const auto& t : JobTopics(topics_cfg)) {
        s = cluster->CreateTopic(t.name, t.partitions);
        if (!s.ok()) {
          spdlog::error("embedded broker: {}", s.ToString());
          *exit_code = 1;
          return;
        }
      }
    }
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> sent{0};
    Status gen_error;
    auto started = std::chrono::steady_clock::now();
    auto should_stop = [&] {
      return g_stop.load() ||
             (demo.duration > 0 &&
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() >=
                  demo.duration);
    };
    if (demo.generate_only) {
      std::thread gen([&] { Generate(demo, brokers, cfg.input.topic, &stop, &sent, &gen_error); });
      while (!should_stop() && gen_error.ok()) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        spdlog::info("generated {} spans", sent.load());
      }
      stop = true;
      gen.join();
      if (!gen_error.ok()) spdlog::error("generator: {}", gen_error.ToString());
      *exit_code = gen_error.ok() ? 0 : 1;
      return;
    }
    std::filesystem::remove_all(demo.data_dir);
    cfg.kafka.brokers = brokers;
    cfg.kafka.partitions = demo.partitions;
    cfg.state.path = demo.data_dir + "/state";
    cfg.http.state_path = demo.data_dir + "/serve";
    cfg.content.store = "file://" + std::filesystem::absolute(demo.data_dir + "/objects").string();
    cfg.http.listen = demo.http;
    cfg.trace.idle_timeout_ms = std::min<int64_t>(cfg.trace.idle_timeout_ms, 10000);
    if (cfg.http.api_keys.empty()) {
      cfg.http.open = true;
      spdlog::warn("demo: the query API runs without authentication on {} (loopback only)",
                   cfg.http.listen);
    }
    cfg.kafka.consumer.emplace_back("session.timeout.ms", "6000");
    Status vs = ValidateConfig(cfg);
    if (!vs.ok()) {
      std::cerr << "spanpipe: " << vs.message() << "\n";
      *exit_code = 2;
      return;
    }
    MetricsRegistry metrics;
    QuerySide query;
    Status qs = query.Start(cfg, &metrics, /*with_pipeline=*/true);
    if (!qs.ok()) {
      spdlog::error("dashboard: {}", qs.ToString());
      *exit_code = 1;
      return;
    }
    spdlog::info("dashboard: http://{}/", cfg.http.listen);
    std::thread gen([&] { Generate(demo, brokers, cfg.input.topic, &stop, &sent, &gen_error); });
    std::thread watchdog([&] {
      while (!stop) {
        if (should_stop() || !gen_error.ok()) stop = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
    uint64_t last_in = 0, last_out = 0;
    *exit_code = RunJob(cfg, &metrics, &stop, &query, [&](const Job& job) {
      JobStats st = job.stats();
      spdlog::info(
          "demo: generated {} spans | in {}/s out {}/s | lag {} | dlq {} | duplicates {} | late {} "
          "| checkpoint {:.1f} ms",
          sent.load(), st.spans_in - last_in, st.spans_out - last_out, st.lag, st.dlq,
          st.duplicates, st.late_spans, st.last_checkpoint_seconds * 1000);
      last_in = st.spans_in;
      last_out = st.spans_out;
    });
    stop = true;
    gen.join();
    watchdog.join();
    query.Stop();
    if (!gen_error.ok()) {
      spdlog::error("generator: {}", gen_error.ToString());
      if (*exit_code == 0) *exit_code = 1;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::cout << "demo summary: " << sent.load() << " spans generated in " << static_cast<int>(secs)
              << " s; exit " << *exit_code << "\n";
  });

  // serve
  auto* sv = app.add_subcommand("serve", "Query API and dashboard over the published topics");
  sv->add_option("--config", *config_path, "Config file (YAML)");
  sv->add_option("--set", *sets, "Override a config key: --set key=value");
  sv->callback([=] {
    Config cfg;
    if (!LoadCfg(*config_path, *sets, &cfg)) {
      *exit_code = 2;
      return;
    }
    InstallSignals();
    MetricsRegistry metrics;
    QuerySide query;
    Status s = query.Start(cfg, &metrics, /*with_pipeline=*/false);
    if (!s.ok()) {
      spdlog::error("serve: {}", s.ToString());
      *exit_code = 1;
      return;
    }
    spdlog::info("serving on http://{}/", cfg.http.listen);
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    query.Stop();
    *exit_code = 0;
  });
}

}  // namespace spanpipe
