// spanpipe.rollups, spanpipe.threads and spanpipe.traces records (written through JsonCursor)
// against the previous JsonWriter formulation of each, kept here as the reference, on random rows:
// every byte must match (CONTRACT §4).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "common/json_writer.h"
#include "common/time_format.h"
#include "operators/rollup_record.h"
#include "operators/thread_codec.h"
#include "operators/trace_codec.h"

namespace spanpipe {
namespace {

std::string RandomText(std::mt19937_64& rng) {
  static const std::vector<std::string> pieces = {"\"",   "\\",     "\n", "\xc3\xa9",
                                                  "\xff", "gpt-4o", "a"};
  std::string s;
  const size_t len = rng() % 24;
  while (s.size() < len)
    s += rng() % 3 ? std::string(1, static_cast<char>(' ' + rng() % 95))
                   : pieces[rng() % pieces.size()];
  return s;
}

void RefRollup(const rollup::WindowId& id, const rollup::RollupMetrics& m, bool final,
               std::string* out) {
  auto pct = [&](double q) {
    if (m.requests == 0) return 0.0;
    return std::clamp(m.durations.Quantile(q), m.duration_ms_min, m.duration_ms_max);
  };
  JsonWriter w(out);
  w.BeginObject();
  w.Field("granularity", rollup::GranularityName(id.granularity));
  w.Field("window_start", std::string_view(FormatRfc3339Millis(id.start_ms)));
  w.Field("window_start_ms", id.start_ms);
  w.Field("project", std::string_view(id.dims.project));
  w.Field("service", std::string_view(id.dims.service));
  w.Field("provider", std::string_view(id.dims.provider));
  w.Field("model", std::string_view(id.dims.model));
  w.Field("operation", std::string_view(id.dims.operation));
  w.Field("environment", std::string_view(id.dims.environment));
  w.Field("requests", m.requests);
  w.Field("errors", m.errors);
  w.Field("input_tokens", m.input_tokens);
  w.Field("output_tokens", m.output_tokens);
  w.Field("total_tokens", m.input_tokens + m.output_tokens);
  w.Field("cost_usd", m.cost_usd);
  w.Field("duration_ms_sum", m.duration_ms_sum);
  w.Field("duration_ms_min", m.requests ? m.duration_ms_min : 0.0);
  w.Field("duration_ms_max", m.requests ? m.duration_ms_max : 0.0);
  w.Field("duration_ms_p50", pct(0.50));
  w.Field("duration_ms_p90", pct(0.90));
  w.Field("duration_ms_p95", pct(0.95));
  w.Field("duration_ms_p99", pct(0.99));
  w.Field("unique_users", static_cast<int64_t>(m.users.Estimate()));
  w.Field("unique_threads", static_cast<int64_t>(m.threads.Estimate()));
  w.Field("final", final);
  w.EndObject();
}

void RefThread(std::string_view project, std::string_view thread_id, const threads::ThreadTotals& t,
               std::string* out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Field("project", project);
  w.Field("thread_id", thread_id);
  w.Key("trace_ids").BeginArray();
  for (const auto& tr : t.traces) w.String(tr.trace_id_hex);
  w.EndArray();
  w.Field("trace_count", t.trace_count);
  w.Field("span_count", t.span_count);
  w.Field("llm_calls", t.llm_calls);
  w.Field("errors", t.errors);
  w.Field("input_tokens", t.input_tokens);
  w.Field("output_tokens", t.output_tokens);
  w.Field("cost_usd", t.cost_usd);
  w.Field("first_seen",
          std::string_view(FormatRfc3339Nanos(static_cast<int64_t>(t.first_seen_unix_nano))));
  w.Field("last_seen",
          std::string_view(FormatRfc3339Nanos(static_cast<int64_t>(t.last_seen_unix_nano))));
  w.Key("models").BeginArray();
  for (const auto& m : t.models) w.String(m);
  w.EndArray();
  w.Key("user_ids").BeginArray();
  for (const auto& u : t.user_ids) w.String(u);
  w.EndArray();
  w.EndObject();
}

void RefTrace(const TraceAggregate& a, std::string* out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Field("trace_id", std::string_view(a.trace_id_hex));
  w.Field("trace_uuid", std::string_view(a.trace_uuid));
  w.Field("project", std::string_view(a.project));
  w.Field("service", std::string_view(a.service));
  w.Field("name", std::string_view(a.name));
  w.Field("thread_id", std::string_view(a.thread_id));
  w.Field("user_id", std::string_view(a.user_id));
  w.Field("environment", std::string_view(a.environment));
  w.Field("start", std::string_view(FormatRfc3339Nanos(static_cast<int64_t>(a.start_unix_nano))));
  w.Field("end", std::string_view(FormatRfc3339Nanos(static_cast<int64_t>(a.end_unix_nano))));
  w.Field("span_count", a.span_count);
  w.Field("llm_calls", a.llm_calls);
  w.Field("errors", a.errors);
  w.Field("input_tokens", a.input_tokens);
  w.Field("output_tokens", a.output_tokens);
  w.Field("cost_usd", a.cost_usd);
  w.Key("models").BeginArray();
  for (const auto& m : a.models) w.String(m);
  w.EndArray();
  w.EndObject();
}

std::string RandomHex(std::mt19937_64& rng, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back("0123456789abcdef-"[rng() % 17]);
  return s;
}

TEST(RecordJson, TraceRecordsMatchTheJsonWriterFormulation) {
  std::mt19937_64 rng(29);
  for (int round = 0; round < 2000; ++round) {
    TraceAggregate a;
    a.trace_id_hex = RandomHex(rng, 32);
    a.trace_uuid = RandomHex(rng, 36);
    a.project = RandomText(rng);
    a.service = RandomText(rng);
    a.name = RandomText(rng);
    a.thread_id = RandomText(rng);
    a.user_id = RandomText(rng);
    a.environment = RandomText(rng);
    // Whole seconds, milli-, micro- and nanosecond fractions, before 1970 and near the ends.
    const uint64_t scale[] = {1000000000, 1000000, 1000, 1};
    a.start_unix_nano = rng() % 4000000000000000000 / scale[rng() % 4] * scale[rng() % 4];
    a.end_unix_nano = round % 7 == 0 ? rng() : rng() % 4000000000000000000;
    a.span_count = static_cast<int64_t>(rng());
    a.llm_calls = -static_cast<int64_t>(rng() % 7);
    a.errors = static_cast<int64_t>(rng() % 3);
    a.input_tokens = round % 2 ? INT64_MAX : static_cast<int64_t>(rng() % 100000);
    a.output_tokens = round % 3 ? INT64_MIN : static_cast<int64_t>(rng() % 100000);
    a.cost_usd = round % 11 == 0 ? std::nan("") : static_cast<double>(rng() % 1000000) / 3e5;
    for (int i = 0; i < static_cast<int>(rng() % 5); ++i) a.models.push_back(RandomText(rng));
    std::string expected, out = "z";
    RefTrace(a, &expected);
    resolve::AppendTraceJson(a, &out);
    ASSERT_EQ(out, "z" + expected) << round;
  }
}

TEST(RecordJson, RollupRowsMatchTheJsonWriterFormulation) {
  std::mt19937_64 rng(21);
  for (int round = 0; round < 2000; ++round) {
    rollup::WindowId id{static_cast<rollup::Granularity>(rng() % 3),
                        static_cast<int64_t>(rng() % 4000000000000) - 100000000000,
                        {RandomText(rng), RandomText(rng), RandomText(rng), RandomText(rng),
                         RandomText(rng), RandomText(rng)}};
    rollup::RollupMetrics m(round % 5 == 0 ? 0.01 : 0.005);
    const int calls = static_cast<int>(rng() % 40);
    for (int i = 0; i < calls; ++i) {
      const double duration = rng() % 9 == 0 ? 0.0 : static_cast<double>(rng() % 10000000) / 997;
      m.AddCall(rng() % 4 == 0, static_cast<int64_t>(rng() % 5000),
                static_cast<int64_t>(rng() % 5000), static_cast<double>(rng() % 100000) * 1e-6,
                duration);
      if (rng() % 2) m.users.Add(RandomText(rng));
      if (rng() % 2) m.threads.Add(std::to_string(rng() % 100));
    }
    const bool final = rng() % 2;
    std::string expected, out = "x";
    RefRollup(id, m, final, &expected);
    rollup::AppendRollupJson(id, m, final, &out);
    ASSERT_EQ(out, "x" + expected) << round;
  }
}

TEST(RecordJson, ThreadRecordsMatchTheJsonWriterFormulation) {
  std::mt19937_64 rng(23);
  for (int round = 0; round < 2000; ++round) {
    threads::ThreadTotals t;
    const int n = static_cast<int>(rng() % 120);
    for (int i = 0; i < n; ++i) t.traces.push_back({rng(), RandomText(rng)});
    for (int i = 0; i < static_cast<int>(rng() % 5); ++i) t.models.push_back(RandomText(rng));
    for (int i = 0; i < static_cast<int>(rng() % 5); ++i) t.user_ids.push_back(RandomText(rng));
    t.trace_count = static_cast<int64_t>(rng() % 1000);
    t.span_count = static_cast<int64_t>(rng());
    t.llm_calls = -static_cast<int64_t>(rng() % 7);
    t.errors = static_cast<int64_t>(rng() % 3);
    t.input_tokens = INT64_MAX;
    t.output_tokens = INT64_MIN;
    t.cost_usd = static_cast<double>(rng() % 1000000) / 3e5;
    t.first_seen_unix_nano = rng() % 4000000000000000000;
    t.last_seen_unix_nano = rng() % 4000000000000000000;
    const std::string project = RandomText(rng), thread_id = RandomText(rng);
    std::string expected, out = "y";
    RefThread(project, thread_id, t, &expected);
    threads::AppendThreadJson(project, thread_id, t, &out);
    ASSERT_EQ(out, "y" + expected) << round;
  }
}

TEST(RecordJson, QuantilesInOnePassEqualQuantileOneByOne) {
  std::mt19937_64 rng(29);
  const double qs[] = {0.0, 0.01, 0.5, 0.5, 0.9, 0.95, 0.99, 1.0};
  for (int round = 0; round < 500; ++round) {
    DDSketch s(0.005);
    const int n = static_cast<int>(rng() % 300);
    for (int i = 0; i < n; ++i)
      s.Add(rng() % 5 == 0 ? 0.0 : static_cast<double>(rng() % 100000) / 7.0, 1 + rng() % 2);
    double out[std::size(qs)];
    s.Quantiles(qs, std::size(qs), out);
    for (size_t j = 0; j < std::size(qs); ++j) ASSERT_EQ(out[j], s.Quantile(qs[j])) << round;
  }
}

}  // namespace
}  // namespace spanpipe
