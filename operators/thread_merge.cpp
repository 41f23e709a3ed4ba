#include "operators/thread_merge.h"

#include <algorithm>
#include <cstdint>

#include "common/coding.h"

namespace spanpipe::threads {
namespace {

// merged store: varint(len) key, then be32(partition); the length prefix makes a thread's
// partitions one exact prefix range even when keys contain any byte.
void MergedPrefix(std::string_view key, std::string* k) {
  k->clear();
  PutLengthPrefixed(k, key);
}

// The source partitions, one key each: kSources be32(partition) -> "". kSources alone says the
// store has recorded them from its first partial on. The 10-byte varint kSources starts with is
// the length of no key (>= 2^63), so no thread's prefix range reaches these keys.
constexpr std::string_view kSources("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);

// Heap bytes of a cached partial beside its object (charged against the cache's budget).
size_t HeapBytes(const ThreadPartial& p) {
  const ThreadTotals& t = p.totals;
  size_t n = p.project.capacity() + p.thread_id.capacity() +
             t.traces.capacity() * sizeof(ThreadTrace) +
             (t.models.capacity() + t.user_ids.capacity()) * sizeof(std::string);
  for (const ThreadTrace& tr : t.traces) n += tr.trace_id_hex.capacity();
  for (const std::string& s : t.models) n += s.capacity();
  for (const std::string& s : t.user_ids) n += s.capacity();
  return n;
}

}  // namespace

ThreadMerge::ThreadMerge(state::KvStore* merged, ThreadLimits limits, size_t cache_bytes)
    : merged_(merged), limits_(limits), cache_(cache_bytes) {}

void ThreadMerge::Load() {
  if (loaded_) return;
  loaded_ = true;
  std::string v;
  bool found = false;
  if (!merged_->Get(kSources, &v, &found).ok()) return;
  if (!found) {
    // A store with partials but no record of their sources (written before it was kept): the
    // sources stay unknown and threads are read whole by Emit, as they always were.
    if (auto it = merged_->Scan({}); it->Valid() || !it->status().ok()) return;
    merged_->Put(kSources, {});
  }
  for (auto it = merged_->Scan(kSources); it->Valid(); it->Next()) {
    if (it->key().size() == kSources.size() + 4)
      sources_.insert(static_cast<int32_t>(DecodeFixed32BE(it->key().data() + kSources.size())));
  }
  sources_known_ = true;
}

void ThreadMerge::NoteSource(int32_t p) {
  if (!sources_known_ || !sources_.insert(p).second) return;
  std::string k(kSources);
  PutFixed32BE(&k, static_cast<uint32_t>(p));
  merged_->Put(k, {});
}

Status ThreadMerge::Apply(std::string_view key, std::string_view partial) {
  Load();
  ThreadPartial& incoming = scratch_;
  if (!DecodeThreadPartial(partial, &incoming)) {
    return Status::InvalidArgument("undecodable thread partial for key " + std::string(key));
  }
  std::string& skey = key_buf_;
  MergedPrefix(key, &skey);
  PutFixed32BE(&skey, static_cast<uint32_t>(incoming.partition));
  // Only the stored version is needed: the store holds partials this merge decoded before
  // storing them.
  auto stored_version = [&](uint64_t* version, bool* found) {
    SPANPIPE_RETURN_IF_ERROR(merged_->Get(skey, &value_buf_, found));
    *found = *found && DecodeThreadPartialVersion(value_buf_, version);
    return Status::OK();
  };
  Cache::Row* row;
  Cache::Source* src;
  bool stale;
  SPANPIPE_RETURN_IF_ERROR(
      cache_.Stale(key, incoming.partition, incoming.version, stored_version, &row, &src, &stale));
  if (stale) return Status::OK();
  NoteSource(incoming.partition);
  merged_->Put(skey, partial);
  if (changed_count_ == changed_.size()) changed_.emplace_back();
  changed_[changed_count_++].assign(key);
  // A row holding every recorded source holds all the thread's stored partials.
  cache_.Keep(key, row, src, incoming.partition, &scratch_,
              sources_known_ ? sources_.size() : SIZE_MAX, HeapBytes);
  return Status::OK();
}

Status ThreadMerge::Emit(Emitter* out) {
  if (changed_count_ == 0) return Status::OK();
  const auto end = changed_.begin() + static_cast<std::ptrdiff_t>(changed_count_);
  std::sort(changed_.begin(), end);
  const auto last = std::unique(changed_.begin(), end);
  std::unique_ptr<state::KvIterator> it;  // one RocksDB iterator, re-seeked per thread
  auto payload = [](std::string_view stored, std::string_view* bytes) {
    *bytes = stored;
    return true;
  };
  for (auto k = changed_.begin(); k != last; ++k) {
    const std::string& key = *k;
    Cache::Row* row = cache_.Find(key);
    const bool cached = row && row->complete;
    if (!cached) {
      auto decode = [&key](std::string_view in, ThreadPartial* p) {
        return DecodeThreadPartial(in, p)
                   ? Status::OK()
                   : Status::Corruption("undecodable stored thread partial for key " + key);
      };
      MergedPrefix(key, &key_buf_);
      if (it) {
        it->Seek(key_buf_);
      } else {
        it = merged_->Scan(key_buf_);
      }
      SPANPIPE_RETURN_IF_ERROR(
          cache_.ReadStored(key, it.get(), payload, DecodeThreadPartialVersion, decode, &read_));
    }
    const std::vector<Cache::Source>& sources = cached ? row->sources : read_;
    if (!sources.empty()) {
      ThreadTotals sum;
      for (const Cache::Source& src : sources) MergeThreadTotals(src.part.totals, limits_, &sum);
      json_.clear();
      AppendThreadJson(sources.front().part.project, sources.front().part.thread_id, sum, &json_);
      out->Emit(streams::kThreads, key, json_);
    }
    if (!cached) cache_.KeepWhole(key, &read_, HeapBytes);
  }
  changed_count_ = 0;
  return Status::OK();
}

}  // namespace spanpipe::threads
