#include "connectors/kafka_config.h"

namespace spanpipe::kafka {

Status SetProperty(RdKafka::Conf* conf, const std::string& key, const std::string& value) {
  std::string err;
  if (conf->set(key, value, err) != RdKafka::Conf::CONF_OK)
    return Status::InvalidArgument("kafka property '" + key + "': " + err);
  return Status::OK();
}

Status ApplyProperties(RdKafka::Conf* conf, const Properties& props) {
  for (const auto& [k, v] : props) SPANPIPE_RETURN_IF_ERROR(SetProperty(conf, k, v));
  return Status::OK();
}

}  // namespace spanpipe::kafka
