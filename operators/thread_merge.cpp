#include "operators/thread_merge.h"

#include "common/coding.h"

namespace spanpipe::threads {
namespace {

// merged store: varint(len) key, then be32(partition); the length prefix makes a thread's
// partitions one exact prefix range even when keys contain any byte.
void MergedPrefix(std::string_view key, std::string* k) {
  k->clear();
  PutLengthPrefixed(k, key);
}

}  // namespace

ThreadMerge::ThreadMerge(state::KvStore* merged, ThreadLimits limits)
    : merged_(merged), limits_(limits) {}

Status ThreadMerge::Apply(std::string_view key, std::string_view partial) {
  ThreadPartial& incoming = scratch_;
  if (!DecodeThreadPartial(partial, &incoming)) {
    return Status::InvalidArgument("undecodable thread partial for key " + std::string(key));
  }
  std::string& skey = key_buf_;
  MergedPrefix(key, &skey);
  PutFixed32BE(&skey, static_cast<uint32_t>(incoming.partition));
  bool found = false;
  SPANPIPE_RETURN_IF_ERROR(merged_->Get(skey, &value_buf_, &found));
  // Only the stored version is needed: the store holds partials this merge decoded before
  // storing them.
  uint64_t current = 0;
  if (found && DecodeThreadPartialVersion(value_buf_, &current) && current >= incoming.version) {
    return Status::OK();
  }
  merged_->Put(skey, partial);
  changed_.emplace(key);
  return Status::OK();
}

Status ThreadMerge::Emit(Emitter* out) {
  if (changed_.empty()) return Status::OK();
  std::unique_ptr<state::KvIterator> it;  // one RocksDB iterator, re-seeked per thread
  ThreadPartial& p = scratch_;
  std::string project, thread_id;
  for (const std::string& key : changed_) {
    ThreadTotals sum;
    bool any = false;
    MergedPrefix(key, &key_buf_);
    if (it) {
      it->Seek(key_buf_);
    } else {
      it = merged_->Scan(key_buf_);
    }
    for (; it->Valid(); it->Next()) {
      if (!DecodeThreadPartial(it->value(), &p)) {
        return Status::Corruption("undecodable stored thread partial for key " + key);
      }
      if (!any) {
        project = p.project;
        thread_id = p.thread_id;
        any = true;
      }
      MergeThreadTotals(p.totals, limits_, &sum);
    }
    SPANPIPE_RETURN_IF_ERROR(it->status());
    if (!any) continue;
    json_.clear();
    AppendThreadJson(project, thread_id, sum, &json_);
    out->Emit(streams::kThreads, key, json_);
  }
  changed_.clear();
  return Status::OK();
}

}  // namespace spanpipe::threads
