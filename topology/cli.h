#pragma once

namespace spanpipe {
// Parses the command line and runs the subcommand; returns the exit code.
int RunCli(int argc, char** argv);
}  // namespace spanpipe
