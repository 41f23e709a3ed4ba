// Access control of the query API (docs/query-api.md "Access control"), over a real HttpServer.
//
// Keys of the tests (serve_fixture.h): alpha read / query / admin, beta read, and a read key for
// both alpha and beta. Role table:
//   read  : GET /group, /group/thread/{id}, /api/v1/metrics, /api/v1/metrics/summary,
//   /api/v1/traces/{id} query : the above + POST /api/v1/metrics/query admin : the above + GET
//   /api/v1/traces/{id}/content
// No or unknown credentials: 401. A project outside the key's: 403. A key with several projects
// and no x-project-id: 400 (the request is incomplete, not forbidden). Role too low: 403.
//
// The JWTs below were minted outside spanpipe (Python: hmac + hashlib + base64.urlsafe_b64encode
// without padding) with the secret "jwt-secret-for-the-tests" and header
// {"alg":"HS256","typ":"JWT"}.
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "serve/auth.h"
#include "serve_fixture.h"

namespace spanpipe::serve::servetest {
namespace {

// {"sub":"ci","projects":["alpha"],"role":"read","exp":4102444800}  (exp = 2100-01-01)
const std::string kJwtAlphaRead =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJjaSIsInByb2plY3RzIjpbImFscGhhIl0sInJvbGUiOiJyZWFkIiwiZXhwIjo0MTAy"
    "NDQ0ODAwfQ.VwzKAL0TORN7yJBJnBFyhYal4hP2gVmoGrgHymX9s9s";
// {"sub":"ci","projects":["alpha"],"role":"query","exp":4102444800}
const std::string kJwtAlphaQuery =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJjaSIsInByb2plY3RzIjpbImFscGhhIl0sInJvbGUiOiJxdWVyeSIsImV4cCI6NDEw"
    "MjQ0NDgwMH0.0XQmjJBykFuFPfZIboTEHxyWBhHNfMQg9c2PcH4VEDY";
// {"sub":"ci","projects":["beta"],"role":"read","exp":4102444800}
const std::string kJwtBetaRead =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJjaSIsInByb2plY3RzIjpbImJldGEiXSwicm9sZSI6InJlYWQiLCJleHAiOjQxMDI0"
    "NDQ4MDB9.VD_iDoc6K5a97RHz9Eu2Ck9Ub2GxoWKeUEmVr9TS8wE";
// {"sub":"ci","projects":["alpha"],"role":"read","exp":1000000000}  (2001: expired)
const std::string kJwtExpired =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJjaSIsInByb2plY3RzIjpbImFscGhhIl0sInJvbGUiOiJyZWFkIiwiZXhwIjoxMDAw"
    "MDAwMDAwfQ.EUMas3glDdGsncZUR5_5kjUANWnnwkMzTyNRlgnQ8UY";
// kJwtAlphaRead's claims signed with "some-other-secret".
const std::string kJwtBadSignature =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJjaSIsInByb2plY3RzIjpbImFscGhhIl0sInJvbGUiOiJyZWFkIiwiZXhwIjo0MTAy"
    "NDQ0ODAwfQ.Tmrfy0MU_XC-9CyoTHww0zjiVdNHmLlvcNu5SNda8as";
// {"sub":"ci","projects":["alpha"],"role":"read","nbf":4102444800}  (not valid before 2100)
const std::string kJwtNotYetValid =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJjaSIsInByb2plY3RzIjpbImFscGhhIl0sInJvbGUiOiJyZWFkIiwibmJmIjo0MTAy"
    "NDQ0ODAwfQ.OlDPVmKZdBX8P-DynS8p7oihW17G7Ulg9En2Dn9-YJA";
// {"sub":"ci","role":"read","exp":4102444800}  (no projects)
const std::string kJwtNoProjects =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJjaSIsInJvbGUiOiJyZWFkIiwiZXhwIjo0MTAyNDQ0ODAwfQ.z4JUrQAl7VFZAhPjk_"
    "xXrDG3ZGgSGA1LqrfzBG3ROrg";
// {"sub":"ci","projects":["alpha"],"role":"read","exp":"never"}  (exp not a number)
const std::string kJwtStringExp =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJjaSIsInByb2plY3RzIjpbImFscGhhIl0sInJvbGUiOiJyZWFkIiwiZXhwIjoibmV2"
    "ZXIifQ.AorizeVBwpzWmM5pFl3fRRdMMPU7Gs3CyfeMKW9cRCI";
// Header {"alg":"none","typ":"JWT"}, claims {"sub":"ci","projects":["alpha"],"role":"admin"}, no
// signature.
const std::string kJwtAlgNone =
    "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
    "eyJzdWIiOiJjaSIsInByb2plY3RzIjpbImFscGhhIl0sInJvbGUiOiJhZG1pbiJ9.";

class Auth : public ServeTest {
 protected:
  int Code(const std::string& path, const std::string& key, const std::string& project = "") {
    return Get(path, ServeTest::Auth(key, project)).status;
  }
};

const std::string kSummary = "/api/v1/metrics/summary?" + kHour10;

TEST_F(Auth, NoOrUnknownCredentialsAre401) {
  Reply none = Get(kSummary, httplib::Headers{});
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.body["error"], "missing bearer token");
  Reply unknown = Get(kSummary, "not-a-configured-key");
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(unknown.body["error"], "invalid API key");
  // A valid key in another scheme is not a bearer token.
  EXPECT_EQ(Get(kSummary, httplib::Headers{{"Authorization", "Basic " + kAlphaRead}}).status, 401);
  // The scheme is case-insensitive (RFC 7235).
  EXPECT_EQ(Get(kSummary, httplib::Headers{{"Authorization", "bearer " + kAlphaRead}}).status, 200);
  // Every protected endpoint.
  std::vector<std::string> paths = {"/group",
                                    "/group/thread/th-1",
                                    "/api/v1/metrics",
                                    "/api/v1/metrics/summary",
                                    "/api/v1/traces/" + kTraceA,
                                    "/api/v1/traces/" + kTraceA + "/content"};
  for (const auto& p : paths) EXPECT_EQ(Get(p, httplib::Headers{}).status, 401) << p;
  EXPECT_EQ(Post("/api/v1/metrics/query", "{}", httplib::Headers{}).status, 401);
}

TEST_F(Auth, OpenEndpointsNeedNoKey) {
  for (const char* p : {"/healthz", "/metrics", "/"})
    EXPECT_EQ(Get(p, httplib::Headers{}).status, 200) << p;
  EXPECT_EQ(Get("/readyz", httplib::Headers{}).status, 503);  // open, and not ready yet
}

TEST_F(Auth, ProjectOutsideTheKeyIs403) {
  Reply r = Get(kSummary, ServeTest::Auth(kAlphaRead, "beta"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body["error"], "no access to project 'beta'");
  EXPECT_EQ(Code(kSummary, kBetaRead, "alpha"), 403);
  EXPECT_EQ(Code(kSummary, kAlphaRead, "alpha"), 200);  // its own project, explicitly
  EXPECT_EQ(Code(kSummary, kAlphaRead), 200);           // its only project, by default
}

TEST_F(Auth, KeyWithSeveralProjectsNeedsTheHeader) {
  Reply r = Get(kSummary, kMultiRead);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"], "x-project-id header required: the key has several projects");
  EXPECT_EQ(Code(kSummary, kMultiRead, "alpha"), 200);
  EXPECT_EQ(Code(kSummary, kMultiRead, "beta"), 200);
  EXPECT_EQ(Code(kSummary, kMultiRead, "gamma"), 403);
}

TEST_F(Auth, RoleTable) {
  json query = {{"start_time", "2025-03-10T10:00:00Z"},
                {"end_time", "2025-03-10T11:00:00Z"},
                {"metrics", {{{"name", "request_count"}}}}};
  std::string content = "/api/v1/traces/" + kTraceA + "/content";
  struct Row {
    std::string key;
    int read, query, content;
  };
  for (const Row& row : {Row{kAlphaRead, 200, 403, 403}, Row{kAlphaQuery, 200, 200, 403},
                         Row{kAlphaAdmin, 200, 200, 200}}) {
    EXPECT_EQ(Code(kSummary, row.key), row.read) << row.key;
    EXPECT_EQ(Code("/group", row.key), row.read) << row.key;
    EXPECT_EQ(Code("/api/v1/traces/" + kTraceA, row.key), row.read) << row.key;
    EXPECT_EQ(Post("/api/v1/metrics/query", query, row.key).status, row.query) << row.key;
    EXPECT_EQ(Code(content, row.key), row.content) << row.key;
  }
  Reply denied = Post("/api/v1/metrics/query", query, kAlphaRead);
  EXPECT_EQ(denied.body["error"], "this endpoint needs the 'query' role");
  EXPECT_EQ(Get(content, kAlphaQuery).body["error"], "this endpoint needs the 'admin' role");
}

TEST_F(Auth, Jwts) {
  EXPECT_EQ(Code(kSummary, kJwtAlphaRead), 200);
  EXPECT_EQ(Post("/api/v1/metrics/query",
                 json{{"start_time", "2025-03-10T10:00:00Z"},
                      {"end_time", "2025-03-10T11:00:00Z"},
                      {"metrics", {{{"name", "request_count"}}}}},
                 kJwtAlphaQuery)
                .status,
            200);
  EXPECT_EQ(Code(kSummary, kJwtBetaRead, "alpha"), 403);
  auto error = [&](const std::string& token) {
    Reply r = Get(kSummary, token);
    EXPECT_EQ(r.status, 401);
    return r.body["error"].get<std::string>();
  };
  EXPECT_EQ(error(kJwtExpired), "token expired");
  EXPECT_EQ(error(kJwtBadSignature), "invalid token signature");
  EXPECT_EQ(error(kJwtNotYetValid), "token not yet valid");
  EXPECT_EQ(error(kJwtNoProjects), "token lacks role or projects");
  EXPECT_EQ(error(kJwtStringExp), "malformed token: exp and nbf must be numbers");
  EXPECT_EQ(error(kJwtAlgNone), "invalid token signature");
  // A tampered payload (role read -> admin) with the original signature.
  std::string tampered = kJwtAlphaRead;
  size_t d1 = tampered.find('.'), d2 = tampered.rfind('.');
  std::string admin_claims =
      "eyJzdWIiOiJjaSIsInByb2plY3RzIjpbImFscGhhIl0sInJvbGUiOiJhZG1pbiJ9";  // role admin
  tampered = tampered.substr(0, d1 + 1) + admin_claims + tampered.substr(d2);
  EXPECT_EQ(error(tampered), "invalid token signature");
}

TEST_F(Auth, JwtsAreRejectedWhenNoSecretIsConfigured) {
  ServeOptions o = DefaultOptions();
  o.jwt_hs256_secret.clear();
  StartWith(o);
  Reply r = Get(kSummary, kJwtAlphaRead);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body["error"], "invalid API key");
  EXPECT_EQ(Code(kSummary, kAlphaRead), 200);
}

TEST_F(Auth, AKeyNeverSeesAnotherProjectsRows) {
  // alpha's hour 10: 3 requests; beta's: 7 (serve_fixture.h).
  EXPECT_EQ(Get(kSummary, kAlphaRead).body["current"]["requests"], 3);
  EXPECT_EQ(Get(kSummary, kBetaRead).body["current"]["requests"], 7);
  EXPECT_EQ(Get(kSummary, ServeTest::Auth(kMultiRead, "beta")).body["current"]["requests"], 7);
  // beta's error never shows in alpha's common errors, and the reverse.
  json alpha_errors = Get(kSummary, kAlphaRead).body["common_errors"];
  EXPECT_EQ(alpha_errors.dump().find("BetaOnlyError"), std::string::npos);
  EXPECT_EQ(Get(kSummary, kBetaRead).body["common_errors"],
            json::parse(R"([{"error":"BetaOnlyError","count":1}])"));
  // Series and query.
  json series = Get("/api/v1/metrics?metrics=request_count&interval=1hour&group_by=model&" + kRange,
                    kBetaRead)
                    .body;
  ASSERT_EQ(series["data"].size(), 1u);
  EXPECT_EQ(series["data"][0]["group"]["model"], "gpt-4o-mini");
  // Threads: beta's thread is unknown to alpha, alpha's to beta.
  json threads = Get("/group?group_by=thread&" + kRange, kBetaRead).body;
  ASSERT_EQ(threads["pagination"]["total"], 1);
  EXPECT_EQ(threads["data"][0]["group_key"]["thread_id"], "th-beta");
  EXPECT_EQ(Code("/group/thread/th-beta", kAlphaRead), 404);
  EXPECT_EQ(Code("/group/thread/th-1", kBetaRead), 404);
  EXPECT_EQ(Get("/group?group_by=time&threadIds=th-beta&" + kRange, kAlphaRead).body["data"],
            json::array());
  // Traces: beta's trace C is 404 for alpha; trace A's id exists in both projects, each sees its
  // own.
  EXPECT_EQ(Code("/api/v1/traces/" + kTraceC, kAlphaRead), 404);
  json a_alpha = Get("/api/v1/traces/" + kTraceA, kAlphaRead).body;
  json a_beta = Get("/api/v1/traces/" + kTraceA, kBetaRead).body;
  EXPECT_EQ(a_alpha["spans"].size(), 3u);
  ASSERT_EQ(a_beta["spans"].size(), 1u);
  EXPECT_EQ(a_beta["spans"][0]["span_id"], "a0000000000000ff");
  EXPECT_EQ(a_beta["complete"], false);  // beta never published a trace record for it
  // Content is asked for with the caller's project.
  EXPECT_EQ(Code("/api/v1/traces/" + kTraceA + "/content", kAlphaAdmin, "alpha"), 200);
}

TEST_F(Auth, KeysNeverAppearInLogs) {
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>("capture", sink);
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  Get(kSummary, ServeTest::Auth(kAlphaRead, "beta"));  // a denial is logged
  Get(kSummary, "wrong-key-123456");
  Get(kSummary, kJwtExpired);
  Get(kSummary, kAlphaAdmin);
  spdlog::set_default_logger(previous);
  std::string text = log.str();
  EXPECT_NE(text.find("denied project beta"), std::string::npos) << text;
  for (const std::string& secret :
       {kAlphaRead, kAlphaAdmin, std::string("wrong-key-123456"), kJwtExpired, kJwtSecret})
    EXPECT_EQ(text.find(secret), std::string::npos) << secret;
}

TEST_F(Auth, RateLimitAnswers429PerCaller) {
  ServeOptions o = DefaultOptions();
  o.rate_limit_rps = 0.001;  // practically no refill during the test
  o.rate_limit_burst = 2;
  StartWith(o);
  EXPECT_EQ(Code(kSummary, kAlphaRead), 200);
  EXPECT_EQ(Code(kSummary, kAlphaRead), 200);
  Reply r = Get(kSummary, kAlphaRead);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.body["error"], "rate limit exceeded");
  EXPECT_EQ(Code(kSummary, kAlphaQuery), 200);  // another caller has its own bucket
  // Bad credentials are answered 401 before any bucket is charged.
  EXPECT_EQ(Code(kSummary, "wrong-key-123456"), 401);
  EXPECT_NE(Get("/metrics", "").text.find("spanpipe_http_rate_limited_total 1"), std::string::npos);
}

TEST_F(Auth, OpenModeOnLoopbackNeedsNoKeyAndDefaultsTheProject) {
  ServeOptions o = DefaultOptions();
  o.open_on_loopback = true;
  StartWith(o);
  Reply r = Get(kSummary, httplib::Headers{});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["current"]["requests"], 0);  // project "default" has no data
  EXPECT_EQ(Get(kSummary, httplib::Headers{{"x-project-id", "alpha"}}).body["current"]["requests"],
            3);
}

// ---- auth.h directly
// ------------------------------------------------------------------------------

TEST(AuthUnit, VerifiesTheRfc7515ExampleSignature) {
  // RFC 7515 appendix A.1: an HS256 JWS and its key (JWK "k", base64url-decoded below). Its claims
  // carry neither projects nor role, so a correctly verified token fails on the claims, not the
  // signature.
  const unsigned char key[] = {0x03, 0x23, 0x35, 0x4b, 0x2b, 0x0f, 0xa5, 0xbc, 0x83, 0x7e, 0x06,
                               0x65, 0x77, 0x7b, 0xa6, 0x8f, 0x5a, 0xb3, 0x28, 0xe6, 0xf0, 0x54,
                               0xc9, 0x28, 0xa9, 0x0f, 0x84, 0xb2, 0xd2, 0x50, 0x2e, 0xbf, 0xd3,
                               0xfb, 0x5a, 0x92, 0xd2, 0x06, 0x47, 0xef, 0x96, 0x8a, 0xb4, 0xc3,
                               0x77, 0x62, 0x3d, 0x22, 0x3d, 0x2e, 0x21, 0x72, 0x05, 0x2e, 0x4f,
                               0x08, 0xc0, 0xcd, 0x9a, 0xf5, 0x67, 0xd0, 0x80, 0xa3};
  std::string secret(reinterpret_cast<const char*>(key), sizeof key);
  std::string token =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxl"
      "LmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  Principal p;
  std::string error;
  EXPECT_FALSE(Authenticate(token, {}, secret, 1300819379, &p, &error));
  EXPECT_EQ(error, "token lacks role or projects");
  EXPECT_FALSE(Authenticate(token, {}, secret, 1300819380, &p, &error));  // at exp: expired
  EXPECT_EQ(error, "token expired");
  EXPECT_FALSE(Authenticate(token, {}, secret + "x", 1300819379, &p, &error));
  EXPECT_EQ(error, "invalid token signature");
}

TEST(AuthUnit, MakeJwtEqualsAnIndependentlyMintedToken) {
  EXPECT_EQ(
      MakeJwt(kJwtSecret, R"({"sub":"ci","projects":["alpha"],"role":"read","exp":4102444800})"),
      kJwtAlphaRead);
}

TEST(AuthUnit, KeysMapToTheirProjectsAndRole) {
  std::vector<ApiKey> keys = {{"key-one-123", {"p1"}, "read"},
                              {"key-two-456", {"p1", "p2"}, "admin"}};
  Principal p;
  std::string error;
  ASSERT_TRUE(Authenticate("key-two-456", keys, "", 0, &p, &error));
  EXPECT_EQ(p.projects, (std::vector<std::string>{"p1", "p2"}));
  EXPECT_EQ(p.role, 3);
  EXPECT_EQ(p.name.find("key-two"), std::string::npos);  // the principal's name is a fingerprint
  EXPECT_EQ(p.name.rfind("key:", 0), 0u);
  EXPECT_FALSE(
      Authenticate("key-one-12", keys, "", 0, &p, &error));  // a prefix of a key is not the key
  EXPECT_FALSE(Authenticate("", keys, "", 0, &p, &error));
  EXPECT_EQ(error, "missing bearer token");
}

}  // namespace
}  // namespace spanpipe::serve::servetest
