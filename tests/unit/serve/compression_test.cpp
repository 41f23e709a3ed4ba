#include "serve/compression.h"

#include <gtest/gtest.h>
#include <string>

#include "tests/unit/serve/gunzip.h"

namespace spanpipe::serve {
namespace {

TEST(Compression, AcceptsGzipParsesTheHeader) {
  EXPECT_TRUE(AcceptsGzip("gzip"));
  EXPECT_TRUE(AcceptsGzip("gzip, deflate, br, zstd"));  // Chromium
  EXPECT_TRUE(AcceptsGzip("br;q=1.0, GZIP;q=0.5"));
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_FALSE(AcceptsGzip("br, zstd"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("identity, x-gzip-like"));
}

TEST(Compression, GzipRoundTripsAndShrinksJson) {
  std::string json = "{\"data\":[";
  for (int i = 0; i < 2000; ++i)
    json += (i ? ",{" : "{") + std::string("\"model\":\"gpt-4o\",\"request_count\":") +
            std::to_string(i * 7 % 1000) + "}";
  json += "]}";
  std::string gz;
  ASSERT_TRUE(Gzip(json, 1, &gz));
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  EXPECT_LT(gz.size() * 5, json.size());
  EXPECT_EQ(Gunzip(gz), json);
  ASSERT_TRUE(Gzip("", 1, &gz));
  EXPECT_EQ(Gunzip(gz), "");
}

}  // namespace
}  // namespace spanpipe::serve
