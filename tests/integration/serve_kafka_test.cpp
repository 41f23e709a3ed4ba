// `spanpipe serve` end to end, as operators run it: a Kafka-protocol broker (`spanpipe broker`, its
// own process), a producer that writes a small hand-written OTLP corpus, `spanpipe run` (query side
// off) publishing rollups / threads / traces / spans, and `spanpipe serve` as a separate process
// that materialises those topics and answers HTTP with API keys. Every expected value is derived
// by hand from the corpus below.
//
// Corpus (all spans in the hour H = the hour that began 2 h before now, UTC; offsets from H):
//   project alpha, service chat
//     trace A, thread th-1, user u-1: root "handle-a" +5 s .. +45 s (no model)
//       S1 gpt-4o (openai)            +10 s, 100 ms, in 100 out  50, $0.25, gen_ai.prompt "hello
//       from S1" S2 gpt-4o (openai)            +40 s, 300 ms, in 200 out 100, $0.50, status 2,
//       error.type RateLimitError
//     trace B, thread th-2, user u-2: root "handle-b" +75 s .. +90 s (no model)
//       S3 claude-3-5-sonnet (anthropic) +80 s, 200 ms, in 400 out 40, $0.125, status 2, no
//       message, no type
//   project beta, service chat
//     trace C, thread th-b, user u-9: S5 gpt-4o-mini (openai) +120 s, 50 ms, in 7 out 3, $1.00
// Expected for alpha over [H - 1 h, H + 1 h): 3 LLM calls, 2 errors, $0.875, 700 in, 190 out,
// threads th-1 and th-2, users u-1 and u-2, common errors RateLimitError x1 and STATUS_CODE_ERROR
// x1.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "common/time_format.h"
#include "connectors/kafka_sink.h"
#include "kafka_util.h"

namespace spanpipe {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::string kA = "a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0";
const std::string kB = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
const std::string kC = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";
const std::string kAlphaKey = "e2e-alpha-admin-key";
const std::string kBetaKey = "e2e-beta-read-key-1";

std::string Str(const std::string& k, const std::string& v) {
  return R"({"key":")" + k + R"(","value":{"stringValue":")" + v + R"("}})";
}
std::string Int(const std::string& k, int64_t v) {
  return R"({"key":")" + k + R"(","value":{"intValue":")" + std::to_string(v) + R"("}})";
}
std::string Dbl(const std::string& k, double v) {
  return R"({"key":")" + k + R"(","value":{"doubleValue":)" + std::to_string(v) + "}}";
}

struct Span {
  std::string trace, id, parent, name;
  int64_t start_ms, dur_ms;
  int status;
  std::vector<std::string> attrs;
};

std::string SpanJson(const Span& s) {
  std::string a;
  for (const auto& x : s.attrs) a += (a.empty() ? "" : ",") + x;
  return R"({"traceId":")" + s.trace + R"(","spanId":")" + s.id + "\"," +
         (s.parent.empty() ? "" : R"("parentSpanId":")" + s.parent + "\",") + R"("name":")" +
         s.name + R"(","kind":1,"startTimeUnixNano":")" + std::to_string(s.start_ms * 1000000) +
         R"(","endTimeUnixNano":")" + std::to_string((s.start_ms + s.dur_ms) * 1000000) +
         R"(","attributes":[)" + a + R"(],"status":{"code":)" + std::to_string(s.status) + "}}";
}

std::string Message(const std::string& project, const std::vector<Span>& spans) {
  std::string body;
  for (const auto& s : spans) body += (body.empty() ? "" : ",") + SpanJson(s);
  return R"({"resourceSpans":[{"resource":{"attributes":[)" + Str("service.name", "chat") + "," +
         Str("spanpipe.project", project) + R"(]},"scopeSpans":[{"spans":[)" + body + "]}]}]}";
}

std::vector<std::string> Llm(const std::string& model, const std::string& provider, int64_t in,
                             int64_t out, double cost, const std::string& thread,
                             const std::string& user) {
  return {Str("gen_ai.request.model", model),
          Str("gen_ai.system", provider),
          Int("gen_ai.usage.input_tokens", in),
          Int("gen_ai.usage.output_tokens", out),
          Dbl("gen_ai.usage.cost", cost),
          Str("gen_ai.conversation.id", thread),
          Str("user.id", user)};
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

struct Http {
  int port;
  json Get(const std::string& path, const std::string& key, int* status = nullptr) const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(10, 0);
    auto r = c.Get(path.c_str(), {{"Authorization", "Bearer " + key}});
    if (status) *status = r ? r->status : -1;
    return r ? json::parse(r->body, nullptr, false) : json();
  }
  int Code(const std::string& path) const {
    httplib::Client c("127.0.0.1", port);
    auto r = c.Get(path.c_str());
    return r ? r->status : -1;
  }
};

TEST(ServeKafka, ServeProcessAnswersFromTheTopicsPublishedByRun) {
  std::string dir = testutil::TempDir("serve_kafka");
  testutil::BrokerProcess broker(dir, 1, 4);
  ASSERT_FALSE(broker.brokers.empty()) << testutil::Slurp(dir + "/broker.log");

  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  const int64_t H = now / 3600000 * 3600000 - 2 * 3600000;
  const std::string p = "a000000000000001", q = "b000000000000001";
  std::vector<Span> a_spans = {{kA,
                                p,
                                "",
                                "handle-a",
                                H + 5000,
                                40000,
                                0,
                                {Str("gen_ai.conversation.id", "th-1"), Str("user.id", "u-1")}},
                               {kA, "a000000000000002", p, "llm", H + 10000, 100, 0,
                                Llm("gpt-4o", "openai", 100, 50, 0.25, "th-1", "u-1")},
                               {kA, "a000000000000003", p, "llm", H + 40000, 300, 2,
                                Llm("gpt-4o", "openai", 200, 100, 0.5, "th-1", "u-1")}};
  a_spans[1].attrs.push_back(Str("gen_ai.prompt", "hello from S1"));
  a_spans[2].attrs.push_back(Str("error.type", "RateLimitError"));
  std::vector<Span> b_spans = {
      {kB,
       q,
       "",
       "handle-b",
       H + 75000,
       15000,
       0,
       {Str("gen_ai.conversation.id", "th-2"), Str("user.id", "u-2")}},
      {kB, "b000000000000002", q, "llm", H + 80000, 200, 2,
       Llm("claude-3-5-sonnet", "anthropic", 400, 40, 0.125, "th-2", "u-2")}};
  std::vector<Span> c_spans = {{kC, "c000000000000001", "", "llm", H + 120000, 50, 0,
                                Llm("gpt-4o-mini", "openai", 7, 3, 1.0, "th-b", "u-9")}};
  {
    kafka::SinkOptions so;
    so.brokers = broker.brokers;
    std::unique_ptr<kafka::KafkaSink> sink;
    ASSERT_TRUE(kafka::KafkaSink::Create(so, &sink).ok());
    // Trace A over two messages (the root last), B and C whole.
    ASSERT_TRUE(sink->Produce("otlp_spans", "", Message("alpha", {a_spans[1], a_spans[2]})).ok());
    ASSERT_TRUE(sink->Produce("otlp_spans", "", Message("alpha", b_spans)).ok());
    ASSERT_TRUE(sink->Produce("otlp_spans", "", Message("beta", c_spans)).ok());
    ASSERT_TRUE(sink->Produce("otlp_spans", "", Message("alpha", {a_spans[0]})).ok());
    ASSERT_TRUE(sink->Flush(30000).ok());
  }

  std::string kafka_cfg = "kafka:\n  brokers: \"" + broker.brokers +
                          "\"\n  partitions: 4\n  consumer:\n    session.timeout.ms: \"4000\"\n"
                          "    heartbeat.interval.ms: \"400\"\n"
                          "content: {store: \"file://" +
                          dir + "/objects\"}\n";
  std::ofstream(dir + "/run.yaml")
      << kafka_cfg << "state: {path: \"" << dir << "/state\", memory_mib: 64}\n"
      << "checkpoint: {interval_ms: 200}\ntrace: {idle_timeout_ms: 1000}\n"
      << "http: {enabled: false}\n";
  Http http{FreePort()};
  std::ofstream(dir + "/serve.yaml")
      << kafka_cfg << "http:\n  listen: \"127.0.0.1:" << http.port << "\"\n"
      << "  state_path: \"" << dir << "/serve\"\n"
      << "  api_keys:\n"
      << "    - {key: \"" << kAlphaKey << "\", projects: [alpha], role: admin}\n"
      << "    - {key: \"" << kBetaKey << "\", projects: [beta], role: read}\n";
  pid_t job =
      testutil::Spawn({SPANPIPE_BINARY, "run", "--config", dir + "/run.yaml"}, dir + "/job.log");
  pid_t serve = testutil::Spawn({SPANPIPE_BINARY, "serve", "--config", dir + "/serve.yaml"},
                                dir + "/serve.log");

  const std::string range =
      "start_time=" + std::to_string(H - 3600000) + "&end_time=" + std::to_string(H + 3600000);
  const std::string summary = "/api/v1/metrics/summary?" + range;
  // Wait until serve has everything: all three LLM calls, both closed traces of alpha, the threads.
  json s;
  auto deadline = Clock::now() + std::chrono::seconds(50);
  while (Clock::now() < deadline) {
    s = http.Get(summary, kAlphaKey);
    if (s.is_object() && s.contains("current") && s["current"]["requests"] == 3 &&
        s["current"]["unique_users"] == 2 && s["current"]["unique_threads"] == 2 &&
        s["common_errors"].size() == 2 &&
        http.Get("/api/v1/traces/" + kA, kAlphaKey).value("span_count", 0) == 3)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_EQ(http.Code("/healthz"), 200);
  EXPECT_EQ(http.Code("/readyz"), 200);  // the feed has read every partition to its end

  // Summary: S1 + S2 + S3.
  ASSERT_TRUE(s.contains("current")) << s.dump() << testutil::Slurp(dir + "/serve.log");
  EXPECT_EQ(s["current"]["requests"], 3) << s.dump();
  EXPECT_EQ(s["current"]["errors"], 2);
  EXPECT_NEAR(s["current"]["cost_usd"].get<double>(), 0.875, 1e-9);
  EXPECT_EQ(s["current"]["input_tokens"], 700);
  EXPECT_EQ(s["current"]["output_tokens"], 190);
  EXPECT_EQ(s["current"]["unique_users"], 2);
  EXPECT_EQ(s["current"]["unique_threads"], 2);
  EXPECT_NEAR(s["current"]["avg_duration_ms"].get<double>(), 200, 1e-9);  // (100 + 300 + 200) / 3
  EXPECT_EQ(
      s["common_errors"],
      json::parse(
          R"([{"error":"RateLimitError","count":1},{"error":"STATUS_CODE_ERROR","count":1}])"));
  EXPECT_EQ(s["top"]["by_requests"][0], json::parse(R"({"model":"gpt-4o","value":2.0})"));

  // Hourly series by model: everything in hour H.
  json m = http.Get(
      "/api/v1/"
      "metrics?metrics=request_count,total_tokens,total_cost&interval=1hour&group_by=model&" +
          range,
      kAlphaKey);
  ASSERT_EQ(m["metadata"]["total_points"], 2) << m.dump();
  EXPECT_EQ(m["data"][0]["timestamp_ms"], H);
  EXPECT_EQ(m["data"][0]["group"]["model"], "claude-3-5-sonnet");
  EXPECT_EQ(m["data"][0]["request_count"], 1);
  EXPECT_EQ(m["data"][0]["total_tokens"], 440);
  EXPECT_EQ(m["data"][1]["group"]["model"], "gpt-4o");
  EXPECT_EQ(m["data"][1]["request_count"], 2);
  EXPECT_EQ(m["data"][1]["total_tokens"], 450);  // 100 + 50 + 200 + 100
  EXPECT_NEAR(m["data"][1]["total_cost"].get<double>(), 0.75, 1e-9);

  // Threads, newest first: th-2 (last span ends at +90 s) before th-1 (+45 s).
  json t = http.Get("/group?group_by=thread&" + range, kAlphaKey);
  ASSERT_EQ(t["pagination"]["total"], 2) << t.dump();
  EXPECT_EQ(t["data"][0]["group_key"]["thread_id"], "th-2");
  EXPECT_EQ(t["data"][1]["group_key"]["thread_id"], "th-1");
  EXPECT_EQ(t["data"][1]["span_count"], 3);
  EXPECT_EQ(t["data"][1]["llm_calls"], 2);
  EXPECT_EQ(t["data"][1]["errors"], 1);
  EXPECT_NEAR(t["data"][1]["cost"].get<double>(), 0.75, 1e-9);
  EXPECT_EQ(t["data"][1]["trace_ids"], json({kA}));

  // Hourly time buckets: one, with both threads.
  json g = http.Get("/group?group_by=time&bucketSize=3600&" + range, kAlphaKey);
  ASSERT_EQ(g["pagination"]["total"], 1) << g.dump();
  EXPECT_EQ(g["data"][0]["group_key"]["time_bucket"], H * 1000);
  EXPECT_EQ(g["data"][0]["llm_calls"], 3);
  EXPECT_EQ(g["data"][0]["thread_ids"], json({"th-1", "th-2"}));

  // A thread's spans, newest first.
  json ts = http.Get("/group/thread/th-1", kAlphaKey);
  ASSERT_EQ(ts["pagination"]["total"], 3) << ts.dump();
  EXPECT_EQ(ts["data"][0]["span_id"], "a000000000000003");
  EXPECT_EQ(ts["data"][1]["span_id"], "a000000000000002");
  EXPECT_EQ(ts["data"][2]["span_id"], p);

  // The trace record, and its content back from the object store.
  json tr = http.Get("/api/v1/traces/" + kA, kAlphaKey);
  EXPECT_EQ(tr["name"], "handle-a");
  EXPECT_EQ(tr["llm_calls"], 2);
  EXPECT_EQ(tr["thread_id"], "th-1");
  EXPECT_EQ(tr["spans"].size(), 3u);
  json content = http.Get("/api/v1/traces/" + kA + "/content", kAlphaKey);
  ASSERT_TRUE(content.is_array()) << content.dump();
  bool found = false;
  for (const auto& v : content)
    found = found || (v["key"] == "gen_ai.prompt" && v["value"] == "hello from S1");
  EXPECT_TRUE(found) << content.dump();

  // Query with a filter: anthropic only.
  {
    httplib::Client c("127.0.0.1", http.port);
    json body = {{"start_time", std::to_string(H - 3600000)},
                 {"end_time", std::to_string(H + 3600000)},
                 {"metrics", {{{"name", "total_cost"}, {"alias", "cost"}}}},
                 {"filters", {{{"field", "provider"}, {"op", "eq"}, {"value", "anthropic"}}}}};
    auto r = c.Post("/api/v1/metrics/query", {{"Authorization", "Bearer " + kAlphaKey}},
                    body.dump(), "application/json");
    ASSERT_TRUE(r);
    json j = json::parse(r->body);
    ASSERT_EQ(j["data"].size(), 1u) << r->body;
    EXPECT_NEAR(j["data"][0]["cost"].get<double>(), 0.125, 1e-9);
  }

  // Isolation and access control in the real process.
  json beta = http.Get(summary, kBetaKey);
  EXPECT_EQ(beta["current"]["requests"], 1) << beta.dump();
  EXPECT_NEAR(beta["current"]["cost_usd"].get<double>(), 1.0, 1e-9);
  int status = 0;
  http.Get("/api/v1/traces/" + kA, kBetaKey, &status);
  EXPECT_EQ(status, 404);
  http.Get(summary, "not-a-key-at-all", &status);
  EXPECT_EQ(status, 401);
  http.Get("/api/v1/traces/" + kA + "/content", kBetaKey, &status);
  EXPECT_EQ(status, 403);  // read role
  // Prometheus text with the query side's own series.
  {
    httplib::Client c("127.0.0.1", http.port);
    auto r = c.Get("/metrics");
    ASSERT_TRUE(r);
    EXPECT_NE(r->body.find("spanpipe_serve_ready 1"), std::string::npos);
    EXPECT_NE(r->body.find(
                  "spanpipe_http_requests_total{route=\"/api/v1/metrics/summary\",status=\"200\"}"),
              std::string::npos);
  }
  // Keys never appear in the logs.
  std::string log = testutil::Slurp(dir + "/serve.log");
  EXPECT_EQ(log.find(kAlphaKey), std::string::npos);
  EXPECT_EQ(log.find(kBetaKey), std::string::npos);

  kill(serve, SIGTERM);
  int st = testutil::Reap(serve);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << testutil::Slurp(dir + "/serve.log");
  kill(job, SIGTERM);
  testutil::Reap(job);
}

}  // namespace
}  // namespace spanpipe
