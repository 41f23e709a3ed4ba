#pragma once

namespace CLI {
class App;
}

namespace spanpipe {
// `spanpipe reconstruct --store URL --trace ID [--span ID] [--json] [--project P]` (CONTRACT §5).
void RegisterReconstructCommand(CLI::App& app, int* exit_code);
}  // namespace spanpipe
