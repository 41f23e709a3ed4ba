// TaskStage (stage 2): the per-trace work of the tasks that own trace partitions:
// resolve → {content, spanpipe.spans, trace close, rollup partials, thread partials}.
// MergeStage (stage 3): partials → spanpipe.rollups / spanpipe.threads.
// Both write only pending state; the caller commits it with the consumed offsets.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "operators/content_processor.h"
#include "operators/emitter.h"
#include "operators/pack_sink.h"
#include "operators/rollup_aggregator.h"
#include "operators/rollup_merge.h"
#include "operators/span_record.h"
#include "operators/thread_groups.h"
#include "operators/thread_merge.h"
#include "operators/trace_registry.h"
#include "state/state_db.h"
#include "topology/config.h"
#include "topology/dead_letters.h"

namespace spanpipe {

class TaskStage {
 public:
  TaskStage(const Config& cfg, state::StateDb* db, PackSink* content_store);

  // One span of task `partition`. now_ms is the job's clock (processing time in run/demo, the
  // max event time in replay). A duplicate changes nothing. A span outside rollup retention is
  // dead-lettered (its trace and content are still kept).
  Status Process(const SpanRecord& span, int32_t partition, int64_t now_ms, std::string_view source,
                 Emitter* out, DeadLetters* dlq);
  // The spans about to be Processed, in one batched state read (TraceRegistry::Prefetch): call
  // before Processing a batch of spans; optional.
  Status Prefetch(const std::vector<const SpanRecord*>& spans);
  // Periodic: closes idle traces, advances idle tasks' watermarks.
  Status Tick(const std::vector<int32_t>& partitions, int64_t now_ms, Emitter* out);
  // Checkpoint step 1 and the emission of partials: content packs durable, partials emitted,
  // registry state written (pending).
  Status PrepareCheckpoint(Emitter* out);
  // End of input (replay): every open trace and window closed.
  Status FinishInput(const std::vector<int32_t>& partitions, Emitter* out);

  uint64_t duplicates() const { return duplicates_; }
  uint64_t spans_out() const { return spans_out_; }
  uint64_t late_spans() const { return rollups_.stats().late_spans; }
  uint64_t overflowed_spans() const { return rollups_.stats().overflowed_spans; }
  size_t open_traces() const { return registry_.open_traces(); }
  const content::ContentProcessor& content() const { return content_; }

 private:
  content::ContentOptions content_options_;
  resolve::TraceRegistry registry_;
  threads::ThreadGroups threads_;
  rollup::RollupAggregator rollups_;
  content::ContentProcessor content_;
  bool content_enabled_ = true;
  std::vector<content::ContentRef> refs_;
  std::string buf_, refs_json_;
  ResolveOutcome outcome_;
  uint64_t duplicates_ = 0;
  uint64_t spans_out_ = 0;
};

class MergeStage {
 public:
  explicit MergeStage(state::StateDb* db);
  // A record of spanpipe-rollup-partials or spanpipe-thread-partials.
  Status Process(std::string_view stream, std::string_view key, std::string_view value);
  Status Emit(Emitter* out);

 private:
  rollup::RollupMerge rollups_;
  threads::ThreadMerge threads_;
};

content::ContentOptions ContentOptionsFrom(const Config& cfg);

}  // namespace spanpipe
