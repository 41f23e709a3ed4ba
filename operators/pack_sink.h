// PackSink: how the content operator hands finished objects (packs, manifests, dictionaries) to an
// object store without knowing which one. The topology binds it to connectors/ (file:// or s3://).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace spanpipe {

class PackSink {
 public:
  virtual ~PackSink() = default;
  // Durable when it returns OK (the checkpoint relies on this).
  virtual Status Put(std::string_view key, std::string_view bytes) = 0;
  virtual Status Get(std::string_view key, std::string* bytes) = 0;
  // Reads [offset, offset+length) of an object.
  virtual Status GetRange(std::string_view key, uint64_t offset, uint64_t length, std::string* bytes) = 0;
};

}  // namespace spanpipe
