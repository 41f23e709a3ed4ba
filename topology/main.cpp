// spanpipe: the command line (CONTRACT §1). Exit codes: 0 success, 2 usage/config error, 1 runtime failure.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "topology/cli.h"

namespace {

// The OTLP/JSON decoder is compiled for SPANPIPE_SIMD_ARCH (CMakeLists.txt; docs/otlp-decoding.md).
// Inline code instantiated in that file may be shared with the rest of the binary by the linker, so
// a CPU without the instructions must not run spanpipe at all: refuse before anything else runs.
bool CpuSupportsSimdArch() {
#if defined(SPANPIPE_SIMD_ARCH) && (defined(__x86_64__) || defined(__i386__))
  if (std::string_view(SPANPIPE_SIMD_ARCH) == "haswell") {
    __builtin_cpu_init();
    const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") &&
                    __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("pclmul");
    if (!ok) {
      std::fprintf(stderr,
                   "spanpipe: this CPU lacks AVX2/BMI1/BMI2/PCLMUL, which this build requires "
                   "(its OTLP/JSON decoder is compiled with -march=haswell). Rebuild with "
                   "-DSPANPIPE_SIMD_ARCH= (empty) for a portable binary; see docs/otlp-decoding.md.\n");
    }
    return ok;
  }
#endif
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (!CpuSupportsSimdArch()) return 1;
  // Logs and errors go to stderr; stdout carries only command output (reconstruct, broker address).
  auto logger = spdlog::stderr_color_mt("spanpipe");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  if (const char* lvl = std::getenv("SPANPIPE_LOG_LEVEL")) spdlog::set_level(spdlog::level::from_str(lvl));
  return spanpipe::RunCli(argc, argv);
}
