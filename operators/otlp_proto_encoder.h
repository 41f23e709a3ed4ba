// Encodes a Batch as an OTLP/protobuf ExportTraceServiceRequest (spans grouped under their
// resource, one scope each). Used by the demo generator and by tests that check the JSON and
// protobuf decoders agree.
#pragma once

#include <string>

#include "operators/otlp_model.h"

namespace spanpipe::otlp {

std::string EncodeProto(const Batch& batch);

}  // namespace spanpipe::otlp
