#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace spanpipe {

struct BrokerCommandOptions {
  int brokers = 3;
  int partitions = 8;
  std::string port_file;
  std::vector<std::string> topics;  // default: the input, output and internal topics
};

// `spanpipe broker`: the embedded cluster alone, for other processes (kcat, tests, `run`).
int RunBrokerCommand(const BrokerCommandOptions& options);
void RegisterBrokerCommand(CLI::App& app, int* exit_code);

}  // namespace spanpipe
