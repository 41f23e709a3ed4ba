// Emitter: where operators put their output records. Operators name logical streams (the output
// topic names of CONTRACT §4); the topology binds them to Kafka topics or files.
#pragma once

#include <string_view>

namespace spanpipe {

namespace streams {
inline constexpr std::string_view kSpans = "spanpipe.spans";
inline constexpr std::string_view kTraces = "spanpipe.traces";
inline constexpr std::string_view kRollups = "spanpipe.rollups";
inline constexpr std::string_view kThreads = "spanpipe.threads";
inline constexpr std::string_view kDlq = "spanpipe.dlq";
// Internal streams between stages (DESIGN.md dataflow).
inline constexpr std::string_view kRepartition = "spanpipe-repartition";
inline constexpr std::string_view kRollupPartials = "spanpipe-rollup-partials";
inline constexpr std::string_view kThreadPartials = "spanpipe-thread-partials";
}  // namespace streams

class Emitter {
 public:
  virtual ~Emitter() = default;
  virtual void Emit(std::string_view stream, std::string_view key, std::string_view value) = 0;
};

}  // namespace spanpipe
