#include "topology/task_stage.h"

#include <algorithm>

#include "common/json_writer.h"
#include "operators/span_json.h"
#include "topology/state_layout.h"

namespace spanpipe {
namespace {

resolve::ResolveOptions ResolveOptionsFrom(const Config& cfg) {
  resolve::ResolveOptions o;
  o.idle_timeout_ms = cfg.trace.idle_timeout_ms;
  o.retention_ms = cfg.trace.retention_ms;
  return o;
}

rollup::RollupOptions RollupOptionsFrom(const Config& cfg) {
  rollup::RollupOptions o;
  constexpr int64_t kDay = int64_t{86400} * 1000;
  o.allowed_lateness_ms = cfg.rollups.allowed_lateness_ms;
  o.retention_1m_ms = cfg.rollups.retention_1m_days * kDay;
  o.retention_1h_ms = cfg.rollups.retention_1h_days * kDay;
  o.retention_1d_ms = cfg.rollups.retention_1d_days * kDay;
  o.max_keys_per_project = static_cast<size_t>(cfg.rollups.max_keys_per_project);
  o.idle_advance_ms = cfg.rollups.idle_advance_ms;
  // A trace's unbound windows must not outlive its registry state: the rollups skip the unbound
  // lookup when a trace is bound by its first span, which is only sound if no list of an earlier,
  // expired incarnation of the trace can still exist.
  o.unbound_ttl_ms = std::min(o.unbound_ttl_ms, cfg.trace.retention_ms);
  return o;
}

state::KvStore* Store(state::StateDb* db, const char* name) {
  return db->store(name);
}

}  // namespace

content::ContentOptions ContentOptionsFrom(const Config& cfg) {
  content::ContentOptions o;
  o.min_chunk = static_cast<size_t>(cfg.content.min_chunk);
  o.avg_chunk = static_cast<size_t>(cfg.content.avg_chunk);
  o.max_chunk = static_cast<size_t>(cfg.content.max_chunk);
  o.zstd_level = static_cast<int>(cfg.content.zstd_level);
  o.pack_target_bytes = static_cast<size_t>(cfg.content.pack_mib) << 20;
  o.large_string_threshold = static_cast<size_t>(cfg.content.large_string_bytes);
  o.train_dictionary = cfg.content.dictionary;
  return o;
}

TaskStage::TaskStage(const Config& cfg, state::StateDb* db, PackSink* content_store)
    : content_options_(ContentOptionsFrom(cfg)),
      registry_(Store(db, stores::kTraces), Store(db, stores::kTraceSpans),
                Store(db, stores::kTraceIdle), ResolveOptionsFrom(cfg)),
      threads_(Store(db, stores::kThreadGroups), threads::ThreadOptions{}),
      rollups_(Store(db, stores::kRollupWindows), Store(db, stores::kRollupUnbound),
               RollupOptionsFrom(cfg)),
      content_(Store(db, stores::kContentChunks), content_store, content_options_),
      content_enabled_(cfg.content.enabled) {}

Status TaskStage::Process(const SpanRecord& span, int32_t partition, int64_t now_ms,
                          std::string_view source, Emitter* out, DeadLetters* dlq) {
  ResolveOutcome& r = outcome_;  // reused: its strings keep their capacity across spans
  SPANPIPE_RETURN_IF_ERROR(registry_.Apply(span, now_ms, &r));
  if (r.duplicate) {
    ++duplicates_;
    return Status::OK();
  }
  SPANPIPE_RETURN_IF_ERROR(threads_.Apply(span, r, partition));
  Status rs = rollups_.Apply(span, r, partition, now_ms);
  if (rs.IsInvalidArgument()) {
    // Outside rollup retention or absurdly far ahead: the rollups refuse it, the DLQ names it.
    std::string payload;
    AppendSpanJson(span, r, nullptr, "[]", &payload);
    dlq->DeadLetter(rs.message(), source, payload);
  } else if (!rs.ok()) {
    return rs;
  }
  refs_.clear();
  if (content_enabled_) SPANPIPE_RETURN_IF_ERROR(content_.Process(span, &refs_));
  std::string& refs_json = refs_json_;  // reused: no allocation per span
  refs_json.clear();
  {
    JsonWriter w(&refs_json);
    w.BeginArray();
    for (const auto& ref : refs_) {
      w.BeginObject().Field("key", std::string_view(ref.key));
      w.Field("manifest", std::string_view(ref.manifest)).Field("length", ref.length).EndObject();
    }
    w.EndArray();
  }
  buf_.clear();
  const auto& opts = content_options_;
  AppendSpanJson(
      span, r,
      [&opts](std::string_view key, std::string_view value) {
        return content::IsContentAttribute(key, value.size(), opts);
      },
      refs_json, &buf_);
  out->Emit(streams::kSpans, r.trace->trace_id_hex, buf_);
  ++spans_out_;
  return Status::OK();
}

Status TaskStage::Prefetch(const std::vector<const SpanRecord*>& spans) {
  return registry_.Prefetch(spans);
}

Status TaskStage::Tick(const std::vector<int32_t>& partitions, int64_t now_ms, Emitter* out) {
  SPANPIPE_RETURN_IF_ERROR(registry_.CloseIdle(now_ms, out));
  for (int32_t p : partitions) SPANPIPE_RETURN_IF_ERROR(rollups_.AdvanceIdle(p, now_ms));
  return Status::OK();
}

Status TaskStage::PrepareCheckpoint(Emitter* out) {
  SPANPIPE_RETURN_IF_ERROR(content_.Flush());
  SPANPIPE_RETURN_IF_ERROR(threads_.EmitPartials(out));
  SPANPIPE_RETURN_IF_ERROR(rollups_.EmitPartials(out));
  return registry_.Flush();
}

Status TaskStage::FinishInput(const std::vector<int32_t>& partitions, Emitter* out) {
  SPANPIPE_RETURN_IF_ERROR(registry_.CloseAll(out));
  for (int32_t p : partitions) rollups_.FinishInput(p);
  return PrepareCheckpoint(out);
}

MergeStage::MergeStage(state::StateDb* db)
    : rollups_(Store(db, stores::kRollupMerged)), threads_(Store(db, stores::kThreadMerged)) {}

Status MergeStage::Process(std::string_view stream, std::string_view key, std::string_view value) {
  if (stream == streams::kRollupPartials) return rollups_.Apply(key, value);
  if (stream == streams::kThreadPartials) return threads_.Apply(key, value);
  return Status::InvalidArgument("merge stage: unexpected stream " + std::string(stream));
}

Status MergeStage::Emit(Emitter* out) {
  SPANPIPE_RETURN_IF_ERROR(rollups_.Emit(out));
  return threads_.Emit(out);
}

}  // namespace spanpipe
