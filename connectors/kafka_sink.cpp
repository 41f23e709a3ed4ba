#include "connectors/kafka_sink.h"

#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include "connectors/kafka_config.h"

namespace spanpipe::kafka {

class KafkaSink::Impl : public RdKafka::DeliveryReportCb, public RdKafka::EventCb {
 public:
  std::unique_ptr<RdKafka::Producer> producer;
  std::atomic<uint64_t> delivered{0}, delivered_bytes{0}, failed{0};
  std::mutex mu;
  Status first_error;  // since the last Flush

  void dr_cb(RdKafka::Message& m) override {
    if (m.err() == RdKafka::ERR_NO_ERROR) {
      delivered++;
      delivered_bytes += m.len();
      return;
    }
    failed++;
    std::lock_guard<std::mutex> lock(mu);
    if (first_error.ok())
      first_error = Status::IOError("delivery to " + m.topic_name() + " failed: " + m.errstr());
  }
  void event_cb(RdKafka::Event& e) override {
    if (e.type() == RdKafka::Event::EVENT_ERROR) {
      if (e.fatal()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.ok()) first_error = Status::IOError("fatal Kafka producer error: " + e.str());
      } else {
        spdlog::debug("kafka producer: {}", e.str());
      }
    }
  }
};

KafkaSink::KafkaSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaSink::~KafkaSink() {
  if (impl_ && impl_->producer) impl_->producer->flush(5000);
}

Status KafkaSink::Create(const SinkOptions& o, std::unique_ptr<KafkaSink>* out) {
  auto impl = std::make_unique<Impl>();
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  SPANPIPE_RETURN_IF_ERROR(SetProperty(conf.get(), "bootstrap.servers", o.brokers));
  SPANPIPE_RETURN_IF_ERROR(SetProperty(conf.get(), "enable.idempotence", "true"));
  SPANPIPE_RETURN_IF_ERROR(SetProperty(conf.get(), "acks", "all"));
  SPANPIPE_RETURN_IF_ERROR(SetProperty(conf.get(), "linger.ms", "5"));
  SPANPIPE_RETURN_IF_ERROR(SetProperty(conf.get(), "compression.type", "lz4"));
  SPANPIPE_RETURN_IF_ERROR(SetProperty(conf.get(), "message.max.bytes", "10000000"));
  SPANPIPE_RETURN_IF_ERROR(ApplyProperties(conf.get(), o.properties));
  std::string err;
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(impl.get()), err) != RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", static_cast<RdKafka::EventCb*>(impl.get()), err) != RdKafka::Conf::CONF_OK)
    return Status::Internal("kafka producer callbacks: " + err);
  impl->producer.reset(RdKafka::Producer::create(conf.get(), err));
  if (!impl->producer) return Status::InvalidArgument("kafka producer: " + err);
  out->reset(new KafkaSink(std::move(impl)));
  return Status::OK();
}

Status KafkaSink::Produce(std::string_view topic, std::string_view key, std::string_view value,
                          const std::vector<std::pair<std::string, std::string>>& headers, int32_t partition) {
  for (int attempt = 0;; ++attempt) {
    RdKafka::Headers* h = nullptr;
    if (!headers.empty()) {
      h = RdKafka::Headers::create();
      for (const auto& [k, v] : headers) h->add(k, v.data(), v.size());
    }
    RdKafka::ErrorCode e = impl_->producer->produce(
        std::string(topic), partition < 0 ? RdKafka::Topic::PARTITION_UA : partition, RdKafka::Producer::RK_MSG_COPY,
        const_cast<char*>(value.data()), value.size(), key.empty() ? nullptr : key.data(), key.size(), 0, h, nullptr);
    if (e == RdKafka::ERR_NO_ERROR) {
      impl_->producer->poll(0);
      return Status::OK();
    }
    delete h;  // not taken over on failure
    if (e == RdKafka::ERR__QUEUE_FULL && attempt < 6000) {
      impl_->producer->poll(10);  // serve delivery reports to make room
      continue;
    }
    return Status::IOError("produce to " + std::string(topic) + ": " + RdKafka::err2str(e));
  }
}

Status KafkaSink::Flush(int timeout_ms) {
  RdKafka::ErrorCode e = impl_->producer->flush(timeout_ms);
  std::lock_guard<std::mutex> lock(impl_->mu);
  Status s = impl_->first_error;
  impl_->first_error = Status::OK();
  if (!s.ok()) return s;
  if (e == RdKafka::ERR__TIMED_OUT)
    return Status::Unavailable("Kafka did not confirm " + std::to_string(impl_->producer->outq_len()) +
                               " records within " + std::to_string(timeout_ms) + " ms");
  return Status::OK();
}

uint64_t KafkaSink::delivered_records() const { return impl_->delivered; }
uint64_t KafkaSink::delivered_bytes() const { return impl_->delivered_bytes; }
uint64_t KafkaSink::failed_records() const { return impl_->failed; }

}  // namespace spanpipe::kafka
