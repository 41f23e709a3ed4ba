// FileSource: archived OTLP batches for `replay` (CONTRACT §1). `.json` = one message; `.jsonl` /
// `.ndjson` = one message a line; `.json.gz` / `.jsonl.gz` likewise gzip-compressed; `.binpb` / `.pb` =
// one protobuf message a file; folders are walked recursively in name order (deterministic replays).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace spanpipe {

struct FileRecord {
  std::string_view value;
  std::string source;  // "path" or "path:line"
};

// Expands files and folders into the ordered list of input files; InvalidArgument names a missing
// path or an unsupported extension given explicitly.
Status ListInputFiles(const std::vector<std::string>& inputs, std::vector<std::string>* files);

// Calls fn for each message of the file. An unreadable or corrupt file (bad gzip) is an error; the
// caller decides whether to dead-letter it.
Status ReadInputFile(const std::string& path, const std::function<void(const FileRecord&)>& fn);

}  // namespace spanpipe
