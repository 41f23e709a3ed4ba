// Test helper: inflates a gzip stream (what a client does with Content-Encoding: gzip).
#pragma once

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace spanpipe::serve {

inline std::string Gunzip(const std::string& gz) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out(8 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END) << "not a complete gzip stream";
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}

}  // namespace spanpipe::serve
