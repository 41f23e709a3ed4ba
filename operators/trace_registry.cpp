#include "operators/trace_registry.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <unordered_set>
#include <vector>

#include "common/coding.h"
#include "common/hex.h"
#include "operators/hash64.h"

namespace spanpipe::resolve {
namespace {

constexpr size_t kMaxModelsPerTrace = 256;       // matches the codec's bound
constexpr size_t kSpareEntries = 4096;           // recycled entries kept (about 2 MiB)
constexpr size_t kSpareBuffers = 8;              // recycled idle-bucket buffers kept
constexpr size_t kSpareBufferBytes = 64u << 20;  // their capacity, in all
constexpr std::string_view kMetaKey = "";        // idle store meta key; real keys are >= 8 bytes
constexpr size_t kMinPrefetchBatch = 8;          // spans; smaller batches are not read ahead
// First byte of a close-snapshot value whose records carry the trace UUID (format 2).
constexpr char kSnapshotFormatV2 = '\0';

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// What a cache hit reads (hash, epoch, key) comes first, in the entry's first cache line: the
// state after it spans several more.
struct TraceRegistry::Entry {
  uint64_t hash = 0;       // Hash64(key), the cache index's
  uint64_t lru_epoch = 0;  // the registry's epoch when last moved to the LRU front
  std::string key;         // traces-store key
  bool dirty = false;
  bool idle_persisted = false;  // the store holds idle key (st.idle_key_ms, key)
  bool from_store = false;      // loaded with a state (an earlier incarnation may be in snapshots)
  bool queued = false;          // in dirty_ (so Flush visits changed entries only)
  uint8_t uuid[16] = {};        // st.agg.trace_uuid's bytes, for its close snapshot
  size_t dirty_index = 0;       // its place in dirty_ while queued
  std::list<Entry*>::iterator lru_it;
  TraceState st;
};

TraceRegistry::TraceRegistry(state::KvStore* traces, state::KvStore* spans, state::KvStore* idle,
                             ResolveOptions options)
    : traces_(traces), spans_(spans), idle_(idle), options_(std::move(options)) {
  if (!options_.wall_clock_ms) options_.wall_clock_ms = SystemNowMs;
  if (options_.cache_traces == 0) options_.cache_traces = 1;  // Apply's outcome points into it
  cache_ = decltype(cache_)(options_.cache_traces + 1);       // never rehashed while it fills
  // The open-trace count survives restarts in a meta key (only a gauge: failure leaves 0).
  std::string v;
  bool found = false;
  if (idle_->Get(kMetaKey, &v, &found).ok() && found) {
    std::string_view in = v;
    uint64_t n = 0;
    if (GetVarint64(&in, &n)) open_count_ = static_cast<int64_t>(n);
    if (!in.empty() && GetVarint64(&in, &n)) snapshot_seq_ = n;       // absent before snapshots
    if (in.size() >= 8) close_mark_ = DecodeOrderedInt64(in.data());  // absent before the mark
  }
}

TraceRegistry::~TraceRegistry() {
  cache_.ForEach([](Entry* e) { delete e; });
}

std::string_view TraceRegistry::EntryKey(const Entry& e) {
  return e.key;
}

int64_t TraceRegistry::ExpiryMs() const {
  int64_t now = options_.wall_clock_ms();
  return now > INT64_MAX - options_.retention_ms ? INT64_MAX : now + options_.retention_ms;
}

Status TraceRegistry::Load(std::string_view key, Entry** entry, bool* existed) {
  const uint64_t hash = Hash64(key);
  if (Entry* e = Cached(key, hash)) {
    *entry = e;
    *existed = true;
    return Status::OK();
  }
  return LoadAbsent(key, hash, /*snapshot=*/{}, /*reload=*/true, entry, existed);
}

// project, trace id hex and trace UUID come from the key, not the stored value. uuid: the UUID's
// bytes, computed into it unless known (a close snapshot carries them).
Status TraceRegistry::FillIdentity(std::string_view key, TraceAggregate* agg, uint8_t uuid[16],
                                   bool uuid_known) {
  std::string_view project;
  const uint8_t* trace_id = nullptr;
  if (!ParseTraceKey(key, &project, &trace_id)) return Status::Internal("bad trace key");
  agg->project.assign(project);
  agg->trace_id_hex.resize(32);
  HexEncodeTo(trace_id, 16, agg->trace_id_hex.data());
  if (!uuid_known) TraceUuidBytes(project, trace_id, uuid);
  FormatUuidTo(uuid, &agg->trace_uuid);
  return Status::OK();
}

// A due trace outside the cache, closed from its snapshot without entering the cache: the closed
// state is the snapshot's bytes with the open flag cleared (what WriteBack would encode).
Status TraceRegistry::CloseFromSnapshot(std::string_view key, int64_t bucket_ms,
                                        const Snapshot& snapshot, Emitter* out, std::string* json) {
  TraceState& st = closing_;
  if (!DecodeTraceState(snapshot.payload, &st)) {
    return Status::Corruption("undecodable trace snapshot");
  }
  uint8_t uuid[16];
  const bool known = snapshot.uuid.size() == 16;
  if (known) std::memcpy(uuid, snapshot.uuid.data(), 16);
  SPANPIPE_RETURN_IF_ERROR(FillIdentity(key, &st.agg, uuid, known));
  json->clear();
  AppendTraceJson(st.agg, json);
  out->Emit(streams::kTraces, st.agg.trace_id_hex, *json);
  std::string& closed = DeferClosedWrite(key, bucket_ms);
  PutOrderedInt64(&closed, close_expiry_ms_);
  if (!AppendClosedTraceState(snapshot.payload, &closed)) {
    return Status::Corruption("bad snapshot");
  }
  --open_count_;
  meta_dirty_ = true;
  return Status::OK();
}

TraceRegistry::Entry* TraceRegistry::Cached(std::string_view key, uint64_t hash) {
  Entry* e = cache_.Find(key, hash);
  // Moved to the front once per epoch (checkpoint): a trace's spans mostly arrive together, and
  // relinking list nodes on every hit was cache misses for an order that barely changed. The
  // order is then by first use in the epoch; a hit never grows the cache, so never evicts.
  if (e != nullptr && e->lru_epoch != lru_epoch_) {
    lru_.splice(lru_.begin(), lru_, e->lru_it);
    e->lru_epoch = lru_epoch_;
  }
  return e;
}

Status TraceRegistry::LoadAbsent(std::string_view key, uint64_t hash, std::string_view snapshot,
                                 bool reload, Entry** entry, bool* existed) {
  std::unique_ptr<Entry> e;
  if (spare_.empty()) {
    e = std::make_unique<Entry>();
  } else {
    e = std::move(spare_.back());
    spare_.pop_back();
  }
  e->key.assign(key);
  bool found = !snapshot.empty();
  std::string_view payload = snapshot;
  if (!found) {
    Prefetched* p = prefetched_.size() == 0 ? nullptr : prefetched_.Find(key, hash);
    if (p != nullptr) {  // read by Prefetch; nothing has written the trace since
      found = prefetch_found_[p->read];
      value_buf_.swap(prefetch_values_[p->read]);
      prefetched_.Erase(key, hash);
    } else {
      SPANPIPE_RETURN_IF_ERROR(traces_->Get(e->key, &value_buf_, &found));
    }
    int64_t expires = 0;
    if (found) {
      if (!state::UnwrapExpiring(value_buf_, &expires, &payload)) {
        return Status::Corruption("trace state too short");
      }
      // Expired but not yet compacted away: treat as absent, as compaction would.
      found = expires >= options_.wall_clock_ms();
    }
  }
  if (found) {
    if (!DecodeTraceState(payload, &e->st)) return Status::Corruption("undecodable trace state");
    // Closed by a scan that emptied its bucket, which left the stored value as it was.
    if (e->st.open && e->st.idle_key_ms < close_mark_) e->st.open = false;
    e->idle_persisted = e->st.open;
    e->from_store = true;
    // A span is about to change a trace that left the cache while open: any snapshot taken of
    // it so far goes stale, in the same commit as the change.
    if (reload && e->st.open) AppendStaleSnapshot(e->st.idle_key_ms, e->key);
  }
  SPANPIPE_RETURN_IF_ERROR(FillIdentity(e->key, &e->st.agg, e->uuid, /*uuid_known=*/false));
  PushFront(&lru_, e.get());
  e->lru_it = lru_.begin();
  e->lru_epoch = lru_epoch_;
  *entry = e.get();
  *existed = found;
  e->hash = hash;
  cache_.Insert(e.release(), hash);
  return Status::OK();
}

// The idle index names every open trace once, in the bucket of the time it entered the index:
// it is written when the trace opens and moved only when a close scan finds the trace still
// active, so an active trace costs no index writes per update. A closed trace's entry is left
// behind (it no longer matches the trace's idle_key_ms) and dropped when its bucket is scanned.
Status TraceRegistry::WriteBack(Entry* e) {
  if (!e->dirty) return Status::OK();
  if (e->st.open && !e->idle_persisted) {
    // Never below the close mark (only if the clock went back): a stored open trace indexed
    // below it reads as closed. Its close is still decided on last_update_ms.
    e->st.idle_key_ms = std::max(IdleBucket(e->st.last_update_ms), close_mark_);
    PutLengthPrefixed(&BucketBuffer(&idle_new_, e->st.idle_key_ms), e->key);
    // A re-opened trace may re-enter a bucket that still holds a snapshot of an earlier
    // incarnation (only if the clock went back): that snapshot must not win.
    if (e->from_store) AppendStaleSnapshot(e->st.idle_key_ms, e->key);
    e->idle_persisted = true;
    NoteIdleBucket(e->st.idle_key_ms);
  } else if (!e->st.open) {
    e->idle_persisted = false;
  }
  wrap_buf_.clear();
  PutOrderedInt64(&wrap_buf_, ExpiryMs());  // state::WrapExpiring's layout, in a reused buffer
  EncodeTraceState(e->st, &wrap_buf_);
  traces_->Put(e->key, wrap_buf_);
  e->dirty = false;
  return Status::OK();
}

std::string& TraceRegistry::DeferClosedWrite(std::string_view key, int64_t bucket_ms) {
  if (closed_count_ == closed_.size()) closed_.emplace_back();
  Closed& c = closed_[closed_count_++];
  c.key.assign(key);
  c.bucket_ms = bucket_ms;
  c.value.clear();
  return c.value;
}

void TraceRegistry::WriteClosed() {
  for (size_t i = 0; i < closed_count_; ++i) {
    const Closed& c = closed_[i];
    if (c.bucket_ms >= close_mark_) traces_->Put(c.key, c.value);  // else the mark says it
  }
  closed_count_ = 0;
}

void TraceRegistry::NoteIdleBucket(int64_t bucket_ms) {
  idle_scan_from_ = std::min(idle_scan_from_, bucket_ms);
  written_low_ = std::min(written_low_, bucket_ms);
}

std::string& TraceRegistry::StartSnapshotRecord(int64_t bucket_ms, std::string_view key) {
  std::string& out = BucketBuffer(&snapshot_new_, bucket_ms);
  if (out.empty()) out.push_back(kSnapshotFormatV2);
  NoteIdleBucket(bucket_ms);  // a scan finds (and drops) strays
  PutLengthPrefixed(&out, key);
  return out;
}

void TraceRegistry::AppendSnapshot(int64_t bucket_ms, std::string_view key,
                                   std::string_view payload, const uint8_t uuid[16]) {
  std::string& out = StartSnapshotRecord(bucket_ms, key);
  PutLengthPrefixed(&out, payload);
  out.append(reinterpret_cast<const char*>(uuid), 16);
}

void TraceRegistry::AppendStaleSnapshot(int64_t bucket_ms, std::string_view key) {
  PutLengthPrefixed(&StartSnapshotRecord(bucket_ms, key), {});  // no state, no UUID
}

Status TraceRegistry::FlushIdle() {
  std::string key, value;
  for (auto& [bucket, entries] : idle_new_) {
    key.clear();
    AppendIdleBucketKey(&key, bucket);
    bool found = false;
    SPANPIPE_RETURN_IF_ERROR(idle_->Get(key, &value, &found));
    if (!found) value.clear();
    value.append(entries);
    idle_->Put(key, value);
  }
  RecycleBuffers(&idle_new_);
  for (auto& [bucket, records] : snapshot_new_) {
    key.clear();
    AppendIdleSnapshotKey(&key, bucket, snapshot_seq_++);
    idle_->Put(key, records);
    meta_dirty_ = true;
  }
  RecycleBuffers(&snapshot_new_);
  WriteMeta();
  return Status::OK();
}

std::string& TraceRegistry::BucketBuffer(std::map<int64_t, std::string>* pending,
                                         int64_t bucket_ms) {
  auto [it, inserted] = pending->try_emplace(bucket_ms);
  if (inserted && !spare_buffers_.empty()) {
    it->second.swap(spare_buffers_.back());  // empty, with its capacity
    spare_buffers_.pop_back();
  }
  return it->second;
}

void TraceRegistry::RecycleBuffers(std::map<int64_t, std::string>* pending) {
  size_t kept = 0;
  for (const std::string& b : spare_buffers_) kept += b.capacity();
  for (auto& [bucket, buffer] : *pending) {
    if (spare_buffers_.size() < kSpareBuffers && kept + buffer.capacity() <= kSpareBufferBytes) {
      kept += buffer.capacity();
      buffer.clear();
      spare_buffers_.push_back(std::move(buffer));
    }
  }
  pending->clear();
}

void TraceRegistry::MarkDirty(Entry* e) {
  e->dirty = true;
  if (!e->queued) {
    e->dirty_index = dirty_.size();
    dirty_.push_back(e);
    e->queued = true;
  }
}

// Drops a written-back entry from memory (its allocations are kept for the next trace).
void TraceRegistry::Forget(Entry* e) {
  if (e->queued) dirty_[e->dirty_index] = nullptr;
  spare_nodes_.splice(spare_nodes_.begin(), lru_, e->lru_it);
  std::unique_ptr<Entry> owned(cache_.Erase(e->key, e->hash));
  if (spare_.size() < kSpareEntries) {
    ResetEntry(owned.get());
    spare_.push_back(std::move(owned));
  }
}

void TraceRegistry::PushFront(std::list<Entry*>* list, Entry* e) {
  if (spare_nodes_.empty()) {
    list->push_front(e);
  } else {
    list->splice(list->begin(), spare_nodes_, spare_nodes_.begin());
    list->front() = e;
  }
}

// Back to a fresh entry's state, keeping string and vector capacity.
void TraceRegistry::ResetEntry(Entry* e) {
  TraceState& st = e->st;
  TraceAggregate& a = st.agg;
  for (std::string* s : {&a.project, &a.trace_id_hex, &a.trace_uuid, &a.service, &a.name,
                         &a.thread_id, &a.user_id, &a.environment})
    s->clear();
  a.start_unix_nano = a.end_unix_nano = 0;
  a.span_count = a.llm_calls = a.errors = a.input_tokens = a.output_tokens = 0;
  a.cost_usd = 0;
  a.models.clear();
  st.open = st.has_root = st.spans_in_store = false;
  st.last_update_ms = st.idle_key_ms = 0;
  st.span_ids.clear();
  e->dirty = e->idle_persisted = e->queued = e->from_store = false;
}

Status TraceRegistry::EvictIfFull() {
  while (cache_.size() > options_.cache_traces) {
    Entry* victim = lru_.back();
    const bool encoded = victim->dirty;  // WriteBack leaves the value in wrap_buf_
    SPANPIPE_RETURN_IF_ERROR(WriteBack(victim));
    if (victim->st.open && victim->idle_persisted) {
      // Its close will read this instead of the store (docs/trace-resolution.md).
      std::string_view payload;
      if (encoded) {
        payload = std::string_view(wrap_buf_).substr(8);  // past the expiry
      } else {
        value_buf_.clear();
        EncodeTraceState(victim->st, &value_buf_);
        payload = value_buf_;
      }
      AppendSnapshot(victim->st.idle_key_ms, victim->key, payload, victim->uuid);
    }
    Forget(victim);
    PrefetchVictims();
  }
  return Status::OK();
}

// Once the cache is full, every new trace evicts the least recently used one: the next victims
// are read in a step at a time, one eviction ahead of their turn (their list node, then their
// entry, then its buffers and index slot).
void TraceRegistry::PrefetchVictims() {
  if (lru_.size() < 3) return;
  auto it = std::prev(lru_.end());
  const Entry* next = *it;  // its entry was read in by the eviction before
  PrefetchBuffers(next);
  cache_.Prefetch(next->hash);
  --it;
  PrefetchEntry(*it);  // its node was read in by the eviction before
  --it;
  __builtin_prefetch(&*it);
}

Status TraceRegistry::Apply(const SpanRecord& span, int64_t now_ms, ResolveOutcome* out) {
  std::string& key = apply_key_;
  key.clear();
  AppendTraceKey(&key, span.project, span.trace_id);
  Entry* e = nullptr;
  bool existed = false;
  SPANPIPE_RETURN_IF_ERROR(Load(key, &e, &existed));
  SPANPIPE_RETURN_IF_ERROR(EvictIfFull());  // e is the most recent entry: never the victim
  TraceAggregate& a = e->st.agg;

  // De-duplication: the trace's inline span ids, then (only for very large or v1 traces) the
  // spans store.
  uint64_t span_id = 0;
  std::memcpy(&span_id, span.span_id, 8);
  std::vector<uint64_t>& ids = e->st.span_ids;
  bool duplicate = std::find(ids.begin(), ids.end(), span_id) != ids.end();
  std::string& span_key = span_key_;
  if (!duplicate && e->st.spans_in_store) {
    span_key.clear();
    AppendSpanKey(&span_key, span.project, span.trace_id, span.span_id);
    bool found = false;
    SPANPIPE_RETURN_IF_ERROR(spans_->Get(span_key, &value_buf_, &found));
    int64_t expires = 0;
    std::string_view payload;
    duplicate = found && state::UnwrapExpiring(value_buf_, &expires, &payload) &&
                expires >= options_.wall_clock_ms();
  }
  out->duplicate = duplicate;
  out->thread_bound_now = false;
  out->user_bound_now = false;
  out->trace = &a;
  if (!duplicate) {
    if (ids.size() < kInlineSpanIds) {
      ids.push_back(span_id);
    } else {
      span_key.clear();
      AppendSpanKey(&span_key, span.project, span.trace_id, span.span_id);
      spans_->Put(span_key, state::WrapExpiring(ExpiryMs(), {}));
      e->st.spans_in_store = true;
    }
    const bool first = a.span_count == 0;
    a.span_count += 1;
    if (span.is_llm_call()) a.llm_calls += 1;
    if (span.error) a.errors += 1;
    a.input_tokens += span.input_tokens;
    a.output_tokens += span.output_tokens;
    a.cost_usd += span.cost_usd;
    a.start_unix_nano =
        first ? span.start_unix_nano : std::min(a.start_unix_nano, span.start_unix_nano);
    a.end_unix_nano = first ? span.end_unix_nano : std::max(a.end_unix_nano, span.end_unix_nano);
    if (!span.model.empty() && a.models.size() < kMaxModelsPerTrace &&
        std::find(a.models.begin(), a.models.end(), span.model) == a.models.end()) {
      a.models.emplace_back(span.model);
    }
    if (!span.has_parent && !e->st.has_root) {
      // The root names the trace and, where it says, its service and environment.
      e->st.has_root = true;
      a.name.assign(span.name);
      if (!span.service.empty()) a.service.assign(span.service);
      if (!span.environment.empty()) a.environment.assign(span.environment);
    } else {
      if (a.service.empty()) a.service.assign(span.service);
      if (a.environment.empty()) a.environment.assign(span.environment);
    }
    if (a.thread_id.empty() && !span.thread_id.empty()) {
      a.thread_id.assign(span.thread_id);
      out->thread_bound_now = true;
    }
    if (a.user_id.empty() && !span.user_id.empty()) {
      a.user_id.assign(span.user_id);
      out->user_bound_now = true;
    }
    if (!e->st.open) {
      e->st.open = true;
      ++open_count_;
      meta_dirty_ = true;
    }
    e->st.last_update_ms = std::max(e->st.last_update_ms, now_ms);
    MarkDirty(e);
  }
  out->trace_uuid = a.trace_uuid;
  out->thread_id = a.thread_id;
  out->user_id = a.user_id;
  return Status::OK();
}

Status TraceRegistry::Prefetch(const std::vector<const SpanRecord*>& spans) {
  DropPrefetched();
  const size_t n = spans.size();
  // A batch this small costs more to read ahead (RocksDB's MultiGet setup, the staged lookups)
  // than it saves: its spans read one at a time in Apply (the demo traffic's messages carry a
  // couple of spans: issue 4's pipeline bench was 4 % slower with read-ahead per message).
  if (n < kMinPrefetchBatch) return Status::OK();
  if (prefetch_.size() < n) prefetch_.resize(n);
  prefetched_.Reset(n);
  // The cache lookups in stages, each over the whole batch, so that their misses overlap: the
  // index slots, the entries they point to, the entries' keys, then the lookups themselves
  // (one lookup after another was 6.5 % of the processing thread at 10 M traces, perf).
  for (size_t i = 0; i < n; ++i) {
    Prefetched& p = prefetch_[i];
    p.key.clear();
    AppendTraceKey(&p.key, spans[i]->project, spans[i]->trace_id);
    p.hash = Hash64(p.key);
    cache_.Prefetch(p.hash);
  }
  for (size_t i = 0; i < n; ++i) {
    if (const Entry* e = cache_.PeekHash(prefetch_[i].hash)) PrefetchEntry(e);  // Apply reads all
  }
  for (size_t i = 0; i < n; ++i) {
    if (const Entry* e = cache_.PeekHash(prefetch_[i].hash)) PrefetchBuffers(e);
  }
  prefetch_keys_.clear();
  for (size_t i = 0; i < n; ++i) {
    Prefetched& p = prefetch_[i];
    if (cache_.Find(p.key, p.hash) != nullptr || prefetched_.Find(p.key, p.hash) != nullptr) {
      continue;
    }
    p.read = prefetch_keys_.size();
    prefetch_keys_.emplace_back(p.key);
    prefetched_.Insert(&p, p.hash);
  }
  if (prefetch_keys_.empty()) return Status::OK();
  return traces_->MultiGet(prefetch_keys_, &prefetch_values_, &prefetch_found_);
}

void TraceRegistry::DropPrefetched() {
  if (prefetched_.size() != 0) prefetched_.Reset(0);
}

void TraceRegistry::WriteMeta() {
  if (!meta_dirty_) return;
  std::string v;
  PutVarint64(&v, static_cast<uint64_t>(std::max<int64_t>(open_count_, 0)));
  PutVarint64(&v, snapshot_seq_);
  PutOrderedInt64(&v, close_mark_);
  idle_->Put(kMetaKey, v);
  meta_dirty_ = false;
}

// Reads an entry's cache lines ahead of use (the entries of a Flush or of the next evictions were
// last touched long ago: each was a run of cache misses taken one after another, perf).
void TraceRegistry::PrefetchEntry(const Entry* e) {
  for (size_t at = 0; at < sizeof(Entry); at += 64) {
    __builtin_prefetch(reinterpret_cast<const char*>(e) + at);
  }
}

// The entry's heap buffers that a write-back reads: its key, span ids and models (the entry
// itself must have arrived: this reads their pointers).
void TraceRegistry::PrefetchBuffers(const Entry* e) {
  __builtin_prefetch(e->key.data());
  __builtin_prefetch(e->st.span_ids.data());
  __builtin_prefetch(e->st.agg.models.data());
}

Status TraceRegistry::Flush() {
  ++lru_epoch_;
  // Oldest change first: traces enter an idle bucket in the order they opened. Entries a few
  // places ahead are read in, and their buffers a few places after that.
  constexpr size_t kAhead = 8;
  const size_t n = dirty_.size();
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n && dirty_[i + kAhead] != nullptr) PrefetchEntry(dirty_[i + kAhead]);
    if (i + kAhead / 2 < n && dirty_[i + kAhead / 2] != nullptr) {
      PrefetchBuffers(dirty_[i + kAhead / 2]);
    }
    Entry* e = dirty_[i];
    if (e == nullptr) continue;  // forgotten since (written back first)
    SPANPIPE_RETURN_IF_ERROR(WriteBack(e));
    e->queued = false;
  }
  dirty_.clear();
  return FlushIdle();
}

Status TraceRegistry::CloseIdle(int64_t now_ms, Emitter* out, size_t max_traces, bool* complete) {
  const int64_t cutoff =
      now_ms < INT64_MIN + options_.idle_timeout_ms ? INT64_MIN : now_ms - options_.idle_timeout_ms;
  return CloseUpTo(cutoff, out, max_traces, complete);
}

Status TraceRegistry::CloseAll(Emitter* out, size_t max_traces, bool* complete) {
  return CloseUpTo(INT64_MAX, out, max_traces, complete);
}

Status TraceRegistry::ReadSnapshots(int64_t bucket_ms) {
  snapshot_keys_.clear();
  snapshot_values_.clear();
  snapshot_value_ends_.clear();
  std::string prefix;
  AppendIdleSnapshotPrefix(&prefix, bucket_ms);
  {
    auto it = idle_->Scan(prefix);
    for (; it->Valid(); it->Next()) {
      snapshot_keys_.emplace_back(it->key());
      snapshot_values_.append(it->value());
      snapshot_value_ends_.push_back(snapshot_values_.size());
    }
    SPANPIPE_RETURN_IF_ERROR(it->status());
  }
  snapshot_records_.clear();
  size_t begin = 0;
  for (const size_t end : snapshot_value_ends_) {
    std::string_view in = std::string_view(snapshot_values_).substr(begin, end - begin);
    begin = end;
    // Format 1 begins with a record's key length, never 0 (docs/trace-resolution.md).
    const bool v2 = !in.empty() && in[0] == kSnapshotFormatV2;
    if (v2) in.remove_prefix(1);
    Snapshot r;
    while (!in.empty()) {
      if (!GetLengthPrefixed(&in, &r.key) || !GetLengthPrefixed(&in, &r.payload) ||
          (v2 && !r.payload.empty() && in.size() < 16)) {
        return Status::Corruption("undecodable idle snapshot");
      }
      r.uuid = {};
      if (v2 && !r.payload.empty()) {
        r.uuid = in.substr(0, 16);
        in.remove_prefix(16);
      }
      snapshot_records_.push_back(r);
    }
  }
  snapshots_.Reset(snapshot_records_.size());
  for (Snapshot& rec : snapshot_records_) {  // in sequence order: later records win
    const uint64_t hash = Hash64(rec.key);
    if (Snapshot* earlier = snapshots_.Find(rec.key, hash)) {
      *earlier = rec;
    } else {
      snapshots_.Insert(&rec, hash);
    }
  }
  return Status::OK();
}

// Closes traces with last update < cutoff_ms, bucket by bucket in time order (within a bucket, in
// the order the traces entered it). Flush first makes the index name every open trace. A bucket
// is read whole, then rewritten with the entries not yet due (the bucket that holds the cutoff)
// or deleted with its snapshots. A trace outside the cache is decided on its last snapshot in the
// bucket when there is one, and read from the store only when there is none.
Status TraceRegistry::CloseUpTo(int64_t cutoff_ms, Emitter* out, size_t max_traces,
                                bool* complete) {
  SPANPIPE_RETURN_IF_ERROR(Flush());
  DropPrefetched();  // it may write traces that were prefetched
  close_expiry_ms_ = ExpiryMs();
  written_low_ = INT64_MAX;  // buckets this scan writes to (moves), below its end or not
  size_t budget = std::max<size_t>(max_traces, 1);  // index entries this call may handle
  bool finished = true;
  int64_t rescan_from = INT64_MAX;  // lowest bucket left holding entries not yet due
  std::string start, bucket_key, bucket_value, remainder, json;
  PutOrderedInt64(&start, idle_scan_from_);
  std::vector<std::string_view> entries;
  std::vector<uint64_t> hashes;  // of entries
  std::unordered_set<std::string_view> kept;
  int64_t kept_bucket = INT64_MIN;   // the format-2 bucket last rewritten with a remainder
  int64_t last_scanned = INT64_MIN;  // the last bucket read (and emptied or rewritten)
  int64_t stop_ms = INT64_MAX;       // the first key left unread (at or past the cutoff)
  closed_count_ = 0;
  while (finished) {
    bucket_key.clear();
    {
      auto it = idle_->Scan({}, start);
      for (; it->Valid() && it->key().size() < 8; it->Next()) {  // the meta key
      }
      SPANPIPE_RETURN_IF_ERROR(it->status());
      if (!it->Valid()) break;
      bucket_key.assign(it->key());
      bucket_value.assign(it->value());
    }
    int64_t ms = 0;
    if (ParseIdleSnapshotKey(bucket_key, &ms)) {
      // Snapshots after their bucket's key was read (kept with its remainder) or without one
      // (taken after the bucket closed): the latter are of no use any more.
      if (ms >= cutoff_ms) {
        stop_ms = ms;
        break;
      }
      if (ms != kept_bucket) idle_->Delete(bucket_key);
      start = bucket_key + '\0';
      continue;
    }
    std::string_view legacy_trace;  // a format-1 key names one trace itself
    const bool legacy = ParseIdleKey(bucket_key, &ms, &legacy_trace);
    if (!legacy && !ParseIdleBucketKey(bucket_key, &ms)) {
      return Status::Corruption("undecodable idle-index key");
    }
    if (ms >= cutoff_ms) {
      stop_ms = ms;
      break;
    }
    start = bucket_key + '\0';
    entries.clear();
    snapshots_.Reset(0);
    snapshot_keys_.clear();
    if (legacy) {
      entries.push_back(legacy_trace);
    } else {
      std::string_view in = bucket_value, k;
      while (!in.empty()) {
        if (!GetLengthPrefixed(&in, &k)) return Status::Corruption("undecodable idle bucket");
        entries.push_back(k);
      }
      SPANPIPE_RETURN_IF_ERROR(ReadSnapshots(ms));
    }
    remainder.clear();
    kept.clear();
    // Each trace's cache and snapshot lookups are prefetched a few traces ahead: a bucket's traces
    // left the cache long ago, and each lookup was a cache miss taken alone (perf).
    constexpr size_t kLookahead = 8;
    hashes.resize(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) hashes[i] = Hash64(entries[i]);
    for (size_t i = 0; i < entries.size(); ++i) {
      const std::string_view trace_key = entries[i];
      if (i + kLookahead < entries.size()) {
        cache_.Prefetch(hashes[i + kLookahead]);
        snapshots_.Prefetch(hashes[i + kLookahead]);
      }
      if (budget == 0) {  // stop here; the rest is closed by the next call
        for (size_t j = i; j < entries.size(); ++j) PutLengthPrefixed(&remainder, entries[j]);
        finished = false;
        break;
      }
      --budget;
      std::string_view snapshot;
      const uint64_t hash = hashes[i];
      Entry* e = Cached(trace_key, hash);
      bool existed = e != nullptr;
      if (e == nullptr && snapshots_.size() != 0) {
        Snapshot* s = snapshots_.Find(trace_key, hash);
        if (s != nullptr && !s->payload.empty()) {
          bool open = false;
          int64_t last_update = 0, idle_key = 0;
          if (!PeekTraceState(s->payload, &open, &last_update, &idle_key)) {
            return Status::Corruption("undecodable trace snapshot");
          }
          if (!open || idle_key != ms) continue;  // stale entry: dropped
          if (last_update >= cutoff_ms && IdleBucket(last_update) == ms) {
            if (kept.insert(trace_key).second) PutLengthPrefixed(&remainder, trace_key);
            continue;  // not due yet: stays, and stays out of the cache
          }
          if (last_update < cutoff_ms) {
            ++close_snapshot_reads_;
            SPANPIPE_RETURN_IF_ERROR(CloseFromSnapshot(trace_key, ms, *s, out, &json));
            s->payload = {};  // closed: a later entry of it in this bucket is stale
            continue;
          }
          snapshot = s->payload;  // to be moved: through the cache
          s->payload = {};        // loaded now: the cache or the store is newer from here on
        }
      }
      if (e == nullptr) {
        ++(snapshot.empty() ? close_store_reads_ : close_snapshot_reads_);
        SPANPIPE_RETURN_IF_ERROR(
            LoadAbsent(trace_key, hash, snapshot, /*reload=*/false, &e, &existed));
      }
      if (!existed || !e->st.open || !e->idle_persisted || e->st.idle_key_ms != ms) {
        // Stale entry (trace closed, moved or expired): dropped, nothing emitted.
      } else if (e->st.last_update_ms >= cutoff_ms) {
        if (!legacy && IdleBucket(e->st.last_update_ms) == ms) {
          // Not due yet and already in the right bucket: stays in it.
          if (kept.insert(trace_key).second) PutLengthPrefixed(&remainder, trace_key);
          continue;  // stays hot
        }
        // Still active: move it to the bucket of its last update (past this scan's end).
        e->idle_persisted = false;
        e->dirty = true;
        SPANPIPE_RETURN_IF_ERROR(WriteBack(e));
        SPANPIPE_RETURN_IF_ERROR(EvictIfFull());  // e is the newest entry: never the victim
        continue;                                 // stays hot
      } else {
        json.clear();
        AppendTraceJson(e->st.agg, &json);
        out->Emit(streams::kTraces, e->st.agg.trace_id_hex, json);
        e->st.open = false;
        --open_count_;
        meta_dirty_ = true;
        // Clean since the scan's Flush: the store holds it open in this bucket, which the close
        // mark covers once the bucket is emptied; else the closed value is written below.
        std::string& closed = DeferClosedWrite(e->key, ms);
        PutOrderedInt64(&closed, close_expiry_ms_);
        EncodeTraceState(e->st, &closed);
      }
      Forget(e);  // a closed trace leaves the hot cache
    }
    last_scanned = ms;
    if (remainder.empty()) {
      idle_->Delete(bucket_key);
      for (const std::string& k : snapshot_keys_) idle_->Delete(k);
    } else {
      if (legacy) return Status::Internal("idle index: legacy key kept");
      idle_->Put(bucket_key, remainder);  // its snapshots stay: their last records still hold
      rescan_from = std::min(rescan_from, ms);
      kept_bucket = ms;
    }
  }
  // Everything below the cutoff was closed, except what was kept and what this scan moved: a
  // trace updated just past the cutoff moves to the cutoff's own bucket, below the cutoff.
  if (finished) idle_scan_from_ = std::max(idle_scan_from_, std::min(cutoff_ms, rescan_from));
  idle_scan_from_ = std::min(idle_scan_from_, written_low_);
  if (last_scanned != INT64_MIN) {
    // Every bucket below the mark is empty: emptied by this scan (it stops at the first bucket
    // kept, written to or not read) or earlier (the mark only rises; no entry goes below it).
    const int64_t end =
        last_scanned > INT64_MAX - kIdleBucketMs ? INT64_MAX : last_scanned + kIdleBucketMs;
    const int64_t mark = IdleBucket(std::min({rescan_from, written_low_, stop_ms, end}));
    if (mark > close_mark_) {
      close_mark_ = mark;
      meta_dirty_ = true;
    }
  }
  WriteClosed();
  if (complete != nullptr) *complete = finished;
  return FlushIdle();
}

}  // namespace spanpipe::resolve
