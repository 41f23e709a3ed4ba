// Protocol Buffers wire format primitives (https://protobuf.dev/programming-guides/encoding/).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace spanpipe::pb {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kStartGroup = 3, kEndGroup = 4, kFixed32 = 5 };

// A cursor over one message; every read checks bounds.
class Reader {
 public:
  explicit Reader(std::string_view data) : p_(data.data()), end_(data.data() + data.size()) {}
  bool done() const { return p_ >= end_; }

  bool Varint(uint64_t* v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) return false;
      uint64_t b = static_cast<unsigned char>(*p_++);
      r |= (b & 0x7f) << shift;
      if (!(b & 0x80)) {
        *v = r;
        return true;
      }
    }
    return false;  // more than 10 bytes
  }
  bool Tag(uint32_t* field, uint32_t* wire) {
    uint64_t t;
    if (!Varint(&t) || t > 0xffffffffu) return false;
    *field = static_cast<uint32_t>(t >> 3);
    *wire = static_cast<uint32_t>(t & 7);
    return *field != 0;
  }
  bool Fixed64(uint64_t* v) {
    if (end_ - p_ < 8) return false;
    uint64_t r = 0;
    for (int i = 7; i >= 0; --i) r = (r << 8) | static_cast<unsigned char>(p_[i]);
    p_ += 8;
    *v = r;
    return true;
  }
  bool Fixed32(uint32_t* v) {
    if (end_ - p_ < 4) return false;
    uint32_t r = 0;
    for (int i = 3; i >= 0; --i) r = (r << 8) | static_cast<unsigned char>(p_[i]);
    p_ += 4;
    *v = r;
    return true;
  }
  bool Bytes(std::string_view* out) {
    uint64_t n;
    if (!Varint(&n) || n > static_cast<uint64_t>(end_ - p_)) return false;
    *out = std::string_view(p_, n);
    p_ += n;
    return true;
  }
  // Skips a field of the given wire type; groups are not supported (OTLP has none).
  bool Skip(uint32_t wire) {
    uint64_t v;
    uint32_t f;
    std::string_view s;
    switch (wire) {
      case kVarint: return Varint(&v);
      case kFixed64: return Fixed64(&v);
      case kLen: return Bytes(&s);
      case kFixed32: return Fixed32(&f);
      default: return false;
    }
  }

 private:
  const char* p_;
  const char* end_;
};

inline void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
inline void PutTag(std::string* out, uint32_t field, WireType w) { PutVarint(out, (uint64_t{field} << 3) | w); }
inline void PutLenField(std::string* out, uint32_t field, std::string_view bytes) {
  PutTag(out, field, kLen);
  PutVarint(out, bytes.size());
  out->append(bytes.data(), bytes.size());
}
inline void PutFixed64Field(std::string* out, uint32_t field, uint64_t v) {
  PutTag(out, field, kFixed64);
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void PutVarintField(std::string* out, uint32_t field, uint64_t v) {
  PutTag(out, field, kVarint);
  PutVarint(out, v);
}

}  // namespace spanpipe::pb
