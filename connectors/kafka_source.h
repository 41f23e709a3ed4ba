// KafkaSource: a consumer-group member (cooperative-sticky) that returns batches of messages and
// commits offsets only when told (after the topology's checkpoint). On assignment it asks the
// topology where to start, so that offsets stored beside the state in RocksDB win over the
// group's committed offsets.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "connectors/kafka_types.h"

namespace spanpipe::kafka {

struct SourceOptions {
  std::string brokers;
  std::string group_id;
  std::vector<std::string> topics;
  Properties properties;  // kafka.consumer.*, applied last
};

class KafkaSource {
 public:
  // Called from inside Poll. Fill start_offsets[i] for assigned[i]; -1 = the group's committed
  // offset, else the earliest.
  using OnAssign = std::function<void(const std::vector<TopicPartition>& assigned, std::vector<int64_t>* start_offsets)>;
  using OnRevoke = std::function<void(const std::vector<TopicPartition>& revoked)>;

  static Status Create(const SourceOptions& options, OnAssign on_assign, OnRevoke on_revoke,
                       std::unique_ptr<KafkaSource>* out);
  ~KafkaSource();

  // Up to max_messages; waits at most timeout_ms for the first. Transient broker errors are logged
  // and retried by librdkafka; only fatal errors are returned.
  Status Poll(size_t max_messages, int timeout_ms, std::vector<Message>* out);
  // Synchronous commit of the next offsets to read.
  Status Commit(const std::vector<std::pair<TopicPartition, int64_t>>& next_offsets);
  std::vector<TopicPartition> Assignment() const;
  // High watermark minus position per assigned partition, from librdkafka's cached watermarks.
  std::map<TopicPartition, int64_t> Lag();
  void Close();

  class Impl;

 private:
  explicit KafkaSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace spanpipe::kafka
