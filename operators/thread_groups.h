// threads, stage 1: per task-partition totals of each conversation thread (docs/thread-groups.md).
// Runs after resolve on the same task, so a trace's spans all pass here; emits each changed
// (partition, thread)'s total as a partial that ThreadMerge combines across partitions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"
#include "operators/emitter.h"
#include "operators/resolve_outcome.h"
#include "operators/span_record.h"
#include "operators/thread_codec.h"
#include "state/state_db.h"

namespace spanpipe::threads {

struct ThreadOptions {
  ThreadLimits limits;
};

class ThreadGroups {
 public:
  ThreadGroups(state::KvStore* groups, ThreadOptions options);

  // After resolve. Ignores duplicates and spans of traces without a thread. When the thread binds
  // (outcome.thread_bound_now) the whole trace so far joins the thread; later spans add themselves.
  Status Apply(const SpanRecord& span, const ResolveOutcome& outcome, int32_t source_partition);
  // Emits, for every (partition, thread) changed since the last call, that partition's total to
  // streams::kThreadPartials (key "project|thread_id") and writes it to the store. Call it before
  // StateDb::Commit: changes reach the store only here.
  Status EmitPartials(Emitter* out);
  size_t pending_threads() const { return dirty_.size(); }

 private:
  state::KvStore* groups_;
  ThreadOptions options_;
  // Changed since the last EmitPartials, keyed by store key. Hashed: it is looked up for every
  // span; EmitPartials sorts the keys, so the output order stays the key order.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
  };
  std::unordered_map<std::string, ThreadPartial, KeyHash, std::equal_to<>> dirty_;
  std::string key_buf_, value_buf_;
};

}  // namespace spanpipe::threads
