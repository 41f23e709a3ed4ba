// JsonCursor: JSON text written straight into a std::string's buffer through a raw pointer. Each
// write reserves its worst case with one comparison, then stores its bytes: no per-append capacity
// check, length update and call, which is what std::string::append costs per field. The per-span
// records (~30 fields and ~1 KB each) spent most of their instructions there
// (docs/PERFORMANCE.md). The caller writes separators itself: the records have a fixed shape.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/json_escape.h"
#include "common/json_writer.h"
#include "common/time_format.h"

namespace spanpipe {

class JsonCursor {
 public:
  // Appends to *out (its content so far is kept).
  explicit JsonCursor(std::string* out) : out_(out) {
    const size_t used = out->size();
    out->resize(used + kMinRoom);  // zero-fills only kMinRoom bytes: not the whole capacity
    p_ = out->data() + used;
    end_ = out->data() + out->size();
  }
  // Trims the string to what was written.
  ~JsonCursor() { out_->resize(static_cast<size_t>(p_ - out_->data())); }
  JsonCursor(const JsonCursor&) = delete;
  JsonCursor& operator=(const JsonCursor&) = delete;

  // Room for n more bytes.
  void Reserve(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) Grow(n);
  }
  void Char(char c) {
    Reserve(1);
    *p_++ = c;
  }
  // A literal of the source (member names with their quotes, colons and commas): copied as is.
  template <size_t N>
  void Literal(const char (&s)[N]) {
    Reserve(N - 1);
    std::memcpy(p_, s, N - 1);
    p_ += N - 1;
  }
  // Already-serialised JSON.
  void Raw(std::string_view s) {
    Reserve(s.size());
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  // A JSON string literal with its quotes; the same bytes as AppendJsonString.
  void String(std::string_view s) {
#if defined(__SSE2__)
    if (s.size() <= 16) {  // most strings: inline, one short copy and one 16-byte test
      Reserve(2 + 16 + 16);
      char* body = p_ + 1;
      json_internal::CopyShort(body, s.data(), s.size());
      const unsigned mask =
          json_internal::SpecialMask(reinterpret_cast<const unsigned char*>(body)) &
          ((1u << s.size()) - 1);  // bytes past the string are not its own
      if (mask == 0) {
        *p_ = '"';
        p_ = body + s.size();
        *p_++ = '"';
        return;
      }
    }
#endif
    LongString(s);
  }
  void Int(int64_t v) {
    Number(v);
  }
  void Uint(uint64_t v) {
    Number(v);
  }
  void Double(double d) {
    Reserve(kMaxJsonDoubleChars);
    p_ = WriteJsonDouble(p_, d);
  }
  // A duration in ms from integer nanoseconds: the same text as Double(ns / 1e6).
  void MillisFromNanos(int64_t ns) {
    Reserve(kMaxJsonDoubleChars);
    p_ = WriteMillisFromNanos(p_, ns);
  }
  void Bool(bool b) {
    if (b) {
      Literal("true");
    } else {
      Literal("false");
    }
  }
  // FormatRfc3339Nanos's text, in quotes.
  void Rfc3339Nanos(int64_t unix_ns) {
    Reserve(kMaxRfc3339Chars + 2);
    *p_++ = '"';
    p_ = WriteRfc3339Nanos(p_, unix_ns);
    *p_++ = '"';
  }
  // Text known to need no escaping (hex, UUIDs), in quotes.
  void PlainString(std::string_view s) {
    Reserve(s.size() + 2);
    *p_++ = '"';
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
    *p_++ = '"';
  }
  // Lower-case hex of n bytes, in quotes.
  void HexString(const uint8_t* bytes, size_t n);

  // For escaping (json_escape.h): appends n bytes.
  void Append(const char* s, size_t n) {
    Reserve(n);
    std::memcpy(p_, s, n);
    p_ += n;
  }

 private:
  // First size of a record's buffer; a reused string keeps its capacity across records.
  static constexpr size_t kMinRoom = 1024;
  template <typename T>
  void Number(T v) {
    Reserve(24);
    p_ = std::to_chars(p_, p_ + 24, v).ptr;
  }
  void Number(uint64_t v) {
    Reserve(24);
    p_ = WriteUint64(p_, v);
  }
  void Grow(size_t n);
  // Strings over 16 bytes and strings to escape.
  void LongString(std::string_view s);

  std::string* out_;
  char* p_;
  char* end_;
};

}  // namespace spanpipe
