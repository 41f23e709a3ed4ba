// librdkafka serves rebalance callbacks inside consume(), so a revoke can arrive in the middle of
// KafkaSource::Poll, after messages of the revoked partitions were collected. The topology has
// given those partitions up in its revoke callback (state checkpointed, offsets committed) and
// their next owner reads those messages again: Poll must not return them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "connectors/kafka_types.h"

namespace spanpipe::kafka {

struct RevokeDuringPoll {
  size_t collected = 0;  // messages Poll had collected when the revoke was served
  std::vector<TopicPartition> partitions;
};

// Drops each message collected before a revoke of its partition; keeps the order of the rest.
inline void DropRevokedMessages(const std::vector<RevokeDuringPoll>& revokes,
                                std::vector<Message>* messages) {
  auto revoked = [&](size_t i, const Message& m) {
    return std::any_of(revokes.begin(), revokes.end(), [&](const RevokeDuringPoll& r) {
      return i < r.collected &&
             std::any_of(r.partitions.begin(), r.partitions.end(), [&](const TopicPartition& tp) {
               return tp.partition == m.partition && tp.topic == m.topic;
             });
    });
  };
  size_t kept = 0;
  for (size_t i = 0; i < messages->size(); ++i) {
    if (!revoked(i, (*messages)[i])) {
      if (kept != i) (*messages)[kept] = std::move((*messages)[i]);
      ++kept;
    }
  }
  messages->resize(kept);
}

}  // namespace spanpipe::kafka
