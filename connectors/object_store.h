// Object stores for content: `file:///path` and `s3://bucket/prefix` (CONTRACT §1).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "operators/pack_sink.h"

namespace spanpipe {

struct ObjectStoreOptions {
  std::string url;  // file:///abs/path or s3://bucket/prefix
  std::string endpoint;
  std::string region;
  bool path_style = true;
  std::string access_key_id, secret_access_key, session_token;
  int max_retries = 6;
};

class ObjectStore : public PackSink {
 public:
  // Keys under prefix, in lexicographic order.
  virtual Status List(std::string_view prefix, std::vector<std::string>* keys) = 0;
  uint64_t puts() const { return puts_; }
  uint64_t gets() const { return gets_; }
  uint64_t errors() const { return errors_; }

 protected:
  uint64_t puts_ = 0, gets_ = 0, errors_ = 0;
};

Status OpenObjectStore(const ObjectStoreOptions& options, std::unique_ptr<ObjectStore>* out);

}  // namespace spanpipe
