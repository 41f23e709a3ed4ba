#include "topology/cli.h"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <iostream>

#include "topology/broker_command.h"
#include "topology/commands.h"
#include "topology/config.h"
#include "topology/reconstruct_command.h"
#include "topology/replay_command.h"

namespace spanpipe {
namespace {

constexpr char kVersion[] = "0.1.0";

// Loads --config, the environment, then --set overrides; prints the error and returns false on failure.
bool LoadEffectiveConfig(const std::string& path, const std::vector<std::string>& sets, Config* cfg) {
  Status s = LoadConfig(path, ProcessEnvironment(), cfg);
  for (const auto& kv : sets) {
    if (!s.ok()) break;
    size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      s = Status::InvalidArgument("--set '" + kv + "': expected key=value");
      break;
    }
    s = SetConfigValue(cfg, kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (s.ok()) s = ValidateConfig(*cfg);
  if (!s.ok()) {
    std::cerr << "spanpipe: " << s.message() << "\n";
    return false;
  }
  return true;
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{"spanpipe: a stream processor for LLM observability (OTLP spans from Kafka to rollups, "
               "threads, traces and a content store)"};
  app.set_version_flag("--version", std::string("spanpipe ") + kVersion);
  app.require_subcommand(1);
  int exit_code = 0;

  std::string config_path;
  std::vector<std::string> sets;

  // replay
  ReplayOptions replay;
  std::string replay_prices;
  auto* replay_cmd = app.add_subcommand("replay", "Run the topology over OTLP files instead of Kafka");
  replay_cmd->add_option("--input", replay.inputs, "Input files or folders (.json .jsonl .ndjson .gz .binpb .pb)")
      ->required();
  replay_cmd->add_option("--out", replay.out_dir, "Output folder: <topic>.jsonl files and objects/")->required();
  replay_cmd->add_option("--config", config_path, "Config file (YAML)");
  replay_cmd->add_option("--prices", replay_prices, "Price table JSON (replaces the shipped one)");
  replay_cmd->add_option("--set", sets, "Override a config key: --set key=value");
  replay_cmd->add_option("--state", replay.state_dir, "State directory (default OUT/.state, wiped at start)");
  replay_cmd->add_flag("!--no-progress", replay.progress, "Do not print progress lines");
  replay_cmd->callback([&] {
    Config cfg;
    if (!LoadEffectiveConfig(config_path, sets, &cfg)) {
      exit_code = 2;
      return;
    }
    if (!replay_prices.empty()) cfg.prices = replay_prices;
    exit_code = RunReplay(cfg, replay);
  });

  RegisterKafkaCommands(app, &config_path, &sets, &exit_code);
  RegisterBrokerCommand(app, &exit_code);
  RegisterReconstructCommand(app, &exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  return exit_code;
}

}  // namespace spanpipe
