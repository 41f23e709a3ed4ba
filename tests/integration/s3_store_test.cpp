// The content store over a real S3 endpoint: s3rver (npm, tests/node_modules, installed by
// scripts/setup.sh) started as a child process on a free 127.0.0.1 port with a temporary folder.
// Through connectors' S3ObjectStore: round trips, binary payloads, keys that need encoding,
// paginated listings, multipart uploads; through a fault-injecting HTTP proxy in front of s3rver:
// retries with backoff on 5xx/429/timeouts/refused connections, no retry on 403, credentials never
// in errors or logs; requests captured on the wire and re-signed by botocore; and end to end:
// `spanpipe replay` + `spanpipe reconstruct --store s3://...` byte for byte, and a missing or
// corrupt pack is an error naming it (exit 1).
//
// s3rver does not verify SigV4 signatures (lib/middleware/authentication.js: "Signature version 4
// calculation is unimplemented"; it only checks that the access key id exists, so a wrong secret
// key is accepted): signatures are checked against botocore instead (here on the wire, and in
// tests/unit/connectors/s3_sigv4_test.cpp on fixed inputs).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "common/hex.h"
#include "connectors/kafka_sink.h"
#include "connectors/object_store.h"
#include "operators/content_format.h"
#include "operators/content_processor.h"
#include "operators/content_reader.h"
#include "state/state_db.h"
#include "tests/integration/kafka_util.h"
#include "tests/integration/process_util.h"
#include "tests/unit/connectors/botocore_signer.h"

namespace spanpipe {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr char kBucket[] = "spanpipe-it";
// A secret that must never show up anywhere: errors, logs, stderr.
constexpr char kSecret[] = "Sup3rS3cret/K7MDENG+bPxRfiCYzz9";
constexpr char kToken[] = "SessionTok3n/SeCrEt+value==";

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// s3rver as a child process; one for the whole test binary (node starts in about a second).
class S3rver {
 public:
  static S3rver& Get() {
    static S3rver server;
    return server;
  }
  bool ok() const { return pid_ > 0 && error_.empty(); }
  const std::string& error() const { return error_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  // Folder of an object's bytes in s3rver's file system store.
  std::string ObjectFile(const std::string& key) const {
    return dir_ + "/" + kBucket + "/" + key + "._S3rver_object";
  }
  ~S3rver() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      auto deadline = Clock::now() + std::chrono::seconds(5);
      int status;
      while (::waitpid(pid_, &status, WNOHANG) == 0) {
        if (Clock::now() > deadline) {
          ::kill(pid_, SIGKILL);
          ::waitpid(pid_, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    if (!dir_.empty()) fs::remove_all(fs::path(dir_).parent_path());
  }

 private:
  S3rver() {
    std::string bin = std::string(SPANPIPE_SOURCE_DIR) + "/tests/node_modules/.bin/s3rver";
    if (!fs::exists(bin)) {
      error_ = bin + " is missing: run scripts/setup.sh (npm install in tests/)";
      return;
    }
    std::string root = testutil::TempDir("s3rver");
    dir_ = root + "/data";
    fs::create_directories(dir_);
    std::string log = root + "/s3rver.log";
    for (int attempt = 0; attempt < 3 && pid_ <= 0; ++attempt) {
      port_ = FreePort();
      std::vector<std::string> argv = {
          bin,         "--directory",        dir_,    "--port",  std::to_string(port_), "--address",
          "127.0.0.1", "--configure-bucket", kBucket, "--silent"};
      pid_t pid = fork();
      if (pid == 0) {
        // s3rver encrypts continuation tokens with DES, which OpenSSL 3 (Node >= 17) only offers
        // through its legacy provider.
        ::setenv("NODE_OPTIONS", "--openssl-legacy-provider", 1);
        // Dies with the test process, however that ends (crash, timeout kill).
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        _exit(127);
      }
      // Ready when the bucket answers.
      httplib::Client c("127.0.0.1", port_);
      c.set_connection_timeout(0, 200000);
      auto deadline = Clock::now() + std::chrono::seconds(30);
      bool ready = false;
      while (Clock::now() < deadline) {
        int status;
        if (::waitpid(pid, &status, WNOHANG) == pid) break;  // died (port taken?): retry
        auto res = c.Get(std::string("/") + kBucket);
        if (res && res->status == 200) {
          ready = true;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (ready) {
        pid_ = pid;
      } else {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
    if (pid_ <= 0) error_ = "s3rver did not start: " + testutil::Slurp(log);
  }

  pid_t pid_ = -1;
  int port_ = 0;
  std::string dir_, error_;
};

#define ASSERT_OK(expr)                                     \
  do {                                                      \
    ::spanpipe::Status _s = (expr);                         \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)

#define REQUIRE_S3RVER()                                      \
  do {                                                        \
    if (!S3rver::Get().ok()) FAIL() << S3rver::Get().error(); \
  } while (0)

std::string UniquePrefix(const std::string& name) {
  static int n = 0;
  return "it-" + std::to_string(::getpid()) + "-" + std::to_string(++n) + "-" + name;
}

ObjectStoreOptions S3Options(const std::string& prefix, const std::string& endpoint) {
  ObjectStoreOptions o;
  o.url = std::string("s3://") + kBucket + "/" + prefix;
  o.endpoint = endpoint;
  o.region = "us-east-1";
  o.access_key_id = "S3RVER";  // the only access key s3rver knows
  o.secret_access_key = kSecret;
  o.max_retries = 3;
  o.retry_base_ms = 5;
  o.retry_max_ms = 20;
  return o;
}

std::unique_ptr<ObjectStore> OpenS3(const ObjectStoreOptions& o) {
  std::unique_ptr<ObjectStore> store;
  Status s = OpenObjectStore(o, &store);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return store;
}

bool IEq(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// ---------------------------------------------------------------------------------------------
// A tiny HTTP server in front of s3rver: answers the next requests (optionally only those whose
// target contains a substring) with scripted statuses, optionally stalls, forwards the rest, and
// records every request as received.
struct Captured {
  std::string method, target, body;
  std::multimap<std::string, std::string, httplib::detail::ci> headers;
  std::multimap<std::string, std::string> params;
};

class FaultProxy {
 public:
  explicit FaultProxy(int upstream_port) : upstream_port_(upstream_port) {
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      Handle(req, res);
    };
    srv_.Get(".*", handler);
    srv_.Put(".*", handler);
    srv_.Post(".*", handler);
    srv_.Delete(".*", handler);
    srv_.Options(".*", handler);
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FaultProxy() {
    srv_.stop();
    thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The next requests whose target contains `match` get these statuses, in order.
  void Fail(std::vector<int> statuses, std::string match = "") {
    std::lock_guard<std::mutex> l(mu_);
    for (int s : statuses) script_.push_back({s, match});
  }
  // While down, every request gets a 503.
  void SetDown(bool down) {
    std::lock_guard<std::mutex> l(mu_);
    down_ = down;
  }
  void StallNext(int ms) {
    std::lock_guard<std::mutex> l(mu_);
    stall_ms_ = ms;
  }
  size_t hits() {
    std::lock_guard<std::mutex> l(mu_);
    return captured_.size();
  }
  std::vector<Captured> captured() {
    std::lock_guard<std::mutex> l(mu_);
    return captured_;
  }

 private:
  void Handle(const httplib::Request& req, httplib::Response& res) {
    int fail = 0, stall = 0;
    {
      std::lock_guard<std::mutex> l(mu_);
      Captured c{req.method, req.target, req.body, {}, {}};
      for (const auto& [k, v] : req.headers) c.headers.emplace(k, v);
      for (const auto& [k, v] : req.params) c.params.emplace(k, v);
      captured_.push_back(std::move(c));
      for (auto it = script_.begin(); it != script_.end(); ++it) {
        if (req.target.find(it->second) != std::string::npos) {
          fail = it->first;
          script_.erase(it);
          break;
        }
      }
      stall = stall_ms_;
      stall_ms_ = 0;
      if (down_ && !fail) fail = 503;
    }
    if (stall > 0) std::this_thread::sleep_for(std::chrono::milliseconds(stall));
    if (fail) {
      const char* code = fail == 403   ? "AccessDenied"
                         : fail == 429 ? "TooManyRequests"
                         : fail == 503 ? "SlowDown"
                                       : "InternalError";
      res.status = fail;
      res.set_content(std::string("<?xml version=\"1.0\"?><Error><Code>") + code +
                          "</Code><Message>injected " + std::to_string(fail) +
                          "</Message><RequestId>1</RequestId></Error>",
                      "application/xml");
      return;
    }
    httplib::Client up("127.0.0.1", upstream_port_);
    httplib::Request f;
    f.method = req.method;
    f.path = req.target;
    for (const auto& [k, v] : req.headers)
      if (!IEq(k, "Host") && !IEq(k, "Content-Length") && !IEq(k, "Transfer-Encoding") &&
          // httplib's server applies Range itself to what the handler returns: fetch the whole
          // object and let it slice.
          !IEq(k, "Range") && !IEq(k, "REMOTE_ADDR") && !IEq(k, "REMOTE_PORT") &&
          !IEq(k, "LOCAL_ADDR") && !IEq(k, "LOCAL_PORT"))
        f.headers.emplace(k, v);
    f.body = req.body;
    auto r = up.send(f);
    if (!r) {
      res.status = 502;
      return;
    }
    res.status = r->status;
    for (const auto& [k, v] : r->headers)
      if (IEq(k, "ETag") || IEq(k, "Content-Type") || IEq(k, "Content-Range")) res.set_header(k, v);
    res.body = r->body;
  }

  int upstream_port_, port_ = 0;
  httplib::Server srv_;
  std::thread thread_;
  std::mutex mu_;
  std::deque<std::pair<int, std::string>> script_;
  int stall_ms_ = 0;
  bool down_ = false;
  std::vector<Captured> captured_;
};

// Captures spdlog output for a scope.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(10000)) {
    previous_ = spdlog::default_logger();
    auto logger = std::make_shared<spdlog::logger>("capture", sink_);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() {
    std::string all;
    for (const auto& l : sink_->last_formatted()) all += l;
    return all;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

void ExpectNoSecrets(const std::string& text) {
  EXPECT_EQ(text.find(kSecret), std::string::npos) << text;
  EXPECT_EQ(text.find(kToken), std::string::npos) << text;
  EXPECT_EQ(text.find("Signature="), std::string::npos) << text;
}

std::string Binary(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// ---------------------------------------------------------------------------------------------

TEST(S3Store, PutGetExistsListRoundTrips) {
  REQUIRE_S3RVER();
  auto store = OpenS3(S3Options(UniquePrefix("basic"), S3rver::Get().endpoint()));
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  const std::map<std::string, std::string> objects = {
      {"packs/a", all_bytes + all_bytes},
      {"packs/b", Binary(1 << 20, 7)},
      {"packs/empty", ""},
      {"manifests/default/0123/x", "SPMF\x01\x00\r\n\0tail"},
      {"other", "text"}};
  for (const auto& [k, v] : objects) ASSERT_TRUE(store->Put(k, v).ok()) << k;
  for (const auto& [k, v] : objects) {
    std::string got;
    Status s = store->Get(k, &got);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(got == v) << k;
    bool exists = false;
    ASSERT_OK(store->Exists(k, &exists));
    EXPECT_TRUE(exists) << k;
  }
  // Overwrite, ranges.
  ASSERT_OK(store->Put("other", "replaced"));
  std::string got;
  ASSERT_OK(store->Get("other", &got));
  EXPECT_EQ(got, "replaced");
  ASSERT_OK(store->GetRange("packs/b", 1000, 4096, &got));
  EXPECT_TRUE(got == objects.at("packs/b").substr(1000, 4096));
  ASSERT_OK(store->GetRange("packs/a", 510, 2, &got));
  EXPECT_EQ(got, std::string("\xfe\xff", 2));
  // Missing objects: NotFound naming the object, not retried, not an error count.
  uint64_t requests = store->requests(), errors = store->errors();
  Status s = store->Get("packs/missing", &got);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_NE(s.message().find("packs/missing"), std::string::npos) << s.message();
  s = store->GetRange("packs/missing", 0, 10, &got);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  bool exists = true;
  ASSERT_OK(store->Exists("packs/missing", &exists));
  EXPECT_FALSE(exists);
  EXPECT_EQ(store->requests(), requests + 3);
  EXPECT_EQ(store->errors(), errors);
  EXPECT_EQ(store->retries(), 0u);
  // Listings are relative to the store's prefix, sorted, prefix-filtered.
  std::vector<std::string> keys;
  ASSERT_OK(store->List("packs/", &keys));
  EXPECT_EQ(keys, (std::vector<std::string>{"packs/a", "packs/b", "packs/empty"}));
  ASSERT_OK(store->List("", &keys));
  EXPECT_EQ(keys.size(), objects.size());
  ASSERT_OK(store->List("nothing/", &keys));
  EXPECT_TRUE(keys.empty());
}

TEST(S3Store, KeysThatNeedEncoding) {
  REQUIRE_S3RVER();
  auto store = OpenS3(S3Options(UniquePrefix("enc"), S3rver::Get().endpoint()));
  // (Not "x/./y": s3rver itself normalises that path to "x/y"; we send it as is,
  // CURLOPT_PATH_AS_IS.)
  const std::vector<std::string> keys = {
      "manifests/team%2Fx/a b", "manifests/%/trace",   "k/plus+sign",  "k/eq=amp&q?h#",
      "k/ünïcødé-日本",         "k/tilde~dot.dash-_",  "k/(paren)!*'", "k/semi;colon:at@,",
      "k/brackets[]{}$",        "k/lt<gt>quot\"apos'", "k/a./b..c"};
  for (const auto& k : keys) {
    Status s = store->Put(k, "value of " + k);
    ASSERT_TRUE(s.ok()) << k << ": " << s.ToString();
  }
  for (const auto& k : keys) {
    std::string got;
    Status s = store->Get(k, &got);
    ASSERT_TRUE(s.ok()) << k << ": " << s.ToString();
    EXPECT_EQ(got, "value of " + k);
  }
  std::vector<std::string> listed, want = keys;
  ASSERT_OK(store->List("", &listed));
  std::sort(want.begin(), want.end());
  EXPECT_EQ(listed, want);
  ASSERT_OK(store->List("manifests/%", &listed));
  EXPECT_EQ(listed, (std::vector<std::string>{"manifests/%/trace"}));
}

TEST(S3Store, ListingsArePaginated) {
  REQUIRE_S3RVER();
  ObjectStoreOptions o = S3Options(UniquePrefix("pages"), S3rver::Get().endpoint());
  o.list_page_keys = 3;
  auto store = OpenS3(o);
  std::vector<std::string> want;
  for (int i = 0; i < 11; ++i) {
    want.push_back("manifests/p/" + std::to_string(1000 + i));
    ASSERT_OK(store->Put(want.back(), "x"));
  }
  uint64_t before = store->requests();
  std::vector<std::string> got;
  ASSERT_OK(store->List("manifests/", &got));
  EXPECT_EQ(got, want);
  EXPECT_EQ(store->requests() - before, 4u);  // 3 + 3 + 3 + 2
}

TEST(S3Store, LargeObjectsGoUpAsMultipartUploads) {
  REQUIRE_S3RVER();
  std::string prefix = UniquePrefix("multipart");
  FaultProxy proxy(S3rver::Get().port());
  ObjectStoreOptions o = S3Options(prefix, proxy.endpoint());
  o.multipart_threshold = 256 << 10;
  o.multipart_part_bytes = 100 << 10;
  auto store = OpenS3(o);
  std::string big = Binary((1 << 20) + 123, 11);  // 11 parts: 10 × 100 KiB + 1 × 23 KiB...
  size_t parts = (big.size() + o.multipart_part_bytes - 1) / o.multipart_part_bytes;
  // One part fails twice (503): retried on its own.
  proxy.Fail({503, 503}, "partNumber=3&");
  Status s = store->Put("packs/big", big);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::string got;
  ASSERT_OK(store->Get("packs/big", &got));
  EXPECT_TRUE(got == big);
  std::vector<Captured> reqs = proxy.captured();
  size_t creates = 0, uploads = 0, completes = 0;
  for (const auto& r : reqs) {
    if (r.method == "POST" && r.target.find("?uploads=") != std::string::npos) ++creates;
    if (r.method == "PUT" && r.target.find("partNumber=") != std::string::npos) ++uploads;
    if (r.method == "POST" && r.target.find("uploadId=") != std::string::npos) ++completes;
  }
  EXPECT_EQ(creates, 1u);
  EXPECT_EQ(uploads, parts + 2);
  EXPECT_EQ(completes, 1u);
  EXPECT_EQ(store->retries(), 2u);
  EXPECT_EQ(store->puts(), 1u);
  // At the threshold: a single PUT.
  ASSERT_OK(store->Put("packs/small", big.substr(0, o.multipart_threshold)));
  EXPECT_EQ(proxy.captured().back().method, "PUT");
  EXPECT_EQ(proxy.captured().back().target.find('?'), std::string::npos);
  // A part that keeps failing: the upload is aborted (DELETE ?uploadId=) and the error names it.
  proxy.Fail({500, 500, 500, 500}, "partNumber=2&");
  s = store->Put("packs/doomed", big);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.message().find("packs/doomed"), std::string::npos) << s.message();
  EXPECT_EQ(proxy.captured().back().method, "DELETE");
  bool exists = true;
  ASSERT_OK(store->Exists("packs/doomed", &exists));
  EXPECT_FALSE(exists);
}

TEST(S3Store, TransientFailuresAreRetriedWithBackoff) {
  REQUIRE_S3RVER();
  LogCapture logs;
  FaultProxy proxy(S3rver::Get().port());
  ObjectStoreOptions o = S3Options(UniquePrefix("retry"), proxy.endpoint());
  o.session_token = kToken;
  auto store = OpenS3(o);
  proxy.Fail({503, 429});
  Status s = store->Put("packs/r", "payload");
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(proxy.hits(), 3u);
  EXPECT_EQ(store->retries(), 2u);
  EXPECT_EQ(store->requests(), 3u);
  proxy.Fail({500, 500});
  std::string got;
  s = store->Get("packs/r", &got);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got, "payload");
  EXPECT_EQ(store->retries(), 4u);
  // Every attempt signs afresh: the retried request carries its own date and signature.
  auto reqs = proxy.captured();
  ASSERT_EQ(reqs.size(), 6u);
  EXPECT_EQ(reqs[0].headers.find("x-amz-security-token")->second, kToken);
  // A stalled response: the request times out and is retried.
  o.request_timeout_ms = 300;
  auto impatient = OpenS3(o);
  proxy.StallNext(1500);
  s = impatient->Get("packs/r", &got);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(impatient->retries(), 1u);
  // Exhausted retries: Unavailable, naming the object and the last cause.
  proxy.Fail({503, 503, 503, 503});
  s = store->Put("packs/r2", "x");
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.message().find("s3://spanpipe-it/"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("packs/r2"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("HTTP 503 SlowDown"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("4 attempts"), std::string::npos) << s.message();
  std::string text = logs.text();
  EXPECT_NE(text.find("retry 1/3"), std::string::npos) << text;  // the capture is real
  ExpectNoSecrets(text + s.message());
}

TEST(S3Store, RefusedConnectionsAreRetriedThenReported) {
  LogCapture logs;
  ObjectStoreOptions o = S3Options("refused", "http://127.0.0.1:" + std::to_string(FreePort()));
  o.max_retries = 2;
  auto store = OpenS3(o);
  Status s = store->Put("packs/x", "x");
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_EQ(store->retries(), 2u);
  EXPECT_EQ(store->requests(), 3u);
  EXPECT_NE(s.message().find("packs/x"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("3 attempts"), std::string::npos) << s.message();
  ExpectNoSecrets(logs.text() + s.message());
}

TEST(S3Store, ForbiddenIsNotRetriedAndSaysWhy) {
  REQUIRE_S3RVER();
  LogCapture logs;
  FaultProxy proxy(S3rver::Get().port());
  ObjectStoreOptions o = S3Options(UniquePrefix("forbidden"), proxy.endpoint());
  o.session_token = kToken;
  auto store = OpenS3(o);
  proxy.Fail(std::vector<int>(10, 403));
  Status s = store->Put("packs/f", "x");
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_EQ(proxy.hits(), 1u);
  EXPECT_EQ(store->retries(), 0u);
  EXPECT_NE(s.message().find("PUT s3://spanpipe-it/"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("HTTP 403 AccessDenied"), std::string::npos) << s.message();
  ExpectNoSecrets(logs.text() + s.message());

  // The real thing: s3rver refuses an access key it does not know (403 InvalidAccessKeyId).
  ObjectStoreOptions bad = S3Options(UniquePrefix("badkey"), S3rver::Get().endpoint());
  bad.access_key_id = "AKIDNOTKNOWN";
  auto denied = OpenS3(bad);
  s = denied->Put("packs/y", "x");
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.message().find("HTTP 403 InvalidAccessKeyId"), std::string::npos) << s.message();
  EXPECT_EQ(denied->requests(), 1u);
  std::vector<std::string> keys;
  s = denied->List("", &keys);
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  ExpectNoSecrets(logs.text() + s.message());
}

// What curl actually sent (method, raw target, Host, headers, body) re-signed by botocore with the
// same clock: the Authorization header must be identical.
TEST(S3Store, SignaturesOnTheWireMatchBotocore) {
  REQUIRE_S3RVER();
  if (!testutil::BotocoreAvailable()) GTEST_SKIP() << "python3-botocore is not installed";
  FaultProxy proxy(S3rver::Get().port());
  ObjectStoreOptions o = S3Options(UniquePrefix("wire") + "/sub dir", proxy.endpoint());
  o.region = "eu-west-3";
  o.session_token = kToken;
  o.multipart_threshold = 64 << 10;
  o.multipart_part_bytes = 40 << 10;
  o.list_page_keys = 2;
  auto store = OpenS3(o);
  std::string got;
  bool exists;
  std::vector<std::string> keys;
  ASSERT_OK(store->Put("manifests/team%2Fx/a b+c", "v1"));
  ASSERT_OK(store->Put("packs/ü=é&?", Binary(3000, 3)));
  ASSERT_OK(store->Put("packs/multi", Binary(100 << 10, 4)));
  ASSERT_OK(store->Get("manifests/team%2Fx/a b+c", &got));
  ASSERT_OK(store->GetRange("packs/multi", 10, 20, &got));
  ASSERT_OK(store->Exists("packs/none", &exists));
  ASSERT_OK(store->List("", &keys));
  ASSERT_EQ(keys.size(), 3u);
  auto reqs = proxy.captured();
  ASSERT_GE(reqs.size(), 11u);
  std::vector<testutil::BotoRequest> boto;
  std::set<std::string> methods;
  for (const auto& r : reqs) {
    testutil::BotoRequest b;
    b.method = r.method;
    std::string host = r.headers.find("Host")->second;
    std::string path = r.target.substr(0, r.target.find('?'));
    b.url = "http://" + host + path;
    for (const auto& [k, v] : r.params)
      b.params.emplace_back(k, v);  // decoded: botocore re-encodes
    auto range = r.headers.find("Range");
    if (range != r.headers.end()) b.headers.emplace_back("Range", range->second);
    auto ctype = r.headers.find("Content-Type");
    if (ctype != r.headers.end()) b.headers.emplace_back("Content-Type", ctype->second);
    b.payload = r.body;
    b.amz_date = r.headers.find("x-amz-date")->second;
    b.region = o.region;
    b.access_key_id = o.access_key_id;
    b.secret_access_key = kSecret;
    b.session_token = kToken;
    boto.push_back(b);
    methods.insert(r.method);
  }
  EXPECT_EQ(methods, (std::set<std::string>{"GET", "HEAD", "POST", "PUT"}));
  std::vector<testutil::BotoSignature> want;
  std::string error;
  ASSERT_TRUE(testutil::BotocoreSign(boto, &want, &error)) << error;
  ASSERT_EQ(want.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    SCOPED_TRACE(reqs[i].method + " " + reqs[i].target);
    // Headers we did not sign (Content-Type on a multipart create is removed) must not be sent.
    std::string ours = reqs[i].headers.find("Authorization")->second;
    std::string signed_headers = ours.substr(ours.find("SignedHeaders="));
    signed_headers = signed_headers.substr(14, signed_headers.find(',') - 14);
    if (reqs[i].headers.count("Content-Type")) {
      EXPECT_NE(signed_headers.find("content-type"), std::string::npos);
    }
    EXPECT_EQ(ours, want[i].authorization);
    EXPECT_EQ(reqs[i].headers.find("x-amz-content-sha256")->second, want[i].content_sha256);
  }
}

// ---------------------------------------------------------------------------------------------
// A multi-turn chat corpus written by the test: shared system prompts, history re-sent each turn,
// unicode, control characters and NUL bytes, events with bodies, large non-listed attributes and
// small ones that are not content.

struct TestSpan {
  std::string trace_hex, span_hex, parent_hex, name;
  uint64_t start_ns = 0;
  std::vector<std::pair<std::string, std::string>> attrs;                // string attributes
  std::vector<std::vector<std::pair<std::string, std::string>>> events;  // event attributes
};

std::vector<TestSpan> ChatCorpus(int conversations, int turns, uint64_t seed, bool huge = true) {
  std::mt19937_64 rng(seed);
  auto hex = [&](int bytes) {
    std::string raw;
    for (int i = 0; i < bytes; ++i) raw.push_back(static_cast<char>(rng() & 0xff));
    raw[0] |= 1;
    return HexEncode(raw);
  };
  const char* words[] = {"the",         "model", "span",   "token",  "cost",      "latency",
                         "Kafka",       "über",  "naïve",  "日本語", "emoji🙂", "\"quoted\"",
                         "back\\slash", "tab\t", "line\n", "cr\r",   "nul\0x"};
  auto text = [&](size_t n) {
    std::string s;
    while (s.size() < n) {
      std::string w = words[rng() % (sizeof words / sizeof *words)];
      if (w == "nul") w = std::string("nul\0x", 5);
      s += w + ' ';
    }
    return s;
  };
  std::vector<std::string> systems = {text(3000), text(6000), text(20000)};
  std::vector<TestSpan> spans;
  uint64_t t0 = 1764000000000000000ull;
  for (int c = 0; c < conversations; ++c) {
    std::string system = systems[c % systems.size()];
    std::vector<std::string> history;
    for (int t = 0; t < turns; ++t) {
      std::string user = text(200 + rng() % 2000);
      std::string answer = text(300 + rng() % 4000);
      if (huge && c == 0 && t == turns - 1) answer = text(300000);  // many chunks, a big pack
      history.push_back(user);
      TestSpan root, llm;
      root.trace_hex = llm.trace_hex = hex(16);
      root.span_hex = hex(8);
      llm.span_hex = hex(8);
      llm.parent_hex = root.span_hex;
      root.name = "chat";
      llm.name = "llm";
      root.start_ns = llm.start_ns = t0 + (c * 100 + t) * 1000000000ull;
      root.attrs = {{"input.value", user},
                    {"output.value", answer},
                    {"http.method", "POST"},
                    {"note", std::string(1000, 'n')},  // not content: <= 1 KiB
                    {"big.other", text(1500)}};        // content: > 1 KiB
      llm.attrs = {{"gen_ai.request.model", "gpt-4o"},
                   {"gen_ai.system_instructions", system},
                   {"gen_ai.prompt.0.content", system}};
      json messages = json::array({{{"role", "system"}, {"content", system}}});
      for (size_t i = 0; i < history.size(); ++i) {
        llm.attrs.emplace_back("gen_ai.prompt." + std::to_string(i + 1) + ".content", history[i]);
        messages.push_back({{"role", i % 2 ? "assistant" : "user"}, {"content", history[i]}});
      }
      llm.attrs.emplace_back("gen_ai.input.messages", messages.dump());
      llm.attrs.emplace_back("gen_ai.completion.0.content", answer);
      llm.attrs.emplace_back("llm.input_messages.0.message.content", user);
      llm.attrs.emplace_back("empty.ok", "");
      llm.attrs.emplace_back("gen_ai.prompt", "");  // empty content value: stored, reconstructed
      llm.events = {{{"body", user}, {"gen_ai.system", "openai"}},
                    {{"gen_ai.completion", answer}},
                    {{"event.note", "short"}}};
      history.push_back(answer);
      spans.push_back(root);
      spans.push_back(llm);
    }
  }
  return spans;
}

json AttrsJson(const std::vector<std::pair<std::string, std::string>>& attrs) {
  json a = json::array();
  for (const auto& [k, v] : attrs) a.push_back({{"key", k}, {"value", {{"stringValue", v}}}});
  return a;
}

// One ExportTraceServiceRequest per trace, one per line.
std::string CorpusJsonl(const std::vector<TestSpan>& spans);
std::vector<std::string> CorpusLines(const std::vector<TestSpan>& spans) {
  std::vector<std::string> lines;
  std::istringstream in(CorpusJsonl(spans));
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}
std::string CorpusJsonl(const std::vector<TestSpan>& spans) {
  std::map<std::string, json> by_trace;
  std::vector<std::string> order;
  for (const auto& s : spans) {
    json span = {{"traceId", s.trace_hex},
                 {"spanId", s.span_hex},
                 {"name", s.name},
                 {"kind", 3},
                 {"startTimeUnixNano", std::to_string(s.start_ns)},
                 {"endTimeUnixNano", std::to_string(s.start_ns + 500000000)},
                 {"attributes", AttrsJson(s.attrs)}};
    if (!s.parent_hex.empty()) span["parentSpanId"] = s.parent_hex;
    json events = json::array();
    for (size_t i = 0; i < s.events.size(); ++i)
      events.push_back({{"timeUnixNano", std::to_string(s.start_ns + i)},
                        {"name", "e" + std::to_string(i)},
                        {"attributes", AttrsJson(s.events[i])}});
    span["events"] = events;
    if (!by_trace.count(s.trace_hex)) order.push_back(s.trace_hex);
    by_trace[s.trace_hex].push_back(span);
  }
  std::string out;
  for (const auto& t : order) {
    json req = {{"resourceSpans",
                 {{{"resource",
                    {{"attributes",
                      {{{"key", "service.name"}, {"value", {{"stringValue", "chat-svc"}}}}}}}},
                   {"scopeSpans", {{{"spans", by_trace[t]}}}}}}}};
    out += req.dump() + "\n";
  }
  return out;
}

// (span_id, key) -> value: CONTRACT §5's content values, read off the OTLP JSON text itself.
using Expected = std::map<std::string, std::map<std::pair<std::string, std::string>, std::string>>;
bool ContentKey(const std::string& k, size_t size) {
  static const std::set<std::string> fixed = {"gen_ai.input.messages",
                                              "gen_ai.output.messages",
                                              "gen_ai.system_instructions",
                                              "gen_ai.prompt",
                                              "gen_ai.completion",
                                              "input.value",
                                              "output.value",
                                              "langfuse.observation.input",
                                              "langfuse.observation.output",
                                              "langfuse.trace.input",
                                              "langfuse.trace.output",
                                              "traceloop.entity.input",
                                              "traceloop.entity.output",
                                              "body"};
  if (fixed.count(k)) return true;
  auto indexed = [&](const std::string& pre, const std::string& suf) {
    if (k.size() <= pre.size() + suf.size() || k.compare(0, pre.size(), pre) != 0 ||
        k.compare(k.size() - suf.size(), suf.size(), suf) != 0)
      return false;
    std::string mid = k.substr(pre.size(), k.size() - pre.size() - suf.size());
    return std::all_of(mid.begin(), mid.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  return indexed("gen_ai.prompt.", ".content") || indexed("gen_ai.completion.", ".content") ||
         indexed("llm.input_messages.", ".message.content") ||
         indexed("llm.output_messages.", ".message.content") || size > 1024;
}
Expected ExpectedFromJsonl(const std::string& jsonl) {
  Expected out;
  std::istringstream in(jsonl);
  std::string line;
  while (std::getline(in, line)) {
    json req = json::parse(line);
    for (const auto& rs : req["resourceSpans"])
      for (const auto& ss : rs["scopeSpans"])
        for (const auto& sp : ss["spans"]) {
          auto& trace = out[sp["traceId"].get<std::string>()];
          std::string span = sp["spanId"];
          for (const auto& a : sp["attributes"]) {
            if (!a["value"].contains("stringValue")) continue;
            std::string v = a["value"]["stringValue"];
            if (ContentKey(a["key"], v.size())) trace[{span, a["key"]}] = v;
          }
          for (size_t i = 0; i < sp["events"].size(); ++i)
            for (const auto& a : sp["events"][i]["attributes"]) {
              std::string v = a["value"]["stringValue"];
              if (ContentKey(a["key"], v.size()))
                trace[{span, "event[" + std::to_string(i) + "]." + a["key"].get<std::string>()}] =
                    v;
            }
        }
  }
  return out;
}

std::map<std::pair<std::string, std::string>, std::string> ParseReconstructJson(
    const std::string& out, const std::string& trace) {
  std::map<std::pair<std::string, std::string>, std::string> got;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    json j = json::parse(line);
    EXPECT_EQ(j["trace_id"], trace);
    auto key = std::make_pair(j["span_id"].get<std::string>(), j["key"].get<std::string>());
    EXPECT_EQ(got.count(key), 0u) << key.first << " " << key.second;  // each value once
    got[key] = j["value"].get<std::string>();
  }
  return got;
}

std::vector<std::string> S3Env(const std::string& endpoint) {
  return {"AWS_ACCESS_KEY_ID=S3RVER", std::string("AWS_SECRET_ACCESS_KEY=") + kSecret,
          "AWS_ENDPOINT_URL_S3=" + endpoint, "AWS_REGION=us-east-1"};
}

// Uploads every object of a file:// store into the S3 store, as `aws s3 sync` would.
void Sync(const std::string& root, ObjectStore* s3, size_t* count) {
  *count = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    std::string key = fs::relative(e.path(), root).string();
    ASSERT_TRUE(s3->Put(key, testutil::Slurp(e.path().string())).ok()) << key;
    ++*count;
  }
}

TEST(S3EndToEnd, ReplayedContentReconstructsByteForByteFromS3) {
  REQUIRE_S3RVER();
  std::string dir = testutil::TempDir("s3_replay");
  std::vector<TestSpan> spans = ChatCorpus(4, 4, 42);
  std::string jsonl = CorpusJsonl(spans);
  std::ofstream(dir + "/input.jsonl") << jsonl;
  Expected expected = ExpectedFromJsonl(jsonl);
  ASSERT_EQ(expected.size(), 16u);

  // `spanpipe replay` writes the content store of the run under OUT/objects (file://).
  auto r = testutil::Run({SPANPIPE_BINARY, "replay", "--input", dir + "/input.jsonl", "--out",
                          dir + "/out", "--no-progress"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The spans records carry content_refs, never the values.
  for (const json& rec : testutil::ReadJsonLines(dir + "/out/spanpipe.spans.jsonl")) {
    EXPECT_FALSE(rec["attributes"].contains("gen_ai.input.messages"));
    EXPECT_FALSE(rec["attributes"].contains("input.value"));
    EXPECT_TRUE(rec.contains("content_refs"));
  }
  std::string prefix = UniquePrefix("replay") + "/content";
  ObjectStoreOptions o = S3Options(prefix, S3rver::Get().endpoint());
  auto s3 = OpenS3(o);
  size_t objects = 0;
  Sync(dir + "/out/objects", s3.get(), &objects);
  ASSERT_GT(objects, 0u);
  std::string url = std::string("s3://") + kBucket + "/" + prefix;
  for (const auto& [trace, values] : expected) {
    SCOPED_TRACE(trace);
    auto rs =
        testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store", url, "--trace", trace, "--json"},
                      S3Env(S3rver::Get().endpoint()));
    ASSERT_EQ(rs.exit_code, 0) << rs.err;
    auto got = ParseReconstructJson(rs.out, trace);
    EXPECT_EQ(got.size(), values.size());
    for (const auto& [k, v] : values) {
      auto it = got.find(k);
      ASSERT_TRUE(it != got.end()) << "missing " << k.first << " " << k.second;
      EXPECT_TRUE(it->second == v)
          << k.first << " " << k.second << ": " << it->second.size() << " bytes, want " << v.size();
    }
    // The file:// store of the same run says the same.
    auto rf = testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store",
                             "file://" + dir + "/out/objects", "--trace", trace, "--json"});
    ASSERT_EQ(rf.exit_code, 0) << rf.err;
    EXPECT_TRUE(ParseReconstructJson(rf.out, trace) == got);
  }
  // --span and the plain output format, for one LLM span.
  const auto& [trace, values] = *expected.begin();
  std::string span;
  for (const auto& [k, v] : values)
    if (k.second == "gen_ai.input.messages") span = k.first;
  ASSERT_FALSE(span.empty());
  auto rs = testutil::Run(
      {SPANPIPE_BINARY, "reconstruct", "--store", url, "--trace", trace, "--span", span},
      S3Env(S3rver::Get().endpoint()));
  ASSERT_EQ(rs.exit_code, 0) << rs.err;
  std::string v = values.at({span, "gen_ai.input.messages"});
  std::string block =
      "== " + span + " gen_ai.input.messages (" + std::to_string(v.size()) + " bytes)\n" + v + "\n";
  EXPECT_NE(rs.out.find(block), std::string::npos);
  fs::remove_all(dir);
}

struct WrittenSpan {
  otlp::Batch batch;
  SpanRecord record;
};
void BuildRecord(const TestSpan& s, WrittenSpan* w) {
  otlp::Batch& b = w->batch;
  auto str = [&](std::string v) {
    otlp::AnyValue a;
    a.kind = otlp::ValueKind::kString;
    a.s = b.Own(std::move(v));
    return a;
  };
  SpanRecord& r = w->record;
  std::string id;
  HexDecode(s.trace_hex, &id);
  std::memcpy(r.trace_id, id.data(), 16);
  HexDecode(s.span_hex, &id);
  std::memcpy(r.span_id, id.data(), 8);
  r.project = "default";
  r.start_unix_nano = s.start_ns;
  r.batch = &b;
  r.attr_begin = static_cast<uint32_t>(b.kvs.size());
  for (const auto& [k, v] : s.attrs) b.kvs.push_back({b.Own(k), str(v)});
  r.attr_count = static_cast<uint32_t>(s.attrs.size());
  r.event_begin = static_cast<uint32_t>(b.events.size());
  for (const auto& ev : s.events) {
    otlp::Event e{};
    e.attr_begin = static_cast<uint32_t>(b.kvs.size());
    for (const auto& [k, v] : ev) b.kvs.push_back({b.Own(k), str(v)});
    e.attr_count = static_cast<uint32_t>(ev.size());
    b.events.push_back(e);
  }
  r.event_count = static_cast<uint32_t>(s.events.size());
}

class S3ContentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testutil::TempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    state::StateOptions so;
    so.path = dir_ + "/state";
    so.memory_budget_mib = 16;
    so.stores = {"content"};
    ASSERT_TRUE(state::StateDb::Open(so, &db_).ok());
  }
  void TearDown() override {
    db_.reset();
    fs::remove_all(dir_);
  }
  // `spanpipe reconstruct --store s3://bucket/<prefix> --json` (credentials from AWS_*) returns
  // every value of every trace byte for byte.
  static void ExpectEveryTraceReconstructs(const std::string& prefix, const Expected& expected) {
    std::string url = std::string("s3://") + kBucket + "/" + prefix;
    for (const auto& [trace, values] : expected) {
      auto r = testutil::Run(
          {SPANPIPE_BINARY, "reconstruct", "--store", url, "--trace", trace, "--json"},
          S3Env(S3rver::Get().endpoint()));
      ASSERT_EQ(r.exit_code, 0) << r.err;
      EXPECT_TRUE(ParseReconstructJson(r.out, trace) == values) << trace;
    }
  }
  // Writes spans through the real ContentProcessor into `sink`; flushes every `flush_every` spans.
  Status Write(const std::vector<TestSpan>& spans, PackSink* sink, content::ContentOptions co,
               size_t flush_every) {
    content::ContentProcessor p(db_->store("content"), sink, co);
    size_t n = 0;
    for (const auto& s : spans) {
      WrittenSpan w;
      BuildRecord(s, &w);
      std::vector<content::ContentRef> refs;
      SPANPIPE_RETURN_IF_ERROR(p.Process(w.record, &refs));
      if (++n % flush_every == 0) {
        SPANPIPE_RETURN_IF_ERROR(p.Flush());
        SPANPIPE_RETURN_IF_ERROR(db_->Commit());
      }
    }
    SPANPIPE_RETURN_IF_ERROR(p.Flush());
    return db_->Commit();
  }
  std::string dir_;
  std::unique_ptr<state::StateDb> db_;
};

// The job's write path (ContentProcessor over S3ObjectStore, packs big enough to go multipart)
// and `spanpipe reconstruct --config` reading it back; then a corrupt chunk and a missing pack.
TEST_F(S3ContentTest, ProcessorToS3ThenReconstructThenDamage) {
  REQUIRE_S3RVER();
  std::vector<TestSpan> spans = ChatCorpus(3, 3, 7);
  Expected expected = ExpectedFromJsonl(CorpusJsonl(spans));
  std::string prefix = UniquePrefix("processor");
  ObjectStoreOptions o = S3Options(prefix, S3rver::Get().endpoint());
  o.multipart_threshold = 12 << 10;
  o.multipart_part_bytes = 8 << 10;
  auto s3 = OpenS3(o);
  content::ContentOptions co;
  co.pack_target_bytes = 16 << 10;
  co.frame_target_bytes = 8 << 10;
  ASSERT_OK(Write(spans, s3.get(), co, 5));
  // Packs sealed at size and segments (each flush's last pack, with its manifests).
  std::vector<std::string> packs, segs;
  ASSERT_OK(s3->List("packs/", &packs));
  ASSERT_OK(s3->List("segs/", &segs));
  packs.insert(packs.end(), segs.begin(), segs.end());
  ASSERT_GE(packs.size(), 2u);
  size_t big_packs = 0;
  for (const auto& p : packs)
    big_packs += fs::file_size(S3rver::Get().ObjectFile(prefix + "/" + p)) > o.multipart_threshold;
  EXPECT_GE(big_packs, 1u);  // went up as multipart uploads

  std::string cfg = dir_ + "/spanpipe.yaml";
  std::ofstream(cfg) << "s3:\n  endpoint: " << S3rver::Get().endpoint()
                     << "\n  region: us-east-1\n  path_style: true\n  access_key_id: S3RVER\n"
                     << "  secret_access_key: \"" << kSecret << "\"\n";
  std::string url = std::string("s3://") + kBucket + "/" + prefix;
  for (const auto& [trace, values] : expected) {
    auto r = testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store", url, "--trace", trace,
                            "--json", "--config", cfg});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(ParseReconstructJson(r.out, trace) == values) << trace;
  }

  // Corrupt one data frame of one pack (same length, one bit): the traces reading it exit 1
  // naming the frame and its pack.
  std::string victim = packs[0];
  std::string file = S3rver::Get().ObjectFile(prefix + "/" + victim);
  std::string bytes = testutil::Slurp(file);
  std::vector<content::PackFrameInfo> index;
  ASSERT_TRUE(content::DecodePackIndex(bytes, &index).ok());
  ASSERT_FALSE(index.empty());
  bytes[index[0].offset + index[0].stored_len / 2] ^= 0x10;
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  std::string trace;
  testutil::RunResult r;
  for (const auto& [t, values] : expected) {
    r = testutil::Run(
        {SPANPIPE_BINARY, "reconstruct", "--store", url, "--trace", t, "--config", cfg});
    if (r.exit_code != 0) {
      trace = t;
      break;
    }
  }
  ASSERT_FALSE(trace.empty()) << "no trace reads the corrupted frame";
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("frame at offset " + std::to_string(index[0].offset) + " of " + victim),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("corrupt"), std::string::npos) << r.err;
  ExpectNoSecrets(r.err);

  // Delete the pack: exit 1 naming the missing object.
  fs::remove(file);
  r = testutil::Run(
      {SPANPIPE_BINARY, "reconstruct", "--store", url, "--trace", trace, "--config", cfg});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(victim), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
  ExpectNoSecrets(r.err);

  // No credentials at all: a usage error naming what is missing (exit 2).
  r = testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store", url, "--trace", trace},
                    {"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY="});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("AWS_SECRET_ACCESS_KEY"), std::string::npos) << r.err;
  // Unreachable endpoint: exit 1, no secret in the error.
  r = testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store", url, "--trace", trace, "--config",
                     cfg, "--set", "s3.endpoint=http://127.0.0.1:" + std::to_string(FreePort())});
  EXPECT_EQ(r.exit_code, 1);
  ExpectNoSecrets(r.err);
}

// Many flushes against S3: segments are merged into index runs (tindex/<writer>/1/...), and
// `spanpipe reconstruct --store s3://` finds every trace through the runs and the live segments
// (prefix LISTs of s3rver, range GETs of run footers and blocks), byte for byte.
TEST_F(S3ContentTest, IndexRunsOnS3FindEveryTrace) {
  REQUIRE_S3RVER();
  std::vector<TestSpan> spans = ChatCorpus(3, 6, 31, /*huge=*/false);  // 36 spans, 18 traces
  Expected expected = ExpectedFromJsonl(CorpusJsonl(spans));
  std::string prefix = UniquePrefix("runs");
  auto s3 = OpenS3(S3Options(prefix, S3rver::Get().endpoint()));
  ASSERT_OK(Write(spans, s3.get(), {}, 1));  // a segment per span
  std::vector<std::string> segs, runs;
  ASSERT_OK(s3->List("segs/", &segs));
  ASSERT_OK(s3->List("tindex/", &runs));
  EXPECT_EQ(segs.size(), spans.size());
  EXPECT_EQ(runs.size(), spans.size() / 16);
  ExpectEveryTraceReconstructs(prefix, expected);
}

// The S3 endpoint fails mid-run (5xx on packs, then on manifests, then refused connections): Flush
// fails, nothing is lost, and a later Flush stores everything; every value reconstructs.
TEST_F(S3ContentTest, OutagesMidRunLoseNothing) {
  REQUIRE_S3RVER();
  std::vector<TestSpan> spans = ChatCorpus(2, 3, 99);
  Expected expected = ExpectedFromJsonl(CorpusJsonl(spans));
  FaultProxy proxy(S3rver::Get().port());
  std::string prefix = UniquePrefix("outage");
  ObjectStoreOptions o = S3Options(prefix, proxy.endpoint());
  o.max_retries = 1;
  auto s3 = OpenS3(o);
  content::ContentOptions co;
  co.pack_target_bytes = 64 << 10;
  content::ContentProcessor p(db_->store("content"), s3.get(), co);
  auto feed = [&](size_t from, size_t to) -> Status {
    for (size_t i = from; i < to; ++i) {
      WrittenSpan w;
      BuildRecord(spans[i], &w);
      std::vector<content::ContentRef> refs;
      SPANPIPE_RETURN_IF_ERROR(p.Process(w.record, &refs));
    }
    return Status::OK();
  };
  size_t half = spans.size() / 2;
  // Packs fail: Process may fail when a pack seals; Flush fails; retrying later succeeds.
  proxy.Fail(std::vector<int>(6, 503), "/packs/");
  ASSERT_OK(feed(0, half));  // uploads that fail here stay queued
  Status s = p.Flush();
  for (int i = 0; i < 5 && !s.ok(); ++i) s = p.Flush();
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_OK(db_->Commit());
  // Segments (the flush's manifests) fail after their packs went up.
  ASSERT_TRUE(feed(half, spans.size()).ok());
  proxy.Fail(std::vector<int>(2, 500), "/segs/");
  EXPECT_FALSE(p.Flush().ok());
  ASSERT_OK(p.Flush());
  ASSERT_OK(db_->Commit());

  ExpectEveryTraceReconstructs(prefix, expected);
}

// `spanpipe run` (Kafka in, the job, content.store = s3:// through config): injected 5xx are
// retried; then the S3 endpoint goes down mid-run, the job's checkpoint fails and the job exits;
// restarted once the endpoint is back, it resumes from its last checkpoint. Every span is published
// and every content value of the corpus reconstructs byte for byte from s3://: nothing lost.
TEST(S3EndToEnd, StreamingJobWritesToS3AndSurvivesAnOutage) {
  REQUIRE_S3RVER();
  std::string dir = testutil::TempDir("s3_run");
  testutil::BrokerProcess broker(dir, 1, 2);
  ASSERT_FALSE(broker.brokers.empty()) << testutil::Slurp(dir + "/broker.log");
  FaultProxy proxy(S3rver::Get().port());
  std::string prefix = UniquePrefix("run");
  std::vector<TestSpan> spans = ChatCorpus(3, 4, 5, /*huge=*/false);
  std::vector<std::string> lines = CorpusLines(spans);
  Expected expected = ExpectedFromJsonl(CorpusJsonl(spans));
  ASSERT_EQ(lines.size(), expected.size());

  std::string cfg = dir + "/spanpipe.yaml";
  std::ofstream(cfg) << "kafka:\n  brokers: \"" << broker.brokers << "\"\n  partitions: 2\n"
                     << "  consumer:\n    session.timeout.ms: \"4000\"\n"
                     << "    heartbeat.interval.ms: \"400\"\n"
                     << "state: {path: \"" << dir << "/state\", memory_mib: 64}\n"
                     << "content: {store: \"s3://" << kBucket << "/" << prefix << "\"}\n"
                     << "s3:\n  endpoint: \"" << proxy.endpoint() << "\"\n  region: us-east-1\n"
                     << "  path_style: true\n  access_key_id: S3RVER\n  secret_access_key: \""
                     << kSecret << "\"\n"
                     << "checkpoint: {interval_ms: 300}\n"
                     << "trace: {idle_timeout_ms: 1000}\n"
                     << "http: {enabled: false}\n";
  kafka::SinkOptions so;
  so.brokers = broker.brokers;
  std::unique_ptr<kafka::KafkaSink> producer;
  ASSERT_OK(kafka::KafkaSink::Create(so, &producer));
  auto produce = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) ASSERT_OK(producer->Produce("otlp_spans", "", lines[i]));
    ASSERT_OK(producer->Flush(30000));
  };
  auto spans_out = [&](size_t want, int seconds) {
    std::set<std::string> ids;
    testutil::ReadTopics(
        broker.brokers, {"spanpipe.spans"},
        [&](const std::vector<testutil::OwnedMessage>& all) {
          ids.clear();
          for (const auto& m : all) ids.insert(json::parse(m.value)["span_id"].get<std::string>());
          return ids.size() >= want;
        },
        seconds);
    return ids.size();
  };
  size_t half = lines.size() / 2;
  size_t spans_half = 0;
  for (size_t i = 0; i < half; ++i)
    spans_half += json::parse(lines[i])["resourceSpans"][0]["scopeSpans"][0]["spans"].size();

  // Run 1: two injected 503s on packs are retried by the store; the first half goes through.
  proxy.Fail({503, 503}, "/packs/");
  std::string log = dir + "/job.log";
  pid_t job = testutil::Spawn({SPANPIPE_BINARY, "run", "--config", cfg}, log);
  produce(0, half);
  ASSERT_EQ(spans_out(spans_half, 40), spans_half) << testutil::Slurp(log).substr(0, 4000);
  // The endpoint goes down: the next checkpoint cannot store its pack, the job stops (exit 1).
  proxy.SetDown(true);
  produce(half, lines.size());
  auto deadline = Clock::now() + std::chrono::seconds(40);
  int status = 0;
  pid_t done = 0;
  while (Clock::now() < deadline && (done = ::waitpid(job, &status, WNOHANG)) == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (done == 0) {
    ::kill(job, SIGKILL);
    testutil::Reap(job);
    FAIL() << "the job did not stop while S3 was down: " << testutil::Slurp(log).substr(0, 4000);
  }
  // A failed job exits 1 (at the time of writing it crashes with SIGSEGV instead: Job::~Job closes
  // the Kafka source after task_ is destroyed, and the revoke callback checkpoints into it).
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1)
      << "job stopped with " << (WIFSIGNALED(status) ? "signal " : "status ")
      << (WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
  // Run 2: the endpoint is back; the job resumes from its last checkpoint.
  proxy.SetDown(false);
  job = testutil::Spawn({SPANPIPE_BINARY, "run", "--config", cfg}, log);
  EXPECT_EQ(spans_out(spans.size(), 40), spans.size()) << testutil::Slurp(log).substr(0, 4000);
  ::kill(job, SIGTERM);
  testutil::Reap(job);
  std::string job_log = testutil::Slurp(log);
  EXPECT_NE(job_log.find("retry 1/"), std::string::npos);
  ExpectNoSecrets(job_log);

  std::string url = std::string("s3://") + kBucket + "/" + prefix;
  for (const auto& [trace, values] : expected) {
    auto r =
        testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store", url, "--trace", trace, "--json"},
                      S3Env(S3rver::Get().endpoint()));
    ASSERT_EQ(r.exit_code, 0) << trace << ": " << r.err;
    EXPECT_TRUE(ParseReconstructJson(r.out, trace) == values) << trace;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace spanpipe
