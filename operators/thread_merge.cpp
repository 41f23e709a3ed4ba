#include "operators/thread_merge.h"

#include "common/coding.h"

namespace spanpipe::threads {
namespace {

// merged store: varint(len) key, then be32(partition); the length prefix makes a thread's
// partitions one exact prefix range even when keys contain any byte.
std::string MergedPrefix(std::string_view key) {
  std::string k;
  PutLengthPrefixed(&k, key);
  return k;
}

}  // namespace

ThreadMerge::ThreadMerge(state::KvStore* merged, ThreadLimits limits)
    : merged_(merged), limits_(limits) {}

Status ThreadMerge::Apply(std::string_view key, std::string_view partial) {
  ThreadPartial incoming;
  if (!DecodeThreadPartial(partial, &incoming)) {
    return Status::InvalidArgument("undecodable thread partial for key " + std::string(key));
  }
  std::string skey = MergedPrefix(key);
  PutFixed32BE(&skey, static_cast<uint32_t>(incoming.partition));
  bool found = false;
  SPANPIPE_RETURN_IF_ERROR(merged_->Get(skey, &value_buf_, &found));
  if (found) {
    // Only the header is needed, but the record is small: decode it whole.
    ThreadPartial current;
    if (DecodeThreadPartial(value_buf_, &current) && current.version >= incoming.version) {
      return Status::OK();
    }
  }
  merged_->Put(skey, partial);
  changed_.emplace(key);
  return Status::OK();
}

Status ThreadMerge::Emit(Emitter* out) {
  if (changed_.empty()) return Status::OK();
  std::string json;
  std::unique_ptr<state::KvIterator> it;  // one RocksDB iterator, re-seeked per thread
  for (const std::string& key : changed_) {
    ThreadTotals sum;
    std::string project, thread_id;
    bool any = false;
    if (it) {
      it->Seek(MergedPrefix(key));
    } else {
      it = merged_->Scan(MergedPrefix(key));
    }
    for (; it->Valid(); it->Next()) {
      ThreadPartial p;
      if (!DecodeThreadPartial(it->value(), &p)) {
        return Status::Corruption("undecodable stored thread partial for key " + key);
      }
      if (!any) {
        project = std::move(p.project);
        thread_id = std::move(p.thread_id);
        any = true;
      }
      MergeThreadTotals(p.totals, limits_, &sum);
    }
    SPANPIPE_RETURN_IF_ERROR(it->status());
    if (!any) continue;
    json.clear();
    AppendThreadJson(project, thread_id, sum, &json);
    out->Emit(streams::kThreads, key, json);
  }
  changed_.clear();
  return Status::OK();
}

}  // namespace spanpipe::threads
