// The bucket cache behind the HTTP server: with the response cache off, a series whose range
// differs per request is served from cached buckets, a commit into a cached bucket shows in the
// next answer, and the gzip form assembled from the buckets inflates to the plain answer.
#include "serve/query_api.h"
#include "serve_fixture.h"
#include "tests/unit/serve/gunzip.h"

namespace spanpipe::serve::servetest {
namespace {

class HttpBucketCache : public ServeTest {
 protected:
  void SetUp() override {
    ServeOptions o = DefaultOptions();
    o.cache_entries = 0;  // every answer computed (from cached buckets)
    StartWith(o);
    AddModels();
  }
  // 20 more models at 09:00 and 10:00, so that the answer is over the 1 KiB gzip threshold.
  void AddModels() {
    for (int m = 0; m < 20; ++m)
      for (int64_t w : {kT0900, kT1000})
        ASSERT_TRUE(store_
                        ->Apply("spanpipe.rollups", "",
                                RollupJson({"1h", w, "alpha", "chat", "openai",
                                            "model-" + std::to_string(m), m + 1, 0, 10, 10, 0.5, 10,
                                            10, 10, 10, 10, 10, 10}))
                        .ok());
    ASSERT_TRUE(store_->Commit().ok());
  }
  // The alpha series from 09:00:<second> to 11:00: buckets 09:00 and 10:00, both whole.
  static std::string Series(int second) {
    return "/api/v1/metrics?metrics=request_count,total_cost&interval=1hour&group_by=model"
           "&start_time=2025-03-10T09:00:" +
           std::string(second < 10 ? "0" : "") + std::to_string(second) +
           "Z&end_time=2025-03-10T11:00:00Z";
  }
  // The same answer computed from the store alone.
  std::string Cold(int second) {
    Params p{{"metrics", "request_count,total_cost"},
             {"interval", "1hour"},
             {"group_by", "model"},
             {"start_time", "2025-03-10T09:00:" + std::string(second < 10 ? "0" : "") +
                                std::to_string(second) + "Z"},
             {"end_time", "2025-03-10T11:00:00Z"}};
    return MetricsSeries(*store_, "alpha", p, kT1100).text;
  }
};

TEST_F(HttpBucketCache, NewRangesAreServedFromCachedBucketsAndCommitsShow) {
  Reply first = Get(Series(0));
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.text, Cold(0));
  EXPECT_EQ(Metric("spanpipe_http_bucket_cache_misses_total"), "2");
  EXPECT_EQ(Metric("spanpipe_http_bucket_cache_hits_total"), "0");
  Reply second = Get(Series(1));  // another query: the same two buckets
  EXPECT_EQ(second.text, Cold(1));
  EXPECT_EQ(Metric("spanpipe_http_bucket_cache_hits_total"), "2");
  EXPECT_EQ(Metric("spanpipe_http_bucket_cache_entries"), "2");

  // gpt-4o's 10:00 row grows from 2 requests to 5: the 10:00 bucket is read again, 09:00 is not.
  ASSERT_TRUE(store_
                  ->Apply("spanpipe.rollups", "",
                          RollupJson({"1h", kT1000, "alpha", "chat", "openai", "gpt-4o", 5, 1, 300,
                                      150, 0.75, 400, 100, 300, 100, 300, 300, 300}))
                  .ok());
  ASSERT_TRUE(store_->Commit().ok());
  Reply third = Get(Series(2));
  ASSERT_EQ(third.status, 200);
  EXPECT_EQ(third.text, Cold(2));
  EXPECT_NE(third.text.find("\"model\":\"gpt-4o\"},\"request_count\":5"), std::string::npos);
  EXPECT_EQ(Metric("spanpipe_http_bucket_cache_invalidated_total"), "1");
  EXPECT_EQ(Metric("spanpipe_http_bucket_cache_hits_total"), "3");
  EXPECT_EQ(Metric("spanpipe_http_bucket_cache_misses_total"), "3");

  // gzip, assembled from the buckets' deflate segments.
  httplib::Client c("127.0.0.1", server_->port());
  c.set_decompress(false);
  httplib::Headers h = Auth(kAlphaRead);
  h.emplace("Accept-Encoding", "gzip");
  auto gz = c.Get(Series(3).c_str(), h);
  ASSERT_TRUE(gz);
  ASSERT_EQ(gz->status, 200);
  EXPECT_EQ(gz->get_header_value("Content-Encoding"), "gzip");
  EXPECT_EQ(Gunzip(gz->body), Cold(3));
  EXPECT_GT(Cold(3).size(), 2000u);
}

TEST_F(HttpBucketCache, Off) {
  ServeOptions o = DefaultOptions();
  o.cache_entries = 0;
  o.bucket_cache_bytes = 0;
  StartWith(o);
  AddModels();
  EXPECT_EQ(Get(Series(0)).text, Cold(0));
  EXPECT_EQ(Get(Series(1)).text, Cold(1));
  EXPECT_EQ(Metric("spanpipe_http_bucket_cache_hits_total"), "missing");
}

}  // namespace
}  // namespace spanpipe::serve::servetest
