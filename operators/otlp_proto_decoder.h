// OTLP/protobuf decoder (ExportTraceServiceRequest = TracesData), hand-written wire decoding by
// field number (docs/otlp-decoding.md lists the numbers). Zero-copy: every string and bytes value
// is a view into the message. Unknown fields of every wire type are skipped; groups, truncated
// varints and lengths past the end are message errors.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "operators/otlp_model.h"

namespace spanpipe::otlp {

class ProtoDecoder {
 public:
  ProtoDecoder();
  Status Decode(std::string_view message, Batch* out);
  static constexpr int kMaxValueDepth = 32;

 private:
  std::vector<std::vector<KeyValue>> scratch_;
  std::vector<Event> events_;
};

}  // namespace spanpipe::otlp
