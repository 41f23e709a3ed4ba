#include "topology/broker_command.h"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "connectors/embedded_cluster.h"
#include "operators/emitter.h"
#include "topology/job.h"

namespace spanpipe {
namespace {
std::atomic<bool> g_broker_stop{false};
void OnBrokerSignal(int) { g_broker_stop = true; }
}  // namespace

int RunBrokerCommand(const BrokerCommandOptions& o) {
  std::unique_ptr<kafka::EmbeddedCluster> cluster;
  Status s = kafka::EmbeddedCluster::Start(o.brokers, &cluster);
  if (!s.ok()) {
    spdlog::error("{}", s.ToString());
    return 1;
  }
  std::vector<std::string> topics = o.topics;
  if (topics.empty()) {
    for (const auto& t : JobTopics(Config{})) topics.push_back(t.name);
    if (std::find(topics.begin(), topics.end(), std::string(streams::kRepartition)) == topics.end())
      topics.emplace_back(streams::kRepartition);
  }
  for (const auto& t : topics) {
    s = cluster->CreateTopic(t, o.partitions);
    if (!s.ok()) {
      spdlog::error("{}", s.ToString());
      return 1;
    }
  }
  std::cout << cluster->bootstrap() << std::endl;
  if (!o.port_file.empty()) {
    std::string tmp = o.port_file + ".tmp";
    std::ofstream(tmp) << cluster->bootstrap() << "\n";
    std::filesystem::rename(tmp, o.port_file);
  }
  std::signal(SIGINT, OnBrokerSignal);
  std::signal(SIGTERM, OnBrokerSignal);
  spdlog::info("embedded Kafka cluster ({} brokers, {} partitions per topic) at {}; Ctrl-C stops it", o.brokers,
               o.partitions, cluster->bootstrap());
  while (!g_broker_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return 0;
}

void RegisterBrokerCommand(CLI::App& app, int* exit_code) {
  static BrokerCommandOptions opts;
  auto* cmd = app.add_subcommand("broker", "Run the embedded Kafka cluster (librdkafka mock) alone");
  cmd->add_option("--brokers", opts.brokers, "Number of brokers")->check(CLI::Range(1, 16));
  cmd->add_option("--partitions", opts.partitions, "Partitions per pre-created topic")->check(CLI::Range(1, 1024));
  cmd->add_option("--port-file", opts.port_file, "Write the bootstrap list to this file");
  cmd->add_option("--topics", opts.topics, "Topics to create (default: spanpipe's)")->delimiter(',');
  cmd->callback([exit_code] { *exit_code = RunBrokerCommand(opts); });
}

}  // namespace spanpipe
