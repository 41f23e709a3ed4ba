// Binds the query API's /traces/{id}/content to the configured content store.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "connectors/object_store.h"
#include "topology/config.h"

namespace spanpipe {

class ContentReader {
 public:
  explicit ContentReader(const Config& cfg);
  // JSON array of {trace_id, span_id, key, value}; NotFound when the trace has no stored content.
  Status TraceContentJson(std::string_view project, std::string_view trace_id, std::string* out);

 private:
  Status open_status_;
  std::unique_ptr<ObjectStore> store_;
};

ObjectStoreOptions ObjectStoreOptionsFrom(const Config& cfg);

}  // namespace spanpipe
