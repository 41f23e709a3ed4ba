// Validation of the query API (docs/query-api.md "Limits" and "Errors"): every limit at its edge
// and one past it, every fixed name list, timestamps, body size. Errors are {"error": "..."} and
// name the offending value.
#include "serve_fixture.h"

namespace spanpipe::serve::servetest {
namespace {

class Validation : public ServeTest {
 protected:
  // Expects a 400 whose message contains `needle`.
  void Expect400(const Reply& r, const std::string& needle) {
    EXPECT_EQ(r.status, 400) << r.text;
    ASSERT_TRUE(r.body.is_object() && r.body["error"].is_string()) << r.text;
    EXPECT_NE(r.body["error"].get<std::string>().find(needle), std::string::npos)
        << "error '" << r.body["error"] << "' does not mention '" << needle << "'";
  }
  json Query(json extra) {
    json body = {{"start_time", "2025-03-10T10:00:00Z"},
                 {"end_time", "2025-03-10T11:00:00Z"},
                 {"metrics", {{{"name", "request_count"}}}}};
    for (auto it = extra.begin(); it != extra.end(); ++it) body[it.key()] = it.value();
    return body;
  }
};

std::string Repeat(const std::string& item, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += (i ? "," : "") + item;
  return s;
}

TEST_F(Validation, TimeRangeOfAtMost90Days) {
  // 2025-01-01 + 90 days = 2025-04-01 (Jan 31 + Feb 28 + Mar 31 = 90).
  EXPECT_EQ(
      Get("/api/v1/metrics?start_time=2025-01-01T00:00:00Z&end_time=2025-04-01T00:00:00Z").status,
      200);
  Expect400(Get("/api/v1/metrics?start_time=2025-01-01T00:00:00Z&end_time=2025-04-01T00:00:01Z"),
            "90 days");
  Expect400(
      Get("/api/v1/metrics/summary?start_time=2025-01-01T00:00:00Z&end_time=2025-06-01T00:00:00Z"),
      "90 days");
  Expect400(Get("/group?start_time=2025-01-01T00:00:00Z&end_time=2025-06-01T00:00:00Z"), "90 days");
  Expect400(Post("/api/v1/metrics/query", Query({{"start_time", "2025-01-01T00:00:00Z"},
                                                 {"end_time", "2025-06-01T00:00:00Z"}})),
            "90 days");
  // Without end_time the range ends now; a start 91 days before now is too long.
  Expect400(Get("/api/v1/metrics/summary?start_time=2000-01-01T00:00:00Z"), "90 days");
}

TEST_F(Validation, BadTimestampsNameTheValue) {
  Expect400(Get("/api/v1/metrics?start_time=yesterday&end_time=2025-03-10T11:00:00Z"),
            "start_time");
  Expect400(Get("/api/v1/metrics?start_time=yesterday&end_time=2025-03-10T11:00:00Z"),
            "'yesterday'");
  Expect400(Get("/api/v1/metrics?start_time=2025-03-10T09:00:00Z&end_time=2025-13-01T00:00:00Z"),
            "end_time");
  Expect400(Get("/group?start_time=2025-03-10&end_time=2025-03-11T00:00:00Z"), "'2025-03-10'");
  Expect400(Get("/api/v1/metrics?start_time=2025-03-10T11:00:00Z&end_time=2025-03-10T09:00:00Z"),
            "end_time must be after start_time");
  Expect400(Get("/api/v1/metrics?start_time=2025-03-10T11:00:00Z&end_time=2025-03-10T11:00:00Z"),
            "end_time must be after start_time");
  Expect400(Post("/api/v1/metrics/query", Query({{"start_time", true}})), "start_time");
}

TEST_F(Validation, AtMost20Metrics) {
  std::string q = "/api/v1/metrics?interval=1hour&" + kRange + "&metrics=";
  EXPECT_EQ(Get(q + Repeat("request_count", 20)).status, 200);
  Expect400(Get(q + Repeat("request_count", 21)), "between 1 and 20");
  json twenty = json::array(), many = json::array();
  for (int i = 0; i < 21; ++i) {
    json m = {{"name", "request_count"}, {"alias", "m" + std::to_string(i)}};
    if (i < 20) twenty.push_back(m);
    many.push_back(m);
  }
  EXPECT_EQ(Post("/api/v1/metrics/query", Query({{"metrics", twenty}})).status, 200);
  Expect400(Post("/api/v1/metrics/query", Query({{"metrics", many}})), "1 to 20");
  Expect400(Post("/api/v1/metrics/query", Query({{"metrics", json::array()}})), "1 to 20");
}

TEST_F(Validation, AtMost5GroupByDimensions) {
  std::string q = "/api/v1/metrics?interval=1hour&" + kRange + "&group_by=";
  EXPECT_EQ(Get(q + "provider,model,service,operation,environment").status, 200);
  Expect400(Get(q + "provider,model,service,operation,environment,model"), "at most 5");
  EXPECT_EQ(
      Post("/api/v1/metrics/query",
           Query({{"group_by", {"provider", "model", "service", "operation", "environment"}}}))
          .status,
      200);
  Expect400(Post("/api/v1/metrics/query",
                 Query({{"group_by",
                         {"provider", "model", "service", "operation", "environment", "model"}}})),
            "at most 5");
}

TEST_F(Validation, LimitOf1To1000AndOffsetAtLeast0) {
  EXPECT_EQ(Get("/group?limit=1000").status, 200);
  EXPECT_EQ(Get("/group?limit=1").status, 200);
  Expect400(Get("/group?limit=1001"), "'1001'");
  Expect400(Get("/group?limit=0"), "limit");
  Expect400(Get("/group?limit=ten"), "'ten'");
  Expect400(Get("/group?limit=10abc"), "'10abc'");
  Expect400(Get("/group?offset=-1"), "offset");
  Expect400(Get("/group/thread/th-1?limit=1001"), "limit");
  EXPECT_EQ(Post("/api/v1/metrics/query", Query({{"limit", 1000}})).status, 200);
  Expect400(Post("/api/v1/metrics/query", Query({{"limit", 1001}})), "1001");
  Expect400(Post("/api/v1/metrics/query", Query({{"limit", "5"}})), "limit");
}

TEST_F(Validation, UnknownNamesAre400NamingTheValue) {
  std::string q = "/api/v1/metrics?" + kRange;
  Expect400(Get(q + "&metrics=request_count,tokens_per_second"), "'tokens_per_second'");
  Expect400(Get(q + "&group_by=model,user_id"), "'user_id'");
  Expect400(Get(q + "&interval=2min"), "'2min'");
  Expect400(Get(q + "&aggregation=median"), "'median'");
  Expect400(Get("/group?group_by=trace"), "'trace'");
  Expect400(Get("/group?bucketSize=90"), "'90'");
  Expect400(Get("/api/v1/metrics/summary?compare_previous_period=maybe"), "'maybe'");
  Expect400(Post("/api/v1/metrics/query", Query({{"metrics", {{{"name", "latency"}}}}})),
            "'latency'");
  Expect400(Post("/api/v1/metrics/query",
                 Query({{"metrics", {{{"name", "duration"}, {"aggregation", "p42"}}}}})),
            "'p42'");
  Expect400(Post("/api/v1/metrics/query", Query({{"group_by", {"region"}}})), "\"region\"");
  Expect400(Post("/api/v1/metrics/query", Query({{"interval", "1week"}})), "\"1week\"");
  Expect400(Post("/api/v1/metrics/query",
                 Query({{"filters", {{{"field", "model"}, {"op", "like"}, {"value", "g"}}}}})),
            "'like'");
  Expect400(Post("/api/v1/metrics/query",
                 Query({{"filters", {{{"field", "user"}, {"op", "eq"}, {"value", "g"}}}}})),
            "'user'");
  Expect400(Post("/api/v1/metrics/query",
                 Query({{"filters", {{{"field", "model"}, {"op", "in"}, {"value", "g"}}}}})),
            "'values'");
  Expect400(Post("/api/v1/metrics/query",
                 Query({{"having", {{{"metric", "cost"}, {"op", "gt"}, {"value", 1}}}}})),
            "'cost'");
  Expect400(
      Post("/api/v1/metrics/query",
           Query({{"having", {{{"metric", "request_count"}, {"op", "between"}, {"value", 1}}}}})),
      "'between'");
  Expect400(Post("/api/v1/metrics/query", Query({{"sort_by", {{"field", "nope"}}}})), "'nope'");
  Expect400(Post("/api/v1/metrics/query",
                 Query({{"sort_by", {{"field", "request_count"}, {"order", "up"}}}})),
            "'up'");
  Expect400(Post("/api/v1/metrics/query",
                 Query({{"metrics", {{{"name", "request_count"}, {"alias", "model"}}}}})),
            "'model'");
}

TEST_F(Validation, MalformedBodies) {
  Expect400(Post("/api/v1/metrics/query", "{not json", Auth(kAlphaQuery)), "not JSON");
  Expect400(Post("/api/v1/metrics/query", "[1,2]", Auth(kAlphaQuery)), "JSON object");
  Expect400(Post("/api/v1/metrics/query", json{{"metrics", {1, 2}}}), "name");
  Expect400(Post("/api/v1/metrics/query", Query({{"filters", "model=gpt"}})), "filters");
  Expect400(Post("/api/v1/metrics/query",
                 Query({{"having", {{{"metric", "request_count"}, {"value", "1"}}}}})),
            "having");
}

TEST_F(Validation, BodyOver1MiBIs413) {
  std::string big =
      R"({"metrics":[{"name":"request_count"}],"pad":")" + std::string((1 << 20) + 1, 'x') + "\"}";
  Reply r = Post("/api/v1/metrics/query", big, Auth(kAlphaQuery));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body["error"], "request body larger than 1 MiB");
  // Just under the limit is read (and then judged on its content).
  std::string fits = R"({"pad":")" + std::string((1 << 20) - 20, 'x') + "\"}";
  ASSERT_LE(fits.size(), size_t{1} << 20);
  Expect400(Post("/api/v1/metrics/query", fits, Auth(kAlphaQuery)), "metrics");
}

TEST_F(Validation, UnknownTraceIs404) {
  Reply r = Get("/api/v1/traces/0123456789abcdef0123456789abcdef");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"], "trace '0123456789abcdef0123456789abcdef' not found");
  Reply bad = Get("/api/v1/traces/not-a-trace-id");
  EXPECT_EQ(bad.status, 404);
  EXPECT_NE(bad.body["error"].get<std::string>().find("32 hex"), std::string::npos);
  EXPECT_EQ(Get("/api/v1/traces/0123456789abcdef0123456789abcdef/content", kAlphaAdmin).status,
            404);
}

TEST_F(Validation, ErrorsAreJsonObjectsWithAnErrorString) {
  for (const Reply& r : {Get("/group?group_by=x"), Get("/group", "bad-key-0000000"),
                         Get("/nowhere"), Get("/api/v1/traces/0123456789abcdef0123456789abcdef")}) {
    EXPECT_GE(r.status, 400);
    EXPECT_EQ(r.body.size(), 1u) << r.text;
    EXPECT_TRUE(r.body["error"].is_string()) << r.text;
  }
}

}  // namespace
}  // namespace spanpipe::serve::servetest
