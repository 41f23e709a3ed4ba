// Stable trace UUIDs (CONTRACT §4 `trace_uuid`): the same (project, trace id) yields the same UUID
// on every instance and across restarts, with no state. Rule in docs/trace-resolution.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace spanpipe::resolve {

// The spanpipe namespace UUID = uuid5(NAMESPACE_DNS, "traces.spanpipe.dev").
inline constexpr std::string_view kTraceUuidNamespace = "df4ad7a9-573b-5c0a-96de-bc4c16285b04";

// RFC 4122 version 5 (SHA-1) UUID of kTraceUuidNamespace and the name
// project + '\0' + lowercase hex of the 16-byte trace id; canonical lowercase 8-4-4-4-12 text.
std::string TraceUuid(std::string_view project, const uint8_t trace_id[16]);
// The same into *out (reusing its buffer).
void TraceUuidTo(std::string_view project, const uint8_t trace_id[16], std::string* out);
// The UUID's 16 bytes (its text is FormatUuidTo of them).
void TraceUuidBytes(std::string_view project, const uint8_t trace_id[16], uint8_t out[16]);
// A UUID's canonical text: lowercase hex, 8-4-4-4-12.
void FormatUuidTo(const uint8_t bytes[16], std::string* out);

}  // namespace spanpipe::resolve
