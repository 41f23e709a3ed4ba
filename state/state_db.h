// StateDb: one RocksDB per process. Each named store is a column family. Writes go to a pending
// overlay per store that readers see (read-your-writes) and that Commit() writes as one RocksDB
// WriteBatch, so state changes and the consumed offsets written beside them land together or not
// at all (DESIGN.md checkpoint cycle, step 3). Knows nothing of spans.
//
// Why an overlay and not RocksDB's WriteBatchWithIndex: the indexed batch appends every overwrite
// to its batch and searches its skip list on every Put and Get, which cost a quarter of the
// pipeline's CPU. The overlay is an open-addressing hash index (common/flat_index.h) over entries
// in an arena (Get and Put of a pending key cost one probe; Commit frees the arena at once), plus
// a key order for stores that are scanned; each key is written to RocksDB once per checkpoint.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/flat_index.h"
#include "common/status.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Iterator;
class WriteBatch;
class Cache;
class WriteBufferManager;
}  // namespace rocksdb

namespace spanpipe::state {

struct StateOptions {
  std::string path = "./data/state";
  // One memory budget for the process: block cache, with memtables and table readers (each
  // file's filter and index) charged to it.
  uint64_t memory_budget_mib = 256;
  // Stores (column families) to open; "default" is implicit.
  std::vector<std::string> stores;
  // Per store: values whose embedded expiry (see ExpiringValue) is older than now are dropped by
  // compaction. Stores not listed never expire.
  std::vector<std::string> expiring_stores;
  // Stores read only by key (never scanned on the hot path): their filters are built on the
  // whole key (no-op prefix extractor). A Scan of such a store still works, in key order. (They
  // had a hash memtable until the commit moved to a background writer: see state_db.cpp.)
  std::vector<std::string> point_stores;
  // Stores whose keys are deleted soon after they are written (a queue, an index of the next
  // minute): not compressed. Their data is read back once, often from SST files just flushed or
  // compacted, and compressing it (zstd at the bottom level) only to decompress it within
  // seconds was ~8 % of the trace registry's close scan at 2 M traces (perf).
  std::vector<std::string> transient_stores;
  // true: every Commit is synced through RocksDB's write-ahead log before it returns.
  // false: commits skip the log. A Commit is still atomic (one WriteBatch into the memtables) but
  // reaches disk only with the next flush, and every flush covers all stores at once
  // (atomic_flush), so a crash reverts state and the offsets stored beside it together to an
  // earlier commit, never to a mix. Persist() bounds how far back. The input log is then the redo
  // log, as in Kafka Streams and Flink (docs/architecture.md, "Checkpoint cycle").
  bool write_ahead_log = true;
  // Tests only: runs on the background writer before each CommitAsync write, which fails with
  // its status if not OK (a seam as RocksDB's sync points, to hold or fail a write on cue).
  std::function<Status()> before_async_write;
};

class StateDb;

namespace detail {
// A pending (uncommitted) write of one key. seq orders writes of new keys within a store.
struct PendingValue {
  std::pmr::string value;
  bool deleted = false;
  uint64_t seq = 0;
};
// A pending key (its bytes in the store's arena) and its write; allocated in the arena too.
struct PendingEntry {
  std::string_view key;
  PendingValue pending;
};
inline std::string_view PendingKey(const PendingEntry& e) {
  return e.key;
}
using PendingOrder = std::pmr::map<std::string_view, const PendingValue*>;  // views of the keys
}  // namespace detail

// Iterates one store over keys with a prefix, in key order, merging committed state, the sealed
// writes of a commit still being written (StateDb::CommitAsync) and pending writes, newest first.
// Keys first written after the iterator was created are not visited; values are read when
// visited. Must not outlive the next Commit, CommitAsync, Join, Persist or Rollback.
class KvIterator {
 public:
  ~KvIterator();
  bool Valid() const { return cur_ != Source::kNone; }
  void Next();
  // Repositions on another prefix of the same store, as a new Scan(prefix) would, without the
  // cost of a new RocksDB iterator (a merge emitting many rows scans each row's few keys).
  void Seek(std::string_view prefix);
  std::string_view key() const;
  std::string_view value() const;
  Status status() const;

 private:
  friend class KvStore;
  enum class Source { kNone, kBase, kSealed, kPending };
  // The ordered keys of one overlay and a position in them (order == nullptr: no such overlay).
  struct Layer {
    const detail::PendingOrder* order = nullptr;
    detail::PendingOrder::const_iterator pos;
  };
  KvIterator(std::unique_ptr<rocksdb::Iterator> it, std::string prefix, Layer pending, Layer sealed,
             uint64_t snapshot_seq);
  bool BaseValid() const;
  bool InPrefix(const Layer& layer) const;
  // Positions cur_ on the smallest live key of the three sources.
  void Settle();
  std::unique_ptr<rocksdb::Iterator> it_;
  std::string prefix_;
  Layer pending_, sealed_;
  uint64_t snapshot_seq_;
  Source cur_ = Source::kNone;
};

class KvStore {
 public:
  // found=false and OK when absent.
  Status Get(std::string_view key, std::string* value, bool* found) const;
  // Get of each key, in one batched RocksDB read for the keys without a pending write: RocksDB's
  // MultiGet probes each memtable and file for the whole batch at once, where a Get per key walks
  // them once per key (most of a new trace's cost with random trace ids, docs/PERFORMANCE.md).
  // values and found are resized to keys.size(); values[i] holds key i's value when found[i]
  // (the strings keep their capacity across calls).
  Status MultiGet(const std::vector<std::string_view>& keys, std::vector<std::string>* values,
                  std::vector<bool>* found) const;
  void Put(std::string_view key, std::string_view value);
  void Delete(std::string_view key);
  // Range scan over keys starting with prefix (also: seek to `start` >= prefix when given).
  std::unique_ptr<KvIterator> Scan(std::string_view prefix, std::string_view start = {}) const;
  const std::string& name() const { return name_; }

 private:
  friend class StateDb;
  KvStore(StateDb* db, rocksdb::ColumnFamilyHandle* cf, std::string name)
      : db_(db), cf_(cf), name_(std::move(name)) {}
  using Pending = detail::PendingValue;
  using Entry = detail::PendingEntry;
  using Order = detail::PendingOrder;
  static uint64_t HashOf(std::string_view key) { return std::hash<std::string_view>{}(key); }

  // One checkpoint's pending writes to this store.
  struct Overlay {
    // All pending keys and values live in one arena, released at once when the overlay is
    // cleared: a checkpoint's writes cost bump allocations, not a malloc and free each.
    std::pmr::monotonic_buffer_resource arena{1 << 20};
    // The index's slots and the entry list keep their memory across checkpoints
    // (std::unordered_map in the arena cost a node walk and a modulo per lookup: ~7 % of the
    // stages after decode, perf).
    FlatIndex<Entry, &detail::PendingKey> index;
    std::vector<Entry*> entries;  // in first-write order
    // Key order is built only when a Scan needs it: entries[0, ordered_upto) are in order. A Put
    // pays one hash insert; a checkpoint that scans a store pays the ordered inserts of the keys
    // written before its scans, and one that does not scan it (a merge whose rows were all
    // cached) pays only a sort when it is written.
    size_t ordered_upto = 0;
    Order order{&arena};
    size_t last_size = 0;  // pending keys at the last Clear: the next checkpoint's index size

    Pending* Slot(std::string_view key, uint64_t hash, uint64_t seq);
    const Pending* Find(std::string_view key, uint64_t hash) const {
      const Entry* e = index.Find(key, hash);
      return e == nullptr ? nullptr : &e->pending;
    }
    void CatchUpOrder();
    // Pending writes in key order. Reads the entries only, never the order: a Scan on the owner
    // thread may be building the order of an overlay that the writer thread is writing.
    std::vector<std::pair<std::string_view, const Pending*>> Sorted() const;
    void Clear();
  };

  StateDb* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  std::string name_;
  // live_ takes this checkpoint's writes. sealed_ holds the last checkpoint's while a background
  // write applies them (StateDb::CommitAsync); reads see live_, then sealed_, then RocksDB.
  // While sealed_ is in flight the writer thread only reads its entries; the owner thread reads
  // them too, and may build their key order (order, ordered_upto, arena) for a Scan.
  std::unique_ptr<Overlay> live_ = std::make_unique<Overlay>();
  std::unique_ptr<Overlay> sealed_ = std::make_unique<Overlay>();
  bool sealed_active_ = false;  // sealed_ holds writes not known to be in RocksDB (owner thread)
  uint64_t next_seq_ = 1;
};

class StateDb {
 public:
  static Status Open(const StateOptions& options, std::unique_ptr<StateDb>* out);
  ~StateDb();

  // nullptr if the store was not declared in StateOptions::stores.
  KvStore* store(std::string_view name);
  // Applies all pending writes atomically (WAL-synced when write_ahead_log), then starts a new
  // pending batch.
  Status Commit();
  // Commit, with the write to RocksDB done by a background thread: returns once the pending
  // writes are sealed, and the caller goes on writing the next checkpoint's. Reads and scans see
  // the sealed writes until they land. The write is still one atomic WriteBatch; a crash before
  // it lands loses it as a crash just before Commit would. It must land before anything that
  // relies on it being in RocksDB: Join() waits for it, and the next CommitAsync/Commit, Persist,
  // Rollback, CompactAll and FlushMemtables call Join() first. A failed write is returned by
  // Join() and every later one until Rollback (fail-stop: the caller restarts from the last good
  // checkpoint); until then reads still see the sealed writes.
  // Without a write-ahead log only: a synced log write must return before the offsets are
  // committed to Kafka, so with the log this is Commit().
  Status CommitAsync();
  // Waits for a CommitAsync write in flight; returns its status (OK when none).
  Status Join();
  // Without a write-ahead log: flushes every store atomically, after which every Commit made before
  // the call survives a crash. wait=false starts the flush and returns (PersistPending tells when
  // it has landed). With the log, commits are already durable: nothing to do.
  Status Persist(bool wait);
  // A Persist(false) (or a flush RocksDB started on its own) has not landed yet.
  bool PersistPending() const;
  // Drops pending writes, sealed ones not yet written included (used after a failed checkpoint:
  // the job restarts from the last one), and clears a failed write's error.
  void Rollback();
  // Writes not yet sealed by a commit.
  uint64_t pending_count() const;
  // Approximate live size of all stores on disk, for /metrics.
  uint64_t ApproximateSizeBytes() const;
  std::string GetProperty(std::string_view property) const;
  // Manual compaction (tests of retention; operators never call this).
  Status CompactAll();
  // Writes every memtable to SST files and waits (benchmarks: the background work a run defers).
  Status FlushMemtables();

 private:
  friend class KvStore;
  friend class KvIterator;
  StateDb() = default;
  void Seal();                  // every store's live writes become its sealed ones
  Status WriteSealed();         // the sealed writes as one WriteBatch (either thread)
  Status Land(Status written);  // after WriteSealed: drop the sealed writes, or keep the error
  void WriterLoop();
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::map<std::string, std::unique_ptr<KvStore>, std::less<>> stores_;
  std::shared_ptr<rocksdb::Cache> cache_;
  std::unique_ptr<rocksdb::WriteBatch> batch_;  // reused: its buffer keeps its capacity
  std::shared_ptr<rocksdb::WriteBufferManager> wbm_;
  bool write_ahead_log_ = true;
  std::function<Status()> before_async_write_;
  // The background writer of CommitAsync: one write in flight at most.
  std::thread writer_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool write_requested_ = false;  // guarded by mu_
  bool in_flight_ = false;        // guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  Status written_;                // guarded by mu_: the last background write's result
  Status failed_;                 // owner thread: a failed write, sticky until Rollback
};

// Values in expiring stores start with an 8-byte big-endian expiry time (unix ms); the
// compaction filter drops them once expired. Use these helpers to wrap and unwrap.
std::string WrapExpiring(int64_t expires_at_ms, std::string_view payload);
// Returns false if the value is too short to carry an expiry.
bool UnwrapExpiring(std::string_view stored, int64_t* expires_at_ms, std::string_view* payload);

}  // namespace spanpipe::state
