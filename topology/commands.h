// Subcommand registration (each command's own file implements it).
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace spanpipe {

// run, demo and serve: the Kafka-backed commands.
void RegisterKafkaCommands(CLI::App& app, std::string* config_path, std::vector<std::string>* sets,
                           int* exit_code);

}  // namespace spanpipe
