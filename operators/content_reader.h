// Reads back every stored content value of a trace (docs/content-store.md, "Reading"): finds the
// trace's manifest frames through the trace index (writers, index runs, live segments), fetches
// the data frames they point at with coalesced range GETs, and verifies each value's SHA-256.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "operators/content_format.h"
#include "operators/pack_sink.h"

namespace spanpipe::content {

struct ContentValue {
  std::string trace_id_hex, span_id_hex, key, value;
  std::string project;
};

// Lists object keys under a prefix (the object store's List, passed in so operators stay free of
// connectors).
using ListFn = std::function<Status(std::string_view prefix, std::vector<std::string>* keys)>;

// Where a trace's manifests are: (project, segment key, manifest frame offset, length).
struct ManifestLocation {
  std::string project, segment;
  uint64_t offset = 0;
  uint32_t len = 0;
};

// Every manifest frame of the trace (trace_id: 16 raw bytes), of `project` or, when null, of any
// project. Request cost: docs/content-store.md ("Finding a trace").
Status FindTrace(PackSink* store, const ListFn& list, std::string_view trace_id,
                 const std::string* project, std::vector<ManifestLocation>* out);

// Values grouped by project, in segment order; one per (project, span, key). project null = any.
// Missing objects and hash mismatches are errors naming the object, frame or value. Memory is
// bounded whatever the objects claim: the values may claim at most kMaxTraceContent bytes in all,
// and the decompressed frames held at once at most max(frame_budget, 4 × what the values claim).
constexpr uint64_t kMaxTraceContent = uint64_t{4} << 30;
constexpr uint64_t kDefaultFrameBudget = uint64_t{512} << 20;
Status ReadTraceContent(PackSink* store, const ListFn& list, const std::string* project,
                        std::string_view trace_id_hex, std::string_view span_id_hex,
                        std::vector<ContentValue>* out,
                        uint64_t frame_budget = kDefaultFrameBudget);

// A whole index run (its footer, then every block): for merging.
Status ReadIndexRun(PackSink* store, const std::string& key, std::vector<TraceIndexEntry>* entries,
                    std::vector<std::string>* segments);

}  // namespace spanpipe::content
