#include "connectors/kafka_admin.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <set>

namespace spanpipe::kafka {
namespace {
constexpr int kTimeoutMs = 15000;
struct RkDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
}  // namespace

Status EnsureTopics(const std::string& brokers, const Properties& props, const std::vector<TopicSpec>& topics) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& k, const std::string& v) -> Status {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      return Status::InvalidArgument("kafka property '" + k + "': " + err);
    return Status::OK();
  };
  Status s = set("bootstrap.servers", brokers);
  for (const auto& [k, v] : props) {
    if (!s.ok()) break;
    // Producer-only settings do not apply to the admin client.
    if (k == "linger.ms" || k == "acks" || k == "enable.idempotence" || k == "compression.type") continue;
    s = set(k, v);
  }
  if (!s.ok()) {
    rd_kafka_conf_destroy(conf);
    return s;
  }
  std::unique_ptr<rd_kafka_t, RkDeleter> rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err));
  if (!rk) return Status::InvalidArgument(std::string("kafka admin client: ") + err);

  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk.get(), 1, nullptr, &md, kTimeoutMs);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
    return Status::Unavailable("cannot reach Kafka at " + brokers + ": " + rd_kafka_err2str(e));
  std::set<std::string> existing;
  for (int i = 0; i < md->topic_cnt; ++i)
    if (md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) existing.insert(md->topics[i].topic);
  rd_kafka_metadata_destroy(md);

  std::vector<rd_kafka_NewTopic_t*> create;
  for (const auto& t : topics) {
    if (existing.count(t.name)) continue;
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(t.name.c_str(), t.partitions, -1, err, sizeof err);
    if (!nt) return Status::InvalidArgument("topic " + t.name + ": " + err);
    for (const auto& [k, v] : t.config) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
    create.push_back(nt);
  }
  if (create.empty()) return Status::OK();
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk.get());
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(opts, kTimeoutMs, err, sizeof err);
  rd_kafka_CreateTopics(rk.get(), create.data(), create.size(), opts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, kTimeoutMs + 5000);
  Status result;
  if (!ev) {
    std::string names;
    for (const auto& t : topics)
      if (!existing.count(t.name)) names += (names.empty() ? "" : ", ") + t.name;
    result = Status::Unavailable("timed out creating topics " + names +
                                 " (no controller answered; create them beforehand)");
  } else if (rd_kafka_event_error(ev)) {
    result = Status::Unavailable(std::string("create topics: ") + rd_kafka_event_error_string(ev));
  } else {
    const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t** trs = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; ++i) {
      rd_kafka_resp_err_t te = rd_kafka_topic_result_error(trs[i]);
      if (te == RD_KAFKA_RESP_ERR_NO_ERROR || te == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        spdlog::info("topic {} ready", rd_kafka_topic_result_name(trs[i]));
        continue;
      }
      if (result.ok())
        result = Status::Unavailable(std::string("create topic ") + rd_kafka_topic_result_name(trs[i]) + ": " +
                                     (rd_kafka_topic_result_error_string(trs[i]) ? rd_kafka_topic_result_error_string(trs[i])
                                                                                 : rd_kafka_err2str(te)));
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy_array(create.data(), create.size());
  return result;
}

}  // namespace spanpipe::kafka
