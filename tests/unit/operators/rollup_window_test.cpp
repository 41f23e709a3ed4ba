#include "operators/rollup_window.h"

#include <gtest/gtest.h>

#include <random>

#include "common/coding.h"
#include "common/time_format.h"
#include "operators/rollup_partial.h"

namespace spanpipe::rollup {
namespace {

constexpr int64_t kMin = 60'000, kHour = 3'600'000, kDay = 86'400'000;

int64_t Ms(int64_t y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0, int ms = 0) {
  return DaysFromCivil(y, mo, d) * kDay + h * kHour + mi * kMin + s * 1000 + ms;
}

TEST(RollupWindowTest, MinuteHourDayBoundaries) {
  const int64_t t = Ms(2024, 3, 10, 14, 27, 0);
  EXPECT_EQ(WindowStartMs(Granularity::k1m, t), t);
  EXPECT_EQ(WindowStartMs(Granularity::k1m, t - 1), t - kMin);
  EXPECT_EQ(WindowStartMs(Granularity::k1m, t + 59'999), t);
  EXPECT_EQ(WindowStartMs(Granularity::k1h, t), Ms(2024, 3, 10, 14));
  EXPECT_EQ(WindowStartMs(Granularity::k1h, Ms(2024, 3, 10, 15) - 1), Ms(2024, 3, 10, 14));
  EXPECT_EQ(WindowStartMs(Granularity::k1d, t), Ms(2024, 3, 10));
  EXPECT_EQ(WindowStartMs(Granularity::k1d, Ms(2024, 3, 11) - 1), Ms(2024, 3, 10));
  EXPECT_EQ(WindowStartMs(Granularity::k1d, Ms(2024, 3, 11)), Ms(2024, 3, 11));
}

TEST(RollupWindowTest, YearAndLeapDayBoundaries) {
  const int64_t last_ms_of_2023 = Ms(2024, 1, 1) - 1;
  EXPECT_EQ(WindowStartMs(Granularity::k1m, last_ms_of_2023), Ms(2023, 12, 31, 23, 59));
  EXPECT_EQ(WindowStartMs(Granularity::k1h, last_ms_of_2023), Ms(2023, 12, 31, 23));
  EXPECT_EQ(WindowStartMs(Granularity::k1d, last_ms_of_2023), Ms(2023, 12, 31));
  EXPECT_EQ(WindowStartMs(Granularity::k1d, Ms(2024, 1, 1)), Ms(2024, 1, 1));
  EXPECT_EQ(WindowStartMs(Granularity::k1d, Ms(2024, 2, 29, 12)), Ms(2024, 2, 29));
  EXPECT_EQ(FormatRfc3339Millis(WindowStartMs(Granularity::k1h, Ms(2024, 2, 29, 23, 59, 59))),
            "2024-02-29T23:00:00Z");
}

TEST(RollupWindowTest, TimesBefore1970FloorInsteadOfTruncating) {
  EXPECT_EQ(WindowStartMs(Granularity::k1m, -1), -kMin);
  EXPECT_EQ(WindowStartMs(Granularity::k1h, -1), -kHour);
  EXPECT_EQ(WindowStartMs(Granularity::k1d, -1), -kDay);
  EXPECT_EQ(WindowStartMs(Granularity::k1m, -kMin), -kMin);
  EXPECT_EQ(WindowStartMs(Granularity::k1m, -kMin - 1), -2 * kMin);
  // 1969-07-20T20:17:40Z
  const int64_t landing = Ms(1969, 7, 20, 20, 17, 40);
  EXPECT_LT(landing, 0);
  EXPECT_EQ(WindowStartMs(Granularity::k1m, landing), Ms(1969, 7, 20, 20, 17));
  EXPECT_EQ(WindowStartMs(Granularity::k1d, landing), Ms(1969, 7, 20));
  EXPECT_EQ(WindowStartMs(Granularity::k1d, 0), 0);
}

// The keys are written in place (sized first): the same bytes as the append formulation they
// replaced, for random dims (empty, long enough for 2-byte length varints, any byte).
TEST(RollupWindowTest, InPlaceKeysMatchTheAppendFormulation) {
  std::mt19937_64 rng(9);
  auto text = [&] {
    std::string s(rng() % 4 == 0 ? rng() % 300 : rng() % 12, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  };
  for (int i = 0; i < 5000; ++i) {
    WindowId id{static_cast<Granularity>(rng() % 3),
                static_cast<int64_t>(rng()),
                {text(), text(), text(), text(), text(), text()}};
    if (i % 7 == 0) id.start_ms = i % 2 ? INT64_MIN : INT64_MAX;
    const RollupDims& d = id.dims;
    std::string expected = "prefix";
    expected.push_back(static_cast<char>(id.granularity));
    PutOrderedInt64(&expected, id.start_ms);
    for (const std::string* part :
         {&d.project, &d.service, &d.provider, &d.model, &d.operation, &d.environment})
      PutLengthPrefixed(&expected, *part);
    std::string key = "prefix";
    EncodeWindowId(id, &key);
    ASSERT_EQ(key, expected);
    std::string dims, from_dims = "prefix";
    EncodeWindowDims(d.project, d.service, d.provider, d.model, d.operation, d.environment, &dims);
    EncodeWindowIdWithDims(id.granularity, id.start_ms, dims, &from_dims);
    ASSERT_EQ(from_dims, expected);
    std::string_view in(key);
    in.remove_prefix(6);
    WindowId back;
    ASSERT_TRUE(DecodeWindowId(&in, &back));
    EXPECT_EQ(back, id);
    EXPECT_EQ(ContractKey(id), d.project + "|" + std::string(GranularityName(id.granularity)) +
                                   "|" + std::to_string(id.start_ms) + "|" + d.service + "|" +
                                   d.provider + "|" + d.model + "|" + d.operation + "|" +
                                   d.environment);
  }
}

// A span without a service, model, ... carries default string_views, whose data() is null:
// encoding them must not hand null to memcpy (UBSan aborts the sanitizer build if it does).
TEST(RollupWindowTest, DefaultViewsEncodeLikeEmptyStrings) {
  std::string dims = "x";
  EncodeWindowDims({}, {}, {}, {}, {}, {}, &dims);
  EXPECT_EQ(dims, "x" + std::string(6, '\0'));  // six zero lengths
  std::string key;
  EncodeWindowIdWithDims(Granularity::k1m, 0, std::string_view{}, &key);
  EXPECT_EQ(key.size(), 9u);
}

TEST(RollupWindowTest, ContractKeyAndNames) {
  WindowId id{Granularity::k1h, 3'600'000, {"proj", "svc", "openai", "gpt-4o", "chat", ""}};
  EXPECT_EQ(ContractKey(id), "proj|1h|3600000|svc|openai|gpt-4o|chat|");
  EXPECT_EQ(id.end_ms(), 7'200'000);
  Granularity g;
  ASSERT_TRUE(ParseGranularity("1d", &g));
  EXPECT_EQ(g, Granularity::k1d);
  EXPECT_FALSE(ParseGranularity("5m", &g));
}

TEST(RollupWindowTest, PartialRoundTrip) {
  WindowId id{Granularity::k1d, -kDay, {"p", "s", "anthropic", "claude", "chat", "dev"}};
  RollupMetrics m;
  m.AddCall(true, 10, 20, 0.5, 123.0);
  m.AddCall(false, 1, 2, 0.25, 7.0);
  m.users.Add("alice");
  std::string enc;
  EncodePartial(7, 42, -5, id, m, &enc);
  RollupPartial d;
  ASSERT_TRUE(DecodePartial(enc, &d).ok());
  EXPECT_FALSE(d.heartbeat);
  EXPECT_EQ(d.source_partition, 7);
  EXPECT_EQ(d.version, 42u);
  EXPECT_EQ(d.watermark_ms, -5);
  EXPECT_EQ(d.id, id);
  EXPECT_EQ(d.metrics.requests, 2);
  EXPECT_EQ(d.metrics.errors, 1);
  EXPECT_EQ(d.metrics.input_tokens, 11);
  EXPECT_EQ(d.metrics.output_tokens, 22);
  EXPECT_DOUBLE_EQ(d.metrics.cost_usd, 0.75);
  EXPECT_DOUBLE_EQ(d.metrics.duration_ms_min, 7.0);
  EXPECT_DOUBLE_EQ(d.metrics.duration_ms_max, 123.0);
  EXPECT_EQ(d.metrics.users.Estimate(), 1u);
  std::string hb;
  EncodeHeartbeat(3, 99, &hb);
  ASSERT_TRUE(DecodePartial(hb, &d).ok());
  EXPECT_TRUE(d.heartbeat);
  EXPECT_EQ(d.source_partition, 3);
  EXPECT_EQ(d.watermark_ms, 99);
  EXPECT_FALSE(DecodePartial(enc.substr(0, enc.size() - 3), &d).ok());
  EXPECT_FALSE(DecodePartial("garbage", &d).ok());
  // The merge reads only the version of a stored partial.
  uint64_t version = 0;
  ASSERT_TRUE(DecodePartialVersion(enc, &version));
  EXPECT_EQ(version, 42u);
  EXPECT_FALSE(DecodePartialVersion(hb, &version));
  EXPECT_FALSE(DecodePartialVersion(enc.substr(0, 6), &version));
  // Decoding into the partial used above (a heartbeat) gives the whole partial again.
  ASSERT_TRUE(DecodePartial(enc, &d).ok());
  EXPECT_EQ(d.id, id);
  std::string again;
  EncodePartial(d.source_partition, d.version, d.watermark_ms, d.id, d.metrics, &again);
  EXPECT_EQ(again, enc);
}

}  // namespace
}  // namespace spanpipe::rollup
