// Internal to the JSON writers (json_writer.cpp, json_cursor.cpp): the scan for bytes that need
// escaping and the escaping loop, shared so that the std::string writer and the cursor writer
// produce the same bytes from one definition.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace spanpipe::json_internal {

// Length of a valid UTF-8 sequence starting at p, or 0 if invalid (overlong, surrogate, >
// U+10FFFF).
inline size_t Utf8SeqLen(const unsigned char* p, size_t avail) {
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

// Copies n <= 16 bytes with at most two loads and stores of 8, 4 or 1 bytes, overlapping, never
// reading outside [src, src + n): most strings of a record are short (names, models, ids), and a
// call to memcpy costs more than such a copy.
inline void CopyShort(char* dst, const char* src, size_t n) {
  if (n >= 8) {
    uint64_t a, b;
    std::memcpy(&a, src, 8);
    std::memcpy(&b, src + n - 8, 8);
    std::memcpy(dst, &a, 8);
    std::memcpy(dst + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, src, 4);
    std::memcpy(&b, src + n - 4, 4);
    std::memcpy(dst, &a, 4);
    std::memcpy(dst + n - 4, &b, 4);
  } else {
    for (size_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}

// Index of the first byte at or after i that needs escaping or UTF-8 validation, or n. Most
// strings are short plain ASCII (names, ids, models), so the tail is tested 16 bytes at a time
// too: by an overlapping load when the string is long enough, else from a padded copy.
inline size_t SkipPlain(const unsigned char* p, size_t i, size_t n) {
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

// Writes the rest of the body of s (no quotes) from its first special byte i (< s.size()) on,
// through out.Append(const char*, size_t): runs of plain bytes are copied in one piece; invalid
// UTF-8 bytes become U+FFFD. The caller has written s[0, i) already.
template <typename Out>
void EscapeFrom(std::string_view s, size_t i, Out& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t run = i;
  while (i < n) {
    unsigned char c = p[i];
    out.Append(s.data() + run, i - run);
    if (c >= 0x80) {
      size_t len = Utf8SeqLen(p + i, n - i);
      if (len == 0) {
        out.Append("\xEF\xBF\xBD", 3);
        ++i;
      } else {
        out.Append(s.data() + i, len);
        i += len;
      }
      run = i;
      i = SkipPlain(p, i, n);
      continue;
    }
    switch (c) {
      case '"':
        out.Append("\\\"", 2);
        break;
      case '\\':
        out.Append("\\\\", 2);
        break;
      case '\n':
        out.Append("\\n", 2);
        break;
      case '\r':
        out.Append("\\r", 2);
        break;
      case '\t':
        out.Append("\\t", 2);
        break;
      case '\b':
        out.Append("\\b", 2);
        break;
      case '\f':
        out.Append("\\f", 2);
        break;
      default: {
        const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
        out.Append(u, 6);
      }
    }
    ++i;
    run = i;
    i = SkipPlain(p, i, n);
  }
  out.Append(s.data() + run, n - run);
}

}  // namespace spanpipe::json_internal
