// Plain types shared by the Kafka connectors and their users.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spanpipe::kafka {

using Properties = std::vector<std::pair<std::string, std::string>>;  // passed to librdkafka verbatim

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  bool operator<(const TopicPartition& o) const {
    return topic != o.topic ? topic < o.topic : partition < o.partition;
  }
  bool operator==(const TopicPartition& o) const { return topic == o.topic && partition == o.partition; }
};

struct Header {
  std::string_view key;
  std::string_view value;
};

// Views valid until the next Poll on the source that returned it.
struct Message {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  std::string_view key;
  std::string_view value;
  std::vector<Header> headers;
  std::optional<std::string_view> header(std::string_view name) const {
    std::optional<std::string_view> v;
    for (const auto& h : headers)
      if (h.key == name) v = h.value;
    return v;
  }
};

struct TopicSpec {
  std::string name;
  int32_t partitions = 1;
  Properties config;  // topic configs, e.g. cleanup.policy=compact
};

}  // namespace spanpipe::kafka
