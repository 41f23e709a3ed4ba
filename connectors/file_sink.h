// FileSink: `replay`'s outputs, one `DIR/<topic>.jsonl` per topic, one record a line.
// Compacted topics are written as the stream of records (like the Kafka topic before compaction);
// readers take the last record per key.
#pragma once

#include <cstdio>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace spanpipe {

class FileSink {
 public:
  explicit FileSink(std::string dir) : dir_(std::move(dir)) {}
  ~FileSink();
  Status Open();  // creates DIR (and truncates files of a previous run lazily, on first write)
  // value must be a single line (JSON records are).
  Status Write(std::string_view topic, std::string_view value);
  Status Flush();
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::map<std::string, FILE*, std::less<>> files_;
};

}  // namespace spanpipe
