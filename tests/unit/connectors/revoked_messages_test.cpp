#include "connectors/revoked_messages.h"

#include <gtest/gtest.h>

namespace spanpipe::kafka {
namespace {

Message Msg(std::string_view topic, int32_t partition, int64_t offset) {
  Message m;
  m.topic = topic;
  m.partition = partition;
  m.offset = offset;
  return m;
}

std::vector<std::pair<int32_t, int64_t>> Left(const std::vector<Message>& v) {
  std::vector<std::pair<int32_t, int64_t>> out;
  for (const auto& m : v) out.emplace_back(m.partition, m.offset);
  return out;
}

// A revoke served after three messages drops those of its partitions among them, and keeps what
// was consumed after it (a re-assignment's messages, read from the committed offset).
TEST(RevokedMessagesTest, DropsOnlyMessagesCollectedBeforeTheRevokeOfTheirPartition) {
  std::vector<Message> v = {Msg("spans", 0, 10), Msg("spans", 1, 20), Msg("other", 1, 5),
                            Msg("spans", 1, 7), Msg("spans", 0, 11)};
  DropRevokedMessages({{3, {{"spans", 1}}}}, &v);
  EXPECT_EQ(Left(v), (std::vector<std::pair<int32_t, int64_t>>{{0, 10}, {1, 5}, {1, 7}, {0, 11}}));
  EXPECT_EQ(v[1].topic, "other");
}

TEST(RevokedMessagesTest, SeveralRevokesAndNoneAtAll) {
  std::vector<Message> v = {Msg("t", 0, 1), Msg("t", 1, 1), Msg("t", 2, 1), Msg("t", 0, 2)};
  DropRevokedMessages({}, &v);
  EXPECT_EQ(v.size(), 4u);
  DropRevokedMessages({{1, {{"t", 0}}}, {4, {{"t", 2}}}}, &v);
  EXPECT_EQ(Left(v), (std::vector<std::pair<int32_t, int64_t>>{{1, 1}, {0, 2}}));
}

}  // namespace
}  // namespace spanpipe::kafka
