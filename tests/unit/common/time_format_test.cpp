#include "common/time_format.h"

#include <gtest/gtest.h>

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
