#include "common/time_format.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <random>
#include <vector>

namespace spanpipe {

TEST(TimeFormat, EpochAndFractions) {
  EXPECT_EQ(FormatRfc3339Millis(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339Millis(1700000000123), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(FormatRfc3339Nanos(1700000000123456789), "2023-11-14T22:13:20.123456789Z");
  EXPECT_EQ(FormatRfc3339Nanos(1700000000120000000), "2023-11-14T22:13:20.120Z");
}

TEST(TimeFormat, BeforeEpochFloorsToTheEarlierSecond) {
  EXPECT_EQ(FormatRfc3339Millis(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339Millis(-86400000), "1969-12-31T00:00:00Z");
}

// libc's gmtime_r + strftime is an independent oracle for the hand-written digits, from year 0
// (as far back as glibc goes without a sign) to 9999; outside that, the printf form takes over.
TEST(TimeFormat, AgreesWithGmtimeFromYearZeroTo9999) {
  std::mt19937_64 rng(7);
  const int64_t lo = -62167219200LL, hi = 253402300799LL;  // 0000-01-01 .. 9999-12-31T23:59:59
  std::vector<int64_t> secs = {lo, hi, 0, 951782400 /* 2000-02-29 */, -1};
  for (int i = 0; i < 20000; ++i)
    secs.push_back(lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1)));
  for (int64_t s : secs) {
    const time_t t = static_cast<time_t>(s);
    std::tm tm{};
    ASSERT_NE(gmtime_r(&t, &tm), nullptr);
    char want[40];
    std::snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    const int64_t ms = static_cast<int64_t>(rng() % 1000);
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03lld", static_cast<long long>(ms));
    ASSERT_EQ(FormatRfc3339Millis(s * 1000), std::string(want) + "Z") << s;
    if (ms != 0) {
      ASSERT_EQ(FormatRfc3339Millis(s * 1000 + ms), std::string(want) + frac + "Z") << s;
    }
  }
  EXPECT_EQ(FormatRfc3339Millis((hi + 1) * 1000), "10000-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339Nanos(1700000000000000001), "2023-11-14T22:13:20.000000001Z");
  EXPECT_EQ(FormatRfc3339Nanos(1700000000000001000), "2023-11-14T22:13:20.000001Z");
}

TEST(TimeFormat, LeapDay) {
  // 2024-02-29T00:00:00Z = 19782 days after the epoch.
  EXPECT_EQ(FormatRfc3339Millis(int64_t{19782} * 86400000), "2024-02-29T00:00:00Z");
  EXPECT_EQ(DaysFromCivil(2024, 2, 29), 19782);
}

TEST(TimeFormat, ParsesRfc3339AndEpochForms) {
  int64_t ms = 0;
  ASSERT_TRUE(ParseTimestampMillis("2023-11-14T22:13:20.123Z", &ms));
  EXPECT_EQ(ms, 1700000000123);
  ASSERT_TRUE(ParseTimestampMillis("2023-11-14T23:13:20+01:00", &ms));
  EXPECT_EQ(ms, 1700000000000);
  ASSERT_TRUE(ParseTimestampMillis("1700000000", &ms));
  EXPECT_EQ(ms, 1700000000000);
  ASSERT_TRUE(ParseTimestampMillis("1700000000123", &ms));
  EXPECT_EQ(ms, 1700000000123);
  EXPECT_FALSE(ParseTimestampMillis("yesterday", &ms));
  EXPECT_FALSE(ParseTimestampMillis("2023-13-01T00:00:00Z", &ms));
  EXPECT_FALSE(ParseTimestampMillis("2023-11-14T22:13:20", &ms));
}

TEST(TimeFormat, FloorDivRoundsTowardMinusInfinity) {
  EXPECT_EQ(FloorDiv(-1, 60000), -1);
  EXPECT_EQ(FloorDiv(59999, 60000), 0);
  EXPECT_EQ(FloorDiv(-60000, 60000), -1);
  EXPECT_EQ(FloorDiv(-60001, 60000), -2);
}

}  // namespace spanpipe
