#pragma once

#include "connectors/object_store.h"

namespace spanpipe {

// s3://bucket/prefix over libcurl, SigV4-signed, with retries (exponential backoff with jitter) on
// 5xx, 429, timeouts and connection errors. Credentials never appear in errors or logs.
Status OpenS3ObjectStore(const ObjectStoreOptions& options, std::unique_ptr<ObjectStore>* out);

}  // namespace spanpipe
