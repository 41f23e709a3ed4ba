// `spanpipe replay`: the job's topology over files instead of Kafka (CONTRACT §1).
#pragma once

#include <string>
#include <vector>

#include "topology/config.h"

namespace spanpipe {

struct ReplayOptions {
  std::vector<std::string> inputs;
  std::string out_dir;
  std::string state_dir;  // default OUT/.state, wiped at start: a replay's output depends on its input only
  bool progress = true;
  int64_t checkpoint_spans = 20000;  // checkpoint cadence in spans (replay has no wall-clock interval)
};

// Returns the process exit code (0 ok, 1 runtime failure, 2 usage error).
int RunReplay(const Config& cfg, const ReplayOptions& opts);

}  // namespace spanpipe
