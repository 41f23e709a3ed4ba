#pragma once

#include "connectors/object_store.h"

namespace spanpipe {

// Objects as files under a root; writes are atomic (temp file, fsync, rename, fsync of the folder).
class FileObjectStore : public ObjectStore {
 public:
  explicit FileObjectStore(std::string root) : root_(std::move(root)) {}
  Status Put(std::string_view key, std::string_view bytes) override;
  Status Get(std::string_view key, std::string* bytes) override;
  Status GetRange(std::string_view key, uint64_t offset, uint64_t length,
                  std::string* bytes) override;
  Status List(std::string_view prefix, std::vector<std::string>* keys) override;
  Status Exists(std::string_view key, bool* exists) override;

 private:
  Status Path(std::string_view key, std::string* path) const;
  std::string root_;
};

}  // namespace spanpipe
