#include "operators/thread_groups.h"

#include <algorithm>
#include <vector>

#include "common/coding.h"
#include "operators/hash64.h"

namespace spanpipe::threads {
namespace {

// groups store: be32(partition) project '\0' thread_id.
void GroupKey(int32_t partition, std::string_view project, std::string_view thread_id,
              std::string* k) {
  k->clear();
  PutFixed32BE(k, static_cast<uint32_t>(partition));
  k->append(project);
  k->push_back('\0');
  k->append(thread_id);
}

}  // namespace

ThreadGroups::ThreadGroups(state::KvStore* groups, ThreadOptions options)
    : groups_(groups), options_(options) {}

Status ThreadGroups::Apply(const SpanRecord& span, const ResolveOutcome& outcome,
                           int32_t source_partition) {
  if (outcome.duplicate || outcome.thread_id.empty() || outcome.trace == nullptr) {
    return Status::OK();
  }
  const TraceAggregate& trace = *outcome.trace;
  std::string& key = key_buf_;  // reused: most spans find their thread already in dirty_
  GroupKey(source_partition, trace.project, outcome.thread_id, &key);
  const uint64_t hash = Hash64(key);
  Dirty* d = dirty_.Find(key, hash);
  if (d == nullptr) {
    if (entries_.size() == dirty_.size()) entries_.push_back(std::make_unique<Dirty>());
    d = entries_[dirty_.size()].get();
    d->partial = ThreadPartial{};
    bool found = false;
    SPANPIPE_RETURN_IF_ERROR(groups_->Get(key, &value_buf_, &found));
    if (found && !DecodeThreadPartial(value_buf_, &d->partial)) {
      return Status::Corruption("undecodable thread group state");
    }
    if (!found) {
      d->partial.partition = source_partition;
      d->partial.project = trace.project;
      d->partial.thread_id = outcome.thread_id;
    }
    d->key.assign(key);
    dirty_.Insert(d, hash);
  }
  ThreadPartial& p = d->partial;
  ThreadTotals& t = p.totals;
  const ThreadLimits& lim = options_.limits;

  if (outcome.thread_bound_now) {
    // Late binding: the spans of this trace seen so far (this one included) join the thread.
    const bool first = t.span_count == 0;
    t.first_seen_unix_nano =
        first ? trace.start_unix_nano : std::min(t.first_seen_unix_nano, trace.start_unix_nano);
    t.last_seen_unix_nano =
        first ? trace.end_unix_nano : std::max(t.last_seen_unix_nano, trace.end_unix_nano);
    t.trace_count += 1;
    t.span_count += trace.span_count;
    t.llm_calls += trace.llm_calls;
    t.errors += trace.errors;
    t.input_tokens += trace.input_tokens;
    t.output_tokens += trace.output_tokens;
    t.cost_usd += trace.cost_usd;
    for (const auto& m : trace.models) AddDistinct(&t.models, m, lim.max_models);
    AddThreadTrace(&t, trace.start_unix_nano, trace.trace_id_hex, lim.max_trace_ids);
  } else {
    const bool first = t.span_count == 0;
    t.first_seen_unix_nano =
        first ? span.start_unix_nano : std::min(t.first_seen_unix_nano, span.start_unix_nano);
    t.last_seen_unix_nano =
        first ? span.end_unix_nano : std::max(t.last_seen_unix_nano, span.end_unix_nano);
    t.span_count += 1;
    if (span.is_llm_call()) t.llm_calls += 1;
    if (span.error) t.errors += 1;
    t.input_tokens += span.input_tokens;
    t.output_tokens += span.output_tokens;
    t.cost_usd += span.cost_usd;
    AddDistinct(&t.models, span.model, lim.max_models);
    // This span may have moved its trace's start earlier (out-of-order arrival).
    if (span.start_unix_nano == trace.start_unix_nano) {
      AddThreadTrace(&t, trace.start_unix_nano, trace.trace_id_hex, lim.max_trace_ids);
    }
  }
  // The user joins when it binds, whether with the thread or later.
  if (outcome.thread_bound_now || outcome.user_bound_now) {
    AddDistinct(&t.user_ids, outcome.user_id, lim.max_user_ids);
  }
  // Every change adds at least one new span, so the span count is a version that grows with the
  // total and is reproduced exactly by a replay from the last checkpoint (a stored counter
  // would restart lower after a rollback and re-use versions for different totals).
  p.version = static_cast<uint64_t>(t.span_count);
  return Status::OK();
}

Status ThreadGroups::EmitPartials(Emitter* out) {
  const size_t n = dirty_.size();
  std::sort(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(n),
            [](const auto& a, const auto& b) { return a->key < b->key; });
  for (size_t i = 0; i < n; ++i) {
    const Dirty& d = *entries_[i];
    value_buf_.clear();
    EncodeThreadPartial(d.partial, &value_buf_);
    groups_->Put(d.key, value_buf_);
    out->Emit(streams::kThreadPartials, ThreadOutputKey(d.partial.project, d.partial.thread_id),
              value_buf_);
  }
  dirty_.Reset(n);
  return Status::OK();
}

}  // namespace spanpipe::threads
