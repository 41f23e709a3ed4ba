// spanpipe: the command line (CONTRACT §1). Exit codes: 0 success, 2 usage/config error, 1 runtime failure.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "topology/cli.h"

int main(int argc, char** argv) {
  // Logs and errors go to stderr; stdout carries only command output (reconstruct, broker address).
  auto logger = spdlog::stderr_color_mt("spanpipe");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  if (const char* lvl = std::getenv("SPANPIPE_LOG_LEVEL")) spdlog::set_level(spdlog::level::from_str(lvl));
  return spanpipe::RunCli(argc, argv);
}
