// threads, stage 2: keeps the newest partial per (thread, source partition) and publishes their
// sum to spanpipe.threads (docs/thread-groups.md). Re-delivered, duplicated or out-of-order
// partials are harmless: an older or equal version never replaces a newer one.
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "common/status.h"
#include "operators/emitter.h"
#include "operators/thread_codec.h"
#include "state/state_db.h"

namespace spanpipe::threads {

class ThreadMerge {
 public:
  explicit ThreadMerge(state::KvStore* merged, ThreadLimits limits = {});

  // key: "project|thread_id" (the partial's record key); partial: EncodeThreadPartial bytes.
  Status Apply(std::string_view key, std::string_view partial);
  // Emits the merged record of every thread changed since the last call (key order).
  Status Emit(Emitter* out);
  size_t pending_threads() const { return changed_.size(); }

 private:
  state::KvStore* merged_;
  ThreadLimits limits_;
  std::set<std::string, std::less<>> changed_;
  // Reused across calls: decoded partials keep their strings' and lists' capacity, so a partial's
  // trace-id list is not allocated again for every record.
  ThreadPartial scratch_;
  std::string key_buf_, value_buf_, json_;
};

}  // namespace spanpipe::threads
