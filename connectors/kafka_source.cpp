#include "connectors/kafka_source.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>
#include <set>

#include "connectors/kafka_config.h"
#include "connectors/revoked_messages.h"

namespace spanpipe::kafka {

class KafkaSource::Impl : public RdKafka::RebalanceCb, public RdKafka::EventCb {
 public:
  OnAssign on_assign;
  OnRevoke on_revoke;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  std::vector<std::unique_ptr<RdKafka::Message>> held;  // backs the views of the last Poll
  std::set<TopicPartition> assignment;
  mutable std::mutex mu;  // guards assignment (read by Lag/Assignment from other threads)
  std::atomic<bool> closed{false};
  Status fatal;
  size_t collected = 0;                        // messages of the Poll in progress
  std::vector<RevokeDuringPoll> poll_revokes;  // revokes served during it

  void rebalance_cb(RdKafka::KafkaConsumer* c, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& parts) override {
    std::vector<TopicPartition> tps;
    for (auto* p : parts) tps.push_back({p->topic(), p->partition()});
    bool cooperative = c->rebalance_protocol() == "COOPERATIVE";
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      std::vector<int64_t> offsets(tps.size(), -1);
      if (on_assign) on_assign(tps, &offsets);
      for (size_t i = 0; i < parts.size(); ++i)
        parts[i]->set_offset(offsets[i] >= 0 ? offsets[i] : RdKafka::Topic::OFFSET_INVALID);
      if (cooperative) {
        std::unique_ptr<RdKafka::Error> e(c->incremental_assign(parts));
        if (e) fatal = Status::IOError("incremental assign failed: " + e->str());
      } else if (c->assign(parts) != RdKafka::ERR_NO_ERROR) {
        fatal = Status::IOError("assign failed");
      }
      std::lock_guard<std::mutex> lock(mu);
      assignment.insert(tps.begin(), tps.end());
    } else if (err == RdKafka::ERR__REVOKE_PARTITIONS) {
      poll_revokes.push_back({collected, tps});
      if (on_revoke) on_revoke(tps);
      if (cooperative) {
        std::unique_ptr<RdKafka::Error> e(c->incremental_unassign(parts));
        if (e) spdlog::warn("incremental unassign: {}", e->str());
      } else {
        c->unassign();
      }
      std::lock_guard<std::mutex> lock(mu);
      for (const auto& tp : tps) assignment.erase(tp);
    } else {
      spdlog::warn("rebalance error: {}", RdKafka::err2str(err));
      c->unassign();
      std::lock_guard<std::mutex> lock(mu);
      poll_revokes.push_back({collected, {assignment.begin(), assignment.end()}});
      assignment.clear();
    }
  }

  void event_cb(RdKafka::Event& e) override {
    if (closed.load()) return;  // a kept-alive handle (see Close) stays silent
    switch (e.type()) {
      case RdKafka::Event::EVENT_ERROR:
        if (e.fatal())
          fatal = Status::IOError("fatal Kafka consumer error: " + e.str());
        else
          spdlog::warn("kafka consumer: {} ({})", e.str(), RdKafka::err2str(e.err()));
        break;
      case RdKafka::Event::EVENT_LOG:
        // librdkafka's own warnings are mostly transient (it retries); `debug` contexts log at
        // debug.
        if (e.severity() <= RdKafka::Event::EVENT_SEVERITY_ERROR)
          spdlog::warn("kafka {}: {}", e.fac(), e.str());
        else
          spdlog::debug("kafka {}: {}", e.fac(), e.str());
        break;
      default:
        break;
    }
  }
};

KafkaSource::KafkaSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaSource::~KafkaSource() {
  Close();
}

Status KafkaSource::Create(const SourceOptions& o, OnAssign on_assign, OnRevoke on_revoke,
                           std::unique_ptr<KafkaSource>* out) {
  auto impl = std::make_unique<Impl>();
  impl->on_assign = std::move(on_assign);
  impl->on_revoke = std::move(on_revoke);
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  SPANPIPE_RETURN_IF_ERROR(SetProperty(conf.get(), "bootstrap.servers", o.brokers));
  SPANPIPE_RETURN_IF_ERROR(SetProperty(conf.get(), "group.id", o.group_id));
  SPANPIPE_RETURN_IF_ERROR(
      SetProperty(conf.get(), "partition.assignment.strategy", "cooperative-sticky"));
  SPANPIPE_RETURN_IF_ERROR(SetProperty(conf.get(), "enable.auto.commit", "false"));
  SPANPIPE_RETURN_IF_ERROR(SetProperty(conf.get(), "enable.auto.offset.store", "false"));
  SPANPIPE_RETURN_IF_ERROR(SetProperty(conf.get(), "auto.offset.reset", "earliest"));
  SPANPIPE_RETURN_IF_ERROR(SetProperty(conf.get(), "topic.metadata.refresh.interval.ms", "5000"));
  SPANPIPE_RETURN_IF_ERROR(ApplyProperties(conf.get(), o.properties));
  std::string err;
  if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(impl.get()), err) !=
          RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", static_cast<RdKafka::EventCb*>(impl.get()), err) !=
          RdKafka::Conf::CONF_OK)
    return Status::Internal("kafka consumer callbacks: " + err);
  impl->consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!impl->consumer) return Status::InvalidArgument("kafka consumer: " + err);
  RdKafka::ErrorCode e = impl->consumer->subscribe(o.topics);
  if (e != RdKafka::ERR_NO_ERROR) return Status::IOError("subscribe: " + RdKafka::err2str(e));
  out->reset(new KafkaSource(std::move(impl)));
  return Status::OK();
}

Status KafkaSource::Poll(size_t max_messages, int timeout_ms, std::vector<Message>* out) {
  out->clear();
  if (!impl_) return Status::InvalidArgument("kafka source is closed");
  impl_->held.clear();
  impl_->collected = 0;
  impl_->poll_revokes.clear();
  int wait = timeout_ms;
  while (out->size() < max_messages) {
    std::unique_ptr<RdKafka::Message> m(impl_->consumer->consume(wait));
    if (!impl_->fatal.ok()) return impl_->fatal;
    wait = 0;
    if (!m) break;
    RdKafka::ErrorCode err = m->err();
    if (err == RdKafka::ERR__TIMED_OUT) break;
    if (err == RdKafka::ERR__PARTITION_EOF) continue;
    if (err != RdKafka::ERR_NO_ERROR) {
      if (err == RdKafka::ERR__FATAL) return Status::IOError("fatal Kafka error: " + m->errstr());
      spdlog::debug("kafka consume: {}", m->errstr());
      continue;
    }
    Message msg;
    const rd_kafka_message_t* raw = static_cast<const rd_kafka_message_t*>(m->c_ptr());
    msg.topic = rd_kafka_topic_name(raw->rkt);  // lives as long as the held message
    msg.partition = m->partition();
    msg.offset = m->offset();
    msg.timestamp_ms = m->timestamp().timestamp;
    if (raw->key) msg.key = std::string_view(static_cast<const char*>(raw->key), raw->key_len);
    if (raw->payload)
      msg.value = std::string_view(static_cast<const char*>(raw->payload), raw->len);
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(raw, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
      const char* name;
      const void* val;
      size_t size;
      for (size_t i = 0;
           rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
        msg.headers.push_back({name, val ? std::string_view(static_cast<const char*>(val), size)
                                         : std::string_view()});
    }
    out->push_back(std::move(msg));
    impl_->held.push_back(std::move(m));
    impl_->collected = out->size();
  }
  if (!impl_->poll_revokes.empty()) DropRevokedMessages(impl_->poll_revokes, out);
  return impl_->fatal;
}

Status KafkaSource::Commit(const std::vector<std::pair<TopicPartition, int64_t>>& next_offsets) {
  if (!impl_) return Status::InvalidArgument("kafka source is closed");
  std::vector<RdKafka::TopicPartition*> parts;
  for (const auto& [tp, off] : next_offsets)
    parts.push_back(RdKafka::TopicPartition::create(tp.topic, tp.partition, off));
  RdKafka::ErrorCode e = impl_->consumer->commitSync(parts);
  RdKafka::TopicPartition::destroy(parts);
  if (e != RdKafka::ERR_NO_ERROR && e != RdKafka::ERR__NO_OFFSET)
    return Status::Unavailable("offset commit: " + RdKafka::err2str(e));
  return Status::OK();
}

std::vector<TopicPartition> KafkaSource::Assignment() const {
  if (!impl_) return {};
  std::lock_guard<std::mutex> lock(impl_->mu);
  return {impl_->assignment.begin(), impl_->assignment.end()};
}

std::map<TopicPartition, int64_t> KafkaSource::Lag() {
  std::map<TopicPartition, int64_t> lag;
  if (!impl_ || !impl_->consumer) return lag;
  std::vector<TopicPartition> tps = Assignment();
  std::vector<RdKafka::TopicPartition*> parts;
  for (const auto& tp : tps)
    parts.push_back(RdKafka::TopicPartition::create(tp.topic, tp.partition));
  impl_->consumer->position(parts);
  for (auto* p : parts) {
    int64_t low = 0, high = 0;
    if (impl_->consumer->get_watermark_offsets(p->topic(), p->partition(), &low, &high) !=
            RdKafka::ERR_NO_ERROR ||
        high < 0)
      continue;
    int64_t pos = p->offset() >= 0 ? p->offset() : low;
    lag[{p->topic(), p->partition()}] = std::max<int64_t>(0, high - pos);
  }
  RdKafka::TopicPartition::destroy(parts);
  return lag;
}

void KafkaSource::Close() {
  if (!impl_ || !impl_->consumer) return;
  impl_->held.clear();
  impl_->consumer->close();
  if (rd_kafka_version() >= 0x020300ff) {
    impl_->consumer.reset();
    return;
  }
  // librdkafka < 2.3 asserts in the cooperative-sticky assignor when a group member that never ran
  // the assignment (a follower) is destroyed (confluentinc/librdkafka#4312). The group is already
  // left and offsets live in RocksDB, so on those versions the closed handle is deliberately never
  // destroyed. Its callbacks object goes with it: librdkafka's threads may still log through it.
  impl_->closed = true;
  static std::mutex graveyard_mu;
  static auto* graveyard = new std::vector<std::unique_ptr<Impl>>();
  std::lock_guard<std::mutex> lock(graveyard_mu);
  graveyard->push_back(std::move(impl_));
}

}  // namespace spanpipe::kafka
