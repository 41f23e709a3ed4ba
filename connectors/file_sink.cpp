#include "connectors/file_sink.h"

#include <filesystem>

namespace spanpipe {

FileSink::~FileSink() {
  for (auto& [_, f] : files_) std::fclose(f);
}

Status FileSink::Open() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Status::IOError("cannot create " + dir_ + ": " + ec.message());
  return Status::OK();
}

Status FileSink::Write(std::string_view topic, std::string_view value) {
  auto it = files_.find(topic);
  if (it == files_.end()) {
    std::string path = dir_ + "/" + std::string(topic) + ".jsonl";
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return Status::IOError("cannot write " + path);
    it = files_.emplace(std::string(topic), f).first;
  }
  if (std::fwrite(value.data(), 1, value.size(), it->second) != value.size() ||
      std::fputc('\n', it->second) == EOF)
    return Status::IOError("write failed on " + dir_ + "/" + std::string(topic) + ".jsonl");
  return Status::OK();
}

Status FileSink::Flush() {
  for (auto& [topic, f] : files_)
    if (std::fflush(f) != 0) return Status::IOError("flush failed on " + topic);
  return Status::OK();
}

}  // namespace spanpipe
