// EmbeddedCluster: librdkafka's mock cluster, a real Kafka wire-protocol broker on 127.0.0.1 that
// other processes can use. Used by `demo`, `spanpipe broker` and the integration tests. It keeps
// only a few MB per partition: consume as you produce.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace spanpipe::kafka {

class EmbeddedCluster {
 public:
  static Status Start(int brokers, std::unique_ptr<EmbeddedCluster>* out);
  ~EmbeddedCluster();
  const std::string& bootstrap() const { return bootstrap_; }
  Status CreateTopic(const std::string& topic, int partitions, int replication = 1);

 private:
  EmbeddedCluster() = default;
  rd_kafka_s* rk_ = nullptr;
  rd_kafka_mock_cluster_s* cluster_ = nullptr;
  std::string bootstrap_;
};

}  // namespace spanpipe::kafka
