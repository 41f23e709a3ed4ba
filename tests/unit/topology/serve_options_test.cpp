// http.* config keys reach the query API: the rate limit set in the config answers 429 per API key.
#include "topology/serve_options.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "serve/query_store.h"

namespace spanpipe {
namespace {

constexpr char kKeyA[] = "key-a-12345678";
constexpr char kKeyB[] = "key-b-12345678";

class ServeOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("spanpipe_serve_options_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    ASSERT_TRUE(serve::QueryStore::Open(dir_.string(), 16, &store_).ok());
    ASSERT_TRUE(SetConfigValue(&cfg_, "http.listen", "127.0.0.1:0").ok());
    ASSERT_TRUE(
        SetConfigValue(&cfg_, "http.api_keys", std::string(kKeyA) + "@p@read;" + kKeyB + "@p@read")
            .ok());
  }
  void TearDown() override {
    if (server_) server_->Stop();
    server_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Start() {
    ASSERT_TRUE(ValidateConfig(cfg_).ok());
    server_ =
        std::make_unique<serve::HttpServer>(ServeOptionsFrom(cfg_), store_.get(), nullptr, nullptr);
    ASSERT_TRUE(server_->Start().ok());
  }
  int Code(const std::string& key) {
    httplib::Client c("127.0.0.1", server_->port());
    auto r = c.Get("/api/v1/metrics/summary", {{"Authorization", "Bearer " + key}});
    return r ? r->status : -1;
  }

  std::filesystem::path dir_;
  Config cfg_;
  std::unique_ptr<serve::QueryStore> store_;
  std::unique_ptr<serve::HttpServer> server_;
};

TEST_F(ServeOptionsTest, RateLimitFromTheConfigAnswers429PerKey) {
  ASSERT_TRUE(SetConfigValue(&cfg_, "http.rate_limit_per_second", "1").ok());
  ASSERT_TRUE(SetConfigValue(&cfg_, "http.rate_limit_burst", "3").ok());
  Start();
  auto start = std::chrono::steady_clock::now();
  int ok = 0, limited = 0;
  for (int i = 0; i < 8; ++i) {
    int code = Code(kKeyA);
    ok += code == 200;
    limited += code == 429;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The burst, plus one request per second that the requests took (refill at 1/s).
  EXPECT_GE(ok, 3);
  EXPECT_LE(ok, 3 + static_cast<int>(secs) + 1) << secs << " s";
  EXPECT_EQ(ok + limited, 8);
  EXPECT_EQ(Code(kKeyB), 200);  // another key has its own bucket
}

TEST_F(ServeOptionsTest, RateLimitZeroIsOff) {
  ASSERT_TRUE(SetConfigValue(&cfg_, "http.rate_limit_per_second", "0").ok());
  ASSERT_TRUE(SetConfigValue(&cfg_, "http.rate_limit_burst", "1").ok());
  Start();
  for (int i = 0; i < 20; ++i) ASSERT_EQ(Code(kKeyA), 200) << "request " << i;
}

TEST_F(ServeOptionsTest, DefaultsAndBadValues) {
  serve::ServeOptions o = ServeOptionsFrom(cfg_);
  EXPECT_EQ(o.rate_limit_rps, 1000);
  EXPECT_EQ(o.rate_limit_burst, 2000);
  EXPECT_EQ(o.bucket_cache_bytes, size_t{64} << 20);
  ASSERT_EQ(o.api_keys.size(), 2u);
  EXPECT_EQ(o.api_keys[1].key, kKeyB);
  EXPECT_EQ(o.api_keys[1].projects, std::vector<std::string>{"p"});
  Status s = SetConfigValue(&cfg_, "http.rate_limit_per_second", "-1");
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("http.rate_limit_per_second"), std::string::npos) << s.message();
  EXPECT_TRUE(SetConfigValue(&cfg_, "http.rate_limit_burst", "0").IsInvalidArgument());
  ASSERT_TRUE(SetConfigValue(&cfg_, "http.bucket_cache_mib", "0").ok());
  EXPECT_EQ(ServeOptionsFrom(cfg_).bucket_cache_bytes, 0u);  // off
  EXPECT_TRUE(SetConfigValue(&cfg_, "http.bucket_cache_mib", "-1").IsInvalidArgument());
}

}  // namespace
}  // namespace spanpipe
