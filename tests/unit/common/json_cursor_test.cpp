// JsonCursor (the raw-pointer writer of the per-span records) against the std::string writer and
// fmt, on random inputs: the two must produce the same bytes.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "common/hex.h"
#include "common/json_cursor.h"
#include "common/json_writer.h"

namespace spanpipe {
namespace {

// Random bytes biased towards what escaping must handle: quotes, backslashes, controls, valid and
// invalid UTF-8 sequences, and long plain runs (the 16-byte blocks).
std::string RandomText(std::mt19937_64& rng, size_t max_len) {
  static const std::vector<std::string> pieces = {"\"",
                                                  "\\",
                                                  "\n",
                                                  "\r",
                                                  "\t",
                                                  "\b",
                                                  "\f",
                                                  std::string(1, '\0'),
                                                  "\x1f",
                                                  "\x7f",
                                                  "\xc3\xa9",
                                                  "\xe2\x82\xac",
                                                  "\xf0\x9f\x98\x80",
                                                  "\xff",
                                                  "\xc3",
                                                  "\xed\xa0\x80",
                                                  "\xe0\x80",
                                                  "plain",
                                                  "0123456789abcdefghij",
                                                  "a"};
  const size_t len = std::uniform_int_distribution<size_t>(0, max_len)(rng);
  std::string s;
  while (s.size() < len) {
    if (rng() % 3 == 0) {
      s += pieces[rng() % pieces.size()];
    } else {
      s.push_back(static_cast<char>(rng() % 256));
    }
  }
  return s;
}

// What one cursor write appends to an empty string.
template <typename Write>
std::string Written(Write write) {
  std::string out;
  {
    JsonCursor c(&out);
    write(c);
  }
  return out;
}

TEST(JsonCursor, StringsMatchAppendJsonString) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 20000; ++round) {
    const std::string in = RandomText(rng, round % 100 == 0 ? 5000 : 60);
    std::string expected = "prefix";
    AppendJsonString(&expected, in);
    std::string out = "prefix";
    {
      JsonCursor c(&out);
      c.String(in);
    }
    ASSERT_EQ(out, expected) << "round " << round;
  }
}

TEST(JsonCursor, GrowsPastItsFirstRoomAndKeepsEarlierBytes) {
  std::string out, expected;
  {
    JsonCursor c(&out);
    for (int i = 0; i < 3000; ++i) {
      c.Char(i ? ',' : '[');
      c.Literal("\"k\"");
      c.Int(-i);
      c.Uint(static_cast<uint64_t>(i) * 1000003);
      c.Bool(i % 2 == 0);
      c.Raw("{}");
    }
    c.Char(']');
  }
  for (int i = 0; i < 3000; ++i) {
    expected += i ? "," : "[";
    expected += "\"k\"" + std::to_string(-i) + std::to_string(static_cast<uint64_t>(i) * 1000003) +
                (i % 2 == 0 ? "true" : "false") + "{}";
  }
  expected += "]";
  EXPECT_EQ(out, expected);
  EXPECT_EQ(out.size(), expected.size());  // trimmed to what was written
}

TEST(JsonCursor, IntegerExtremes) {
  std::string out;
  {
    JsonCursor c(&out);
    c.Int(INT64_MIN);
    c.Char(',');
    c.Int(INT64_MAX);
    c.Char(',');
    c.Uint(UINT64_MAX);
    c.Char(',');
    c.Int(0);
  }
  EXPECT_EQ(out, "-9223372036854775808,9223372036854775807,18446744073709551615,0");
}

// The compiled format writes the same text as the run-time "{}" that AppendJsonDouble used before.
TEST(JsonCursor, DoublesMatchFmtsRuntimeFormat) {
  std::mt19937_64 rng(5);
  std::vector<double> values = {0.0,
                                -0.0,
                                1.0,
                                0.1,
                                1e15,
                                1e16,
                                1e17,
                                123456789.123,
                                1e-4,
                                1e-5,
                                5e-324,
                                -std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::min(),
                                std::numeric_limits<double>::epsilon()};
  for (int i = 0; i < 20000; ++i) {
    values.push_back(std::bit_cast<double>(rng()));                      // any bit pattern
    values.push_back(static_cast<double>(rng() % 100000000000) / 1e6);   // durations in ms
    values.push_back(static_cast<double>(rng() % 1000000) * 0.0000025);  // costs
  }
  for (double d : values) {
    std::string expected = std::isfinite(d) ? fmt::format("{}", d) : "null";
    ASSERT_EQ(Written([&](JsonCursor& c) { c.Double(d); }), expected) << std::bit_cast<uint64_t>(d);
    std::string appended;
    AppendJsonDouble(&appended, d);
    ASSERT_EQ(appended, expected);
  }
  std::string out;
  AppendJsonDouble(&out, std::numeric_limits<double>::infinity());
  AppendJsonDouble(&out, std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(out, "nullnull");
}

// Durations written from their nanoseconds: the text of the double ns / 1e6, in every range
// (integers, trailing zeros, the exponent forms below 1e-4 ms and from 1e16 ms).
TEST(JsonCursor, MillisFromNanosMatchTheDoubleText) {
  std::mt19937_64 rng(13);
  std::vector<int64_t> values = {0,
                                 1,
                                 99,
                                 100,
                                 101,
                                 999,
                                 1000,
                                 1000000,
                                 1500000,
                                 123456789,
                                 999999999999999,
                                 1000000000000000,
                                 1000000000000001,
                                 INT64_MAX};
  for (int i = 0; i < 100000; ++i) {
    const int digits = static_cast<int>(rng() % 19);
    int64_t scale = 1;
    for (int d = 0; d < digits; ++d) scale *= 10;
    values.push_back(static_cast<int64_t>(rng() % static_cast<uint64_t>(scale)) + 1);
    values.push_back(static_cast<int64_t>(rng() % 100000) * 1000 *
                     (1 + static_cast<int64_t>(rng() % 1000)));
  }
  for (int64_t ns : values) {
    ASSERT_EQ(Written([&](JsonCursor& c) { c.MillisFromNanos(ns); }),
              fmt::format("{}", static_cast<double>(ns) / 1e6))
        << ns;
  }
}

TEST(JsonCursor, UnsignedNumbersMatchToChars) {
  std::mt19937_64 rng(41);
  std::vector<uint64_t> values = {0,
                                  9,
                                  10,
                                  99999999,
                                  100000000,
                                  100000001,
                                  9999999999999999,
                                  10000000000000000,
                                  1796000000000000000,
                                  UINT64_MAX};
  for (int i = 0; i < 100000; ++i) values.push_back(rng() >> (rng() % 64));
  for (uint64_t v : values) {
    char expected[24];
    const size_t n = static_cast<size_t>(std::to_chars(expected, expected + 24, v).ptr - expected);
    ASSERT_EQ(Written([&](JsonCursor& c) { c.Uint(v); }), std::string_view(expected, n)) << v;
  }
}

TEST(Hex, VectorEncodingMatchesTheTableForEveryLength) {
  std::mt19937_64 rng(3);
  for (size_t n = 0; n <= 70; ++n) {
    std::vector<uint8_t> bytes(n);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    if (n > 0) bytes[0] = 0xff;  // every nibble value somewhere
    if (n > 1) bytes[1] = 0x09;
    if (n > 2) bytes[2] = 0xa0;
    std::string expected;
    for (uint8_t b : bytes) {
      expected.push_back("0123456789abcdef"[b >> 4]);
      expected.push_back("0123456789abcdef"[b & 0xf]);
    }
    std::string out(2 * n + 4, '#');
    HexEncodeTo(bytes.data(), n, out.data());
    EXPECT_EQ(out.substr(0, 2 * n), expected) << n;
    EXPECT_EQ(out.substr(2 * n), "####") << n;  // nothing written past 2n
    std::string quoted;
    {
      JsonCursor c(&quoted);
      c.HexString(bytes.data(), n);
    }
    EXPECT_EQ(quoted, "\"" + expected + "\"");
  }
}

}  // namespace
}  // namespace spanpipe
