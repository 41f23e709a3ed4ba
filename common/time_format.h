// Event-time helpers: RFC 3339 text for output records, parsing for query parameters.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace spanpipe {

// "2026-11-23T10:15:00Z" for whole seconds, else with milliseconds "…:00.123Z". UTC, proleptic
// Gregorian.
std::string FormatRfc3339Millis(int64_t unix_ms);
// Nanosecond form keeps full precision: "…T10:15:00.123456789Z" (trailing zeros trimmed in groups
// of 3).
std::string FormatRfc3339Nanos(int64_t unix_ns);
// The same text at out, which has room for kMaxRfc3339Chars; returns the end of what it wrote.
inline constexpr size_t kMaxRfc3339Chars = 64;
char* WriteRfc3339Nanos(char* out, int64_t unix_ns);
// Accepts RFC 3339 (with Z or ±hh:mm offset, optional fraction) or integer epoch seconds/millis
// (values above 1e11 are millis). Returns false if unparseable.
bool ParseTimestampMillis(std::string_view text, int64_t* unix_ms);

// Days since 1970-01-01 <-> civil date (Howard Hinnant's algorithms; valid far beyond any span).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d);

// Floors toward -infinity, so windows before 1970 align like those after.
inline int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

}  // namespace spanpipe
