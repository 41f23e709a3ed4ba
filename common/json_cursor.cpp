#include "common/json_cursor.h"

#include <algorithm>

#include "common/hex.h"
#include "common/json_escape.h"

namespace spanpipe {

void JsonCursor::Grow(size_t n) {
  const size_t used = static_cast<size_t>(p_ - out_->data());
  // Doubling keeps the zero-fill of resize() proportional to the bytes written.
  out_->resize(std::max(used + n, 2 * out_->size()));
  p_ = out_->data() + used;
  end_ = out_->data() + out_->size();
}

void JsonCursor::LongString(std::string_view s) {
  const size_t n = s.size();
#if defined(__SSE2__)
  // Copy first, then test the copy 16 bytes at a time: the reservation leaves 16 bytes of room
  // past the string, so every load is in bounds and short strings need no padded copy.
  Reserve(n + 2 + 16);
  *p_ = '"';
  char* body = p_ + 1;
  if (n <= 16) {
    json_internal::CopyShort(body, s.data(), n);
  } else {
    std::memcpy(body, s.data(), n);
  }
  for (size_t i = 0; i < n; i += 16) {
    unsigned mask = json_internal::SpecialMask(reinterpret_cast<const unsigned char*>(body + i));
    if (n - i < 16) mask &= (1u << (n - i)) - 1;  // bytes past the string are not its own
    if (mask != 0) {
      // Everything before the first special byte is already in place.
      p_ = body + i + static_cast<size_t>(__builtin_ctz(mask));
      json_internal::EscapeFrom(s, static_cast<size_t>(p_ - body), *this);
      Char('"');
      return;
    }
  }
  p_ = body + n;
  *p_++ = '"';
#else
  const size_t i = json_internal::SkipPlain(reinterpret_cast<const unsigned char*>(s.data()), 0, n);
  if (i == n) {  // nothing to escape: the common case, one reservation and one copy
    Reserve(n + 2);
    *p_++ = '"';
    std::memcpy(p_, s.data(), n);
    p_ += n;
    *p_++ = '"';
    return;
  }
  Char('"');
  Append(s.data(), i);
  json_internal::EscapeFrom(s, i, *this);
  Char('"');
#endif
}

void JsonCursor::HexString(const uint8_t* bytes, size_t n) {
  Reserve(2 * n + 2);
  *p_++ = '"';
  HexEncodeTo(bytes, n, p_);
  p_ += 2 * n;
  *p_++ = '"';
}

}  // namespace spanpipe
