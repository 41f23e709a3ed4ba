#include <gtest/gtest.h>

#include "common/coding.h"
#include "common/hex.h"
#include "common/json_writer.h"

#include <nlohmann/json.hpp>

namespace spanpipe {

TEST(Hex, RoundTripAndCaseInsensitiveDecode) {
  std::string bytes;
  ASSERT_TRUE(HexDecode("5B8EFFF798038103D269B633813FC60C", &bytes));
  EXPECT_EQ(HexEncode(bytes), "5b8efff798038103d269b633813fc60c");
  EXPECT_FALSE(HexDecode("abc", &bytes));
  EXPECT_FALSE(HexDecode("zz", &bytes));
}

TEST(Base64, KnownVectors) {
  // RFC 4648 §10.
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  std::string out;
  ASSERT_TRUE(Base64Decode("Zm9vYg==", &out));
  EXPECT_EQ(out, "foob");
  ASSERT_TRUE(Base64Decode("Zm9vYg", &out));
  EXPECT_EQ(out, "foob");
  EXPECT_FALSE(Base64Decode("Zm9v!", &out));
}

TEST(JsonWriter, EscapesControlQuotesAndInvalidUtf8) {
  std::string out;
  AppendJsonString(&out, std::string_view("a\"b\\c\n\x01\xff\xc3\xa9", 10));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\u0001\xEF\xBF\xBD\xc3\xa9\"");
}

// The fast path tests 16 bytes at a time: every special byte must be found at every offset of a
// block and in the scalar tail. nlohmann::json's serializer is the independent oracle (valid UTF-8
// only: the two replace invalid bytes differently).
TEST(JsonWriter, EscapesSpecialBytesAtEveryOffsetLikeAnIndependentSerializer) {
  const std::vector<std::string> specials = {
      "\"",   "\\",       "\n",           std::string(1, '\0'),
      "\x1f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
  for (const std::string& special : specials) {
    for (size_t len = 0; len < 40; ++len) {
      for (size_t at = 0; at <= len; ++at) {
        std::string in(len, 'x');
        in.insert(at, special);
        std::string out;
        AppendJsonString(&out, in);
        ASSERT_EQ(out, nlohmann::json(in).dump()) << "len " << len << " at " << at;
      }
    }
  }
  std::string out;
  AppendJsonString(&out, std::string(37, 'a') + "\xff" + std::string(20, 'b'));
  EXPECT_EQ(out, "\"" + std::string(37, 'a') + "\xEF\xBF\xBD" + std::string(20, 'b') + "\"");
}

TEST(JsonWriter, WritesIntegerExtremes) {
  std::string out;
  JsonWriter w(&out);
  w.BeginArray().Int(INT64_MIN).Int(0).Uint(UINT64_MAX).Int(-7).EndArray();
  EXPECT_EQ(out, "[-9223372036854775808,0,18446744073709551615,-7]");
}

TEST(JsonWriter, BuildsNestedDocuments) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Field("a", int64_t{1}).Key("b").BeginArray().String("x").Double(0.5).EndArray();
  w.Field("c", true).Key("d").Double(std::numeric_limits<double>::quiet_NaN()).EndObject();
  EXPECT_EQ(out, R"({"a":1,"b":["x",0.5],"c":true,"d":null})");
}

TEST(Coding, OrderedInt64SortsSignedValues) {
  std::string a, b, c;
  PutOrderedInt64(&a, -5);
  PutOrderedInt64(&b, 0);
  PutOrderedInt64(&c, 7);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(DecodeOrderedInt64(a.data()), -5);
}

TEST(Coding, VarintRejectsTruncation) {
  std::string s;
  PutVarint64(&s, 300);
  std::string_view in(s.data(), 1);
  uint64_t v;
  EXPECT_FALSE(GetVarint64(&in, &v));
  in = s;
  ASSERT_TRUE(GetVarint64(&in, &v));
  EXPECT_EQ(v, 300u);
}

}  // namespace spanpipe
