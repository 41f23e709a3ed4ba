// Reads back every stored content value of a trace, verifying each chunk's SHA-256.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "operators/pack_sink.h"

namespace spanpipe::content {

struct ContentValue {
  std::string trace_id_hex, span_id_hex, key, value;
};

// Lists manifest object keys under a prefix (the object store's List, passed in so operators stay
// free of connectors).
using ListFn = std::function<Status(std::string_view prefix, std::vector<std::string>* keys)>;

// Values in manifest order; one per (span, key). Missing objects and hash mismatches are errors
// naming the object or chunk.
Status ReadTraceContent(PackSink* store, const ListFn& list, std::string_view project, std::string_view trace_id_hex,
                        std::string_view span_id_hex, std::vector<ContentValue>* out);

}  // namespace spanpipe::content
