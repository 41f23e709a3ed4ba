#include "common/json_writer.h"

#include <fmt/compile.h>
#include <fmt/format.h>

#include <cstring>

#include "common/json_escape.h"

namespace spanpipe {
namespace {
struct StringOut {
  std::string* s;
  void Append(const char* p, size_t n) { s->append(p, n); }
};
}  // namespace

void AppendJsonString(std::string* out, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size(), i = json_internal::SkipPlain(p, 0, n);
  if (i == n) {  // nothing to escape: one append of the quoted string
    const size_t at = out->size();
    out->append(n + 2, '"');
    if (n != 0) std::memcpy(out->data() + at + 1, p, n);
    return;
  }
  out->reserve(out->size() + n + 8);
  out->push_back('"');
  out->append(s.data(), i);
  StringOut o{out};
  json_internal::EscapeFrom(s, i, o);
  out->push_back('"');
}

char* WriteJsonDouble(char* out, double d) {
  if (!std::isfinite(d)) {
    std::memcpy(out, "null", 4);
    return out + 4;
  }
  // The compiled "{}" calls fmt's default float writer directly (the same shortest round-trip
  // text as fmt::format("{}", d)) without parsing the format string and boxing the argument at
  // run time: about half the instructions per number.
  return fmt::format_to(out, FMT_COMPILE("{}"), d);
}

namespace {
constexpr char kPairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";
// Exactly 8 digits of v < 1e8, zero-padded.
void Write8(char* out, uint32_t v) {
  const uint32_t hi = v / 10000, lo = v % 10000;
  std::memcpy(out, kPairs + 2 * (hi / 100), 2);
  std::memcpy(out + 2, kPairs + 2 * (hi % 100), 2);
  std::memcpy(out + 4, kPairs + 2 * (lo / 100), 2);
  std::memcpy(out + 6, kPairs + 2 * (lo % 100), 2);
}
}  // namespace

char* WriteUint64(char* out, uint64_t v) {
  if (v < 100000000) return std::to_chars(out, out + 20, v).ptr;
  const auto low = static_cast<uint32_t>(v % 100000000);
  v /= 100000000;
  if (v < 100000000) {
    out = std::to_chars(out, out + 20, v).ptr;
  } else {  // 17 to 20 digits
    out = std::to_chars(out, out + 20, v / 100000000).ptr;
    Write8(out, static_cast<uint32_t>(v % 100000000));
    out += 8;
  }
  Write8(out, low);
  return out + 8;
}

char* WriteMillisFromNanos(char* out, int64_t ns) {
  // ns / 1e6 is correctly rounded (ns < 2^53), and a decimal of at most 15 significant digits is
  // the only such decimal that rounds to its double: it is what the shortest round-trip writer
  // prints, in fixed notation for values in [1e-4, 1e16).
  if (ns < 100 || ns >= 1000000000000000) {
    return WriteJsonDouble(out, static_cast<double>(ns) / 1e6);
  }
  const auto whole = static_cast<uint64_t>(ns) / 1000000;
  auto frac = static_cast<uint32_t>(static_cast<uint64_t>(ns) % 1000000);
  out = std::to_chars(out, out + 20, whole).ptr;
  if (frac == 0) return out;
  *out++ = '.';
  char digits[6];
  for (int i = 5; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + frac % 10);
    frac /= 10;
  }
  int n = 6;
  while (digits[n - 1] == '0') --n;  // frac != 0: stops at a non-zero digit
  std::memcpy(out, digits, static_cast<size_t>(n));
  return out + n;
}

void AppendJsonDouble(std::string* out, double d) {
  char buf[kMaxJsonDoubleChars];
  out->append(buf, static_cast<size_t>(WriteJsonDouble(buf, d) - buf));
}

}  // namespace spanpipe
