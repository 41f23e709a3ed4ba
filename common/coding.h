// Byte-level encodings shared by state keys, internal records and the pack format.
// Big-endian where keys must sort by number; varints where size matters more than order.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace spanpipe {

inline void PutFixed64BE(std::string* dst, uint64_t v) {
  char b[8];
  for (int i = 7; i >= 0; --i) {
    b[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  dst->append(b, 8);
}
inline void PutFixed32BE(std::string* dst, uint32_t v) {
  char b[4];
  for (int i = 3; i >= 0; --i) {
    b[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  dst->append(b, 4);
}
inline uint64_t DecodeFixed64BE(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline uint32_t DecodeFixed32BE(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
// Signed event times sort correctly big-endian once the sign bit is flipped.
inline void PutOrderedInt64(std::string* dst, int64_t v) {
  PutFixed64BE(dst, static_cast<uint64_t>(v) ^ (uint64_t{1} << 63));
}
inline int64_t DecodeOrderedInt64(const char* p) {
  return static_cast<int64_t>(DecodeFixed64BE(p) ^ (uint64_t{1} << 63));
}

// Raw-pointer forms, for encoders that size their output once and write it in place.
inline size_t VarintLength(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
inline char* EncodeVarint64To(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}
inline char* EncodeFixed64BETo(char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return p + 8;
}

inline void PutVarint64(std::string* dst, uint64_t v) {
  // Into a stack buffer, then one append: state values are runs of varints, and a push_back per
  // byte checks capacity per byte.
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  dst->append(buf, n);
}
// Returns false on truncation or overlong input; advances *in on success.
inline bool GetVarint64(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0, i = 0; shift <= 63 && i < static_cast<int>(in->size()); shift += 7, ++i) {
    uint64_t byte = static_cast<unsigned char>((*in)[i]);
    result |= (byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *v = result;
      in->remove_prefix(i + 1);
      return true;
    }
  }
  return false;
}
// Signed integers as varints, small magnitudes short either side of zero.
inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}
inline void PutZigZag(std::string* dst, int64_t v) {
  PutVarint64(dst, ZigZag(v));
}
inline bool GetZigZag(std::string_view* in, int64_t* v) {
  uint64_t u;
  if (!GetVarint64(in, &u)) return false;
  *v = UnZigZag(u);
  return true;
}
// Raw bytes at p, returning the end. An empty view's data() may be null, which memcpy must not get.
inline char* EncodeBytesTo(char* p, std::string_view s) {
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

// Length-prefixed bytes: varint length then the bytes.
inline void PutLengthPrefixed(std::string* dst, std::string_view s) {
  PutVarint64(dst, s.size());
  dst->append(s.data(), s.size());
}
inline bool GetLengthPrefixed(std::string_view* in, std::string_view* out) {
  uint64_t n;
  if (!GetVarint64(in, &n) || n > in->size()) return false;
  *out = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}
inline void PutDouble(std::string* dst, double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  PutFixed64BE(dst, bits);
}
inline bool GetDouble(std::string_view* in, double* d) {
  if (in->size() < 8) return false;
  uint64_t bits = DecodeFixed64BE(in->data());
  std::memcpy(d, &bits, 8);
  in->remove_prefix(8);
  return true;
}
inline bool GetFixed64BE(std::string_view* in, uint64_t* v) {
  if (in->size() < 8) return false;
  *v = DecodeFixed64BE(in->data());
  in->remove_prefix(8);
  return true;
}

}  // namespace spanpipe
