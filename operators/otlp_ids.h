// Validation shared by both decoders, so that JSON and protobuf reject the same spans with the
// same reasons.
#pragma once

#include <cstdint>
#include <string_view>

namespace spanpipe::otlp {

inline bool AllZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (p[i]) return false;
  return true;
}

// Sets span.invalid when the ids or times make the span unusable; a span already invalid keeps
// its first reason.
template <typename SpanT>
inline void ValidateSpan(SpanT* s, bool trace_ok, bool span_ok, bool parent_ok) {
  if (!s->invalid.empty()) return;
  if (!trace_ok) s->invalid = "trace id is not 16 bytes (32 hex characters)";
  else if (AllZero(s->trace_id, 16)) s->invalid = "trace id is all zero";
  else if (!span_ok) s->invalid = "span id is not 8 bytes (16 hex characters)";
  else if (AllZero(s->span_id, 8)) s->invalid = "span id is all zero";
  else if (!parent_ok) s->invalid = "parent span id is not 8 bytes (16 hex characters)";
  else if (s->end_unix_nano < s->start_unix_nano) s->invalid = "end time is before start time";
}

inline int32_t SpanKindFromName(std::string_view n) {
  if (n == "SPAN_KIND_UNSPECIFIED") return 0;
  if (n == "SPAN_KIND_INTERNAL") return 1;
  if (n == "SPAN_KIND_SERVER") return 2;
  if (n == "SPAN_KIND_CLIENT") return 3;
  if (n == "SPAN_KIND_PRODUCER") return 4;
  if (n == "SPAN_KIND_CONSUMER") return 5;
  return -1;
}

inline int32_t StatusCodeFromName(std::string_view n) {
  if (n == "STATUS_CODE_UNSET") return 0;
  if (n == "STATUS_CODE_OK") return 1;
  if (n == "STATUS_CODE_ERROR") return 2;
  return -1;
}

}  // namespace spanpipe::otlp
