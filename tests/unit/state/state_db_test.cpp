#include "state/state_db.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>

namespace spanpipe::state {
namespace {

// Holds the background writer (StateOptions::before_async_write) while closed.
class Gate {
 public:
  // Declared after the StateDb: opens the gate before the StateDb waits for its writer.
  struct OpenAtExit {
    Gate* gate;
    ~OpenAtExit() { gate->Open(); }
  };
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
  }
  Status Pass() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return open_; });
    return Status::OK();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
};

class StateDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("spanpipe_state_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    opts_.path = dir_.string();
    opts_.memory_budget_mib = 32;
    opts_.stores = {"a", "b"};
    opts_.expiring_stores = {"b"};
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<StateDb> Open() {
    std::unique_ptr<StateDb> db;
    Status s = StateDb::Open(opts_, &db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return db;
  }
  // A StateDb whose background writes wait at gate_ while it is closed (when `hold`). The gate
  // opens before the StateDb waits for its writer at destruction, also after a failed ASSERT.
  struct Held {
    std::unique_ptr<StateDb> db;
    Gate::OpenAtExit release;
  };
  Held OpenHeld(bool hold = true) {
    if (hold) {
      opts_.write_ahead_log = false;  // with the log, CommitAsync is Commit
      opts_.before_async_write = [this] { return gate_.Pass(); };
    }
    return Held{Open(), {&gate_}};
  }
  std::filesystem::path dir_;
  StateOptions opts_;
  Gate gate_;
  void OverlayAgreesWithAMap(bool async);
};

std::vector<std::string> Keys(KvStore* store) {
  std::vector<std::string> keys;
  for (auto it = store->Scan(""); it->Valid(); it->Next()) keys.emplace_back(it->key());
  return keys;
}

std::optional<std::string> Read(KvStore* store, std::string_view key) {
  std::string v;
  bool found = false;
  Status s = store->Get(key, &v, &found);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!found) return std::nullopt;
  return v;
}

TEST_F(StateDbTest, PendingWritesAreVisibleBeforeCommitAndLostOnRollback) {
  auto db = Open();
  KvStore* a = db->store("a");
  ASSERT_NE(a, nullptr);
  a->Put("k", "v1");
  std::string v;
  bool found = false;
  ASSERT_TRUE(a->Get("k", &v, &found).ok());
  EXPECT_TRUE(found);
  EXPECT_EQ(v, "v1");
  db->Rollback();
  ASSERT_TRUE(a->Get("k", &v, &found).ok());
  EXPECT_FALSE(found);
}

TEST_F(StateDbTest, CommittedWritesSurviveReopen) {
  {
    auto db = Open();
    db->store("a")->Put("k", "v");
    db->store("b")->Put("k", WrapExpiring(INT64_MAX, "w"));
    ASSERT_TRUE(db->Commit().ok());
    db->store("a")->Put("uncommitted", "x");  // never committed: must not survive
  }
  auto db = Open();
  std::string v;
  bool found;
  ASSERT_TRUE(db->store("a")->Get("k", &v, &found).ok());
  EXPECT_TRUE(found);
  EXPECT_EQ(v, "v");
  ASSERT_TRUE(db->store("a")->Get("uncommitted", &v, &found).ok());
  EXPECT_FALSE(found);
}

TEST_F(StateDbTest, ScanSeesPrefixInOrderIncludingPending) {
  auto db = Open();
  KvStore* a = db->store("a");
  a->Put("p|2", "2");
  a->Put("q|1", "x");
  ASSERT_TRUE(db->Commit().ok());
  a->Put("p|1", "1");
  a->Put("p|3", "3");
  std::vector<std::string> keys;
  for (auto it = a->Scan("p|"); it->Valid(); it->Next()) keys.emplace_back(it->key());
  EXPECT_EQ(keys, (std::vector<std::string>{"p|1", "p|2", "p|3"}));
}

TEST_F(StateDbTest, PendingDeleteAndOverwriteShadowCommittedValuesInGetAndScan) {
  auto db = Open();
  KvStore* a = db->store("a");
  a->Put("p|1", "old1");
  a->Put("p|2", "old2");
  a->Put("p|3", "old3");
  ASSERT_TRUE(db->Commit().ok());
  a->Delete("p|2");
  a->Put("p|3", "new3");
  a->Put("p|0", "new0");
  a->Delete("p|9");  // deleting an absent key is harmless
  std::string v;
  bool found = true;
  ASSERT_TRUE(a->Get("p|2", &v, &found).ok());
  EXPECT_FALSE(found);
  ASSERT_TRUE(a->Get("p|3", &v, &found).ok());
  EXPECT_EQ(v, "new3");
  std::vector<std::pair<std::string, std::string>> seen;
  for (auto it = a->Scan("p|"); it->Valid(); it->Next()) seen.emplace_back(it->key(), it->value());
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::string>>{
                      {"p|0", "new0"}, {"p|1", "old1"}, {"p|3", "new3"}}));
  ASSERT_TRUE(db->Commit().ok());
  EXPECT_EQ(db->pending_count(), 0u);
  seen.clear();
  for (auto it = a->Scan("p|"); it->Valid(); it->Next()) seen.emplace_back(it->key(), it->value());
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::string>>{
                      {"p|0", "new0"}, {"p|1", "old1"}, {"p|3", "new3"}}));
}

TEST_F(StateDbTest, ScanStartsAtSeekKeyAndSkipsKeysFirstWrittenDuringIt) {
  auto db = Open();
  KvStore* a = db->store("a");
  a->Put("p|1", "1");
  a->Put("p|4", "4");
  ASSERT_TRUE(db->Commit().ok());
  a->Put("p|3", "3");
  a->Put("p|2", "2");
  std::vector<std::string> keys;
  for (auto it = a->Scan("p|", "p|2"); it->Valid(); it->Next()) {
    keys.emplace_back(it->key());
    a->Delete(it->key());  // operators delete what they scan (idle index, merge index)
    a->Put("p|5", "5");
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"p|2", "p|3", "p|4"}));
  keys.clear();
  for (auto it = a->Scan("p|"); it->Valid(); it->Next()) keys.emplace_back(it->key());
  EXPECT_EQ(keys, (std::vector<std::string>{"p|1", "p|5"}));
}

// A merge emitting many rows re-seeks one iterator per row: every Seek must behave exactly like
// a fresh Scan of that prefix, forwards and backwards, over committed and pending keys.
TEST_F(StateDbTest, SeekOnAnIteratorEqualsAFreshScanOfThatPrefix) {
  auto db = Open();
  KvStore* a = db->store("a");
  a->Put("a|1", "c");
  a->Put("b|1", "c");
  a->Put("b|3", "c");
  a->Put("d|1", "c");
  ASSERT_TRUE(db->Commit().ok());
  a->Put("b|2", "p");
  a->Delete("b|3");
  a->Put("c|1", "p");
  a->Put("d|1", "p2");
  auto collect = [](KvIterator* it) {
    std::vector<std::pair<std::string, std::string>> out;
    for (; it->Valid(); it->Next()) out.emplace_back(it->key(), it->value());
    return out;
  };
  auto it = a->Scan("a|");
  for (std::string prefix : {"b|", "d|", "c|", "a|", "e|", "b|"}) {
    it->Seek(prefix);
    auto fresh = a->Scan(prefix);
    EXPECT_EQ(collect(it.get()), collect(fresh.get())) << prefix;
  }
  it->Seek("b|");
  EXPECT_EQ(collect(it.get()),
            (std::vector<std::pair<std::string, std::string>>{{"b|1", "c"}, {"b|2", "p"}}));
  it->Seek("d|");
  EXPECT_EQ(collect(it.get()), (std::vector<std::pair<std::string, std::string>>{{"d|1", "p2"}}));
}

// A point store (whole-key filters) answers Gets and, when scanned anyway, yields keys in order
// from the memtable, after a flush from SST files, and after reopening.
TEST_F(StateDbTest, PointStoreReadsByKeyAndStillScansInOrder) {
  opts_.point_stores = {"a"};
  std::vector<std::string> want;
  {
    auto db = Open();
    KvStore* a = db->store("a");
    for (int i = 99; i >= 0; --i) {
      const std::string k = "k" + std::to_string(1000 + i * 7 % 100);
      a->Put(k, "v" + k);
    }
    ASSERT_TRUE(db->Commit().ok());
    a->Put("k1005", "new");
    a->Delete("k1006");
    ASSERT_TRUE(db->Commit().ok());
    for (int i = 0; i < 100; ++i)
      if (i != 6) want.push_back("k" + std::to_string(1000 + i));
    std::vector<std::string> keys;
    for (auto it = a->Scan("k"); it->Valid(); it->Next()) keys.emplace_back(it->key());
    EXPECT_EQ(keys, want);
    ASSERT_TRUE(db->FlushMemtables().ok());
    a->Put("k1050", "after flush");
    keys.clear();
    for (auto it = a->Scan("k10"); it->Valid(); it->Next()) keys.emplace_back(it->key());
    EXPECT_EQ(keys.size(), 99u);
    ASSERT_TRUE(db->Commit().ok());
  }
  auto db = Open();
  std::string v;
  bool found = false;
  ASSERT_TRUE(db->store("a")->Get("k1005", &v, &found).ok());
  EXPECT_TRUE(found);
  EXPECT_EQ(v, "new");
  ASSERT_TRUE(db->store("a")->Get("k1006", &v, &found).ok());
  EXPECT_FALSE(found);
  ASSERT_TRUE(db->store("a")->Get("k1050", &v, &found).ok());
  EXPECT_EQ(v, "after flush");
  std::vector<std::string> keys;
  for (auto it = db->store("a")->Scan("k"); it->Valid(); it->Next()) keys.emplace_back(it->key());
  EXPECT_EQ(keys, want);
}

TEST_F(StateDbTest, StoresAreIsolatedAndOneCommitAppliesAllOfThem) {
  {
    auto db = Open();
    db->store("a")->Put("k", "in a");
    db->store("b")->Put("k", WrapExpiring(INT64_MAX, "in b"));
    std::string v;
    bool found;
    ASSERT_TRUE(db->store("a")->Get("k", &v, &found).ok());
    EXPECT_EQ(v, "in a");
    EXPECT_EQ(db->pending_count(), 2u);
    ASSERT_TRUE(db->Commit().ok());
  }
  auto db = Open();
  std::string v;
  bool found;
  ASSERT_TRUE(db->store("b")->Get("k", &v, &found).ok());
  ASSERT_TRUE(found);
  int64_t exp;
  std::string_view payload;
  ASSERT_TRUE(UnwrapExpiring(v, &exp, &payload));
  EXPECT_EQ(payload, "in b");
}

TEST_F(StateDbTest, ExpiredValuesAreDroppedByCompaction) {
  auto db = Open();
  db->store("b")->Put("old", WrapExpiring(1, "gone"));
  db->store("b")->Put("new", WrapExpiring(INT64_MAX, "kept"));
  ASSERT_TRUE(db->Commit().ok());
  ASSERT_TRUE(db->CompactAll().ok());
  std::string v;
  bool found;
  ASSERT_TRUE(db->store("b")->Get("old", &v, &found).ok());
  EXPECT_FALSE(found);
  ASSERT_TRUE(db->store("b")->Get("new", &v, &found).ok());
  EXPECT_TRUE(found);
  int64_t exp;
  std::string_view payload;
  ASSERT_TRUE(UnwrapExpiring(v, &exp, &payload));
  EXPECT_EQ(payload, "kept");
}

// A transient store is not compressed: the same compressible data takes its full size on disk
// there and a fraction of it in an ordinary store.
TEST_F(StateDbTest, TransientStoreIsWrittenUncompressed) {
  auto on_disk = [&](bool transient) {
    std::filesystem::remove_all(dir_);
    opts_.transient_stores = transient ? std::vector<std::string>{"a"} : std::vector<std::string>{};
    auto db = Open();
    const std::string value(4096, 'x');
    for (int i = 0; i < 1024; ++i) db->store("a")->Put("k" + std::to_string(i), value);
    EXPECT_TRUE(db->Commit().ok());
    EXPECT_TRUE(db->CompactAll().ok());
    return db->ApproximateSizeBytes();
  };
  const uint64_t plain = on_disk(true), compressed = on_disk(false);
  EXPECT_GT(plain, uint64_t{4} << 20);  // 1024 x 4 KiB
  EXPECT_LT(compressed * 10, plain) << compressed << " vs " << plain;
}

// The pending overlay against a plain map, through thousands of keys (the index grows and is
// reset at each commit), overwrites, deletes, empty keys and values, scans before, amid and
// without further writes or none at all, rollbacks and commits: Get and Scan answer from the
// overlay or RocksDB exactly as the map says, in a point store and in a scanned store.
TEST_F(StateDbTest, PendingOverlayAgreesWithAMapThroughCommitsAndRollbacks) {
  OverlayAgreesWithAMap(/*async=*/false);
}

// The same with each commit written in the background and held there through the next round:
// every Get and Scan of a round reads through the writes still sealed, under the round's own.
TEST_F(StateDbTest, SealedWritesInFlightAgreeWithAMapThroughAsyncCommits) {
  OverlayAgreesWithAMap(/*async=*/true);
}

void StateDbTest::OverlayAgreesWithAMap(bool async) {
  opts_.point_stores = {"a"};
  Held held = OpenHeld(async);
  auto& db = held.db;
  std::mt19937_64 rng(42);
  std::map<std::string, std::string> committed[2], pending[2];
  const char* names[2] = {"a", "b"};
  auto key_of = [&](uint64_t n) { return n == 0 ? std::string() : "k" + std::to_string(n); };
  for (int round = 0; round < 12; ++round) {
    const int writes = round % 3 == 0 ? 5000 : 300;  // big and small checkpoints alternate
    for (int s = 0; s < 2; ++s) pending[s] = committed[s];
    auto scanned = [&](int s) {
      std::map<std::string, std::string> got;
      for (auto it = db->store(names[s])->Scan(""); it->Valid(); it->Next())
        got.emplace(std::string(it->key()), std::string(it->value()));
      return got;
    };
    for (int i = 0; i < writes; ++i) {
      // A scan halfway: the keys written after it must still reach the commit, in order.
      if (i == writes / 2 && round % 2 == 1) {
        EXPECT_EQ(scanned(1), pending[1]) << "round " << round;
      }
      const int s = static_cast<int>(rng() % 2);
      const std::string k = key_of(rng() % 3000);
      if (rng() % 5 == 0) {
        db->store(names[s])->Delete(k);
        pending[s].erase(k);
      } else {
        const std::string v = rng() % 7 == 0 ? std::string() : std::to_string(rng());
        db->store(names[s])->Put(k, v);
        pending[s][k] = v;
      }
    }
    for (int s = 0; s < 2; ++s) {
      for (uint64_t n = 0; n < 3000; n += 7) {
        std::string v;
        bool found = false;
        ASSERT_TRUE(db->store(names[s])->Get(key_of(n), &v, &found).ok());
        auto it = pending[s].find(key_of(n));
        ASSERT_EQ(found, it != pending[s].end()) << names[s] << " " << key_of(n);
        if (found) {
          EXPECT_EQ(v, it->second);
        }
      }
    }
    for (int s = 0; s < 2; ++s) {  // the batched read agrees too, a key asked twice included
      std::vector<std::string> keys;
      for (uint64_t n = 0; n < 3000; n += 5) keys.push_back(key_of(n));
      keys.push_back(key_of(10));
      const std::vector<std::string_view> views(keys.begin(), keys.end());
      std::vector<std::string> values;
      std::vector<bool> found;
      ASSERT_TRUE(db->store(names[s])->MultiGet(views, &values, &found).ok());
      ASSERT_EQ(values.size(), keys.size());
      ASSERT_EQ(found.size(), keys.size());
      for (size_t i = 0; i < keys.size(); ++i) {
        auto it = pending[s].find(keys[i]);
        ASSERT_EQ(found[i], it != pending[s].end()) << names[s] << " " << keys[i];
        if (found[i]) {
          EXPECT_EQ(values[i], it->second);
        }
      }
    }
    if (round % 3 != 2) {
      EXPECT_EQ(scanned(1), pending[1]) << "round " << round;
    }
    if (round % 4 == 3) {
      gate_.Open();
      db->Rollback();
      for (int s = 0; s < 2; ++s) EXPECT_EQ(scanned(s), committed[s]) << "round " << round;
    } else {
      if (async) {
        gate_.Open();  // the last round's write lands first
        ASSERT_TRUE(db->Join().ok());
        gate_.Close();
        ASSERT_TRUE(db->CommitAsync().ok());
      } else {
        ASSERT_TRUE(db->Commit().ok());
      }
      EXPECT_EQ(db->pending_count(), 0u);
      for (int s = 0; s < 2; ++s) committed[s] = pending[s];
      for (int s = 0; s < 2; ++s) EXPECT_EQ(scanned(s), committed[s]) << "round " << round;
    }
  }
  gate_.Open();
  ASSERT_TRUE(db->Join().ok());
}

TEST_F(StateDbTest, AnAsyncCommitIsReadBeforeItLandsAndUnderLaterWrites) {
  {
    Held held = OpenHeld();
    auto& db = held.db;
    KvStore* a = db->store("a");
    a->Put("k1", "v1");
    a->Put("k2", "v2");
    a->Put("k3", "v3");
    gate_.Close();
    ASSERT_TRUE(db->CommitAsync().ok());
    EXPECT_EQ(db->pending_count(), 0u);
    // Held before RocksDB: only the sealed overlay can answer.
    EXPECT_EQ(Read(a, "k1"), "v1");
    a->Put("k2", "new");
    a->Delete("k3");
    EXPECT_EQ(db->pending_count(), 2u);
    EXPECT_EQ(Read(a, "k2"), "new");
    EXPECT_EQ(Read(a, "k3"), std::nullopt);
    gate_.Open();
    ASSERT_TRUE(db->Join().ok());
    EXPECT_EQ(Read(a, "k1"), "v1");  // from RocksDB now
    EXPECT_EQ(Read(a, "k2"), "new");
    EXPECT_EQ(Read(a, "k3"), std::nullopt);
    ASSERT_TRUE(db->CommitAsync().ok());
    ASSERT_TRUE(db->Persist(/*wait=*/true).ok());  // waits for the write, then flushes it
  }
  auto db = Open();
  KvStore* a = db->store("a");
  EXPECT_EQ(Read(a, "k1"), "v1");
  EXPECT_EQ(Read(a, "k2"), "new");
  EXPECT_EQ(Read(a, "k3"), std::nullopt);
}

// MultiGet reads each key from the newest layer that holds it: pending writes, a commit still
// being written, the memtable, the SST files (a key in several layers has its newest value).
TEST_F(StateDbTest, MultiGetReadsEachKeyFromItsNewestLayer) {
  opts_.point_stores = {"a"};
  Held held = OpenHeld();
  auto& db = held.db;
  KvStore* a = db->store("a");
  a->Put("in-file", "f");
  a->Put("deleted-later", "d");
  a->Put("overwritten", "old");
  ASSERT_TRUE(db->Commit().ok());
  ASSERT_TRUE(db->FlushMemtables().ok());
  a->Put("in-memtable", "m");
  a->Put("overwritten", "newer");
  ASSERT_TRUE(db->Commit().ok());
  a->Put("sealed", "s");
  gate_.Close();
  ASSERT_TRUE(db->CommitAsync().ok());  // held: in neither RocksDB nor the pending writes
  a->Put("pending", "p");
  a->Delete("deleted-later");
  a->Put("empty", "");
  const std::vector<std::string_view> keys = {"pending",     "absent",        "in-file",
                                              "sealed",      "deleted-later", "in-memtable",
                                              "overwritten", "empty",         "in-file"};
  std::vector<std::string> values = {"stale"};  // earlier contents are replaced
  std::vector<bool> found;
  ASSERT_TRUE(a->MultiGet(keys, &values, &found).ok());
  const std::vector<bool> want_found = {true, false, true, true, false, true, true, true, true};
  EXPECT_EQ(found, want_found);
  ASSERT_EQ(values.size(), keys.size());
  EXPECT_EQ(values[0], "p");
  EXPECT_EQ(values[2], "f");
  EXPECT_EQ(values[3], "s");
  EXPECT_EQ(values[5], "m");
  EXPECT_EQ(values[6], "newer");
  EXPECT_EQ(values[7], "");
  EXPECT_EQ(values[8], "f");
  gate_.Open();
  ASSERT_TRUE(db->Join().ok());
}

// Stored, sealed and pending writes of one prefix, interleaved: the scan takes the newest of each.
TEST_F(StateDbTest, ScanMergesStoredSealedAndPendingWritesNewestFirst) {
  Held held = OpenHeld();
  auto& db = held.db;
  KvStore* a = db->store("a");
  for (const char* k : {"a1", "a2", "a4", "a6", "b1"}) a->Put(k, "stored");
  ASSERT_TRUE(db->Commit().ok());
  a->Put("a2", "sealed");
  a->Put("a3", "sealed");
  a->Put("a5", "sealed");
  a->Delete("a6");
  gate_.Close();
  ASSERT_TRUE(db->CommitAsync().ok());
  a->Put("a3", "pending");
  a->Delete("a5");
  a->Put("a7", "pending");
  auto it = a->Scan("a");
  std::vector<std::string> got;
  for (; it->Valid(); it->Next())
    got.push_back(std::string(it->key()) + "=" + std::string(it->value()));
  EXPECT_EQ(got, (std::vector<std::string>{"a1=stored", "a2=sealed", "a3=pending", "a4=stored",
                                           "a7=pending"}));
  it->Seek("a5");  // sealed, then deleted
  EXPECT_FALSE(it->Valid());
  it->Seek("a6");  // stored, deleted by the sealed commit
  EXPECT_FALSE(it->Valid());
  it->Seek("a3");
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->value(), "pending");
  it->Seek("b");
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "b1");
  it->Next();
  EXPECT_FALSE(it->Valid());
  it.reset();
  gate_.Open();
  ASSERT_TRUE(db->Join().ok());
  EXPECT_EQ(Keys(a), (std::vector<std::string>{"a1", "a2", "a3", "a4", "a7", "b1"}));
}

TEST_F(StateDbTest, AFailedAsyncWriteFailsEveryLaterCommitUntilRollback) {
  opts_.write_ahead_log = false;
  bool fail = true;
  opts_.before_async_write = [&fail] {
    return fail ? Status::IOError("disk full (injected)") : Status::OK();
  };
  auto db = Open();
  KvStore* a = db->store("a");
  a->Put("landed", "x");
  ASSERT_TRUE(db->Commit().ok());  // synchronous: not through the writer
  a->Put("lost", "y");
  ASSERT_TRUE(db->CommitAsync().ok());
  Status s = db->Join();
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  // What this process did still reads as it did, by key and by scan, until the rollback.
  EXPECT_EQ(Read(a, "lost"), "y");
  EXPECT_EQ(Keys(a), (std::vector<std::string>{"landed", "lost"}));
  a->Put("next", "z");
  EXPECT_TRUE(db->Commit().IsIOError());
  EXPECT_TRUE(db->CommitAsync().IsIOError());
  EXPECT_TRUE(db->Persist(/*wait=*/true).IsIOError());
  db->Rollback();  // back to the last write that landed
  EXPECT_EQ(Read(a, "landed"), "x");
  EXPECT_EQ(Read(a, "lost"), std::nullopt);
  EXPECT_EQ(Read(a, "next"), std::nullopt);
  fail = false;
  a->Put("again", "w");
  ASSERT_TRUE(db->CommitAsync().ok());
  ASSERT_TRUE(db->Join().ok());
  EXPECT_EQ(Keys(a), (std::vector<std::string>{"again", "landed"}));
}

TEST_F(StateDbTest, UndeclaredStoreIsNull) {
  auto db = Open();
  EXPECT_EQ(db->store("nope"), nullptr);
}

}  // namespace
}  // namespace spanpipe::state
