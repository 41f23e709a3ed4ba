// Object stores for content: `file:///path` and `s3://bucket/prefix` (CONTRACT §1).
#pragma once

#include <atomic>
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
  // s3:// only. Empty endpoint/region/credentials fall back to the standard AWS_* variables
  // (docs/content-store.md).
  std::string endpoint;
  std::string region;
  bool path_style = true;  // https://host/bucket/key; false: https://bucket.host/key
  std::string access_key_id, secret_access_key, session_token;
  // Retries after the first attempt, on 5xx, 429, 408, S3 RequestTimeout, timeouts and connection
  // errors. Delay before retry n (1-based): d = min(retry_max_ms, retry_base_ms * 2^(n-1)), drawn
  // uniformly from [d/2, d] ("equal jitter").
  int max_retries = 6;
  int retry_base_ms = 100;
  int retry_max_ms = 5000;
  long connect_timeout_ms = 5000;
  long request_timeout_ms = 300000;  // one HTTP request, whole transfer
  // Objects larger than multipart_threshold go up as a multipart upload of multipart_part_bytes
  // parts (AWS S3 requires parts of at least 5 MiB except the last; smaller values are for tests).
  uint64_t multipart_threshold = uint64_t{16} << 20;
  uint64_t multipart_part_bytes = uint64_t{8} << 20;
  int list_page_keys = 1000;  // ListObjectsV2 max-keys
};

// Safe to call from several threads at once (the query API reads while the job writes).
class ObjectStore : public PackSink {
 public:
  // Keys under prefix, in lexicographic order.
  virtual Status List(std::string_view prefix, std::vector<std::string>* keys) = 0;
  // Whether the object exists (an S3 HEAD). The content path never needs it: its RocksDB index
  // knows what is stored.
  virtual Status Exists(std::string_view key, bool* exists) = 0;
  // Put calls that succeeded, Get/GetRange calls, and failed operations (NotFound excluded).
  uint64_t puts() const { return puts_.load(std::memory_order_relaxed); }
  uint64_t gets() const { return gets_.load(std::memory_order_relaxed); }
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
  // Requests sent to the service, retries and multipart parts included (file://: one per
  // operation).
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  // Attempts repeated after a transient failure.
  uint64_t retries() const { return retries_.load(std::memory_order_relaxed); }

 protected:
  std::atomic<uint64_t> puts_{0}, gets_{0}, errors_{0}, requests_{0}, retries_{0};
};

Status OpenObjectStore(const ObjectStoreOptions& options, std::unique_ptr<ObjectStore>* out);

}  // namespace spanpipe
