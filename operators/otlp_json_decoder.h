// OTLP/JSON decoder on simdjson On-Demand, lenient as the Collector's reader (CONTRACT §2):
// lowerCamelCase or snake_case keys, hex ids in either case, 64-bit integers as strings or
// numbers, enums as integers or names, every AnyValue shape, unknown fields ignored.
//
// Zero-copy: strings are views into the parser's string buffer (valid until the next Decode).
// The only copies are the message itself (into a reusable padded buffer simdjson needs) and
// base64 bytes values (decoded into Batch::arena).
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "operators/otlp_model.h"

namespace spanpipe::otlp {

class JsonDecoder {
 public:
  JsonDecoder();
  // A message that cannot be decoded as a whole returns InvalidArgument with a one-line reason.
  // Spans with bad ids or times stay in out->spans with Span::invalid set.
  Status Decode(std::string_view message, Batch* out);

  static constexpr int kMaxValueDepth = 32;

 private:
  simdjson::ondemand::parser parser_;
  std::string padded_;
  // One scratch list per nesting depth keeps every list contiguous in Batch::kvs without a
  // per-span allocation.
  std::vector<std::vector<KeyValue>> scratch_;
};

}  // namespace spanpipe::otlp
