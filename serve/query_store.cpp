#include "serve/query_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/write_batch_with_index.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "common/coding.h"
#include "common/time_format.h"

namespace spanpipe::serve {
namespace {

using nlohmann::json;

constexpr char kSep = '\0';
constexpr uint8_t kRowVersion = 1;
constexpr int64_t kTenMinutes = 600000;
constexpr int64_t kHourMs = 3600000, kDayMs = 86400000;
// Layout version of the store (the key sorts before every view's prefix).
constexpr char kFormatKey[] = "\x01format";
constexpr char kFormat[] = "serve-views-2";

// Joins key parts with \0 (a trailing separator when `open`, so that "a" never prefixes "ab").
std::string K(std::initializer_list<std::string_view> parts, bool open = false) {
  std::string k;
  bool first = true;
  for (auto p : parts) {
    if (!first) k.push_back(kSep);
    k.append(p);
    first = false;
  }
  if (open) k.push_back(kSep);
  return k;
}

std::string Time(int64_t ms) {
  std::string s;
  PutOrderedInt64(&s, ms);
  return s;
}

std::string S(const json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

double N(const json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

int64_t I(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_number()) return 0;
  return it->is_number_float() ? static_cast<int64_t>(it->get<double>()) : it->get<int64_t>();
}

int64_t Ms(const json& j, const char* name) {
  int64_t ms = 0;
  std::string v = S(j, name);
  return !v.empty() && ParseTimestampMillis(v, &ms) ? ms : 0;
}

rocksdb::Slice Sl(std::string_view v) {
  return rocksdb::Slice(v.data(), v.size());
}

std::string EncodeRollup(const json& j) {
  std::string v;
  v.push_back(static_cast<char>(kRowVersion));
  PutOrderedInt64(&v, I(j, "window_start_ms"));
  for (const char* d : {"service", "provider", "model", "operation", "environment"})
    PutLengthPrefixed(&v, S(j, d));
  for (const char* n :
       {"requests", "errors", "input_tokens", "output_tokens", "unique_users", "unique_threads"})
    PutOrderedInt64(&v, I(j, n));
  for (const char* n : {"cost_usd", "duration_ms_sum", "duration_ms_min", "duration_ms_max",
                        "duration_ms_p50", "duration_ms_p90", "duration_ms_p95", "duration_ms_p99"})
    PutDouble(&v, N(j, n));
  v.push_back(j.value("final", false) ? 1 : 0);
  return v;
}

bool DecodeRollup(std::string_view in, RollupRow* r) {
  if (in.size() < 9 || static_cast<uint8_t>(in[0]) != kRowVersion) return false;
  r->window_start_ms = DecodeOrderedInt64(in.data() + 1);
  in.remove_prefix(9);
  for (std::string_view* d : {&r->service, &r->provider, &r->model, &r->operation, &r->environment})
    if (!GetLengthPrefixed(&in, d)) return false;
  if (in.size() < 6 * 8 + 8 * 8 + 1) return false;
  for (int64_t* n : {&r->requests, &r->errors, &r->input_tokens, &r->output_tokens,
                     &r->unique_users, &r->unique_threads}) {
    *n = DecodeOrderedInt64(in.data());
    in.remove_prefix(8);
  }
  for (double* n :
       {&r->cost_usd, &r->duration_ms_sum, &r->duration_ms_min, &r->duration_ms_max,
        &r->duration_ms_p50, &r->duration_ms_p90, &r->duration_ms_p95, &r->duration_ms_p99})
    GetDouble(&in, n);
  r->final = in[0] != 0;
  return true;
}

// Additive form of a rollup row: what 10-minute rows are maintained in (percentiles as
// request-weighted sums).
struct RowSum {
  double requests = 0, errors = 0, in = 0, out = 0, cost = 0, dsum = 0;
  double p50w = 0, p90w = 0, p95w = 0, p99w = 0;
  double dmin = 0, dmax = 0;
  void Add(const RollupRow& r, double sign) {
    double n = static_cast<double>(r.requests);
    requests += sign * n;
    errors += sign * static_cast<double>(r.errors);
    in += sign * static_cast<double>(r.input_tokens);
    out += sign * static_cast<double>(r.output_tokens);
    cost += sign * r.cost_usd;
    dsum += sign * r.duration_ms_sum;
    p50w += sign * n * r.duration_ms_p50;
    p90w += sign * n * r.duration_ms_p90;
    p95w += sign * n * r.duration_ms_p95;
    p99w += sign * n * r.duration_ms_p99;
  }
};

std::string EncodeRow(int64_t ws, const RollupRow& dims, const RowSum& s) {
  std::string v;
  v.push_back(static_cast<char>(kRowVersion));
  PutOrderedInt64(&v, ws);
  for (std::string_view d :
       {dims.service, dims.provider, dims.model, dims.operation, dims.environment})
    PutLengthPrefixed(&v, d);
  auto n = [](double x) { return static_cast<int64_t>(std::llround(x)); };
  for (int64_t x : {n(s.requests), n(s.errors), n(s.in), n(s.out), int64_t{0}, int64_t{0}})
    PutOrderedInt64(&v, x);
  double req = std::max(s.requests, 1.0);
  for (double x :
       {s.cost, s.dsum, s.dmin, s.dmax, s.p50w / req, s.p90w / req, s.p95w / req, s.p99w / req})
    PutDouble(&v, x);
  v.push_back(0);
  return v;
}

// Iterates keys in [start, upper) (start defaults to `prefix`; upper to just past every key with
// `prefix`) while fn returns true.
template <typename Fn>
Status ScanPrefix(rocksdb::DB* db, const std::string& prefix, const std::string& start, Fn&& fn,
                  std::string upper = "") {
  rocksdb::ReadOptions ro;
  if (upper.empty()) {
    // The smallest key greater than every key with `prefix` (prefixes here end in \0).
    upper = prefix;
    upper.back() = static_cast<char>(static_cast<unsigned char>(upper.back()) + 1);
  }
  rocksdb::Slice ub(upper);
  ro.iterate_upper_bound = &ub;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
  for (it->Seek(Sl(start.empty() ? prefix : start)); it->Valid(); it->Next()) {
    auto k = it->key();
    auto v = it->value();
    if (!fn(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size()))) break;
  }
  if (!it->status().ok()) return Status::IOError("query store scan: " + it->status().ToString());
  return Status::OK();
}

}  // namespace

uint8_t RollupGranOf(std::string_view g) {
  return g == "1m"    ? kGran1m
         : g == "10m" ? kGran10m
         : g == "1h"  ? kGran1h
         : g == "1d"  ? kGran1d
                      : 0;
}

std::string_view RollupRow::Dim(std::string_view name) const {
  if (name == "provider") return provider;
  if (name == "model") return model;
  if (name == "service") return service;
  if (name == "operation") return operation;
  if (name == "environment") return environment;
  return {};
}

std::string ErrorLabel(const json& span) {
  auto a = span.find("attributes");
  if (a != span.end() && a->is_object()) {
    auto t = a->find("error.type");
    if (t != a->end()) {
      std::string v = t->is_string() ? t->get<std::string>() : t->dump();
      if (!v.empty() && v != "null") return v;
    }
  }
  std::string msg = S(span, "status_message");
  if (!msg.empty()) return msg;
  if (I(span, "status_code") == 2) return "STATUS_CODE_ERROR";
  return "unknown";
}

QueryStore::~QueryStore() {
  if (db_) db_->Close();
}

Status QueryStore::Open(const std::string& path, uint64_t memory_mib,
                        std::unique_ptr<QueryStore>* out) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Status::IOError("cannot create " + path + ": " + ec.message());
  std::unique_ptr<QueryStore> q(new QueryStore());
  q->cache_ = rocksdb::NewLRUCache(std::max<uint64_t>(memory_mib, 16) << 20);
  rocksdb::Options o;
  o.create_if_missing = true;
  o.max_background_jobs = 2;
  o.keep_log_file_num = 3;
  o.write_buffer_size = 16ull << 20;
  o.compression = rocksdb::kLZ4Compression;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = q->cache_;
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10, false));
  t.format_version = 5;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(o, path, &raw);
  if (!s.ok()) return Status::IOError("cannot open query store at " + path + ": " + s.ToString());
  q->db_.reset(raw);
  // A store of another layout is dropped: the feed re-reads every topic from the beginning anyway.
  std::string format;
  s = q->db_->Get(rocksdb::ReadOptions(), kFormatKey, &format);
  if (s.IsNotFound() || (s.ok() && format != kFormat)) {
    std::unique_ptr<rocksdb::Iterator> it(q->db_->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    if (it->Valid()) {
      it.reset();
      q->db_->Close();
      q->db_.reset();
      s = rocksdb::DestroyDB(path, o);
      if (s.ok()) s = rocksdb::DB::Open(o, path, &raw);
      if (!s.ok())
        return Status::IOError("cannot reset query store at " + path + ": " + s.ToString());
      q->db_.reset(raw);
    }
    s = q->db_->Put(rocksdb::WriteOptions(), kFormatKey, kFormat);
  }
  if (!s.ok()) return Status::IOError("query store at " + path + ": " + s.ToString());
  q->batch_ =
      std::make_unique<rocksdb::WriteBatchWithIndex>(rocksdb::BytewiseComparator(), 0, true);
  *out = std::move(q);
  return Status::OK();
}

Status QueryStore::ReadForUpdate(const std::string& key, std::string* value, bool* found) const {
  rocksdb::Status s = batch_->GetFromBatchAndDB(db_.get(), rocksdb::ReadOptions(), Sl(key), value);
  *found = s.ok();
  if (s.ok() || s.IsNotFound()) return Status::OK();
  return Status::IOError("query store read: " + s.ToString());
}

Status QueryStore::Apply(std::string_view topic, std::string_view key, std::string_view value) {
  (void)key;  // the record carries its own identity; keys only partition the topics
  json j = json::parse(value.begin(), value.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Status::InvalidArgument("record is not a JSON object");
  const std::string project = S(j, "project");
  auto put = [&](const std::string& k, std::string_view v) { batch_->Put(Sl(k), Sl(v)); };
  if (topic == "spanpipe.rollups") {
    std::string gran = S(j, "granularity");
    if (gran != "1m" && gran != "1h" && gran != "1d")
      return Status::InvalidArgument("rollup without granularity");
    int64_t ws = I(j, "window_start_ms");
    std::string dims_key = K(
        {S(j, "service"), S(j, "provider"), S(j, "model"), S(j, "operation"), S(j, "environment")});
    std::string row_key = K({"g", gran, project, Time(ws), dims_key});
    std::string row = EncodeRollup(j);
    {
      // The rows this record changes (a 1m record: its derived 10m row too).
      auto note = [&](uint8_t g, int64_t from, int64_t to) {
        RollupChange* last = pending_changes_.empty() ? nullptr : &pending_changes_.back();
        if (last && last->grans == g && last->project == project && last->from_ms <= to &&
            from <= last->to_ms) {
          last->from_ms = std::min(last->from_ms, from);
          last->to_ms = std::max(last->to_ms, to);
        } else {
          pending_changes_.push_back(RollupChange{project, g, from, to});
        }
      };
      if (gran == "1m") {
        note(kGran1m, ws, ws + 60000);
        int64_t ws10 = ws - ((ws % kTenMinutes) + kTenMinutes) % kTenMinutes;
        note(kGran10m, ws10, ws10 + kTenMinutes);
      } else {
        note(RollupGranOf(gran), ws, ws + (gran == "1h" ? kHourMs : kDayMs));
      }
    }
    if (gran == "1m") {
      // The derived 10-minute row (sum of its ten 1-minute rows) moves by new - old.
      int64_t ws10 = ws - ((ws % kTenMinutes) + kTenMinutes) % kTenMinutes;
      std::string key10 = K({"g", "10m", project, Time(ws10), dims_key});
      std::string old1, old10;
      bool found1 = false, found10 = false;
      SPANPIPE_RETURN_IF_ERROR(ReadForUpdate(row_key, &old1, &found1));
      SPANPIPE_RETURN_IF_ERROR(ReadForUpdate(key10, &old10, &found10));
      RollupRow now1, was1, agg;
      DecodeRollup(row, &now1);
      RowSum sum;
      bool have10 = found10 && DecodeRollup(old10, &agg);
      if (have10) {
        sum.Add(agg, 1);
        sum.dmin = agg.duration_ms_min;
        sum.dmax = agg.duration_ms_max;
      }
      if (found1 && DecodeRollup(old1, &was1)) sum.Add(was1, -1);
      sum.Add(now1, 1);
      if (now1.requests > 0) {
        // Rollup records are totals that only grow: min and max move one way.
        bool empty = !have10 || agg.requests <= 0;
        sum.dmin = empty ? now1.duration_ms_min : std::min(sum.dmin, now1.duration_ms_min);
        sum.dmax = empty ? now1.duration_ms_max : std::max(sum.dmax, now1.duration_ms_max);
      }
      put(key10, EncodeRow(ws10, now1, sum));
    }
    put(row_key, row);
  } else if (topic == "spanpipe.threads") {
    std::string id = S(j, "thread_id");
    if (id.empty()) return Status::InvalidArgument("thread record without thread_id");
    std::string tk = K({"t", project, id}), old;
    bool found = false;
    SPANPIPE_RETURN_IF_ERROR(ReadForUpdate(tk, &old, &found));
    if (found) {
      json o = json::parse(old, nullptr, false);
      if (o.is_object()) batch_->Delete(Sl(K({"l", project, Time(Ms(o, "last_seen")), id})));
    }
    put(tk, value);
    put(K({"l", project, Time(Ms(j, "last_seen")), id}), Time(Ms(j, "first_seen")));
    if (j.contains("trace_ids") && j["trace_ids"].is_array())
      for (const auto& t : j["trace_ids"])
        if (t.is_string()) put(K({"x", project, id, t.get<std::string>()}), "");
  } else if (topic == "spanpipe.traces") {
    std::string id = S(j, "trace_id");
    if (id.empty()) return Status::InvalidArgument("trace record without trace_id");
    std::string rk = K({"r", project, id}), old;
    bool found = false;
    SPANPIPE_RETURN_IF_ERROR(ReadForUpdate(rk, &old, &found));
    if (found) {
      json o = json::parse(old, nullptr, false);
      if (o.is_object()) batch_->Delete(Sl(K({"k", project, Time(Ms(o, "start")), id})));
    }
    put(rk, value);
    std::string who;
    PutLengthPrefixed(&who, S(j, "thread_id"));
    PutLengthPrefixed(&who, S(j, "user_id"));
    put(K({"k", project, Time(Ms(j, "start")), id}), who);
    if (!S(j, "thread_id").empty()) put(K({"x", project, S(j, "thread_id"), id}), "");
  } else if (topic == "spanpipe.spans") {
    std::string trace = S(j, "trace_id"), span = S(j, "span_id");
    if (trace.empty() || span.empty())
      return Status::InvalidArgument("span record without trace_id or span_id");
    put(K({"s", project, trace, span}), value);
    if (j.value("error", false)) {
      int64_t start_ms = static_cast<int64_t>(j.value("start_unix_nano", uint64_t{0}) / 1000000);
      put(K({"e", project, Time(start_ms), trace, span}), ErrorLabel(j));
    }
    if (!S(j, "thread_id").empty()) put(K({"x", project, S(j, "thread_id"), trace}), "");
  } else {
    return Status::InvalidArgument("unexpected topic " + std::string(topic));
  }
  applied_.fetch_add(1);
  return Status::OK();
}

Status QueryStore::Commit() {
  if (batch_->GetWriteBatch()->Count() == 0) return Status::OK();
  rocksdb::Status s = db_->Write(rocksdb::WriteOptions(), batch_->GetWriteBatch());
  if (!s.ok()) return Status::IOError("query store write: " + s.ToString());
  batch_->Clear();
  // Merged per project before they are logged: a feed's commit touches a few latest windows, a
  // backfill's many adjacent ones.
  std::vector<RollupChange> changes = std::move(pending_changes_);
  pending_changes_.clear();
  std::sort(changes.begin(), changes.end(), [](const RollupChange& a, const RollupChange& b) {
    if (a.project != b.project) return a.project < b.project;
    return a.grans != b.grans ? a.grans < b.grans : a.from_ms < b.from_ms;
  });
  std::vector<RollupChange> merged;
  for (auto& c : changes) {
    if (!merged.empty() && merged.back().project == c.project && merged.back().grans == c.grans &&
        c.from_ms <= merged.back().to_ms)
      merged.back().to_ms = std::max(merged.back().to_ms, c.to_ms);
    else
      merged.push_back(std::move(c));
  }
  if (merged.size() > kChangeLogCommitEntries) {
    // Sorted by (project, granularity): one range spanning each run of them.
    std::vector<RollupChange> coarse;
    for (auto& c : merged) {
      if (!coarse.empty() && coarse.back().project == c.project && coarse.back().grans == c.grans)
        coarse.back().to_ms = std::max(coarse.back().to_ms, c.to_ms);
      else
        coarse.push_back(std::move(c));
    }
    merged = std::move(coarse);
  }
  {
    // Logged before the version moves: a reader that sees version v finds v's changes.
    std::lock_guard<std::mutex> l(log_mu_);
    log_entries_ += merged.size();
    log_.push_back(LoggedCommit{version_.load() + 1, std::move(merged)});
    while (log_.size() > 1 &&
           (log_.size() > kChangeLogCommits || log_entries_ > kChangeLogEntries)) {
      log_entries_ -= log_.front().changes.size();
      log_.pop_front();
    }
    version_.fetch_add(1, std::memory_order_release);
  }
  return Status::OK();
}

bool QueryStore::RollupChangesSince(uint64_t since, uint64_t upto,
                                    std::vector<RollupChange>* out) const {
  if (upto <= since) return true;
  std::lock_guard<std::mutex> l(log_mu_);
  // Versions are consecutive in the log; it must hold since + 1 .. upto.
  if (log_.empty() || log_.front().version > since + 1 || log_.back().version < upto) return false;
  for (auto it = log_.begin() + static_cast<std::ptrdiff_t>(since + 1 - log_.front().version);
       it != log_.end() && it->version <= upto; ++it)
    out->insert(out->end(), it->changes.begin(), it->changes.end());
  return true;
}

Status QueryStore::ScanRollups(std::string_view g, std::string_view project, int64_t from_ms,
                               int64_t to_ms,
                               const std::function<void(const RollupRow&)>& fn) const {
  if (to_ms <= from_ms) return Status::OK();
  std::string prefix = K({"g", g, project}, true);
  RollupRow row;
  return ScanPrefix(
      db_.get(), prefix, prefix + Time(from_ms),
      [&](std::string_view, std::string_view v) {
        if (DecodeRollup(v, &row)) fn(row);
        return true;
      },
      prefix + Time(to_ms));
}

Status QueryStore::ScanThreadActivity(std::string_view project, int64_t from_ms, int64_t to_ms,
                                      const std::function<void(const ThreadActivity&)>& fn) const {
  std::string prefix = K({"l", project}, true);
  return ScanPrefix(db_.get(), prefix, prefix + Time(from_ms),
                    [&](std::string_view k, std::string_view v) {
                      if (k.size() < prefix.size() + 9 || v.size() < 8) return true;
                      ThreadActivity a;
                      a.last_ms = DecodeOrderedInt64(k.data() + prefix.size());
                      a.first_ms = DecodeOrderedInt64(v.data());
                      a.thread_id = k.substr(prefix.size() + 9);
                      if (a.first_ms < to_ms) fn(a);
                      return true;
                    });
}

Status QueryStore::GetThread(std::string_view project, std::string_view thread_id, json* out,
                             bool* found) const {
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Sl(K({"t", project, thread_id})), &v);
  *found = s.ok();
  if (*found) *out = json::parse(v, nullptr, false);
  return s.ok() || s.IsNotFound() ? Status::OK() : Status::IOError(s.ToString());
}

Status QueryStore::ThreadTraceIds(std::string_view project, std::string_view thread_id,
                                  std::vector<std::string>* out) const {
  out->clear();
  std::string prefix = K({"x", project, thread_id}, true);
  return ScanPrefix(db_.get(), prefix, "", [&](std::string_view k, std::string_view) {
    out->emplace_back(k.substr(prefix.size()));
    return true;
  });
}

Status QueryStore::GetTrace(std::string_view project, std::string_view trace_id, json* out,
                            bool* found) const {
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Sl(K({"r", project, trace_id})), &v);
  *found = s.ok();
  if (*found) *out = json::parse(v, nullptr, false);
  return s.ok() || s.IsNotFound() ? Status::OK() : Status::IOError(s.ToString());
}

Status QueryStore::ScanTraceStarts(std::string_view project, int64_t from_ms, int64_t to_ms,
                                   const std::function<void(const TraceStart&)>& fn) const {
  if (to_ms <= from_ms) return Status::OK();
  std::string prefix = K({"k", project}, true);
  return ScanPrefix(
      db_.get(), prefix, prefix + Time(from_ms),
      [&](std::string_view k, std::string_view v) {
        if (k.size() < prefix.size() + 9) return true;
        TraceStart t;
        t.start_ms = DecodeOrderedInt64(k.data() + prefix.size());
        t.trace_id = k.substr(prefix.size() + 9);
        if (GetLengthPrefixed(&v, &t.thread_id) && GetLengthPrefixed(&v, &t.user_id)) fn(t);
        return true;
      },
      prefix + Time(to_ms));
}

Status QueryStore::TraceSpans(std::string_view project, std::string_view trace_id,
                              std::vector<json>* out) const {
  out->clear();
  return ScanPrefix(db_.get(), K({"s", project, trace_id}, true), "",
                    [&](std::string_view, std::string_view v) {
                      json j = json::parse(v.begin(), v.end(), nullptr, false);
                      if (j.is_object()) out->push_back(std::move(j));
                      return true;
                    });
}

Status QueryStore::ScanErrors(std::string_view project, int64_t from_ms, int64_t to_ms,
                              const std::function<void(std::string_view)>& fn) const {
  if (to_ms <= from_ms) return Status::OK();
  std::string prefix = K({"e", project}, true);
  return ScanPrefix(
      db_.get(), prefix, prefix + Time(from_ms),
      [&](std::string_view, std::string_view v) {
        fn(v);
        return true;
      },
      prefix + Time(to_ms));
}

}  // namespace spanpipe::serve
