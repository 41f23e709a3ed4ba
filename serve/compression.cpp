#include "serve/compression.h"

#include <libdeflate.h>

#include <cctype>
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

}  // namespace spanpipe::serve
