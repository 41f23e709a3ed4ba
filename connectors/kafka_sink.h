// KafkaSink: one idempotent producer (acks=all) whose every delivery report is checked. Flush
// returns the first failed delivery (after librdkafka's own retries) so that the topology never
// commits offsets past an output that was not written.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "connectors/kafka_types.h"

namespace spanpipe::kafka {

struct SinkOptions {
  std::string brokers;
  Properties properties;  // kafka.producer.*, applied last
};

class KafkaSink {
 public:
  static Status Create(const SinkOptions& options, std::unique_ptr<KafkaSink>* out);
  ~KafkaSink();
  // Copies key, value and headers; blocks (serving delivery reports) while the local queue is full.
  Status Produce(std::string_view topic, std::string_view key, std::string_view value,
                 const std::vector<std::pair<std::string, std::string>>& headers = {}, int32_t partition = -1);
  // Waits for every record produced so far; the first delivery error since the last Flush, or
  // Unavailable on timeout.
  Status Flush(int timeout_ms);
  uint64_t delivered_records() const;
  uint64_t delivered_bytes() const;
  uint64_t failed_records() const;

  class Impl;

 private:
  explicit KafkaSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace spanpipe::kafka
