#include "state/state_db.h"

#include <rocksdb/cache.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <utility>

#include "common/coding.h"

namespace spanpipe::state {
namespace {

Status FromRocks(const rocksdb::Status& s) {
  if (s.ok()) return Status::OK();
  if (s.IsNotFound()) return Status::NotFound(s.ToString());
  if (s.IsCorruption()) return Status::Corruption(s.ToString());
  if (s.IsIOError()) return Status::IOError(s.ToString());
  if (s.IsInvalidArgument()) return Status::InvalidArgument(s.ToString());
  return Status::Internal(s.ToString());
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Drops values whose embedded expiry has passed: retention without a scan.
class ExpiryFilter : public rocksdb::CompactionFilter {
 public:
  bool Filter(int, const rocksdb::Slice&, const rocksdb::Slice& value, std::string*,
              bool*) const override {
    if (value.size() < 8) return false;
    return DecodeOrderedInt64(value.data()) < NowMs();
  }
  const char* Name() const override { return "spanpipe.ExpiryFilter"; }
};

rocksdb::Slice S(std::string_view v) {
  return rocksdb::Slice(v.data(), v.size());
}

}  // namespace

std::string WrapExpiring(int64_t expires_at_ms, std::string_view payload) {
  std::string out;
  out.reserve(8 + payload.size());
  PutOrderedInt64(&out, expires_at_ms);
  out.append(payload);
  return out;
}

bool UnwrapExpiring(std::string_view stored, int64_t* expires_at_ms, std::string_view* payload) {
  if (stored.size() < 8) return false;
  *expires_at_ms = DecodeOrderedInt64(stored.data());
  *payload = stored.substr(8);
  return true;
}

KvIterator::KvIterator(std::unique_ptr<rocksdb::Iterator> it, std::string prefix, Layer pending,
                       Layer sealed, uint64_t snapshot_seq)
    : it_(std::move(it)),
      prefix_(std::move(prefix)),
      pending_(pending),
      sealed_(sealed),
      snapshot_seq_(snapshot_seq) {
  Settle();
}
KvIterator::~KvIterator() = default;

bool KvIterator::BaseValid() const {
  if (!it_->Valid()) return false;
  rocksdb::Slice k = it_->key();
  return k.size() >= prefix_.size() && std::memcmp(k.data(), prefix_.data(), prefix_.size()) == 0;
}

bool KvIterator::InPrefix(const Layer& layer) const {
  return layer.order != nullptr && layer.pos != layer.order->end() &&
         layer.pos->first.starts_with(prefix_);
}

void KvIterator::Settle() {
  for (;;) {
    while (pending_.pos != pending_.order->end() && pending_.pos->second->seq > snapshot_seq_) {
      ++pending_.pos;
    }
    const bool base = BaseValid();
    const bool pend = InPrefix(pending_);
    const bool sealed = InPrefix(sealed_);
    if (!pend && !sealed) {
      cur_ = base ? Source::kBase : Source::kNone;
      return;
    }
    // The smallest key; at equal keys the newer write shadows the older (pending, sealed, base).
    std::string_view k = pend ? pending_.pos->first : sealed_.pos->first;
    if (pend && sealed && sealed_.pos->first < k) k = sealed_.pos->first;
    if (base) {
      rocksdb::Slice b = it_->key();
      const std::string_view bk(b.data(), b.size());
      if (bk < k) {
        cur_ = Source::kBase;
        return;
      }
      if (bk == k) it_->Next();
    }
    Layer& top = pend && pending_.pos->first == k ? pending_ : sealed_;
    if (&top == &pending_ && sealed && sealed_.pos->first == k) ++sealed_.pos;
    if (!top.pos->second->deleted) {
      cur_ = &top == &pending_ ? Source::kPending : Source::kSealed;
      return;
    }
    ++top.pos;
  }
}

void KvIterator::Next() {
  if (cur_ == Source::kBase) {
    it_->Next();
  } else if (cur_ == Source::kPending) {
    ++pending_.pos;
  } else if (cur_ == Source::kSealed) {
    ++sealed_.pos;
  }
  Settle();
}

void KvIterator::Seek(std::string_view prefix) {
  prefix_.assign(prefix);
  it_->Seek(S(prefix));
  pending_.pos = pending_.order->lower_bound(prefix);
  if (sealed_.order != nullptr) sealed_.pos = sealed_.order->lower_bound(prefix);
  Settle();
}

std::string_view KvIterator::key() const {
  if (cur_ == Source::kPending) return pending_.pos->first;
  if (cur_ == Source::kSealed) return sealed_.pos->first;
  auto k = it_->key();
  return {k.data(), k.size()};
}
std::string_view KvIterator::value() const {
  if (cur_ == Source::kPending) return pending_.pos->second->value;
  if (cur_ == Source::kSealed) return sealed_.pos->second->value;
  auto v = it_->value();
  return {v.data(), v.size()};
}
Status KvIterator::status() const {
  return FromRocks(it_->status());
}

KvStore::Pending* KvStore::Overlay::Slot(std::string_view key, uint64_t hash, uint64_t seq) {
  if (Entry* e = index.Find(key, hash)) return &e->pending;
  // Key bytes and entry in the arena: no destructor runs, Clear releases them all at once (the
  // value's pmr::string allocates from the arena as well).
  char* bytes = static_cast<char*>(arena.allocate(key.size() == 0 ? 1 : key.size(), 1));
  if (!key.empty()) std::memcpy(bytes, key.data(), key.size());
  auto* e = new (arena.allocate(sizeof(Entry), alignof(Entry)))
      Entry{std::string_view(bytes, key.size()), Pending{std::pmr::string(&arena), false, seq}};
  index.Insert(e, hash);
  entries.push_back(e);
  return &e->pending;
}

std::vector<std::pair<std::string_view, const KvStore::Pending*>> KvStore::Overlay::Sorted() const {
  std::vector<std::pair<std::string_view, const Pending*>> out;
  out.reserve(entries.size());
  for (const Entry* e : entries) out.emplace_back(e->key, &e->pending);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

void KvStore::Overlay::CatchUpOrder() {
  for (; ordered_upto < entries.size(); ++ordered_upto) {
    const Entry* e = entries[ordered_upto];
    order.emplace(e->key, &e->pending);
  }
}

void KvStore::Overlay::Clear() {
  // The order's memory is the arena's: drop it before releasing the arena. Entries need no
  // destructor (all their memory is the arena's).
  last_size = std::max(entries.size(), last_size / 2);
  order = Order(&arena);
  ordered_upto = 0;
  entries.clear();
  index.Reset(last_size);  // checkpoints look alike: skip the rehashes while it fills
  arena.release();
}

namespace {
// The state never issues range deletions (DeleteRange), so reads need not look for their
// tombstones: a point read of an absent key (every new trace) skips building those iterators.
const rocksdb::ReadOptions& PointReadOptions() {
  static const rocksdb::ReadOptions ro = [] {
    rocksdb::ReadOptions r;
    r.ignore_range_deletions = true;
    return r;
  }();
  return ro;
}
}  // namespace

Status KvStore::Get(std::string_view key, std::string* value, bool* found) const {
  const uint64_t hash = HashOf(key);
  const Pending* p = live_->Find(key, hash);
  if (p == nullptr && sealed_active_) p = sealed_->Find(key, hash);
  if (p != nullptr) {
    *found = !p->deleted;
    if (*found) value->assign(p->value);
    return Status::OK();
  }
  rocksdb::Status s = db_->db_->Get(PointReadOptions(), cf_, S(key), value);
  if (s.IsNotFound()) {
    *found = false;
    return Status::OK();
  }
  *found = s.ok();
  return FromRocks(s);
}

Status KvStore::MultiGet(const std::vector<std::string_view>& keys,
                         std::vector<std::string>* values, std::vector<bool>* found) const {
  values->resize(keys.size());
  found->assign(keys.size(), false);
  std::vector<rocksdb::Slice> reads;  // the keys without a pending write, and their positions
  std::vector<size_t> at;
  reads.reserve(keys.size());
  at.reserve(keys.size());
  // The overlays' index slots of every key first, so that their cache misses overlap.
  std::vector<uint64_t> hashes(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    hashes[i] = HashOf(keys[i]);
    live_->index.Prefetch(hashes[i]);
    if (sealed_active_) sealed_->index.Prefetch(hashes[i]);
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint64_t hash = hashes[i];
    const Pending* p = live_->Find(keys[i], hash);
    if (p == nullptr && sealed_active_) p = sealed_->Find(keys[i], hash);
    if (p == nullptr) {
      reads.push_back(S(keys[i]));
      at.push_back(i);
    } else if (!p->deleted) {
      (*values)[i].assign(p->value);
      (*found)[i] = true;
    }
  }
  if (reads.empty()) return Status::OK();
  std::vector<rocksdb::PinnableSlice> got(reads.size());
  std::vector<rocksdb::Status> statuses(reads.size());
  db_->db_->MultiGet(PointReadOptions(), cf_, reads.size(), reads.data(), got.data(),
                     statuses.data());
  for (size_t j = 0; j < reads.size(); ++j) {
    if (statuses[j].IsNotFound()) continue;
    if (!statuses[j].ok()) return FromRocks(statuses[j]);
    (*values)[at[j]].assign(got[j].data(), got[j].size());
    (*found)[at[j]] = true;
  }
  return Status::OK();
}

void KvStore::Put(std::string_view key, std::string_view value) {
  Pending* p = live_->Slot(key, HashOf(key), next_seq_);
  if (p->seq == next_seq_) ++next_seq_;
  p->value.assign(value);
  p->deleted = false;
}

void KvStore::Delete(std::string_view key) {
  Pending* p = live_->Slot(key, HashOf(key), next_seq_);
  if (p->seq == next_seq_) ++next_seq_;
  p->value.clear();
  p->deleted = true;
}

std::unique_ptr<KvIterator> KvStore::Scan(std::string_view prefix, std::string_view start) const {
  const std::string seek(start.size() > prefix.size() ? start : prefix);
  KvIterator::Layer pending, sealed;
  live_->CatchUpOrder();
  pending.order = &live_->order;
  pending.pos = live_->order.lower_bound(seek);
  if (sealed_active_) {  // a commit still being written: its writes are not all in RocksDB yet
    sealed_->CatchUpOrder();
    sealed.order = &sealed_->order;
    sealed.pos = sealed_->order.lower_bound(seek);
  }
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;        // ignore prefix extractors (point stores have one)
  ro.ignore_range_deletions = true;  // never written (PointReadOptions)
  std::unique_ptr<rocksdb::Iterator> it(db_->db_->NewIterator(ro, cf_));
  it->Seek(S(seek));
  return std::unique_ptr<KvIterator>(
      new KvIterator(std::move(it), std::string(prefix), pending, sealed, next_seq_ - 1));
}

Status StateDb::Open(const StateOptions& options, std::unique_ptr<StateDb>* out) {
  std::error_code ec;
  std::filesystem::create_directories(options.path, ec);
  if (ec)
    return Status::IOError("cannot create state directory " + options.path + ": " + ec.message());

  std::unique_ptr<StateDb> sdb(new StateDb());
  uint64_t budget = std::max<uint64_t>(options.memory_budget_mib, 16) << 20;
  sdb->cache_ = rocksdb::NewLRUCache(budget);
  // Memtables are charged to the same cache: one number bounds the process's RocksDB memory.
  sdb->wbm_ = std::make_shared<rocksdb::WriteBufferManager>(budget / 2, sdb->cache_);

  rocksdb::DBOptions dbo;
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  dbo.write_buffer_manager = sdb->wbm_;
  dbo.max_background_jobs = 2;
  dbo.keep_log_file_num = 3;
  dbo.max_total_wal_size = 256ull << 20;
  // One writer thread at a time (the processing thread, or CommitAsync's writer).
  dbo.allow_concurrent_memtable_write = false;
  // Without the log, a flush of one store alone could persist state whose offsets are not.
  dbo.atomic_flush = !options.write_ahead_log;

  static ExpiryFilter expiry_filter;
  auto cf_options = [&](bool expiring, bool point, bool transient = false) {
    rocksdb::ColumnFamilyOptions cfo;
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = sdb->cache_;
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10, false));
    // Each file's filter and index are held whole by its table reader, their memory charged to
    // the block cache (the one budget still bounds them). A point read then probes each sorted
    // run's filter directly, and RocksDB's MultiGet batches the probes of whole filters only.
    // Partitioned filters read through the cache cost a partition-index seek, a cache lookup and a
    // partition's bloom probe per run and key: with random trace ids, every new trace misses in
    // every run, and resolve at 10 M traces went 0.29x -> 0.38x of decode without them
    // (docs/PERFORMANCE.md, "Batched trace reads").
    t.cache_index_and_filter_blocks = false;
    t.cache_usage_options.options_overrides.insert(
        {rocksdb::CacheEntryRole::kBlockBasedTableReader,
         {rocksdb::CacheEntryRoleOptions::Decision::kEnabled}});
    t.format_version = 5;
    cfo.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    cfo.write_buffer_size = 32ull << 20;
    // Most point reads are misses (a new trace, row, chunk): a whole-key bloom filter on the
    // memtable answers them without walking its skip list.
    cfo.memtable_prefix_bloom_size_ratio = 0.05;
    cfo.memtable_whole_key_filtering = true;
    cfo.compression = transient ? rocksdb::kNoCompression : rocksdb::kLZ4Compression;
    cfo.bottommost_compression = transient ? rocksdb::kNoCompression : rocksdb::kZSTD;
    cfo.level_compaction_dynamic_level_bytes = true;
    if (expiring) cfo.compaction_filter = &expiry_filter;
    // Point stores keep the skip-list memtable too. A hash-linked-list memtable made the
    // commit's random inserts cheap when the processing thread made them, but its flush sorts
    // every key through a skip list: with the commit written in the background, in key order,
    // the flushes' sorting was the larger cost (resolve at 10 M traces 0.34x -> 0.41-0.43x,
    // docs/PERFORMANCE.md "Checkpoint writes in the background").
    if (point) cfo.prefix_extractor.reset(rocksdb::NewNoopTransform());  // whole-key filters
    return cfo;
  };
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  cfs.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options(false, false));
  auto listed = [](const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  for (const auto& name : options.stores) {
    cfs.emplace_back(
        name, cf_options(listed(options.expiring_stores, name), listed(options.point_stores, name),
                         listed(options.transient_stores, name)));
  }
  // Column families present on disk but no longer declared must still be opened.
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(dbo, options.path, &existing).ok()) {
    for (const auto& e : existing) {
      bool known = std::any_of(cfs.begin(), cfs.end(), [&](auto& d) { return d.name == e; });
      if (!known) cfs.emplace_back(e, cf_options(false, false));
    }
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(dbo, options.path, cfs, &sdb->handles_, &raw);
  if (!s.ok()) return Status::IOError("cannot open state at " + options.path + ": " + s.ToString());
  sdb->db_.reset(raw);
  for (size_t i = 1; i < cfs.size(); ++i) {
    auto store = std::unique_ptr<KvStore>(new KvStore(sdb.get(), sdb->handles_[i], cfs[i].name));
    sdb->stores_.emplace(cfs[i].name, std::move(store));
  }
  sdb->batch_ = std::make_unique<rocksdb::WriteBatch>();
  sdb->write_ahead_log_ = options.write_ahead_log;
  sdb->before_async_write_ = options.before_async_write;
  *out = std::move(sdb);
  return Status::OK();
}

StateDb::~StateDb() {
  if (writer_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    writer_.join();  // a write in flight finishes first
  }
  if (db_) {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
  }
}

KvStore* StateDb::store(std::string_view name) {
  auto it = stores_.find(name);
  return it == stores_.end() ? nullptr : it->second.get();
}

void StateDb::Seal() {
  for (auto& [name, store] : stores_) {
    std::swap(store->live_, store->sealed_);  // the old sealed overlay was cleared by Land
    store->sealed_active_ = !store->sealed_->entries.empty();  // else reads need not look
  }
}

Status StateDb::WriteSealed() {
  // In key order within each store: a skip list inserts ordered keys fastest (sequential splice).
  rocksdb::WriteBatch& batch = *batch_;
  batch.Clear();
  for (const auto& entry : stores_) {
    KvStore* store = entry.second.get();  // a structured binding cannot be captured (clang)
    auto add = [&](std::string_view k, const KvStore::Pending& p) {
      return p.deleted ? batch.Delete(store->cf_, S(k)) : batch.Put(store->cf_, S(k), S(p.value));
    };
    for (const auto& [k, p] : store->sealed_->Sorted()) {
      if (rocksdb::Status s = add(k, *p); !s.ok()) return FromRocks(s);
    }
  }
  rocksdb::WriteOptions wo;
  wo.sync = write_ahead_log_;
  wo.disableWAL = !write_ahead_log_;
  rocksdb::Status s = db_->Write(wo, &batch);
  if (batch.GetDataSize() > (64u << 20))
    batch_ = std::make_unique<rocksdb::WriteBatch>();  // shrink
  return FromRocks(s);
}

Status StateDb::Land(Status written) {
  if (!written.ok()) {
    failed_ = written;  // the sealed writes stay readable (Get, Scan) until Rollback
    return written;
  }
  for (auto& [name, store] : stores_) {
    if (!store->sealed_active_) continue;
    store->sealed_->Clear();  // applied: reads find them in RocksDB now
    store->sealed_active_ = false;
  }
  return Status::OK();
}

Status StateDb::Commit() {
  SPANPIPE_RETURN_IF_ERROR(Join());
  if (pending_count() == 0) return Status::OK();
  Seal();
  return Land(WriteSealed());
}

Status StateDb::CommitAsync() {
  if (write_ahead_log_) return Commit();
  SPANPIPE_RETURN_IF_ERROR(Join());
  if (pending_count() == 0) return Status::OK();
  Seal();
  {
    std::lock_guard<std::mutex> lock(mu_);
    write_requested_ = in_flight_ = true;
  }
  if (!writer_.joinable()) writer_ = std::thread([this] { WriterLoop(); });
  cv_.notify_all();
  return Status::OK();
}

void StateDb::WriterLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return write_requested_ || stopping_; });
    if (write_requested_) {
      write_requested_ = false;
      lock.unlock();
      Status s = before_async_write_ ? before_async_write_() : Status::OK();
      if (s.ok()) s = WriteSealed();
      lock.lock();
      written_ = std::move(s);
      in_flight_ = false;
      cv_.notify_all();
      continue;
    }
    return;  // stopping, nothing requested
  }
}

Status StateDb::Join() {
  if (!failed_.ok()) return failed_;
  bool sealed = false;  // outside Commit, only a CommitAsync leaves sealed writes
  for (auto& [name, store] : stores_) sealed = sealed || store->sealed_active_;
  if (!sealed) return Status::OK();
  Status written;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !in_flight_; });
    written = std::exchange(written_, Status::OK());
  }
  return Land(std::move(written));
}

void StateDb::Rollback() {
  (void)Join();  // the writer must be done with the sealed overlays before they are cleared
  for (auto& [name, store] : stores_) {
    store->live_->Clear();
    store->sealed_->Clear();
    store->sealed_active_ = false;
  }
  failed_ = Status::OK();
}

uint64_t StateDb::pending_count() const {
  uint64_t n = 0;
  for (const auto& [name, store] : stores_) n += store->live_->entries.size();
  return n;
}

uint64_t StateDb::ApproximateSizeBytes() const {
  uint64_t total = 0;
  for (auto* h : handles_) {
    uint64_t v = 0;
    if (db_->GetIntProperty(h, "rocksdb.live-sst-files-size", &v)) total += v;
    if (db_->GetIntProperty(h, "rocksdb.cur-size-all-mem-tables", &v)) total += v;
  }
  return total;
}

std::string StateDb::GetProperty(std::string_view property) const {
  std::string v;
  db_->GetProperty(S(property), &v);
  return v;
}

Status StateDb::Persist(bool wait) {
  if (write_ahead_log_) return Status::OK();
  SPANPIPE_RETURN_IF_ERROR(Join());  // the flush must hold every commit made before the call
  rocksdb::FlushOptions fo;
  fo.wait = wait;
  // Do not wait for earlier flushes first: a periodic persist must not stall the checkpoint.
  fo.allow_write_stall = true;
  return FromRocks(db_->Flush(fo, handles_));
}

bool StateDb::PersistPending() const {
  for (auto* h : handles_) {
    uint64_t v = 0;
    if (db_->GetIntProperty(h, rocksdb::DB::Properties::kNumImmutableMemTable, &v) && v > 0)
      return true;
  }
  return false;
}

Status StateDb::FlushMemtables() {
  SPANPIPE_RETURN_IF_ERROR(Join());
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return FromRocks(db_->Flush(fo, handles_));
}

Status StateDb::CompactAll() {
  SPANPIPE_RETURN_IF_ERROR(Join());
  for (auto* h : handles_) {
    rocksdb::Status s = db_->CompactRange(rocksdb::CompactRangeOptions(), h, nullptr, nullptr);
    if (!s.ok()) return FromRocks(s);
  }
  return Status::OK();
}

}  // namespace spanpipe::state
