// Shared fixtures of the rollup tests: a real StateDb in a temp dir, a capturing Emitter, spans.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "operators/emitter.h"
#include "operators/resolve_outcome.h"
#include "operators/span_record.h"
#include "state/state_db.h"

namespace spanpipe::rollup::testing {

struct Record {
  std::string stream, key, value;
  bool operator==(const Record&) const = default;
};

class CaptureEmitter : public Emitter {
 public:
  void Emit(std::string_view stream, std::string_view key, std::string_view value) override {
    records.push_back({std::string(stream), std::string(key), std::string(value)});
  }
  std::vector<Record> records;
};

// Owns the strings a SpanRecord views.
struct SpanSpec {
  int64_t start_ms = 0;
  double duration_ms = 100;
  std::string project = "p1", service = "svc", provider = "openai", model = "gpt-4o",
              operation = "chat", environment = "prod";
  int64_t input_tokens = 0, output_tokens = 0;
  double cost_usd = 0;
  bool error = false;
  uint8_t trace = 1;

  SpanRecord Record() const {
    SpanRecord s;
    s.trace_id[0] = trace;
    s.trace_id[15] = 1;
    s.span_id[0] = 1;
    s.start_unix_nano = static_cast<uint64_t>(start_ms) * 1000000ULL;
    s.end_unix_nano = s.start_unix_nano + static_cast<uint64_t>(duration_ms * 1e6);
    s.project = project;
    s.service = service;
    s.provider = provider;
    s.model = model;
    s.operation = operation;
    s.environment = environment;
    s.input_tokens = input_tokens;
    s.output_tokens = output_tokens;
    s.cost_usd = cost_usd;
    s.error = error;
    return s;
  }
};

inline ResolveOutcome Outcome(std::string user = "", std::string thread = "", bool user_now = false,
                              bool thread_now = false) {
  ResolveOutcome o;
  o.user_id = std::move(user);
  o.thread_id = std::move(thread);
  o.user_bound_now = user_now;
  o.thread_bound_now = thread_now;
  return o;
}

class StateFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("spanpipe_rollup_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    opts_.path = dir_.string();
    opts_.memory_budget_mib = 32;
    opts_.stores = {"windows", "unbound", "merged"};
    opts_.expiring_stores = {"unbound"};
    Reopen();
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    db_.reset();
    Status s = state::StateDb::Open(opts_, &db_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  state::KvStore* windows() { return db_->store("windows"); }
  state::KvStore* unbound() { return db_->store("unbound"); }
  state::KvStore* merged() { return db_->store("merged"); }

  std::filesystem::path dir_;
  state::StateOptions opts_;
  std::unique_ptr<state::StateDb> db_;
};

// Newest record per key of one stream, parsed.
inline std::map<std::string, nlohmann::json> Latest(const std::vector<Record>& recs,
                                                    std::string_view stream) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& r : recs)
    if (r.stream == stream) out[r.key] = nlohmann::json::parse(r.value);
  return out;
}

}  // namespace spanpipe::rollup::testing
