// Topic administration against any cluster (real or the embedded one).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "connectors/kafka_types.h"

namespace spanpipe::kafka {

// Creates the topics that do not exist yet (existing ones are left as they are).
Status EnsureTopics(const std::string& brokers, const Properties& props, const std::vector<TopicSpec>& topics);

}  // namespace spanpipe::kafka
