#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <memory>
#include <string>

#include "common/status.h"
#include "connectors/kafka_types.h"

namespace spanpipe::kafka {

// Sets one property; the error names it (never its value: it may be a password).
Status SetProperty(RdKafka::Conf* conf, const std::string& key, const std::string& value);
Status ApplyProperties(RdKafka::Conf* conf, const Properties& props);

}  // namespace spanpipe::kafka
