#include "connectors/embedded_cluster.h"

// rdkafka.h must come before rdkafka_mock.h.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

namespace spanpipe::kafka {

Status EmbeddedCluster::Start(int brokers, std::unique_ptr<EmbeddedCluster>* out) {
  std::unique_ptr<EmbeddedCluster> c(new EmbeddedCluster());
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  c->rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!c->rk_) return Status::Internal(std::string("embedded cluster handle: ") + err);
  c->cluster_ = rd_kafka_mock_cluster_new(c->rk_, brokers);
  if (!c->cluster_) return Status::Internal("cannot start the embedded Kafka cluster");
  c->bootstrap_ = rd_kafka_mock_cluster_bootstraps(c->cluster_);
  *out = std::move(c);
  return Status::OK();
}

EmbeddedCluster::~EmbeddedCluster() {
  if (cluster_) rd_kafka_mock_cluster_destroy(cluster_);
  if (rk_) rd_kafka_destroy(rk_);
}

Status EmbeddedCluster::CreateTopic(const std::string& topic, int partitions, int replication) {
  rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, replication);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
    return Status::Internal("create topic " + topic + ": " + rd_kafka_err2str(e));
  return Status::OK();
}

}  // namespace spanpipe::kafka
