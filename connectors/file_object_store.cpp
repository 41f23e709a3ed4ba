#include "connectors/file_object_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

namespace spanpipe {
namespace fs = std::filesystem;
namespace {
// Temp files live beside their object until the rename; List hides them.
constexpr char kTmpMarker[] = ".spanpipe-tmp.";
}  // namespace

Status FileObjectStore::Path(std::string_view key, std::string* path) const {
  if (key.empty() || key.find("..") != std::string_view::npos || key.front() == '/')
    return Status::InvalidArgument("object key '" + std::string(key) + "' is not a relative path");
  *path = root_ + "/" + std::string(key);
  return Status::OK();
}

Status FileObjectStore::Put(std::string_view key, std::string_view bytes) {
  ++requests_;
  std::string path;
  SPANPIPE_RETURN_IF_ERROR(Path(key, &path));
  fs::path dir = fs::path(path).parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    ++errors_;
    return Status::IOError("cannot create " + dir.string() + ": " + ec.message());
  }
  std::string tmp = path + kTmpMarker + std::to_string(std::random_device{}());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    ++errors_;
    return Status::IOError("cannot write " + tmp);
  }
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      ++errors_;
      return Status::IOError("write failed on " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  bool synced = ::fsync(fd) == 0;
  if (::close(fd) != 0 || !synced) {
    ::unlink(tmp.c_str());
    ++errors_;
    return Status::IOError("fsync failed on " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    ++errors_;
    return Status::IOError("rename failed for " + path);
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  ++puts_;
  return Status::OK();
}

Status FileObjectStore::Get(std::string_view key, std::string* bytes) {
  std::string path;
  SPANPIPE_RETURN_IF_ERROR(Path(key, &path));
  std::ifstream in(path, std::ios::binary);
  ++gets_;
  ++requests_;
  if (!in) return Status::NotFound("object " + std::string(key) + " not found");
  bytes->assign(std::istreambuf_iterator<char>(in), {});
  return Status::OK();
}

Status FileObjectStore::GetRange(std::string_view key, uint64_t offset, uint64_t length,
                                 std::string* bytes) {
  std::string path;
  SPANPIPE_RETURN_IF_ERROR(Path(key, &path));
  std::ifstream in(path, std::ios::binary);
  ++gets_;
  ++requests_;
  if (!in) return Status::NotFound("object " + std::string(key) + " not found");
  std::error_code ec;
  uint64_t size = fs::file_size(path, ec);
  if (ec || offset > size || length > size - offset)
    return Status::Corruption("object " + std::string(key) +
                              " is shorter than the range requested");
  in.seekg(static_cast<std::streamoff>(offset));
  bytes->resize(length);
  in.read(bytes->data(), static_cast<std::streamsize>(length));
  if (static_cast<uint64_t>(in.gcount()) != length)
    return Status::Corruption("object " + std::string(key) +
                              " is shorter than the range requested");
  return Status::OK();
}

Status FileObjectStore::Exists(std::string_view key, bool* exists) {
  std::string path;
  SPANPIPE_RETURN_IF_ERROR(Path(key, &path));
  ++requests_;
  std::error_code ec;
  *exists = fs::is_regular_file(path, ec);
  return Status::OK();
}

Status FileObjectStore::List(std::string_view prefix, std::vector<std::string>* keys) {
  keys->clear();
  ++requests_;
  // Walk the deepest folder named by the prefix.
  std::string p(prefix);
  std::string dir = root_ + "/" + p.substr(0, p.rfind('/') == std::string::npos ? 0 : p.rfind('/'));
  std::error_code ec;
  if (!fs::exists(dir, ec)) return Status::OK();
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::string rel = fs::relative(it->path(), root_).string();
    if (rel.find(kTmpMarker) != std::string::npos) continue;
    if (rel.compare(0, p.size(), p) == 0) keys->push_back(rel);
  }
  std::sort(keys->begin(), keys->end());
  return Status::OK();
}

}  // namespace spanpipe
