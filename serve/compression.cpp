#include "serve/compression.h"

#include <libdeflate.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace spanpipe::serve {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

struct FreeCompressor {
  void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
};

// One compressor per worker thread and level (allocating one costs more than a small answer).
libdeflate_compressor* Compressor(int level) {
  thread_local std::unique_ptr<libdeflate_compressor, FreeCompressor> c;
  thread_local int c_level = -1;
  if (!c || c_level != level) {
    c.reset(libdeflate_alloc_compressor(level));
    c_level = level;
  }
  return c.get();
}

}  // namespace

bool AcceptsGzip(std::string_view header) {
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    size_t semi = item.find(';');
    std::string_view coding = Trim(item.substr(0, semi));
    if (!EqualsNoCase(coding, "gzip") && coding != "*") continue;
    double q = 1;
    if (semi != std::string_view::npos) {
      std::string_view param = Trim(item.substr(semi + 1));
      if (param.size() > 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=')
        q = std::strtod(std::string(param.substr(2)).c_str(), nullptr);
    }
    if (q > 0) return true;
  }
  return false;
}

bool Gzip(std::string_view in, int level, std::string* out) {
  libdeflate_compressor* c = Compressor(level);
  if (!c) return false;
  out->resize(libdeflate_gzip_compress_bound(c, in.size()));
  size_t n = libdeflate_gzip_compress(c, in.data(), in.size(), out->data(), out->size());
  out->resize(n);
  return n > 0;
}

bool DeflateSegment(std::string_view in, int level, std::string* out) {
  // One raw-deflate stream per thread, reset per segment (no history carried over).
  struct Stream {
    z_stream z{};
    int level = -1;
    ~Stream() {
      if (level >= 0) deflateEnd(&z);
    }
  };
  thread_local Stream st;
  if (st.level != level) {
    if (st.level >= 0) deflateEnd(&st.z);
    st.z = z_stream{};
    st.level = -1;
    if (deflateInit2(&st.z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
    st.level = level;
  } else if (deflateReset(&st.z) != Z_OK) {
    return false;
  }
  out->resize(deflateBound(&st.z, static_cast<uLong>(in.size())) + 16);
  st.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  st.z.avail_in = static_cast<uInt>(in.size());
  st.z.next_out = reinterpret_cast<Bytef*>(out->data());
  st.z.avail_out = static_cast<uInt>(out->size());
  int rc = deflate(&st.z, Z_SYNC_FLUSH);
  if (rc != Z_OK || st.z.avail_in != 0 || st.z.avail_out == 0) return false;
  // erase, not resize: GCC 12 at -O3 (Release) warns falsely of overlapping memcpy (-Wrestrict).
  out->erase(out->size() - st.z.avail_out);
  return true;
}

void AppendStoredSegment(std::string_view in, std::string* out) {
  do {
    size_t n = std::min<size_t>(in.size(), 65535);
    // BFINAL 0, BTYPE 00, padded to the byte; LEN and its complement, little-endian.
    const unsigned char h[5] = {
        0, static_cast<unsigned char>(n & 0xff), static_cast<unsigned char>(n >> 8),
        static_cast<unsigned char>(~n & 0xff), static_cast<unsigned char>((~n >> 8) & 0xff)};
    out->append(reinterpret_cast<const char*>(h), sizeof h);
    out->append(in.substr(0, n));
    in.remove_prefix(n);
  } while (!in.empty());
}

void GzipFromSegments(const std::vector<std::string_view>& segments, std::string_view plain,
                      std::string* out) {
  size_t n = 10 + 2 + 8;
  for (auto s : segments) n += s.size();
  out->clear();
  out->reserve(n);
  // Header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
  out->append("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 10);
  for (auto s : segments) out->append(s);
  out->append("\x03\x00", 2);  // an empty final block (fixed Huffman, end of block)
  uint32_t crc = libdeflate_crc32(0, plain.data(), plain.size());
  uint32_t size = static_cast<uint32_t>(plain.size());
  for (uint32_t v : {crc, size})
    for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace spanpipe::serve
