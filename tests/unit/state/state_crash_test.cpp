// What a crash leaves of committed state, with and without RocksDB's write-ahead log. Each test
// runs the writer in a child process (a death test, re-executed: RocksDB's thread pools do not
// survive a bare fork) that ends with _exit: no destructor runs, so RocksDB neither flushes its
// memtables nor closes, as after SIGKILL. The parent then reopens the state.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "state/state_db.h"

namespace spanpipe::state {
namespace {

constexpr char kPidVar[] = "SPANPIPE_STATE_CRASH_TEST_PID";

class StateCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The re-executed child runs SetUp too: the test process's pid reaches it through the
    // environment, so both name the same directory.
    if (std::getenv(kPidVar) == nullptr) ::setenv(kPidVar, std::to_string(::getpid()).c_str(), 0);
    dir_ = std::filesystem::temp_directory_path() /
           (std::string("spanpipe_state_crash_") + std::getenv(kPidVar) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    if (!::testing::internal::InDeathTestChild()) std::filesystem::remove_all(dir_);
    opts_.path = dir_.string();
    opts_.memory_budget_mib = 16;  // small memtables: RocksDB flushes on its own mid-run
    opts_.stores = {"state", "offsets"};
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs writer(db) in a child that then dies without closing the state.
  void RunAndCrash(const std::function<bool(StateDb*)>& writer) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
          std::unique_ptr<StateDb> db;
          const bool ok = StateDb::Open(opts_, &db).ok() && writer(db.get());
          ::_exit(ok ? 0 : 1);  // db is never destroyed: memtables are lost as in a kill
        },
        ::testing::ExitedWithCode(0), "");
  }

  std::string Read(StateDb* db, const char* store, const std::string& key) {
    std::string v;
    bool found = false;
    EXPECT_TRUE(db->store(store)->Get(key, &v, &found).ok());
    return found ? v : "<absent>";
  }

  std::filesystem::path dir_;
  StateOptions opts_;
};

// One checkpoint: a big state value (so that memtables fill and flush on their own) and the
// checkpoint's number in both stores.
bool Checkpoint(StateDb* db, int n) {
  const std::string num = std::to_string(n);
  db->store("state")->Put("last", num);
  db->store("state")->Put("blob" + num, std::string(64 << 10, static_cast<char>('a' + n % 26)));
  db->store("offsets")->Put("last", num);
  return db->Commit().ok();
}

TEST_F(StateCrashTest, WithTheLogEveryCommitSurvivesACrash) {
  opts_.write_ahead_log = true;
  RunAndCrash([](StateDb* db) {
    for (int n = 1; n <= 3; ++n)
      if (!Checkpoint(db, n)) return false;
    return true;
  });
  std::unique_ptr<StateDb> db;
  ASSERT_TRUE(StateDb::Open(opts_, &db).ok());
  EXPECT_EQ(Read(db.get(), "state", "last"), "3");
  EXPECT_EQ(Read(db.get(), "offsets", "last"), "3");
}

TEST_F(StateCrashTest, WithoutTheLogACrashRevertsToTheLastPersistedCommit) {
  opts_.write_ahead_log = false;
  RunAndCrash([](StateDb* db) {
    if (!Checkpoint(db, 1) || !Checkpoint(db, 2) || !db->Persist(/*wait=*/true).ok()) return false;
    return Checkpoint(db, 3);  // committed, never persisted: lost with the process
  });
  std::unique_ptr<StateDb> db;
  ASSERT_TRUE(StateDb::Open(opts_, &db).ok());
  EXPECT_EQ(Read(db.get(), "state", "last"), "2");
  EXPECT_EQ(Read(db.get(), "offsets", "last"), "2");
  EXPECT_EQ(Read(db.get(), "state", "blob3"), "<absent>");
}

TEST_F(StateCrashTest, AnAsynchronousPersistCoversEveryCommitBeforeItOnceItHasLanded) {
  opts_.write_ahead_log = false;
  RunAndCrash([](StateDb* db) {
    if (!Checkpoint(db, 1) || !db->Persist(/*wait=*/false).ok()) return false;
    if (!Checkpoint(db, 2)) return false;  // after the persist started: not covered by it
    while (db->PersistPending()) ::usleep(1000);
    return true;
  });
  std::unique_ptr<StateDb> db;
  ASSERT_TRUE(StateDb::Open(opts_, &db).ok());
  // Checkpoint 2 may also have been flushed by RocksDB on its own, never half of it.
  const std::string last = Read(db.get(), "state", "last");
  EXPECT_TRUE(last == "1" || last == "2") << last;
  EXPECT_EQ(Read(db.get(), "offsets", "last"), last);
}

// RocksDB flushes a full memtable on its own; without the log, a flush of one store alone would
// persist state ahead of the offsets stored beside it. Flushes cover every store at once.
TEST_F(StateCrashTest, WithoutTheLogStateAndOffsetsAlwaysRevertTogether) {
  opts_.write_ahead_log = false;
  RunAndCrash([](StateDb* db) {
    for (int n = 1; n <= 400; ++n)  // ~25 MiB of state: several flushes of the 8 MiB memtables
      if (!Checkpoint(db, n)) return false;
    return true;
  });
  std::unique_ptr<StateDb> db;
  ASSERT_TRUE(StateDb::Open(opts_, &db).ok());
  const std::string last = Read(db.get(), "offsets", "last");
  EXPECT_NE(last, "<absent>") << "no flush happened: the test no longer tests anything";
  EXPECT_EQ(Read(db.get(), "state", "last"), last);
  EXPECT_NE(Read(db.get(), "state", "blob" + last), "<absent>");
}

TEST_F(StateCrashTest, ACleanCloseWithoutTheLogKeepsEveryCommit) {
  opts_.write_ahead_log = false;
  {
    std::unique_ptr<StateDb> db;
    ASSERT_TRUE(StateDb::Open(opts_, &db).ok());
    ASSERT_TRUE(Checkpoint(db.get(), 1));
  }
  std::unique_ptr<StateDb> db;
  ASSERT_TRUE(StateDb::Open(opts_, &db).ok());
  EXPECT_EQ(Read(db.get(), "offsets", "last"), "1");
}

}  // namespace
}  // namespace spanpipe::state
