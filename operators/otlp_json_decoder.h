// OTLP/JSON decoder on simdjson On-Demand, lenient as the Collector's reader (CONTRACT §2):
// lowerCamelCase or snake_case keys, hex ids in either case, 64-bit integers as strings or
// numbers, enums as integers or names, every AnyValue shape, unknown fields ignored.
//
// Zero-copy: strings are views into the parser's string buffer (valid until the next Decode).
// The only copies are the message itself (into a reusable padded buffer simdjson needs) and
// base64 bytes values (decoded into Batch::arena).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "operators/otlp_model.h"

namespace spanpipe::otlp {

class JsonDecoder {
 public:
  JsonDecoder();
  ~JsonDecoder();
  JsonDecoder(JsonDecoder&&) noexcept;
  JsonDecoder& operator=(JsonDecoder&&) noexcept;
  // A message that cannot be decoded as a whole returns InvalidArgument with a one-line reason.
  // Spans with bad ids or times stay in out->spans with Span::invalid set.
  Status Decode(std::string_view message, Batch* out);

  static constexpr int kMaxValueDepth = 32;

  // The simdjson kernel this decoder was compiled for ("haswell" with SPANPIPE_SIMD_ARCH=haswell,
  // "fallback" in a portable build).
  static const char* Kernel();
  // Benchmark baseline (bench/decode_bench.cpp): visits every value of the message with the same
  // parser and padding, unescaping keys and strings and parsing numbers, but builds no Batch.
  // Returns a checksum, or 0 when the message is not JSON.
  size_t WalkAllValues(std::string_view message);

 private:
  // simdjson::ondemand names a different type in each translation unit's instruction set
  // (this file's .cpp is built for SPANPIPE_SIMD_ARCH, its users are not): holding the parser
  // by value here would give JsonDecoder two layouts (an ODR violation that crashed in the
  // destructor). The parser lives behind a pointer, defined only in the .cpp.
  struct Parser;
  std::unique_ptr<Parser> parser_;
  std::string padded_;
  // One scratch list per nesting depth keeps every list contiguous in Batch::kvs without a
  // per-span allocation.
  std::vector<std::vector<KeyValue>> scratch_;
  std::vector<Event> events_;  // a span's events, gathered before they join Batch::events
};

}  // namespace spanpipe::otlp
