#include "common/json_writer.h"

#include <fmt/format.h>

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace spanpipe {
namespace {
// Length of a valid UTF-8 sequence starting at p, or 0 if invalid (overlong, surrogate, >
// U+10FFFF).
size_t Utf8SeqLen(const unsigned char* p, size_t avail) {
  unsigned char c = p[0];
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return (avail >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && p[1] < 0xA0) return 0;
    if (c == 0xED && p[1] >= 0xA0) return 0;
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
      return 0;
    if (c == 0xF0 && p[1] < 0x90) return 0;
    if (c == 0xF4 && p[1] >= 0x90) return 0;
    return 4;
  }
  return 0;
}
#if defined(__SSE2__)
// Bit i set = byte i of the 16 at p needs escaping or UTF-8 validation.
inline unsigned SpecialMask(const unsigned char* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  // Signed compare: bytes >= 0x80 are negative, so one test catches controls and non-ASCII.
  const __m128i special = _mm_or_si128(
      _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
      _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
  return static_cast<unsigned>(_mm_movemask_epi8(special));
}
#endif

// Index of the first byte at or after i that needs escaping or UTF-8 validation, or n. Most
// strings are short plain ASCII (names, ids, models), so the tail is tested 16 bytes at a time
// too: by an overlapping load when the string is long enough, else from a padded copy.
size_t SkipPlain(const unsigned char* p, size_t i, size_t n) {
#if defined(__SSE2__)
  for (; i + 16 <= n; i += 16) {
    const unsigned mask = SpecialMask(p + i);
    if (mask != 0) return i + static_cast<size_t>(__builtin_ctz(mask));
  }
  if (i == n) return n;
  const size_t tail = n - i;  // 1..15
  unsigned mask;
  if (n >= 16) {
    mask = SpecialMask(p + n - 16) >> (16 - tail);
  } else {
    unsigned char pad[16];
    std::memset(pad, 'a', sizeof(pad));
    std::memcpy(pad, p + i, tail);
    mask = SpecialMask(pad);
  }
  return mask != 0 ? i + static_cast<size_t>(__builtin_ctz(mask)) : n;
#else
  while (i < n && p[i] >= 0x20 && p[i] != '"' && p[i] != '\\' && p[i] < 0x80) ++i;
  return i;
#endif
}

}  // namespace

void AppendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = SkipPlain(p, 0, n), run = 0;
  if (i == n) {  // nothing to escape: one append of the quoted string
    const size_t at = out->size();
    out->append(n + 2, '"');
    if (n != 0) std::memcpy(out->data() + at + 1, p, n);
    return;
  }
  out->reserve(out->size() + n + 8);
  out->push_back('"');
  while (i < n) {
    unsigned char c = p[i];
    out->append(s.data() + run, i - run);
    if (c >= 0x80) {
      size_t len = Utf8SeqLen(p + i, n - i);
      if (len == 0) {
        out->append("\xEF\xBF\xBD");
        ++i;
      } else {
        out->append(s.data() + i, len);
        i += len;
      }
      run = i;
      i = SkipPlain(p, i, n);
      continue;
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xf]);
    }
    ++i;
    run = i;
    i = SkipPlain(p, i, n);
  }
  out->append(s.data() + run, n - run);
  out->push_back('"');
}

void AppendJsonDouble(std::string* out, double d) {
  if (!std::isfinite(d)) {
    out->append("null");
    return;
  }
  fmt::format_to(std::back_inserter(*out), "{}", d);
}

}  // namespace spanpipe
