// threads, stage 1: per task-partition totals of each conversation thread (docs/thread-groups.md).
// Runs after resolve on the same task, so a trace's spans all pass here; emits each changed
// (partition, thread)'s total as a partial that ThreadMerge combines across partitions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/flat_index.h"
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
  // Changed since the last EmitPartials, by store key, in an open-addressing index (looked up for
  // every span; std::unordered_map's modulo and node walk were ~40 % of Apply, perf). EmitPartials
  // sorts them, so the output order stays the key order. Entries are recycled across checkpoints.
  struct Dirty {
    std::string key;
    ThreadPartial partial;
  };
  static std::string_view DirtyKey(const Dirty& d) { return d.key; }
  FlatIndex<Dirty, &ThreadGroups::DirtyKey> dirty_;
  std::vector<std::unique_ptr<Dirty>> entries_;  // the first dirty_.size() are in use
  std::string key_buf_, value_buf_;
};

}  // namespace spanpipe::threads
