#include "operators/rollup_aggregator.h"

#include <algorithm>
#include <limits>

#include "common/coding.h"
#include "common/time_format.h"
#include "operators/hash64.h"
#include "operators/rollup_partial.h"

namespace spanpipe::rollup {

namespace {
constexpr char kRowTag = 'w';
constexpr char kMetaTag = 'm';
constexpr char kCountTag = 'c';
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
constexpr uint8_t kMissingUser = 1;
constexpr uint8_t kMissingThread = 2;

void AppendRowKeyPrefix(int32_t p, std::string* k) {
  k->push_back(kRowTag);
  PutFixed32BE(k, static_cast<uint32_t>(p));
}

std::string RowKey(int32_t p, const WindowId& id) {
  std::string k;
  k.reserve(64);
  k.push_back(kRowTag);
  PutFixed32BE(&k, static_cast<uint32_t>(p));
  EncodeWindowId(id, &k);
  return k;
}

std::string MetaKey(int32_t p) {
  std::string k(1, kMetaTag);
  PutFixed32BE(&k, static_cast<uint32_t>(p));
  return k;
}

// Active-row count of one (partition, granularity, window, project): the cardinality guard.
std::string CountKey(int32_t p, const WindowId& id) {
  std::string k(1, kCountTag);
  PutFixed32BE(&k, static_cast<uint32_t>(p));
  k.push_back(static_cast<char>(id.granularity));
  PutOrderedInt64(&k, id.start_ms);
  PutLengthPrefixed(&k, id.dims.project);
  return k;
}

std::string UnboundKey(int32_t p, const SpanRecord& span) {
  std::string k;
  PutFixed32BE(&k, static_cast<uint32_t>(p));
  PutLengthPrefixed(&k, span.project);
  k.append(span.trace_id_bytes());
  return k;
}

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? kNever : std::numeric_limits<int64_t>::min();
  return r;
}

template <typename Entry>
bool DecodeUnbound(std::string_view in, std::vector<Entry>* out) {
  uint64_t n;
  if (!GetVarint64(&in, &n)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    if (in.empty()) return false;
    Entry e;
    e.missing = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    std::string_view k;
    if (!GetLengthPrefixed(&in, &k)) return false;
    e.row_key.assign(k);
    out->push_back(std::move(e));
  }
  return true;
}

template <typename Entry>
std::string EncodeUnbound(const std::vector<Entry>& entries) {
  std::string v;
  PutVarint64(&v, entries.size());
  for (const auto& e : entries) {
    v.push_back(static_cast<char>(e.missing));
    PutLengthPrefixed(&v, e.row_key);
  }
  return v;
}
}  // namespace

RollupAggregator::RollupAggregator(state::KvStore* windows, state::KvStore* unbound,
                                   RollupOptions options)
    : windows_(windows),
      unbound_(unbound),
      opt_(options),
      indexer_(options.sketch_relative_accuracy) {}

void RollupAggregator::ReloadFromStore() {
  metas_.clear();
  unbound_cache_.clear();
  counts_.clear();
  rows_.Reset(0);
  lru_.clear();
  dirty_.clear();
}

RollupAggregator::PartitionMeta* RollupAggregator::Meta(int32_t p) {
  auto it = metas_.find(p);
  if (it != metas_.end()) return &it->second;
  PartitionMeta m;
  std::string v;
  bool found = false;
  int64_t exp;
  std::string_view payload;
  if (windows_->Get(MetaKey(p), &v, &found).ok() && found &&
      state::UnwrapExpiring(v, &exp, &payload) && payload.size() == 32) {
    m.max_event_ms = DecodeOrderedInt64(payload.data());
    m.watermark_ms = DecodeOrderedInt64(payload.data() + 8);
    m.last_activity_ms = DecodeOrderedInt64(payload.data() + 16);
    m.heartbeat_wm_ms = DecodeOrderedInt64(payload.data() + 24);
  }
  return &metas_.emplace(p, m).first->second;
}

Status RollupAggregator::SaveMeta(int32_t p, PartitionMeta* m) {
  std::string payload;
  PutOrderedInt64(&payload, m->max_event_ms);
  PutOrderedInt64(&payload, m->watermark_ms);
  PutOrderedInt64(&payload, m->last_activity_ms);
  PutOrderedInt64(&payload, m->heartbeat_wm_ms);
  windows_->Put(MetaKey(p), state::WrapExpiring(kNever, payload));
  m->dirty = false;
  return Status::OK();
}

int64_t RollupAggregator::watermark(int32_t source_partition) {
  return Meta(source_partition)->watermark_ms;
}

void RollupAggregator::SaveRow(const std::string& key, Row* row) {
  std::string m;
  row->metrics.EncodeTo(&m);
  SaveRow(key, row, m);
}

void RollupAggregator::SaveRow(const std::string& key, Row* row, std::string_view encoded_metrics) {
  std::string v;
  v.reserve(10 + encoded_metrics.size());
  PutVarint64(&v, row->version);
  v.append(encoded_metrics);
  const int64_t expires = SaturatingAdd(row->id.end_ms(), opt_.retention_ms(row->id.granularity));
  windows_->Put(key, state::WrapExpiring(expires, v));
  row->unsaved = false;
}

void RollupAggregator::EvictIfFull() {
  while (rows_.size() >= std::max<size_t>(opt_.max_cached_windows, 1) && !lru_.empty()) {
    Row& r = lru_.back();
    if (r.unsaved) SaveRow(r.key, &r);
    rows_.Erase(r.key, r.hash);
    lru_.pop_back();
  }
}

RollupAggregator::Row* RollupAggregator::InsertRow(std::string_view key, uint64_t hash,
                                                   WindowId&& id, uint64_t version) {
  EvictIfFull();
  Row& r = lru_.emplace_front(opt_.sketch_relative_accuracy);
  r.key.assign(key);
  r.hash = hash;
  r.id = std::move(id);
  r.version = version;
  r.self = lru_.begin();
  rows_.Insert(&r, hash);
  return &r;
}

Status RollupAggregator::FindRow(std::string_view key, uint64_t hash, Row** row) {
  if (Row* r = rows_.Find(key, hash)) {
    lru_.splice(lru_.begin(), lru_, r->self);
    *row = r;
    return Status::OK();
  }
  *row = nullptr;
  std::string v;
  bool found = false;
  SPANPIPE_RETURN_IF_ERROR(windows_->Get(key, &v, &found));
  if (!found) return Status::OK();
  int64_t exp;
  std::string_view payload, key_view(key);
  WindowId id;
  uint64_t version = 0;
  key_view.remove_prefix(5);
  if (!state::UnwrapExpiring(v, &exp, &payload) || !DecodeWindowId(&key_view, &id) ||
      !GetVarint64(&payload, &version))
    return Status::Corruption("rollup row failed to decode");
  Row* r = InsertRow(key, hash, std::move(id), version);
  if (!r->metrics.DecodeFrom(&payload)) {
    rows_.Erase(r->key, r->hash);
    lru_.pop_front();
    return Status::Corruption("rollup row failed to decode");
  }
  *row = r;
  return Status::OK();
}

void RollupAggregator::MarkDirty(const std::string& key, Row* row) {
  ++row->version;
  row->unsaved = true;
  if (!row->listed) {
    row->listed = true;
    dirty_.push_back(key);
  }
}

Status RollupAggregator::RowForSpan(int32_t p, Granularity g, int64_t start_ms,
                                    const SpanRecord& span, std::string* key, Row** row,
                                    bool* overflowed) {
  key->clear();
  AppendRowKeyPrefix(p, key);
  EncodeWindowIdWithDims(g, start_ms, dims_buf_, key);
  uint64_t hash = Hash64(*key);  // once for the lookup and, if new, the insert
  SPANPIPE_RETURN_IF_ERROR(FindRow(*key, hash, row));
  if (*row) return Status::OK();
  WindowId id{g, start_ms,
              RollupDims{std::string(span.project), std::string(span.service),
                         std::string(span.provider), std::string(span.model),
                         std::string(span.operation), std::string(span.environment)}};
  const int64_t expires = SaturatingAdd(id.end_ms(), opt_.retention_ms(id.granularity));
  // A new row: count it against the project's limit for this window, or divert to overflow.
  Count* count = nullptr;
  SPANPIPE_RETURN_IF_ERROR(LoadCount(CountKey(p, id), &count));
  if (count->n >= opt_.max_keys_per_project) {
    *overflowed = true;
    RollupDims& d = id.dims;
    d.service.clear();
    d.provider.clear();
    d.operation.clear();
    d.environment.clear();
    d.model.assign(kOverflowModel);
    *key = RowKey(p, id);
    hash = Hash64(*key);
    SPANPIPE_RETURN_IF_ERROR(FindRow(*key, hash, row));
    if (*row) return Status::OK();
  } else {
    ++count->n;
    count->expires_ms = expires;
    count->dirty = true;
  }
  *row = InsertRow(*key, hash, std::move(id), 0);
  (*row)->unsaved = true;
  return Status::OK();
}

Status RollupAggregator::Apply(const SpanRecord& span, const ResolveOutcome& outcome,
                               int32_t source_partition, int64_t now_ms) {
  if (outcome.duplicate) return Status::OK();
  const int32_t p = source_partition;
  // The registry has already bound the trace: apply the binding even if this span is rejected.
  // A trace bound by its first span has no earlier spans waiting for it (the job keeps unbound
  // lists no longer than trace state, see RollupOptionsFrom), so the common case skips the lookup.
  const bool first_span = outcome.trace != nullptr && outcome.trace->span_count == 1;
  if ((outcome.user_bound_now || outcome.thread_bound_now) && !first_span)
    SPANPIPE_RETURN_IF_ERROR(ApplyBinding(p, span, outcome, now_ms));

  const int64_t t = span.start_ms();
  const bool too_far_ahead = t > SaturatingAdd(now_ms, opt_.max_future_ms);
  PartitionMeta* meta = Meta(p);
  if (!span.is_llm_call()) {
    // Not counted, but its event time is still progress for the watermark.
    if (!too_far_ahead && t > meta->max_event_ms) {
      meta->max_event_ms = t;
      meta->watermark_ms = std::max(meta->watermark_ms, t - opt_.allowed_lateness_ms);
      meta->dirty = true;
    }
    meta->last_activity_ms = std::max(meta->last_activity_ms, now_ms);
    return Status::OK();
  }
  if (too_far_ahead) {
    ++stats_.rejected_spans;
    return Status::InvalidArgument("rollup: span starts at " + FormatRfc3339Millis(t) +
                                   ", more than " + std::to_string(opt_.max_future_ms / 1000) +
                                   " s after the processing clock " + FormatRfc3339Millis(now_ms));
  }
  bool in_retention[3];
  bool any = false;
  for (Granularity g : kAllGranularities) {
    const int64_t end = WindowStartMs(g, t) + GranularityMs(g);
    bool ok = SaturatingAdd(end, opt_.retention_ms(g)) > now_ms;
    in_retention[static_cast<int>(g)] = ok;
    any |= ok;
  }
  if (!any) {
    ++stats_.rejected_spans;
    return Status::InvalidArgument("rollup: span starts at " + FormatRfc3339Millis(t) +
                                   ", older than the retention of every rollup window (1d: " +
                                   std::to_string(opt_.retention_1d_ms / kDayMs) + " days)");
  }

  if (t < meta->watermark_ms) ++stats_.late_spans;
  if (t > meta->max_event_ms) {
    meta->max_event_ms = t;
    meta->watermark_ms = std::max(meta->watermark_ms, t - opt_.allowed_lateness_ms);
  }
  meta->last_activity_ms = std::max(meta->last_activity_ms, now_ms);
  meta->dirty = true;

  const uint64_t user_hash = outcome.user_id.empty() ? 0 : Hash64(outcome.user_id);
  const uint64_t thread_hash = outcome.thread_id.empty() ? 0 : Hash64(outcome.thread_id);
  // One logarithm for the three rows (all built with the options' accuracy; a row decoded with
  // another accuracy indexes the value itself).
  const DDSketch::Indexed duration = indexer_.Index(span.duration_ms());
  uint8_t missing = (outcome.user_id.empty() ? kMissingUser : 0) |
                    (outcome.thread_id.empty() ? kMissingThread : 0);
  std::vector<std::string> row_keys;
  bool overflowed = false;
  std::string& key = key_buf_;
  dims_buf_.clear();  // once for the span's three windows
  EncodeWindowDims(span.project, span.service, span.provider, span.model, span.operation,
                   span.environment, &dims_buf_);
  for (Granularity g : kAllGranularities) {
    if (!in_retention[static_cast<int>(g)]) continue;
    Row* row = nullptr;
    SPANPIPE_RETURN_IF_ERROR(RowForSpan(p, g, WindowStartMs(g, t), span, &key, &row, &overflowed));
    row->metrics.AddCall(span.error, span.input_tokens, span.output_tokens, span.cost_usd,
                         duration);
    if (user_hash) row->metrics.users.AddHash(user_hash);
    if (thread_hash) row->metrics.threads.AddHash(thread_hash);
    MarkDirty(key, row);
    if (missing) row_keys.push_back(key);
  }
  if (overflowed) ++stats_.overflowed_spans;
  if (missing) SPANPIPE_RETURN_IF_ERROR(RecordUnbound(p, span, missing, row_keys, now_ms));
  if (unbound_cache_.size() + counts_.size() > 4 * std::max<size_t>(opt_.max_cached_windows, 1024))
    FlushSmallState();
  return Status::OK();
}

Status RollupAggregator::LoadCount(const std::string& key, Count** count) {
  auto it = counts_.find(key);
  if (it == counts_.end()) {
    Count c;
    std::string v;
    bool found = false;
    SPANPIPE_RETURN_IF_ERROR(windows_->Get(key, &v, &found));
    std::string_view payload;
    if (found && state::UnwrapExpiring(v, &c.expires_ms, &payload)) GetVarint64(&payload, &c.n);
    it = counts_.emplace(key, c).first;
  }
  *count = &it->second;
  return Status::OK();
}

Status RollupAggregator::LoadUnbound(const std::string& key, int64_t now_ms, UnboundList** list) {
  auto it = unbound_cache_.find(key);
  if (it == unbound_cache_.end()) {
    UnboundList l;
    std::string v;
    bool found = false;
    SPANPIPE_RETURN_IF_ERROR(unbound_->Get(key, &v, &found));
    std::string_view payload;
    // Expiry is checked against the caller's clock too: compaction may not have run yet.
    if (found && state::UnwrapExpiring(v, &l.expires_ms, &payload) && l.expires_ms > now_ms &&
        !DecodeUnbound(payload, &l.entries)) {
      l.entries.clear();
      l.dirty = true;  // unreadable: overwrite
    }
    it = unbound_cache_.emplace(key, std::move(l)).first;
  }
  *list = &it->second;
  return Status::OK();
}

void RollupAggregator::FlushSmallState() {
  for (auto& [key, l] : unbound_cache_) {
    if (!l.dirty) continue;
    if (l.entries.empty()) {
      unbound_->Delete(key);
    } else {
      unbound_->Put(key, state::WrapExpiring(l.expires_ms, EncodeUnbound(l.entries)));
    }
  }
  unbound_cache_.clear();
  for (auto& [key, c] : counts_) {
    if (!c.dirty) continue;
    std::string v;
    PutVarint64(&v, c.n);
    windows_->Put(key, state::WrapExpiring(c.expires_ms, v));
  }
  counts_.clear();
}

Status RollupAggregator::RecordUnbound(int32_t p, const SpanRecord& span, uint8_t missing,
                                       const std::vector<std::string>& row_keys, int64_t now_ms) {
  UnboundList* l = nullptr;
  SPANPIPE_RETURN_IF_ERROR(LoadUnbound(UnboundKey(p, span), now_ms, &l));
  for (const std::string& rk : row_keys) {
    auto it = std::find_if(l->entries.begin(), l->entries.end(),
                           [&](const UnboundEntry& e) { return e.row_key == rk; });
    if (it != l->entries.end()) {
      if ((it->missing | missing) != it->missing) {
        it->missing |= missing;
        l->dirty = true;
      }
    } else if (l->entries.size() < opt_.max_unbound_windows_per_trace) {
      l->entries.push_back({missing, rk});
      l->dirty = true;
    }
  }
  if (l->dirty) l->expires_ms = SaturatingAdd(now_ms, opt_.unbound_ttl_ms);
  return Status::OK();
}

Status RollupAggregator::ApplyBinding(int32_t p, const SpanRecord& span,
                                      const ResolveOutcome& outcome, int64_t now_ms) {
  UnboundList* l = nullptr;
  SPANPIPE_RETURN_IF_ERROR(LoadUnbound(UnboundKey(p, span), now_ms, &l));
  if (l->entries.empty()) return Status::OK();
  const bool add_user = outcome.user_bound_now && !outcome.user_id.empty();
  const bool add_thread = outcome.thread_bound_now && !outcome.thread_id.empty();
  const uint64_t user_hash = add_user ? Hash64(outcome.user_id) : 0;
  const uint64_t thread_hash = add_thread ? Hash64(outcome.thread_id) : 0;
  std::vector<UnboundEntry> remaining;
  for (UnboundEntry& e : l->entries) {
    uint8_t apply =
        (add_user ? e.missing & kMissingUser : 0) | (add_thread ? e.missing & kMissingThread : 0);
    if (apply) {
      Row* row = nullptr;
      SPANPIPE_RETURN_IF_ERROR(FindRow(e.row_key, &row));
      if (row) {  // absent only if the window has expired
        if (apply & kMissingUser) row->metrics.users.AddHash(user_hash);
        if (apply & kMissingThread) row->metrics.threads.AddHash(thread_hash);
        MarkDirty(e.row_key, row);
      }
      e.missing &= static_cast<uint8_t>(~apply);
      l->dirty = true;
    }
    if (e.missing) remaining.push_back(std::move(e));
  }
  l->entries = std::move(remaining);
  return Status::OK();
}

Status RollupAggregator::AdvanceIdle(int32_t source_partition, int64_t now_ms) {
  PartitionMeta* m = Meta(source_partition);
  if (m->last_activity_ms == INT64_MIN || m->max_event_ms == INT64_MIN) return Status::OK();
  const int64_t idle = now_ms - m->last_activity_ms;
  if (idle < opt_.idle_advance_ms) return Status::OK();
  // Event time is assumed to have moved on with processing time since the last span.
  const int64_t candidate = SaturatingAdd(m->max_event_ms, idle - opt_.allowed_lateness_ms);
  if (candidate > m->watermark_ms) {
    m->watermark_ms = candidate;
    m->dirty = true;
  }
  return Status::OK();
}

void RollupAggregator::FinishInput(int32_t source_partition) {
  PartitionMeta* m = Meta(source_partition);
  m->watermark_ms = kNever;
  m->dirty = true;
}

Status RollupAggregator::EmitPartials(Emitter* out) {
  std::string value;
  std::sort(dirty_.begin(), dirty_.end());
  dirty_.erase(std::unique(dirty_.begin(), dirty_.end()), dirty_.end());
  for (const std::string& key : dirty_) {
    Row* row = nullptr;
    SPANPIPE_RETURN_IF_ERROR(FindRow(key, &row));
    if (!row) continue;
    row->listed = false;
    metrics_buf_.clear();
    row->metrics.EncodeTo(&metrics_buf_);  // once, for the row's state and its partial
    if (row->unsaved) SaveRow(key, row, metrics_buf_);
    const int32_t p = static_cast<int32_t>(DecodeFixed32BE(key.data() + 1));
    value.clear();
    EncodePartialWithMetrics(p, row->version, Meta(p)->watermark_ms, row->id, metrics_buf_, &value);
    out->Emit(streams::kRollupPartials, ContractKey(row->id), value);
    ++stats_.partials_emitted;
  }
  dirty_.clear();
  FlushSmallState();
  for (auto& [p, m] : metas_) {
    if (m.watermark_ms != m.heartbeat_wm_ms) {
      value.clear();
      EncodeHeartbeat(p, m.watermark_ms, &value);
      out->Emit(streams::kRollupPartials, HeartbeatKey(p), value);
      m.heartbeat_wm_ms = m.watermark_ms;
      m.dirty = true;
      ++stats_.heartbeats_emitted;
    }
    if (m.dirty) SPANPIPE_RETURN_IF_ERROR(SaveMeta(p, &m));
  }
  return Status::OK();
}

}  // namespace spanpipe::rollup
