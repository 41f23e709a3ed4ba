// Per-message encoding detection (CONTRACT §2): JSON starts with '{' after optional whitespace;
// protobuf (ExportTraceServiceRequest) starts with tag 0x0A (field 1, length-delimited).
#pragma once

#include <string_view>

namespace spanpipe::otlp {

enum class Encoding { kJson, kProto, kUnknown };

inline Encoding DetectEncoding(std::string_view m) {
  size_t i = 0;
  while (i < m.size() && (m[i] == ' ' || m[i] == '\t' || m[i] == '\n' || m[i] == '\r')) ++i;
  if (i < m.size() && m[i] == '{') return Encoding::kJson;
  if (!m.empty() && static_cast<unsigned char>(m[0]) == 0x0A) return Encoding::kProto;
  return Encoding::kUnknown;
}

}  // namespace spanpipe::otlp
