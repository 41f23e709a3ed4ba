// An object store in memory for the content readers' tests and their fuzz target
// (fuzz/content_format_fuzz.cpp): objects by key, range reads checked, prefix listing.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "operators/content_reader.h"
#include "operators/pack_sink.h"

namespace spanpipe::testutil {

class MemoryPackSink : public PackSink {
 public:
  std::map<std::string, std::string, std::less<>> objects;
  Status Put(std::string_view k, std::string_view v) override {
    objects[std::string(k)] = std::string(v);
    return Status::OK();
  }
  Status Get(std::string_view key, std::string* bytes) override {
    auto it = objects.find(key);
    if (it == objects.end()) return Status::NotFound(std::string(key));
    *bytes = it->second;
    return Status::OK();
  }
  Status GetRange(std::string_view key, uint64_t offset, uint64_t length,
                  std::string* bytes) override {
    auto it = objects.find(key);
    if (it == objects.end()) return Status::NotFound(std::string(key));
    if (offset > it->second.size() || length > it->second.size() - offset)
      return Status::Corruption("short object");
    bytes->assign(it->second, offset, length);
    return Status::OK();
  }
  content::ListFn List() {
    return [this](std::string_view prefix, std::vector<std::string>* keys) {
      keys->clear();
      for (const auto& [k, v] : objects)
        if (k.compare(0, prefix.size(), prefix) == 0) keys->push_back(k);
      return Status::OK();
    };
  }
};

}  // namespace spanpipe::testutil
