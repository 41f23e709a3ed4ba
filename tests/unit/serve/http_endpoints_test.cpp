// The endpoint matrix: every endpoint of the query API over a real HttpServer on 127.0.0.1, its
// envelope and its values. The data set and the derivation of every number are in serve_fixture.h.
#include "serve_fixture.h"

namespace spanpipe::serve::servetest {
namespace {

using ::testing::ElementsAre;

class Endpoints : public ServeTest {};

// ---- GET /api/v1/metrics
// -------------------------------------------------------------------------

TEST_F(Endpoints, MetricsHourlySeriesSumsTheRollupsOfEachHour) {
  Reply r = Get(
      "/api/v1/metrics?metrics=request_count,error_count,input_tokens,output_tokens,total_tokens,"
      "total_cost,duration&interval=1hour&" +
      kRange);
  ASSERT_EQ(r.status, 200) << r.text;
  const json& m = r.body["metadata"];
  EXPECT_EQ(m["interval"], "1hour");
  EXPECT_EQ(m["start_time"], "2025-03-10T09:00:00Z");
  EXPECT_EQ(m["end_time"], "2025-03-10T11:00:00Z");
  EXPECT_EQ(m["metrics"], json({"request_count", "error_count", "input_tokens", "output_tokens",
                                "total_tokens", "total_cost", "duration"}));
  EXPECT_EQ(m["group_by"], json::array());
  EXPECT_EQ(m["total_points"], 2);
  ASSERT_EQ(r.body["data"].size(), 2u);
  // 09:00 = the 1h gpt-4o row: S4 only.
  const json& p9 = r.body["data"][0];
  EXPECT_EQ(p9["timestamp"], "2025-03-10T09:00:00Z");
  EXPECT_EQ(p9["timestamp_ms"], kT0900);
  EXPECT_EQ(p9["request_count"], 1);
  EXPECT_EQ(p9["error_count"], 0);
  EXPECT_EQ(p9["input_tokens"], 50);
  EXPECT_EQ(p9["output_tokens"], 10);
  EXPECT_EQ(p9["total_tokens"], 60);
  EXPECT_DOUBLE_EQ(p9["total_cost"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(p9["duration"].get<double>(), 400);  // aggregation sum: total ms
  // 10:00 = gpt-4o (S1+S2) + claude (S3): requests 2+1, errors 1+1, in 300+400, out 150+40,
  // cost 0.75+0.125, duration sum 400+200.
  const json& p10 = r.body["data"][1];
  EXPECT_EQ(p10["timestamp"], "2025-03-10T10:00:00Z");
  EXPECT_EQ(p10["request_count"], 3);
  EXPECT_EQ(p10["error_count"], 2);
  EXPECT_EQ(p10["input_tokens"], 700);
  EXPECT_EQ(p10["output_tokens"], 190);
  EXPECT_EQ(p10["total_tokens"], 890);
  EXPECT_DOUBLE_EQ(p10["total_cost"].get<double>(), 0.875);
  EXPECT_DOUBLE_EQ(p10["duration"].get<double>(), 600);
}

TEST_F(Endpoints, MetricsGroupByModelGivesOnePointPerBucketAndModel) {
  Reply r = Get(
      "/api/v1/metrics?metrics=request_count,total_cost&interval=1hour&group_by=provider,model&" +
      kRange);
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["metadata"]["group_by"], json({"provider", "model"}));
  ASSERT_EQ(r.body["metadata"]["total_points"], 3);
  const json& d = r.body["data"];
  // Ordered by time, then by group (anthropic < openai).
  EXPECT_EQ(d[0]["timestamp_ms"], kT0900);
  EXPECT_EQ(d[0]["group"], json({{"provider", "openai"}, {"model", "gpt-4o"}}));
  EXPECT_EQ(d[0]["request_count"], 1);
  EXPECT_EQ(d[1]["timestamp_ms"], kT1000);
  EXPECT_EQ(d[1]["group"], json({{"provider", "anthropic"}, {"model", "claude-3-5-sonnet"}}));
  EXPECT_EQ(d[1]["request_count"], 1);
  EXPECT_DOUBLE_EQ(d[1]["total_cost"].get<double>(), 0.125);
  EXPECT_EQ(d[2]["group"], json({{"provider", "openai"}, {"model", "gpt-4o"}}));
  EXPECT_EQ(d[2]["request_count"], 2);
  EXPECT_DOUBLE_EQ(d[2]["total_cost"].get<double>(), 0.75);
}

TEST_F(Endpoints, MetricsFiveMinuteBucketsAreMergedFromOneMinuteRows) {
  // 1m rows 10:00 (gpt-4o) and 10:01 (claude) fall into the 10:00 five-minute bucket; 09:30 alone.
  Reply r = Get("/api/v1/metrics?metrics=request_count,input_tokens&interval=5min&" + kRange);
  ASSERT_EQ(r.status, 200) << r.text;
  ASSERT_EQ(r.body["data"].size(), 2u);
  EXPECT_EQ(r.body["data"][0]["timestamp_ms"], kT0930);
  EXPECT_EQ(r.body["data"][0]["request_count"], 1);
  EXPECT_EQ(r.body["data"][1]["timestamp_ms"], kT1000);
  EXPECT_EQ(r.body["data"][1]["request_count"], 3);
  EXPECT_EQ(r.body["data"][1]["input_tokens"], 700);

  Reply m1 = Get("/api/v1/metrics?metrics=request_count&interval=1min&" + kRange);
  ASSERT_EQ(m1.status, 200);
  ASSERT_EQ(m1.body["data"].size(), 3u);
  EXPECT_EQ(m1.body["data"][0]["timestamp_ms"], kT0930);
  EXPECT_EQ(m1.body["data"][1]["timestamp_ms"], kT1000);
  EXPECT_EQ(m1.body["data"][1]["request_count"], 2);
  EXPECT_EQ(m1.body["data"][2]["timestamp_ms"], kT1001);
  EXPECT_EQ(m1.body["data"][2]["request_count"], 1);
}

TEST_F(Endpoints, MetricsDailyIntervalReadsTheDayRows) {
  // 1d rows of day 0: gpt-4o req 3 + claude req 1; cost 1.0 + 0.125.
  Reply r =
      Get("/api/v1/metrics?metrics=request_count,total_cost&interval=1day&"
          "start_time=2025-03-10T00:00:00Z&end_time=2025-03-11T00:00:00Z");
  ASSERT_EQ(r.status, 200) << r.text;
  ASSERT_EQ(r.body["data"].size(), 1u);
  EXPECT_EQ(r.body["data"][0]["timestamp"], "2025-03-10T00:00:00Z");
  EXPECT_EQ(r.body["data"][0]["request_count"], 4);
  EXPECT_DOUBLE_EQ(r.body["data"][0]["total_cost"].get<double>(), 1.125);
}

TEST_F(Endpoints, MetricsDimensionFiltersKeepOnlyMatchingRows) {
  Reply r =
      Get("/api/v1/metrics?metrics=request_count&interval=1hour&provider=anthropic&" + kRange);
  ASSERT_EQ(r.status, 200) << r.text;
  ASSERT_EQ(r.body["data"].size(), 1u);
  EXPECT_EQ(r.body["data"][0]["request_count"], 1);
  Reply none =
      Get("/api/v1/metrics?metrics=request_count&interval=1hour&environment=staging&" + kRange);
  ASSERT_EQ(none.status, 200);
  EXPECT_EQ(none.body["data"], json::array());
  EXPECT_EQ(none.body["metadata"]["total_points"], 0);
}

TEST_F(Endpoints, MetricsAggregations) {
  std::string q =
      "/api/v1/metrics?metrics=input_tokens,total_cost,duration,error_rate&interval=1hour&" +
      kHour10;
  // Hour 10: 3 requests, in 700, cost 0.875, duration sum 600, min 100, max 300, 2 errors.
  Reply avg = Get(q + "&aggregation=avg");
  ASSERT_EQ(avg.status, 200) << avg.text;
  const json& a = avg.body["data"][0];
  EXPECT_DOUBLE_EQ(a["input_tokens"].get<double>(), 700.0 / 3);
  EXPECT_DOUBLE_EQ(a["total_cost"].get<double>(), 0.875 / 3);
  EXPECT_DOUBLE_EQ(a["duration"].get<double>(), 200);
  EXPECT_DOUBLE_EQ(a["error_rate"].get<double>(), 2.0 / 3);
  EXPECT_EQ(avg.body["metadata"]["aggregation"], "avg");
  EXPECT_DOUBLE_EQ(Get(q + "&aggregation=min").body["data"][0]["duration"].get<double>(), 100);
  EXPECT_DOUBLE_EQ(Get(q + "&aggregation=max").body["data"][0]["duration"].get<double>(), 300);
  EXPECT_EQ(Get(q + "&aggregation=count").body["data"][0]["duration"], 3);
  // Percentiles of several rows: those of the mixture of the rows (mixture_quantile_test.cpp).
  // gpt-4o's row (min 100, max 300: its two durations) and claude's (200 ms): p50 and p95 are
  // those of 100, 200 and 300 as the sketch ranks them (floor(q * 2) -> the second), 200.
  EXPECT_DOUBLE_EQ(Get(q + "&aggregation=p95").body["data"][0]["duration"].get<double>(), 200);
  EXPECT_DOUBLE_EQ(Get(q + "&aggregation=p50").body["data"][0]["duration"].get<double>(), 200);
  EXPECT_DOUBLE_EQ(Get(q + "&aggregation=p99").body["data"][0]["duration"].get<double>(), 200);
  // One row per point: exactly the row's percentile.
  Reply by_model = Get(q + "&aggregation=p95&group_by=model");
  ASSERT_EQ(by_model.body["data"].size(), 2u);
  EXPECT_DOUBLE_EQ(by_model.body["data"][0]["duration"].get<double>(), 200);  // claude-3-5-sonnet
  EXPECT_DOUBLE_EQ(by_model.body["data"][1]["duration"].get<double>(), 300);  // gpt-4o
}

TEST_F(Endpoints, TimestampsAsEpochSecondsOrMillisEqualRfc3339) {
  Reply rfc = Get("/api/v1/metrics?metrics=request_count&interval=1hour&" + kRange);
  // 09:00 = 1741597200 s, 11:00 = 1741604400 s.
  Reply secs =
      Get("/api/v1/"
          "metrics?metrics=request_count&interval=1hour&start_time=1741597200&end_time=1741604400");
  Reply millis =
      Get("/api/v1/"
          "metrics?metrics=request_count&interval=1hour&start_time=1741597200000&end_time="
          "1741604400000");
  ASSERT_EQ(rfc.status, 200);
  EXPECT_EQ(secs.body, rfc.body);
  EXPECT_EQ(millis.body, rfc.body);
  // An offset: 10:00+01:00 is 09:00Z ('+' percent-encoded in a query string).
  Reply offset = Get(
      "/api/v1/metrics?metrics=request_count&interval=1hour&start_time=2025-03-10T10:00:00%2B01:00"
      "&end_time=2025-03-10T12:00:00%2B01:00");
  ASSERT_EQ(offset.status, 200) << offset.text;
  EXPECT_EQ(offset.body["data"], rfc.body["data"]);
}

// ---- GET /api/v1/metrics/summary ----------------------------------------------------------------

TEST_F(Endpoints, SummaryComparesWithThePreviousPeriod) {
  Reply r = Get("/api/v1/metrics/summary?" + kHour10 + "&compare_previous_period=true");
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["start_time"], "2025-03-10T10:00:00Z");
  EXPECT_EQ(r.body["end_time"], "2025-03-10T11:00:00Z");
  EXPECT_EQ(r.body["previous_start_time"], "2025-03-10T09:00:00Z");
  // Current hour 10: S1, S2, S3.
  const json& c = r.body["current"];
  EXPECT_EQ(c["requests"], 3);
  EXPECT_EQ(c["errors"], 2);
  EXPECT_DOUBLE_EQ(c["cost_usd"].get<double>(), 0.875);
  EXPECT_EQ(c["input_tokens"], 700);
  EXPECT_EQ(c["output_tokens"], 190);
  EXPECT_EQ(c["total_tokens"], 890);
  EXPECT_DOUBLE_EQ(c["avg_duration_ms"].get<double>(), 200);  // 600 / 3
  EXPECT_DOUBLE_EQ(c["p95_duration_ms"].get<double>(), 200);  // of 100, 200, 300: rank 1
  EXPECT_DOUBLE_EQ(c["error_rate"].get<double>(), 2.0 / 3);
  EXPECT_DOUBLE_EQ(c["success_rate"].get<double>(), 1.0 / 3);
  EXPECT_EQ(c["unique_users"], 2);    // traces A (u-1) and B (u-2) started in the hour
  EXPECT_EQ(c["unique_threads"], 2);  // th-1 and th-2 were active; th-old ended at 09:30
  // Previous hour 09: S4 only.
  const json& p = r.body["previous"];
  EXPECT_EQ(p["requests"], 1);
  EXPECT_EQ(p["errors"], 0);
  EXPECT_DOUBLE_EQ(p["cost_usd"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(p["avg_duration_ms"].get<double>(), 400);
  EXPECT_DOUBLE_EQ(p["success_rate"].get<double>(), 1.0);
  EXPECT_EQ(p["unique_users"], 1);
  EXPECT_EQ(p["unique_threads"], 1);
  // Changes in percent: (current - previous) / previous * 100; null when previous is 0 and current
  // is not.
  const json& ch = r.body["change_percent"];
  EXPECT_DOUBLE_EQ(ch["requests"].get<double>(), 200);         // (3 - 1) / 1
  EXPECT_DOUBLE_EQ(ch["cost_usd"].get<double>(), 250);         // (0.875 - 0.25) / 0.25
  EXPECT_DOUBLE_EQ(ch["input_tokens"].get<double>(), 1300);    // (700 - 50) / 50
  EXPECT_DOUBLE_EQ(ch["avg_duration_ms"].get<double>(), -50);  // (200 - 400) / 400
  EXPECT_DOUBLE_EQ(ch["unique_users"].get<double>(), 100);     // (2 - 1) / 1
  EXPECT_TRUE(ch["errors"].is_null());                         // 0 -> 2
}

TEST_F(Endpoints, SummaryTopModelsAndCommonErrors) {
  Reply r = Get("/api/v1/metrics/summary?" + kHour10);
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_FALSE(r.body.contains("previous"));
  const json& top = r.body["top"];
  EXPECT_EQ(
      top["by_cost"],
      json::parse(
          R"([{"model":"gpt-4o","value":0.75},{"model":"claude-3-5-sonnet","value":0.125}])"));
  EXPECT_EQ(
      top["by_requests"],
      json::parse(R"([{"model":"gpt-4o","value":2.0},{"model":"claude-3-5-sonnet","value":1.0}])"));
  // Mean duration: gpt-4o 400/2 = 200, claude 200/1 = 200: a tie, broken by name.
  EXPECT_EQ(
      top["by_duration"],
      json::parse(
          R"([{"model":"claude-3-5-sonnet","value":200.0},{"model":"gpt-4o","value":200.0}])"));
  EXPECT_EQ(
      top["by_errors"],
      json::parse(R"([{"model":"claude-3-5-sonnet","value":1.0},{"model":"gpt-4o","value":1.0}])"));
  // S2 is named by its error.type; S3 has neither error.type nor a message: STATUS_CODE_ERROR,
  // never "".
  EXPECT_EQ(
      r.body["common_errors"],
      json::parse(
          R"([{"error":"RateLimitError","count":1},{"error":"STATUS_CODE_ERROR","count":1}])"));
  for (const auto& e : r.body["common_errors"]) EXPECT_NE(e["error"], "");
}

TEST_F(Endpoints, SummaryOverAWholeDayUsesTheDayRows) {
  // Day 0 whole: 1d rows gpt-4o (req 3, $1.00) + claude (req 1, $0.125); all four LLM spans.
  Reply r =
      Get("/api/v1/metrics/summary?start_time=2025-03-10T00:00:00Z&end_time=2025-03-11T00:00:00Z");
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["current"]["requests"], 4);
  EXPECT_EQ(r.body["current"]["errors"], 2);
  EXPECT_DOUBLE_EQ(r.body["current"]["cost_usd"].get<double>(), 1.125);
  EXPECT_EQ(r.body["current"]["unique_threads"], 3);
  EXPECT_EQ(r.body["current"]["unique_users"], 2);  // u-1 (traces A, D) and u-2
  // An unaligned range, rounded out to whole minutes (09:29..10:31), holds no whole hour: it is
  // read from 1m rows 09:30 (S4), 10:00 (S1, S2) and 10:01 (S3), never also from an hour row.
  Reply u =
      Get("/api/v1/metrics/summary?start_time=2025-03-10T09:29:00Z&end_time=2025-03-10T10:30:30Z");
  ASSERT_EQ(u.status, 200) << u.text;
  EXPECT_EQ(u.body["current"]["requests"], 4);
  EXPECT_DOUBLE_EQ(u.body["current"]["cost_usd"].get<double>(), 1.125);
  // 08:00 to 11:00 takes whole hours 08, 09, 10 from 1h rows: 1 + 3 requests.
  Reply h =
      Get("/api/v1/metrics/summary?start_time=2025-03-10T08:00:00Z&end_time=2025-03-10T11:00:00Z");
  EXPECT_EQ(h.body["current"]["requests"], 4);
}

TEST_F(Endpoints, SummaryOfAnEmptyPeriodIsZeros) {
  Reply r =
      Get("/api/v1/metrics/summary?start_time=2025-03-12T00:00:00Z&end_time=2025-03-12T01:00:00Z"
          "&compare_previous_period=true");
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["current"]["requests"], 0);
  EXPECT_DOUBLE_EQ(r.body["current"]["success_rate"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(r.body["change_percent"]["requests"].get<double>(), 0);  // 0 -> 0
  EXPECT_EQ(r.body["top"]["by_cost"], json::array());
  EXPECT_EQ(r.body["common_errors"], json::array());
}

// ---- POST /api/v1/metrics/query -----------------------------------------------------------------

TEST_F(Endpoints, QueryWithAliasesGroupByAndSort) {
  json body = {{"start_time", "2025-03-10T10:00:00Z"},
               {"end_time", "2025-03-10T11:00:00Z"},
               {"metrics",
                {{{"name", "request_count"}, {"alias", "calls"}},
                 {{"name", "total_cost"}, {"aggregation", "sum"}, {"alias", "cost"}},
                 {{"name", "duration"}, {"aggregation", "max"}, {"alias", "slowest_ms"}}}},
               {"group_by", {"model"}},
               {"sort_by", {{"field", "cost"}, {"order", "desc"}}}};
  Reply r = Post("/api/v1/metrics/query", body);
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["metadata"]["total_rows"], 2);
  EXPECT_EQ(r.body["data"], json::parse(R"([
    {"model":"gpt-4o","calls":2,"cost":0.75,"slowest_ms":300.0},
    {"model":"claude-3-5-sonnet","calls":1,"cost":0.125,"slowest_ms":200.0}])"));
}

TEST_F(Endpoints, QueryFiltersEqNeInNotIn) {
  auto calls = [&](const json& filters) {
    json body = {{"start_time", "2025-03-10T09:00:00Z"},
                 {"end_time", "2025-03-10T11:00:00Z"},
                 {"metrics", {{{"name", "request_count"}, {"alias", "n"}}}},
                 {"filters", filters}};
    Reply r = Post("/api/v1/metrics/query", body);
    EXPECT_EQ(r.status, 200) << r.text;
    return r.body["data"].empty() ? json(0) : r.body["data"][0]["n"];
  };
  // All of 09:00..11:00: S4, S1, S2 (openai) and S3 (anthropic).
  EXPECT_EQ(calls(json::array()), 4);
  EXPECT_EQ(calls({{{"field", "provider"}, {"op", "eq"}, {"value", "openai"}}}), 3);
  EXPECT_EQ(calls({{{"field", "provider"}, {"op", "ne"}, {"value", "openai"}}}), 1);
  EXPECT_EQ(calls({{{"field", "model"}, {"op", "in"}, {"values", {"gpt-4o", "nope"}}}}), 3);
  EXPECT_EQ(
      calls({{{"field", "model"}, {"op", "not_in"}, {"values", {"gpt-4o", "claude-3-5-sonnet"}}}}),
      0);
  EXPECT_EQ(calls({{{"field", "environment"}, {"op", "eq"}, {"value", "prod"}},
                   {{"field", "model"}, {"op", "eq"}, {"value", "claude-3-5-sonnet"}}}),
            1);
}

TEST_F(Endpoints, QueryHavingSortAscAndLimit) {
  json base = {{"start_time", "2025-03-10T10:00:00Z"},
               {"end_time", "2025-03-10T11:00:00Z"},
               {"metrics",
                {{{"name", "request_count"}, {"alias", "calls"}},
                 {{"name", "error_count"}, {"alias", "errs"}}}},
               {"group_by", {"model"}}};
  json having = base;
  having["having"] = {{{"metric", "calls"}, {"op", "gte"}, {"value", 2}}};
  Reply h = Post("/api/v1/metrics/query", having);
  ASSERT_EQ(h.status, 200) << h.text;
  EXPECT_EQ(h.body["data"], json::parse(R"([{"model":"gpt-4o","calls":2,"errs":1}])"));
  json asc = base;
  asc["sort_by"] = {{"field", "calls"}, {"order", "asc"}};
  asc["limit"] = 1;
  Reply a = Post("/api/v1/metrics/query", asc);
  ASSERT_EQ(a.status, 200) << a.text;
  EXPECT_EQ(a.body["metadata"]["total_rows"], 2);
  EXPECT_EQ(a.body["metadata"]["returned_rows"], 1);
  EXPECT_EQ(a.body["data"], json::parse(R"([{"model":"claude-3-5-sonnet","calls":1,"errs":1}])"));
}

TEST_F(Endpoints, QueryWithIntervalAddsTimeBuckets) {
  json body = {{"start_time", "2025-03-10T09:00:00Z"},
               {"end_time", "2025-03-10T11:00:00Z"},
               {"interval", "1hour"},
               {"metrics", {{{"name", "total_tokens"}, {"alias", "tokens"}}}},
               {"sort_by", {{"field", "timestamp"}, {"order", "asc"}}}};
  Reply r = Post("/api/v1/metrics/query", body);
  ASSERT_EQ(r.status, 200) << r.text;
  // 09:00: 50 + 10; 10:00: 700 + 190.
  EXPECT_EQ(r.body["data"], json::parse(R"([
    {"timestamp":"2025-03-10T09:00:00Z","timestamp_ms":1741597200000,"tokens":60},
    {"timestamp":"2025-03-10T10:00:00Z","timestamp_ms":1741600800000,"tokens":890}])"));
}

// ---- GET /group
// ----------------------------------------------------------------------------------

TEST_F(Endpoints, GroupByTimeHourlyBucketsNewestFirst) {
  Reply r = Get("/group?bucketSize=3600&" + kRange);  // group_by defaults to time
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["pagination"], json({{"offset", 0}, {"limit", 50}, {"total", 2}}));
  ASSERT_EQ(r.body["data"].size(), 2u);
  const json& b10 = r.body["data"][0];
  EXPECT_EQ(b10["group_by"], "time");
  EXPECT_EQ(b10["group_key"], json({{"time_bucket", kT1000 * 1000}}));  // microseconds
  EXPECT_EQ(b10["thread_ids"], json({"th-1", "th-2"}));
  EXPECT_DOUBLE_EQ(b10["cost"].get<double>(), 0.875);
  EXPECT_EQ(b10["llm_calls"], 3);
  EXPECT_EQ(b10["input_tokens"], 700);
  EXPECT_EQ(b10["output_tokens"], 190);
  EXPECT_EQ(b10["errors"], 2);
  EXPECT_EQ(b10["first_seen"], "2025-03-10T10:00:00Z");  // the 1h rows' window
  EXPECT_EQ(b10["last_seen"], "2025-03-10T11:00:00Z");
  const json& b9 = r.body["data"][1];
  EXPECT_EQ(b9["group_key"]["time_bucket"], kT0900 * 1000);
  EXPECT_EQ(b9["thread_ids"], json({"th-old"}));
  EXPECT_EQ(b9["llm_calls"], 1);
  EXPECT_DOUBLE_EQ(b9["cost"].get<double>(), 0.25);
}

TEST_F(Endpoints, GroupByTimeMinuteBucketsAndPagination) {
  // 1m rows: 10:01 (claude), 10:00 (gpt-4o x2), 09:30 (gpt-4o), newest first.
  Reply all = Get("/group?group_by=time&bucketSize=60&" + kRange);
  ASSERT_EQ(all.status, 200) << all.text;
  ASSERT_EQ(all.body["pagination"]["total"], 3);
  EXPECT_EQ(all.body["data"][0]["group_key"]["time_bucket"], kT1001 * 1000);
  EXPECT_EQ(all.body["data"][0]["first_seen"], "2025-03-10T10:01:00Z");
  EXPECT_EQ(all.body["data"][0]["last_seen"], "2025-03-10T10:02:00Z");
  EXPECT_EQ(all.body["data"][1]["llm_calls"], 2);
  EXPECT_EQ(all.body["data"][2]["group_key"]["time_bucket"], kT0930 * 1000);

  Reply page = Get("/group?group_by=time&bucketSize=60&limit=1&offset=1&" + kRange);
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.body["pagination"], json({{"offset", 1}, {"limit", 1}, {"total", 3}}));
  ASSERT_EQ(page.body["data"].size(), 1u);
  EXPECT_EQ(page.body["data"][0], all.body["data"][1]);

  Reply last = Get("/group?group_by=time&bucketSize=60&limit=2&offset=2&" + kRange);
  ASSERT_EQ(last.body["data"].size(), 1u);  // only one item left after offset 2
  EXPECT_EQ(last.body["data"][0], all.body["data"][2]);

  Reply past = Get("/group?group_by=time&bucketSize=60&offset=3&" + kRange);
  ASSERT_EQ(past.status, 200);
  EXPECT_EQ(past.body["data"], json::array());
  EXPECT_EQ(past.body["pagination"]["total"], 3);
}

TEST_F(Endpoints, GroupByTimeForGivenThreadsCountsTheirLlmCalls) {
  // th-2: S3 only (its root has no model): 10:01:20, 200 ms, in 400 out 40, $0.125, error.
  Reply r = Get("/group?group_by=time&bucketSize=3600&threadIds=th-2&" + kRange);
  ASSERT_EQ(r.status, 200) << r.text;
  ASSERT_EQ(r.body["data"].size(), 1u);
  const json& b = r.body["data"][0];
  EXPECT_EQ(b["group_key"]["time_bucket"], kT1000 * 1000);
  EXPECT_EQ(b["thread_ids"], json({"th-2"}));
  EXPECT_EQ(b["llm_calls"], 1);
  EXPECT_EQ(b["errors"], 1);
  EXPECT_EQ(b["input_tokens"], 400);
  EXPECT_EQ(b["output_tokens"], 40);
  EXPECT_DOUBLE_EQ(b["cost"].get<double>(), 0.125);
  EXPECT_EQ(b["first_seen"], "2025-03-10T10:01:20Z");
  EXPECT_EQ(b["last_seen"], "2025-03-10T10:01:20.200Z");
  // th-1 and th-old: S1+S2 in hour 10, S4 in hour 9.
  Reply two = Get("/group?group_by=time&bucketSize=3600&threadIds=th-1,th-old&" + kRange);
  ASSERT_EQ(two.body["data"].size(), 2u);
  EXPECT_EQ(two.body["data"][0]["llm_calls"], 2);
  EXPECT_EQ(two.body["data"][0]["input_tokens"], 300);
  EXPECT_EQ(two.body["data"][1]["llm_calls"], 1);
  EXPECT_EQ(two.body["data"][1]["thread_ids"], json({"th-old"}));
}

TEST_F(Endpoints, GroupByThreadNewestFirstWithValuesOfTheThreadRecords) {
  Reply r = Get("/group?group_by=thread&" + kRange);
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["pagination"], json({{"offset", 0}, {"limit", 50}, {"total", 3}}));
  const json& d = r.body["data"];
  ASSERT_EQ(d.size(), 3u);
  // last_seen: th-2 10:01:30 > th-1 10:00:45 > th-old 09:30:00.400.
  EXPECT_EQ(d[0]["group_key"], json({{"thread_id", "th-2"}}));
  EXPECT_EQ(d[1]["group_key"], json({{"thread_id", "th-1"}}));
  EXPECT_EQ(d[2]["group_key"], json({{"thread_id", "th-old"}}));
  // th-1 is the newest version of its record (the older one had 2 spans, $0.25).
  EXPECT_EQ(d[1]["group_by"], "thread");
  EXPECT_EQ(d[1]["trace_ids"], json({kTraceA}));
  EXPECT_EQ(d[1]["span_count"], 3);
  EXPECT_EQ(d[1]["llm_calls"], 2);
  EXPECT_EQ(d[1]["errors"], 1);
  EXPECT_EQ(d[1]["input_tokens"], 300);
  EXPECT_EQ(d[1]["output_tokens"], 150);
  EXPECT_DOUBLE_EQ(d[1]["cost"].get<double>(), 0.75);
  EXPECT_EQ(d[1]["first_seen"], "2025-03-10T10:00:05Z");
  EXPECT_EQ(d[1]["last_seen"], "2025-03-10T10:00:45Z");
  EXPECT_EQ(d[1]["models"], json({"gpt-4o"}));
  EXPECT_EQ(d[1]["user_ids"], json({"u-1"}));
}

TEST_F(Endpoints, GroupByThreadTimeRangeFilterAndPaging) {
  // Only threads active in 10:00:30..11:00: th-1 (until 10:00:45) and th-2.
  Reply r =
      Get("/group?group_by=thread&start_time=2025-03-10T10:00:30Z&end_time=2025-03-10T11:00:00Z");
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["pagination"]["total"], 2);
  Reply ids = Get("/group?group_by=thread&threadIds=th-old,th-2,unknown&" + kRange);
  ASSERT_EQ(ids.body["pagination"]["total"], 2);
  EXPECT_EQ(ids.body["data"][0]["group_key"]["thread_id"], "th-2");
  EXPECT_EQ(ids.body["data"][1]["group_key"]["thread_id"], "th-old");
  Reply p = Get("/group?group_by=thread&limit=1&offset=2&" + kRange);
  ASSERT_EQ(p.body["data"].size(), 1u);
  EXPECT_EQ(p.body["data"][0]["group_key"]["thread_id"], "th-old");
  EXPECT_EQ(p.body["pagination"], json({{"offset", 2}, {"limit", 1}, {"total", 3}}));
}

// ---- GET /group/thread/{thread_id}
// ---------------------------------------------------------------

TEST_F(Endpoints, ThreadSpansNewestFirstPaginated) {
  Reply r = Get("/group/thread/th-1");
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["pagination"], json({{"offset", 0}, {"limit", 50}, {"total", 3}}));
  std::vector<std::string> ids;
  for (const auto& s : r.body["data"]) ids.push_back(s["span_id"]);
  // Starts: S2 10:00:40, S1 10:00:10, root 10:00:05.
  EXPECT_THAT(ids, ElementsAre("a000000000000003", "a000000000000002", "a000000000000001"));
  EXPECT_EQ(r.body["data"][0]["input_tokens"], 200);
  EXPECT_EQ(r.body["data"][0]["attributes"]["error.type"], "RateLimitError");

  Reply p = Get("/group/thread/th-1?limit=2&offset=2");
  ASSERT_EQ(p.status, 200);
  EXPECT_EQ(p.body["pagination"], json({{"offset", 2}, {"limit", 2}, {"total", 3}}));
  ASSERT_EQ(p.body["data"].size(), 1u);
  EXPECT_EQ(p.body["data"][0]["span_id"], "a000000000000001");
}

TEST_F(Endpoints, ThreadIdsArePercentDecodedFromThePath) {
  Reply r = Get("/group/thread/th%2D1");  // %2D is '-'
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["pagination"]["total"], 3);
}

TEST_F(Endpoints, ThreadSpansOfAnUnknownThreadIs404) {
  Reply r = Get("/group/thread/no-such-thread");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"], "thread 'no-such-thread' not found");
}

// ---- GET /api/v1/traces/{trace_id}[/content]
// -----------------------------------------------------

TEST_F(Endpoints, TraceRecordWithItsSpans) {
  Reply r = Get("/api/v1/traces/" + kTraceA);
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.body["trace_id"], kTraceA);
  EXPECT_EQ(r.body["project"], "alpha");
  EXPECT_EQ(r.body["name"], "handle-a");
  EXPECT_EQ(r.body["thread_id"], "th-1");
  EXPECT_EQ(r.body["span_count"], 3);
  EXPECT_EQ(r.body["llm_calls"], 2);
  EXPECT_DOUBLE_EQ(r.body["cost_usd"].get<double>(), 0.75);
  EXPECT_EQ(r.body["complete"], true);
  ASSERT_EQ(r.body["spans"].size(), 3u);  // not beta's span of the same trace id
  for (const auto& s : r.body["spans"]) EXPECT_EQ(s["project"], "alpha");
  // Upper-case ids are the same trace.
  std::string upper = "A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0A0";
  EXPECT_EQ(Get("/api/v1/traces/" + upper).body["trace_id"], kTraceA);
}

TEST_F(Endpoints, TraceContentForAdmins) {
  Reply r = Get("/api/v1/traces/" + kTraceA + "/content", kAlphaAdmin);
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(
      r.body,
      json::parse(R"([{"trace_id":")" + kTraceA +
                  R"(","span_id":"a000000000000002","key":"gen_ai.prompt","value":"hello"}])"));
  Reply none = Get("/api/v1/traces/" + kTraceB + "/content", kAlphaAdmin);
  EXPECT_EQ(none.status, 404);
  EXPECT_TRUE(none.body["error"].is_string());
}

// ---- Open endpoints
// ------------------------------------------------------------------------------

TEST_F(Endpoints, HealthReadinessAndPrometheusMetrics) {
  EXPECT_EQ(Get("/healthz", "").status, 200);
  Reply starting = Get("/readyz", "");  // nothing told the server it is ready
  EXPECT_EQ(starting.status, 503);
  EXPECT_EQ(starting.text, "not ready: starting\n");
  // The topology's readiness: the reason it gives while not ready, asked on every request.
  const std::string reason = "serve feed: catching up with the published topics: 12 behind";
  server_->SetReadiness([reason] { return reason; });
  Reply behind = Get("/readyz", "");
  EXPECT_EQ(behind.status, 503);
  EXPECT_EQ(behind.text, "not ready: " + reason + "\n");
  EXPECT_NE(Get("/metrics", "").text.find("spanpipe_serve_ready 0"), std::string::npos);
  server_->SetReadiness([] { return std::string(); });
  Reply ready = Get("/readyz", "");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.text, "ready\n");
  ASSERT_EQ(Get("/api/v1/metrics/summary?" + kHour10).status, 200);
  ASSERT_EQ(Get("/group", "").status, 401);
  Reply m = Get("/metrics", "");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.text.find("# TYPE spanpipe_http_requests_total counter"), std::string::npos)
      << m.text;
  EXPECT_NE(m.text.find(
                "spanpipe_http_requests_total{route=\"/api/v1/metrics/summary\",status=\"200\"} 1"),
            std::string::npos)
      << m.text;
  EXPECT_NE(m.text.find("spanpipe_http_requests_total{route=\"/group\",status=\"401\"} 1"),
            std::string::npos);
  // Records applied by Seed(): 11 rollups (alpha 8, beta 3) + 8 spans + 5 thread records + 4
  // traces.
  EXPECT_NE(m.text.find("spanpipe_serve_records_applied_total 28"), std::string::npos) << m.text;
  EXPECT_NE(m.text.find("spanpipe_serve_ready 1"), std::string::npos);
  // The pipeline's own metrics (MetricsRegistry) come first.
  EXPECT_NE(m.text.find("spanpipe_consumed_records_total"), std::string::npos);
  Reply page = Get("/", "");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.text.find("<title>spanpipe</title>"), std::string::npos);
}

TEST_F(Endpoints, UnknownPathIsAJson404) {
  Reply r = Get("/api/v1/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"], "no such endpoint: GET /api/v1/nothing");
}

}  // namespace
}  // namespace spanpipe::serve::servetest
