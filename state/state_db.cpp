#include "state/state_db.h"

#include <rocksdb/cache.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>

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

KvIterator::KvIterator(std::unique_ptr<rocksdb::Iterator> it, std::string prefix,
                       const detail::PendingOrder* order, detail::PendingOrder::const_iterator pos,
                       uint64_t snapshot_seq)
    : it_(std::move(it)),
      prefix_(std::move(prefix)),
      order_(order),
      pos_(pos),
      snapshot_seq_(snapshot_seq) {
  Settle();
}
KvIterator::~KvIterator() = default;

bool KvIterator::BaseValid() const {
  if (!it_->Valid()) return false;
  rocksdb::Slice k = it_->key();
  return k.size() >= prefix_.size() && std::memcmp(k.data(), prefix_.data(), prefix_.size()) == 0;
}

void KvIterator::Settle() {
  for (;;) {
    while (pos_ != order_->end() && pos_->second->seq > snapshot_seq_) ++pos_;
    const bool base = BaseValid();
    const bool pend = pos_ != order_->end() && pos_->first.starts_with(prefix_);
    if (!pend) {
      cur_ = base ? Source::kBase : Source::kNone;
      return;
    }
    int c = base ? it_->key().compare(S(pos_->first)) : 1;
    if (c < 0) {
      cur_ = Source::kBase;
      return;
    }
    if (c == 0) it_->Next();  // the pending write shadows the stored value
    if (!pos_->second->deleted) {
      cur_ = Source::kPending;
      return;
    }
    ++pos_;
  }
}

void KvIterator::Next() {
  if (cur_ == Source::kBase) {
    it_->Next();
  } else if (cur_ == Source::kPending) {
    ++pos_;
  }
  Settle();
}

void KvIterator::Seek(std::string_view prefix) {
  prefix_.assign(prefix);
  it_->Seek(S(prefix));
  pos_ = order_->lower_bound(prefix);
  Settle();
}

std::string_view KvIterator::key() const {
  if (cur_ == Source::kPending) return pos_->first;
  auto k = it_->key();
  return {k.data(), k.size()};
}
std::string_view KvIterator::value() const {
  if (cur_ == Source::kPending) return pos_->second->value;
  auto v = it_->value();
  return {v.data(), v.size()};
}
Status KvIterator::status() const {
  return FromRocks(it_->status());
}

KvStore::Pending* KvStore::Slot(std::string_view key) {
  const uint64_t hash = HashOf(key);
  if (Entry* e = index_.Find(key, hash)) return &e->pending;
  // Key bytes and entry in the arena: no destructor runs, Clear releases them all at once (the
  // value's pmr::string allocates from the arena as well).
  char* bytes = static_cast<char*>(arena_.allocate(key.size() == 0 ? 1 : key.size(), 1));
  if (!key.empty()) std::memcpy(bytes, key.data(), key.size());
  auto* e = new (arena_.allocate(sizeof(Entry), alignof(Entry))) Entry{
      std::string_view(bytes, key.size()), Pending{std::pmr::string(&arena_), false, next_seq_++}};
  index_.Insert(e, hash);
  entries_.push_back(e);
  return &e->pending;
}

const KvStore::Pending* KvStore::Find(std::string_view key) const {
  const Entry* e = index_.Find(key, HashOf(key));
  return e == nullptr ? nullptr : &e->pending;
}

std::vector<std::pair<std::string_view, const KvStore::Pending*>> KvStore::Sorted() const {
  std::vector<std::pair<std::string_view, const Pending*>> out;
  out.reserve(entries_.size());
  if (ordered_upto_ > 0) {  // a Scan has ordered some: order the rest the same way
    CatchUpOrder();
    for (const auto& [k, p] : order_) out.emplace_back(k, p);
    return out;
  }
  for (const Entry* e : entries_) out.emplace_back(e->key, &e->pending);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

void KvStore::CatchUpOrder() const {
  for (; ordered_upto_ < entries_.size(); ++ordered_upto_) {
    const Entry* e = entries_[ordered_upto_];
    order_.emplace(e->key, &e->pending);
  }
}

void KvStore::Clear() {
  // The order's memory is the arena's: drop it before releasing the arena. Entries need no
  // destructor (all their memory is the arena's).
  last_size_ = std::max(entries_.size(), last_size_ / 2);
  order_ = Order(&arena_);
  ordered_upto_ = 0;
  entries_.clear();
  index_.Reset(last_size_);  // checkpoints look alike: skip the rehashes while it fills
  arena_.release();
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
  if (const Pending* p = Find(key)) {
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

void KvStore::Put(std::string_view key, std::string_view value) {
  Pending* p = Slot(key);
  p->value.assign(value);
  p->deleted = false;
}

void KvStore::Delete(std::string_view key) {
  Pending* p = Slot(key);
  p->value.clear();
  p->deleted = true;
}

std::unique_ptr<KvIterator> KvStore::Scan(std::string_view prefix, std::string_view start) const {
  CatchUpOrder();
  std::string seek(start.size() > prefix.size() ? start : prefix);
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;        // ignore prefix extractors (point stores have one)
  ro.ignore_range_deletions = true;  // never written (PointReadOptions)
  std::unique_ptr<rocksdb::Iterator> it(db_->db_->NewIterator(ro, cf_));
  it->Seek(S(seek));
  return std::unique_ptr<KvIterator>(new KvIterator(std::move(it), std::string(prefix), &order_,
                                                    order_.lower_bound(seek), next_seq_ - 1));
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
  // One writer thread; hash memtables (point_stores) do not support concurrent inserts.
  dbo.allow_concurrent_memtable_write = false;
  // Without the log, a flush of one store alone could persist state whose offsets are not.
  dbo.atomic_flush = !options.write_ahead_log;

  static ExpiryFilter expiry_filter;
  auto cf_options = [&](bool expiring, bool point, bool transient = false) {
    rocksdb::ColumnFamilyOptions cfo;
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = sdb->cache_;
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10, false));
    t.cache_index_and_filter_blocks = true;
    t.pin_l0_filter_and_index_blocks_in_cache = true;
    // Partitioned index and filters: with more keys than the cache holds filters for, a point
    // read then loads one small partition instead of a whole multi-MiB filter block per SST.
    t.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
    t.partition_filters = true;
    t.metadata_block_size = 4096;
    t.pin_top_level_index_and_filter = true;
    t.cache_index_and_filter_blocks_with_high_priority = true;
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
    if (point) {
      // Hash buckets keyed by the whole key (the no-op transform); 64 Ki buckets = 512 KiB.
      cfo.prefix_extractor.reset(rocksdb::NewNoopTransform());
      cfo.memtable_factory.reset(rocksdb::NewHashLinkListRepFactory(1 << 16));
    }
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
    store->hashed_ = listed(options.point_stores, cfs[i].name);
    sdb->stores_.emplace(cfs[i].name, std::move(store));
  }
  sdb->batch_ = std::make_unique<rocksdb::WriteBatch>();
  sdb->write_ahead_log_ = options.write_ahead_log;
  *out = std::move(sdb);
  return Status::OK();
}

StateDb::~StateDb() {
  if (db_) {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
  }
}

KvStore* StateDb::store(std::string_view name) {
  auto it = stores_.find(name);
  return it == stores_.end() ? nullptr : it->second.get();
}

Status StateDb::Commit() {
  if (pending_count() == 0) return Status::OK();
  // Key order within each scanned store: its skip list inserts ordered keys fastest. Point stores
  // (hash memtables) are written in first-write order.
  rocksdb::WriteBatch& batch = *batch_;
  batch.Clear();
  for (const auto& entry : stores_) {
    const KvStore* store = entry.second.get();  // a structured binding cannot be captured (clang)
    auto add = [&](std::string_view k, const KvStore::Pending& p) {
      return p.deleted ? batch.Delete(store->cf_, S(k)) : batch.Put(store->cf_, S(k), S(p.value));
    };
    if (store->hashed_) {
      for (const KvStore::Entry* e : store->entries_) {
        if (rocksdb::Status s = add(e->key, e->pending); !s.ok()) return FromRocks(s);
      }
      continue;
    }
    for (const auto& [k, p] : store->Sorted()) {
      if (rocksdb::Status s = add(k, *p); !s.ok()) return FromRocks(s);
    }
  }
  rocksdb::WriteOptions wo;
  wo.sync = write_ahead_log_;
  wo.disableWAL = !write_ahead_log_;
  rocksdb::Status s = db_->Write(wo, &batch);
  if (batch.GetDataSize() > (64u << 20))
    batch_ = std::make_unique<rocksdb::WriteBatch>();  // shrink
  if (!s.ok()) return FromRocks(s);
  Rollback();  // applied: the overlay starts empty
  return Status::OK();
}

void StateDb::Rollback() {
  for (auto& [name, store] : stores_) store->Clear();
}

uint64_t StateDb::pending_count() const {
  uint64_t n = 0;
  for (const auto& [name, store] : stores_) n += store->entries_.size();
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
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return FromRocks(db_->Flush(fo, handles_));
}

Status StateDb::CompactAll() {
  for (auto* h : handles_) {
    rocksdb::Status s = db_->CompactRange(rocksdb::CompactRangeOptions(), h, nullptr, nullptr);
    if (!s.ok()) return FromRocks(s);
  }
  return Status::OK();
}

}  // namespace spanpipe::state
