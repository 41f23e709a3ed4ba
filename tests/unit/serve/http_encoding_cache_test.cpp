// How answers travel: gzip (ours, never cpp-httplib's brotli) for clients that accept it, and the
// response cache of /api/v1/metrics and /summary, invalidated by the next store commit.
#include "serve_fixture.h"
#include "tests/unit/serve/gunzip.h"

namespace spanpipe::serve::servetest {
namespace {

class Encoding : public ServeTest {
 protected:
  // 120 more one-minute gpt-4o rows of alpha from 09:00, so that a 1min series is several KB.
  void AddMinuteRows(int64_t requests_each) {
    for (int i = 0; i < 120; ++i)
      ASSERT_TRUE(
          store_
              ->Apply("spanpipe.rollups", "",
                      RollupJson({"1m", kT0900 + i * kMin, "alpha", "chat", "openai", "gpt-4o",
                                  requests_each, 0, 5, 5, 0.5, 10, 10, 10, 10, 10, 10, 10}))
              .ok());
    ASSERT_TRUE(store_->Commit().ok());
  }
  // The raw reply (no decompression by the client).
  httplib::Result Raw(const std::string& path, const std::string& accept_encoding,
                      const std::string& key = kAlphaRead) {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_decompress(false);
    httplib::Headers h = Auth(key);
    if (!accept_encoding.empty()) h.emplace("Accept-Encoding", accept_encoding);
    return c.Get(path.c_str(), h);
  }
};

const std::string kMinuteSeries =
    "/api/v1/metrics?metrics=request_count,total_cost&interval=1min&" + kRange;

TEST_F(Encoding, GzipForClientsThatAcceptItAndNeverBrotli) {
  AddMinuteRows(1);
  auto plain = Raw(kMinuteSeries, "");
  ASSERT_TRUE(plain);
  ASSERT_EQ(plain->status, 200);
  EXPECT_FALSE(plain->has_header("Content-Encoding"));
  EXPECT_EQ(plain->get_header_value("Content-Type"), "application/json; charset=utf-8");
  json body = json::parse(plain->body);
  ASSERT_EQ(body["metadata"]["total_points"], 120);  // the seeded 1m rows share these minutes
  ASSERT_GT(plain->body.size(), 4000u);

  // What Chromium sends: gzip, and not brotli on top (httplib would pick br at quality 11).
  auto browser = Raw(kMinuteSeries, "gzip, deflate, br, zstd");
  ASSERT_TRUE(browser);
  ASSERT_EQ(browser->status, 200);
  EXPECT_EQ(browser->get_header_value("Content-Encoding"), "gzip");
  EXPECT_EQ(browser->get_header_value("Vary"), "Accept-Encoding");
  EXPECT_LT(browser->body.size() * 4, plain->body.size());
  EXPECT_EQ(Gunzip(browser->body), plain->body);

  // Without gzip among the accepted codings: identity.
  auto br_only = Raw(kMinuteSeries, "br");
  ASSERT_TRUE(br_only);
  EXPECT_FALSE(br_only->has_header("Content-Encoding"));
  EXPECT_EQ(br_only->body, plain->body);

  // Other JSON answers too (not cached): /group, and errors stay small and plain.
  auto group = Raw("/group?group_by=time&bucketSize=60&limit=1000&" + kRange, "gzip, br");
  ASSERT_TRUE(group);
  ASSERT_EQ(group->status, 200);
  EXPECT_EQ(json::parse(Gunzip(group->body))["data"].size(), 120u);
  auto error = Raw("/api/v1/metrics?interval=2min", "gzip, br");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->status, 400);
  EXPECT_FALSE(error->has_header("Content-Encoding"));
  EXPECT_TRUE(json::parse(error->body)["error"].is_string());
}

TEST_F(Encoding, RepeatedQueriesComeFromTheCacheUntilTheStoreCommits) {
  const std::string q = "/api/v1/metrics?metrics=request_count&interval=1hour&" + kRange;
  Reply first = Get(q);
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.body["data"][1]["request_count"], 3);  // 10:00
  EXPECT_EQ(Metric("spanpipe_http_cache_misses_total"), "1");
  EXPECT_EQ(Metric("spanpipe_http_cache_hits_total"), "0");

  // The same query, parameters in another order: a hit, the same answer.
  Reply again = Get("/api/v1/metrics?" + kRange + "&interval=1hour&metrics=request_count");
  EXPECT_EQ(again.text, first.text);
  EXPECT_EQ(Metric("spanpipe_http_cache_hits_total"), "1");

  // Another project asking the same: its own data.
  Reply beta = Get(q, kBetaRead);
  ASSERT_EQ(beta.status, 200);
  EXPECT_EQ(beta.body["data"][0]["request_count"], 7);

  // New rows committed: the next answer includes them.
  ASSERT_TRUE(store_
                  ->Apply("spanpipe.rollups", "",
                          RollupJson({"1h", kT1000, "alpha", "chat", "openai", "gpt-4o-mini", 5, 0,
                                      1, 1, 0.1, 5, 1, 1, 1, 1, 1, 1}))
                  .ok());
  ASSERT_TRUE(store_->Commit().ok());
  Reply after = Get(q);
  ASSERT_EQ(after.status, 200);
  EXPECT_EQ(after.body["data"][1]["request_count"], 8);
  EXPECT_EQ(Metric("spanpipe_http_cache_hits_total"), "1");

  // Without both ends of the range the answer depends on the clock: never cached.
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Get("/api/v1/metrics?interval=1hour").status, 200);
    EXPECT_EQ(Get("/api/v1/metrics?interval=1hour&start_time=&end_time=").status, 200);
  }
  EXPECT_EQ(Metric("spanpipe_http_cache_hits_total"), "1");

  // The summary is cached the same way.
  const std::string s = "/api/v1/metrics/summary?" + kRange;
  EXPECT_EQ(Get(s).text, Get(s).text);
  EXPECT_EQ(Metric("spanpipe_http_cache_hits_total"), "2");
}

TEST_F(Encoding, ACachedAnswerIsGzippedOnceForClientsThatAcceptIt) {
  AddMinuteRows(1);
  Reply plain = Get(kMinuteSeries);  // computed and cached without its gzip form
  ASSERT_EQ(plain.status, 200);
  for (int i = 0; i < 2; ++i) {
    auto gz = Raw(kMinuteSeries, "gzip");
    ASSERT_TRUE(gz);
    EXPECT_EQ(gz->get_header_value("Content-Encoding"), "gzip");
    EXPECT_EQ(Gunzip(gz->body), plain.text);
  }
  EXPECT_EQ(Get(kMinuteSeries).text, plain.text);
  EXPECT_EQ(Metric("spanpipe_http_cache_hits_total"), "3");
  EXPECT_EQ(Metric("spanpipe_http_cache_misses_total"), "1");
}

TEST_F(Encoding, CacheOff) {
  ServeOptions o = DefaultOptions();
  o.cache_entries = 0;
  StartWith(o);
  const std::string q = "/api/v1/metrics?metrics=request_count&interval=1hour&" + kRange;
  EXPECT_EQ(Get(q).text, Get(q).text);
  EXPECT_EQ(Metric("spanpipe_http_cache_hits_total"), "0");
  EXPECT_EQ(Metric("spanpipe_http_cache_misses_total"), "0");
}

}  // namespace
}  // namespace spanpipe::serve::servetest
