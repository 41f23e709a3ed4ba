// Byte layouts of the trace registry's state (docs/trace-resolution.md) and the spanpipe.traces
// JSON record. Pure encoding: no store access.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "operators/resolve_outcome.h"

namespace spanpipe::resolve {

// What the registry keeps per trace beyond the public aggregate.
struct TraceState {
  TraceAggregate agg;  // project / trace_id_hex / trace_uuid come from the key, not the value
  bool open = false;   // in the idle index, awaiting close
  bool has_root = false;
  int64_t last_update_ms = 0;  // idleness clock at the last change
  // Time in this trace's idle-index key while open: <= last_update_ms (the key moves lazily).
  int64_t idle_key_ms = 0;
};

// traces store: project '\0' trace_id[16].
void AppendTraceKey(std::string* out, std::string_view project, const uint8_t trace_id[16]);
// spans store: project '\0' trace_id[16] span_id[8].
void AppendSpanKey(std::string* out, std::string_view project, const uint8_t trace_id[16],
                   const uint8_t span_id[8]);
// idle store: ordered_be64(last_update_ms) then the trace key, so a scan visits oldest first.
void AppendIdleKey(std::string* out, int64_t last_update_ms, std::string_view trace_key);

// Splits a trace key; false if too short or missing the separator.
bool ParseTraceKey(std::string_view key, std::string_view* project, const uint8_t** trace_id);
bool ParseIdleKey(std::string_view key, int64_t* last_update_ms, std::string_view* trace_key);

// Value payload (inside state::WrapExpiring). First byte is a format version.
void EncodeTraceState(const TraceState& st, std::string* out);
bool DecodeTraceState(std::string_view in, TraceState* st);

// spanpipe.traces record (CONTRACT §4), appended to out.
void AppendTraceJson(const TraceAggregate& agg, std::string* out);

}  // namespace spanpipe::resolve
