#include "operators/rollup_merge.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "common/coding.h"
#include "operators/rollup_partial.h"
#include "operators/rollup_record.h"

namespace spanpipe::rollup {

namespace {
constexpr char kPartialTag = 'p';  // 'p' LP(key) partition(4B)  -> newest partial of that source
constexpr char kIndexTag = 'n';    // 'n' end(8B ordered) key      -> "" while the row is not final
constexpr char kSourceTag = 's';   // 's' partition(4B)            -> watermark
constexpr std::string_view kMergedWmKey = "g";
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

// Into *k (replacing its content; a reused string keeps its capacity).
void PartialPrefixTo(std::string_view key, std::string* k) {
  k->assign(1, kPartialTag);
  PutLengthPrefixed(k, key);
}
std::string PartialPrefix(std::string_view key) {
  std::string k;
  PartialPrefixTo(key, &k);
  return k;
}
std::string IndexKey(int64_t end_ms, std::string_view key) {
  std::string k(1, kIndexTag);
  PutOrderedInt64(&k, end_ms);
  k.append(key);
  return k;
}
std::string OrderedValue(int64_t v) {
  std::string s;
  PutOrderedInt64(&s, v);
  return state::WrapExpiring(kNever, s);
}
bool ReadOrdered(std::string_view stored, int64_t* v) {
  int64_t exp;
  std::string_view payload;
  if (!state::UnwrapExpiring(stored, &exp, &payload) || payload.size() != 8) return false;
  *v = DecodeOrderedInt64(payload.data());
  return true;
}
int64_t Expiry(const WindowId& id, const RollupOptions& opt) {
  int64_t r;
  if (__builtin_add_overflow(id.end_ms(), opt.retention_ms(id.granularity), &r)) return kNever;
  return r;
}
// Heap bytes of a cached partial beside its object (charged against the cache's budget).
size_t HeapBytes(const RollupPartial& p) {
  const RollupDims& d = p.id.dims;
  return d.project.capacity() + d.service.capacity() + d.provider.capacity() + d.model.capacity() +
         d.operation.capacity() + d.environment.capacity() + p.metrics.MemoryBytes();
}
bool StoredPayload(std::string_view stored, std::string_view* payload) {
  int64_t exp;
  return state::UnwrapExpiring(stored, &exp, payload);
}
}  // namespace

RollupMerge::RollupMerge(state::KvStore* merged, RollupOptions options, size_t cache_bytes)
    : store_(merged), opt_(options), sum_(options.sketch_relative_accuracy), cache_(cache_bytes) {}

void RollupMerge::Load() {
  if (loaded_) return;
  loaded_ = true;
  std::string v;
  bool found = false;
  if (store_->Get(kMergedWmKey, &v, &found).ok() && found) ReadOrdered(v, &merged_wm_);
  for (auto it = store_->Scan(std::string(1, kSourceTag)); it->Valid(); it->Next()) {
    if (it->key().size() != 5) continue;
    const auto p = static_cast<int32_t>(DecodeFixed32BE(it->key().data() + 1));
    source_keys_.insert(p);  // even when its watermark does not read
    int64_t wm;
    if (ReadOrdered(it->value(), &wm)) sources_[p] = wm;
  }
}

void RollupMerge::UpdateSource(int32_t p, int64_t watermark_ms) {
  source_keys_.insert(p);
  auto [it, inserted] = sources_.emplace(p, watermark_ms);
  if (!inserted) {
    if (watermark_ms <= it->second) return;  // watermarks only move forward
    it->second = watermark_ms;
  }
  std::string k(1, kSourceTag);
  PutFixed32BE(&k, static_cast<uint32_t>(p));
  store_->Put(k, OrderedValue(watermark_ms));
}

Status RollupMerge::Apply(std::string_view key, std::string_view partial) {
  Load();
  RollupPartial& in = scratch_;
  SPANPIPE_RETURN_IF_ERROR(DecodePartial(partial, &in));  // whole: a bad partial is refused here
  UpdateSource(in.source_partition, in.watermark_ms);
  if (in.heartbeat) return Status::OK();
  ContractKeyTo(in.id, &key_buf_);
  if (key_buf_ != key)
    return Status::InvalidArgument("rollup partial: key does not match its window and dims");

  std::string& pkey = pkey_buf_;
  PartialPrefixTo(key, &pkey);
  PutFixed32BE(&pkey, static_cast<uint32_t>(in.source_partition));
  auto stored_version = [&](uint64_t* version, bool* found) {
    std::string stored;
    SPANPIPE_RETURN_IF_ERROR(store_->Get(pkey, &stored, found));
    int64_t exp;
    std::string_view payload;
    *found = *found && state::UnwrapExpiring(stored, &exp, &payload) &&
             DecodePartialVersion(payload, version);
    return Status::OK();
  };
  Cache::Row* row;
  Cache::Source* src;
  bool stale;
  SPANPIPE_RETURN_IF_ERROR(
      cache_.Stale(key, in.source_partition, in.version, stored_version, &row, &src, &stale));
  if (stale) {
    ++stale_ignored_;  // the same or an older total of this source: already counted
    return Status::OK();
  }
  store_->Put(pkey, state::WrapExpiring(Expiry(in.id, opt_), partial));
  dirty_[std::string(key)] = in.id.end_ms();
  // Every stored partial's partition has a source key (UpdateSource writes it with the partial):
  // a row that holds a partial of each holds all its stored partials.
  cache_.Keep(key, row, src, in.source_partition, &scratch_, source_keys_.size(), HeapBytes);
  return Status::OK();
}

Status RollupMerge::EmitRow(const std::string& key, int64_t end_ms,
                            std::unique_ptr<state::KvIterator>* cursor, Emitter* out) {
  Cache::Row* row = cache_.Find(key);
  const bool cached = row && row->complete;
  if (!cached) {
    const std::string prefix = PartialPrefix(key);
    if (*cursor) {
      (*cursor)->Seek(prefix);
    } else {
      *cursor = store_->Scan(prefix);
    }
    auto decode = [](std::string_view in, RollupPartial* part) { return DecodePartial(in, part); };
    SPANPIPE_RETURN_IF_ERROR(
        cache_.ReadStored(key, cursor->get(), StoredPayload, DecodePartialVersion, decode, &read_));
  }
  const std::vector<Cache::Source>& sources = cached ? row->sources : read_;
  if (!sources.empty()) {
    sum_.Clear();
    for (const Cache::Source& s : sources) sum_.Merge(s.part.metrics);  // in the store's order
    json_.clear();
    AppendRollupJson(sources.front().part.id, sum_, end_ms <= merged_wm_, &json_);
    out->Emit(streams::kRollups, key, json_);
    ++records_emitted_;
  }
  if (!cached) cache_.KeepWhole(key, &read_, HeapBytes);
  return Status::OK();
}

void RollupMerge::IndexRow(const std::string& key, int64_t end_ms) {
  Cache::Row* row = cache_.Find(key);
  if (row && row->mark == end_ms) return;  // written by an earlier Emit, not deleted since
  store_->Put(IndexKey(end_ms, key), state::WrapExpiring(kNever, {}));
  if (row) row->mark = end_ms;
}

void RollupMerge::UnindexRow(const std::string& key, int64_t end_ms) {
  store_->Delete(IndexKey(end_ms, key));
  if (Cache::Row* row = cache_.Find(key); row && row->mark == end_ms) row->mark = INT64_MIN;
}

Status RollupMerge::Emit(Emitter* out) {
  Load();
  if (!sources_.empty()) {
    int64_t min_wm = kNever;
    for (auto& [p, wm] : sources_) min_wm = std::min(min_wm, wm);
    if (min_wm > merged_wm_) {  // monotonic: a newly seen source never un-finalises a window
      merged_wm_ = min_wm;
      store_->Put(kMergedWmKey, OrderedValue(merged_wm_));
    }
  }
  // The rows emitted below, taken over from dirty_ (no copy of their keys).
  std::map<std::string, int64_t> emitted;
  emitted.swap(dirty_);
  // One RocksDB iterator for all rows' partials; it sees the partials Apply wrote (before it).
  std::unique_ptr<state::KvIterator> cursor;
  for (auto& [key, end] : emitted) {
    SPANPIPE_RETURN_IF_ERROR(EmitRow(key, end, &cursor, out));
    if (end <= merged_wm_) {
      UnindexRow(key, end);
    } else {
      IndexRow(key, end);
    }
  }
  // Rows the watermark has now passed, oldest first.
  std::vector<std::pair<std::string, int64_t>> closing;
  for (auto it = store_->Scan(std::string(1, kIndexTag)); it->Valid(); it->Next()) {
    std::string_view k = it->key();
    if (k.size() < 9) continue;
    const int64_t end = DecodeOrderedInt64(k.data() + 1);
    if (end > merged_wm_) break;
    closing.emplace_back(std::string(k.substr(9)), end);
  }
  for (auto& [key, end] : closing) {
    if (!emitted.count(key)) SPANPIPE_RETURN_IF_ERROR(EmitRow(key, end, &cursor, out));
    UnindexRow(key, end);
  }
  return Status::OK();
}
}  // namespace spanpipe::rollup
