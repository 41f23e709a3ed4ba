#include "connectors/file_source.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace spanpipe {
namespace fs = std::filesystem;
namespace {

enum class Kind { kJson, kJsonLines, kProto, kUnsupported };

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Kind KindOf(std::string_view path, bool* gz) {
  *gz = EndsWith(path, ".gz");
  if (*gz) path.remove_suffix(3);
  if (EndsWith(path, ".json")) return Kind::kJson;
  if (EndsWith(path, ".jsonl") || EndsWith(path, ".ndjson")) return Kind::kJsonLines;
  if (!*gz && (EndsWith(path, ".binpb") || EndsWith(path, ".pb"))) return Kind::kProto;
  return Kind::kUnsupported;
}

Status ReadAll(const std::string& path, bool gz, std::string* out) {
  if (!gz) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::IOError("cannot read " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    *out = ss.str();
    return Status::OK();
  }
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) return Status::IOError("cannot read " + path);
  out->clear();
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out->append(buf, static_cast<size_t>(n));
  int err = 0;
  const char* msg = gzerror(f, &err);
  bool bad = n < 0 || (err != Z_OK && err != Z_STREAM_END);
  std::string why = bad ? std::string(msg ? msg : "gzip error") : "";
  gzclose(f);
  if (bad) return Status::Corruption(path + ": " + why);
  return Status::OK();
}

}  // namespace

Status ListInputFiles(const std::vector<std::string>& inputs, std::vector<std::string>* files) {
  files->clear();
  for (const auto& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(in, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        bool gz;
        if (it->is_regular_file() && KindOf(it->path().string(), &gz) != Kind::kUnsupported)
          found.push_back(it->path().string());
      }
      if (ec) return Status::IOError("cannot walk " + in + ": " + ec.message());
      std::sort(found.begin(), found.end());
      files->insert(files->end(), found.begin(), found.end());
    } else if (fs::is_regular_file(in, ec)) {
      bool gz;
      if (KindOf(in, &gz) == Kind::kUnsupported)
        return Status::InvalidArgument("input '" + in +
                                       "': unsupported extension (want .json, .jsonl, .ndjson, .json.gz, "
                                       ".jsonl.gz, .binpb, .pb)");
      files->push_back(in);
    } else {
      return Status::InvalidArgument("input '" + in + "' does not exist");
    }
  }
  return Status::OK();
}

Status ReadInputFile(const std::string& path, const std::function<void(const FileRecord&)>& fn) {
  bool gz;
  Kind kind = KindOf(path, &gz);
  if (kind == Kind::kUnsupported) return Status::InvalidArgument("unsupported input " + path);
  std::string data;
  SPANPIPE_RETURN_IF_ERROR(ReadAll(path, gz, &data));
  if (kind != Kind::kJsonLines) {
    fn(FileRecord{data, path});
    return Status::OK();
  }
  size_t line = 0, pos = 0;
  while (pos < data.size()) {
    size_t end = data.find('\n', pos);
    if (end == std::string::npos) end = data.size();
    ++line;
    std::string_view text(data.data() + pos, end - pos);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    bool blank = std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t'; });
    if (!blank) fn(FileRecord{text, path + ":" + std::to_string(line)});
    pos = end + 1;
  }
  return Status::OK();
}

}  // namespace spanpipe
