#include "connectors/object_store.h"

#include "connectors/file_object_store.h"
#include "connectors/s3_object_store.h"

namespace spanpipe {

Status OpenObjectStore(const ObjectStoreOptions& o, std::unique_ptr<ObjectStore>* out) {
  if (o.url.rfind("file://", 0) == 0) {
    std::string root = o.url.substr(7);
    if (root.empty() || root[0] != '/') root = "./" + root;
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    *out = std::make_unique<FileObjectStore>(root);
    return Status::OK();
  }
  if (o.url.rfind("s3://", 0) == 0) return OpenS3ObjectStore(o, out);
  return Status::InvalidArgument("store URL '" + o.url + "': expected file:///path or s3://bucket/prefix");
}

}  // namespace spanpipe
