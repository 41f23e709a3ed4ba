// resolve: the trace registry (CONTRACT §3/§4, docs/trace-resolution.md). De-duplicates spans by
// (project, trace id, span id), keeps one aggregate per trace in RocksDB state with a bounded
// in-memory cache of hot traces, binds a trace's thread / user late, and emits spanpipe.traces
// when a trace has been idle for idle_timeout_ms.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/flat_index.h"
#include "common/status.h"
#include "operators/emitter.h"
#include "operators/resolve_outcome.h"
#include "operators/span_record.h"
#include "operators/trace_codec.h"
#include "operators/trace_uuid.h"
#include "state/state_db.h"

namespace spanpipe::resolve {

struct ResolveOptions {
  int64_t idle_timeout_ms = 30000;
  // Trace and dedup entries expire this long after their last write (wall clock), see the doc.
  int64_t retention_ms = 7LL * 24 * 3600 * 1000;
  size_t cache_traces = 100000;
  // Wall clock for retention expiry stamps (unix ms); empty = system clock. Tests inject one.
  std::function<int64_t()> wall_clock_ms;
};

class TraceRegistry {
 public:
  // traces and spans must be expiring stores; idle is a plain store.
  TraceRegistry(state::KvStore* traces, state::KvStore* spans, state::KvStore* idle,
                ResolveOptions options);
  ~TraceRegistry();
  TraceRegistry(const TraceRegistry&) = delete;
  TraceRegistry& operator=(const TraceRegistry&) = delete;

  // now_ms: the idleness clock (processing time in run/demo, max event time seen in replay).
  Status Apply(const SpanRecord& span, int64_t now_ms, ResolveOutcome* out);
  // Reads the stored states of the traces of these spans that are not cached, in one batched
  // read, for the Apply calls that follow: those then cost no point read each. Optional (Apply
  // reads what was not prefetched); a close scan drops what is left unused, since it may write
  // those traces. A batch of fewer than 8 spans is not read ahead (it would cost more than it
  // saves).
  Status Prefetch(const std::vector<const SpanRecord*>& spans);
  // Emits every open trace whose last update is older than now_ms - idle_timeout_ms (in idle-index
  // order: roughly oldest first, deterministic) and marks it closed. A late span re-opens it.
  // max_traces bounds the work (and the pending batch) of one call: a backlog can be closed over
  // several checkpoints; *complete (optional) says whether every due trace was handled.
  Status CloseIdle(int64_t now_ms, Emitter* out, size_t max_traces = SIZE_MAX,
                   bool* complete = nullptr);
  // End of input: every open trace.
  Status CloseAll(Emitter* out, size_t max_traces = SIZE_MAX, bool* complete = nullptr);
  // Writes cached changes into the stores' pending batch (before the lead's StateDb::Commit).
  Status Flush();
  size_t open_traces() const { return static_cast<size_t>(open_count_); }
  size_t cached_traces() const { return cache_.size(); }
  // Traces the close scans took from a close snapshot / had to read from the store.
  uint64_t close_snapshot_reads() const { return close_snapshot_reads_; }
  uint64_t close_store_reads() const { return close_store_reads_; }

 private:
  struct Entry;
  // Loads the trace of a span into the cache (most recently used): cached, from the store, or
  // fresh. LoadAbsent: the key is known not to be cached; snapshot = its close snapshot (no
  // store read), else read the store; reload: for a span (see AppendStaleSnapshot).
  Status Load(std::string_view key, Entry** entry, bool* existed);
  // nullptr if not cached; else now the most recently used. hash = Hash64(key).
  Entry* Cached(std::string_view key, uint64_t hash);
  Status FillIdentity(std::string_view key, TraceAggregate* agg, uint8_t uuid[16], bool uuid_known);
  struct Snapshot;
  Status CloseFromSnapshot(std::string_view key, int64_t bucket_ms, const Snapshot& snapshot,
                           Emitter* out, std::string* json);
  Status LoadAbsent(std::string_view key, uint64_t hash, std::string_view snapshot, bool reload,
                    Entry** entry, bool* existed);
  // Records key's state (payload, not empty) and its UUID's 16 bytes in its idle bucket's
  // snapshots (docs/trace-resolution.md, "Close snapshots").
  void AppendSnapshot(int64_t bucket_ms, std::string_view key, std::string_view payload,
                      const uint8_t uuid[16]);
  // Records that key's earlier snapshots are stale: its close reads the store.
  void AppendStaleSnapshot(int64_t bucket_ms, std::string_view key);
  std::string& StartSnapshotRecord(int64_t bucket_ms, std::string_view key);
  // Reads the close snapshots of bucket_ms: trace key -> its last record, into snapshots_.
  Status ReadSnapshots(int64_t bucket_ms);
  Status WriteBack(Entry* e);
  Status EvictIfFull();
  void PrefetchVictims();
  static void PrefetchEntry(const Entry* e);
  static void PrefetchBuffers(const Entry* e);
  void MarkDirty(Entry* e);
  void Forget(Entry* e);
  void PushFront(std::list<Entry*>* list, Entry* e);
  static void ResetEntry(Entry* e);
  Status CloseUpTo(int64_t cutoff_ms, Emitter* out, size_t max_traces, bool* complete);
  int64_t ExpiryMs() const;
  // The meta key: open-trace count and the next snapshot sequence number.
  void WriteMeta();
  // Writes the idle-index entries gathered since the last call, one key per bucket.
  Status FlushIdle();

  state::KvStore* traces_;
  state::KvStore* spans_;
  state::KvStore* idle_;
  ResolveOptions options_;
  static std::string_view EntryKey(const Entry& e);
  // The cached entries (owned: deleted by Forget's recycling or the destructor), by the XXH64
  // of their key, which each entry keeps.
  FlatIndex<Entry, &TraceRegistry::EntryKey> cache_;
  std::list<Entry*> lru_;   // front = most recently used (to within an epoch, see Cached)
  uint64_t lru_epoch_ = 0;  // advanced by every Flush
  // Changed since the last Flush, in order of first change; nullptr where one was forgotten since.
  std::vector<Entry*> dirty_;
  // Forgotten entries and list nodes kept for reuse: a trace's strings, span-id vector and list
  // nodes then cost no allocation when the next trace is loaded (bounded by kSpareEntries).
  std::vector<std::unique_ptr<Entry>> spare_;
  std::list<Entry*> spare_nodes_;
  uint64_t close_snapshot_reads_ = 0, close_store_reads_ = 0;
  int64_t open_count_ = 0;
  uint64_t snapshot_seq_ = 0;  // orders snapshot keys of one bucket, across restarts too
  bool meta_dirty_ = false;
  // Idle keys below this were all closed by an earlier scan: the next scan seeks past their
  // tombstones instead of walking them.
  int64_t idle_scan_from_ = INT64_MIN;
  int64_t written_low_ = INT64_MAX;  // lowest bucket written to since the current scan began
  // The close mark (persisted in the meta key): every idle bucket below it has been emptied by a
  // close scan, and no entry is placed below it. A stored trace that is open in a bucket below
  // it was closed: a close that empties its bucket writes nothing for the trace
  // (docs/trace-resolution.md, "Close mark").
  int64_t close_mark_ = INT64_MIN;
  // The closed values of a scan, written at its end only for traces in buckets at or above the
  // new mark. closed_[0, closed_count_) are pending; their strings are reused.
  struct Closed {
    std::string key, value;
    int64_t bucket_ms = 0;
  };
  std::vector<Closed> closed_;
  int64_t close_expiry_ms_ = 0;  // the expiry stamp of a scan's closed values (one clock read)
  size_t closed_count_ = 0;
  std::string& DeferClosedWrite(std::string_view key, int64_t bucket_ms);  // the value to fill
  void WriteClosed();
  // Lowers idle_scan_from_ (and written_low_) to a bucket that now holds an entry or snapshot.
  void NoteIdleBucket(int64_t bucket_ms);
  // Idle-index entries not yet in the store: bucket -> length-prefixed trace keys.
  std::map<int64_t, std::string> idle_new_;
  // Snapshot records not yet in the store: bucket -> records.
  std::map<int64_t, std::string> snapshot_new_;
  // Buffers of idle_new_ and snapshot_new_ kept across checkpoints: a busy bucket's snapshots
  // run to megabytes, and growing a fresh string to that size every checkpoint faulted in new
  // pages each time (5 % of the stages after decode, perf).
  std::vector<std::string> spare_buffers_;
  std::string& BucketBuffer(std::map<int64_t, std::string>* pending, int64_t bucket_ms);
  void RecycleBuffers(std::map<int64_t, std::string>* pending);
  // The bucket being closed: its snapshot keys, their values, and trace key -> last record
  // (indexed by the key's Hash64, which the close scan computes anyway for the cache).
  struct Snapshot {
    std::string_view key, payload;
    std::string_view uuid;  // its 16 bytes; empty in a format-1 value (computed again)
  };
  static std::string_view SnapshotKey(const Snapshot& s) { return s.key; }
  std::vector<std::string> snapshot_keys_;
  std::string snapshot_values_;
  std::vector<size_t> snapshot_value_ends_;  // where each key's value ends in snapshot_values_
  std::vector<Snapshot> snapshot_records_;
  FlatIndex<Snapshot, &TraceRegistry::SnapshotKey> snapshots_;
  // Prefetched stored values, consumed by LoadAbsent: prefetch_[i] for the batch's span i, by
  // key in prefetched_ when it was read (its value is prefetch_values_[read]).
  struct Prefetched {
    std::string key;
    uint64_t hash = 0;
    size_t read = 0;
  };
  static std::string_view PrefetchedKey(const Prefetched& p) { return p.key; }
  std::vector<Prefetched> prefetch_;
  std::vector<std::string_view> prefetch_keys_;
  std::vector<std::string> prefetch_values_;
  std::vector<bool> prefetch_found_;
  FlatIndex<Prefetched, &TraceRegistry::PrefetchedKey> prefetched_;
  void DropPrefetched();
  std::string value_buf_, wrap_buf_, apply_key_, span_key_;
  TraceState closing_;  // reused by CloseFromSnapshot
};

}  // namespace spanpipe::resolve
