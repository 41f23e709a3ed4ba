// Shared fixtures for the resolve / threads tests: a real StateDb in a temp dir, a recording
// emitter, and spans built from owned strings.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/hex.h"
#include "operators/emitter.h"
#include "operators/span_record.h"
#include "state/state_db.h"

namespace spanpipe::testutil {

struct Record {
  std::string stream, key, value;
  bool operator==(const Record&) const = default;
};

class RecordingEmitter : public Emitter {
 public:
  void Emit(std::string_view stream, std::string_view key, std::string_view value) override {
    records.push_back({std::string(stream), std::string(key), std::string(value)});
  }
  std::vector<Record> records;
};

struct SpanSpec {
  std::string trace_hex = {};   // 32 hex chars
  std::string span_hex = {};    // 16 hex chars
  std::string parent_hex = {};  // "" = root
  std::string project = "default";
  std::string name = "op";
  std::string service = {};
  std::string model = {};
  std::string thread_id = {};
  std::string user_id = {};
  std::string environment = {};
  uint64_t start = 1'000'000'000;
  uint64_t end = 2'000'000'000;
  bool error = false;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  double cost_usd = 0;
};

// Owns the strings the SpanRecords view.
class SpanFactory {
 public:
  SpanRecord Make(const SpanSpec& s) {
    specs_.push_back(s);
    const SpanSpec& o = specs_.back();
    SpanRecord r;
    EXPECT_TRUE(HexDecodeTo(o.trace_hex, r.trace_id, 16)) << o.trace_hex;
    EXPECT_TRUE(HexDecodeTo(o.span_hex, r.span_id, 8)) << o.span_hex;
    if (!o.parent_hex.empty()) {
      EXPECT_TRUE(HexDecodeTo(o.parent_hex, r.parent_span_id, 8));
      r.has_parent = true;
    }
    r.project = o.project;
    r.name = o.name;
    r.service = o.service;
    r.model = o.model;
    r.thread_id = o.thread_id;
    r.user_id = o.user_id;
    r.environment = o.environment;
    r.start_unix_nano = o.start;
    r.end_unix_nano = o.end;
    r.error = o.error;
    r.input_tokens = o.input_tokens;
    r.output_tokens = o.output_tokens;
    r.cost_usd = o.cost_usd;
    return r;
  }

 private:
  std::deque<SpanSpec> specs_;
};

// "%032x" / "%016x" ids for generated traffic.
inline std::string TraceHex(uint64_t n) {
  char b[33];
  snprintf(b, sizeof(b), "%016llx%016llx", 0xabcdULL, static_cast<unsigned long long>(n));
  return b;
}
inline std::string SpanHex(uint64_t n) {
  char b[17];
  snprintf(b, sizeof(b), "%016llx", static_cast<unsigned long long>(n + 1));
  return b;
}

class StateDir {
 public:
  explicit StateDir(const std::string& tag) {
    dir_ = std::filesystem::temp_directory_path() /
           ("spanpipe_" + tag + "_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  ~StateDir() { std::filesystem::remove_all(dir_); }
  std::unique_ptr<state::StateDb> Open(std::vector<std::string> stores,
                                       std::vector<std::string> expiring) {
    state::StateOptions o;
    o.path = dir_.string();
    o.memory_budget_mib = 16;
    o.stores = std::move(stores);
    o.expiring_stores = std::move(expiring);
    std::unique_ptr<state::StateDb> db;
    Status s = state::StateDb::Open(o, &db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return db;
  }

 private:
  std::filesystem::path dir_;
};

}  // namespace spanpipe::testutil
