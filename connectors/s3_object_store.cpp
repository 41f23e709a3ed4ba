#include "connectors/s3_object_store.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <random>
#include <thread>

#include "connectors/s3_sigv4.h"

namespace spanpipe {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

size_t WriteCb(char* p, size_t size, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, size * n);
  return size * n;
}

struct ReadState {
  std::string_view data;
  size_t pos = 0;
};
size_t ReadCb(char* p, size_t size, size_t n, void* ud) {
  auto* st = static_cast<ReadState*>(ud);
  size_t k = std::min(size * n, st->data.size() - st->pos);
  std::memcpy(p, st->data.data() + st->pos, k);
  st->pos += k;
  return k;
}

std::string AmzDate() {
  std::time_t t = std::time(nullptr);
  std::tm tm;
  gmtime_r(&t, &tm);
  char buf[20];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

class S3ObjectStore : public ObjectStore {
 public:
  S3ObjectStore(std::string endpoint, std::string bucket, std::string prefix, const ObjectStoreOptions& o)
      : endpoint_(std::move(endpoint)), bucket_(std::move(bucket)), prefix_(std::move(prefix)), o_(o) {
    std::string e = endpoint_;
    size_t scheme = e.find("://");
    host_ = scheme == std::string::npos ? e : e.substr(scheme + 3);
    if (host_.find('/') != std::string::npos) host_ = host_.substr(0, host_.find('/'));
  }

  Status Put(std::string_view key, std::string_view bytes) override {
    std::string body;
    Status s = Request("PUT", ObjectPath(key), {}, bytes, {}, &body);
    if (s.ok()) ++puts_;
    else ++errors_;
    return s;
  }
  Status Get(std::string_view key, std::string* bytes) override {
    Status s = Request("GET", ObjectPath(key), {}, {}, {}, bytes);
    ++gets_;
    if (!s.ok() && !s.IsNotFound()) ++errors_;
    return s;
  }
  Status GetRange(std::string_view key, uint64_t offset, uint64_t length, std::string* bytes) override {
    if (length == 0) {
      bytes->clear();
      return Status::OK();
    }
    std::string range = "Range: bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1);
    Status s = Request("GET", ObjectPath(key), {}, {}, {range}, bytes);
    ++gets_;
    if (!s.ok()) {
      if (!s.IsNotFound()) ++errors_;
      return s;
    }
    if (bytes->size() != length)
      return Status::Corruption("object " + std::string(key) + ": range read returned " + std::to_string(bytes->size()) +
                                " bytes, expected " + std::to_string(length));
    return Status::OK();
  }
  Status List(std::string_view prefix, std::vector<std::string>* keys) override {
    keys->clear();
    std::string token;
    std::string full = prefix_ + std::string(prefix);
    for (int page = 0; page < 100000; ++page) {
      std::vector<std::pair<std::string, std::string>> q = {{"list-type", "2"}, {"prefix", full}};
      if (!token.empty()) q.emplace_back("continuation-token", token);
      std::string body;
      Status s = Request("GET", "/" + bucket_, q, {}, {}, &body);
      if (!s.ok()) {
        ++errors_;
        return s;
      }
      size_t pos = 0;
      while ((pos = body.find("<Key>", pos)) != std::string::npos) {
        size_t end = body.find("</Key>", pos);
        if (end == std::string::npos) break;
        std::string k = XmlUnescape(body.substr(pos + 5, end - pos - 5));
        if (k.compare(0, prefix_.size(), prefix_) == 0) keys->push_back(k.substr(prefix_.size()));
        pos = end;
      }
      bool truncated = body.find("<IsTruncated>true</IsTruncated>") != std::string::npos;
      size_t t = body.find("<NextContinuationToken>");
      if (!truncated || t == std::string::npos) break;
      size_t te = body.find("</NextContinuationToken>", t);
      token = XmlUnescape(body.substr(t + 23, te - t - 23));
    }
    std::sort(keys->begin(), keys->end());
    return Status::OK();
  }

 private:
  static std::string XmlUnescape(std::string s) {
    const std::pair<const char*, const char*> ents[] = {
        {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}};
    for (auto [from, to] : ents) {
      size_t p = 0;
      while ((p = s.find(from, p)) != std::string::npos) {
        s.replace(p, std::strlen(from), to);
        p += std::strlen(to);
      }
    }
    return s;
  }
  std::string ObjectPath(std::string_view key) const {
    return "/" + bucket_ + "/" + s3::UriEncode(prefix_ + std::string(key), false);
  }

  // One signed request with retries. 404 is NotFound (not retried); other 4xx are final errors.
  Status Request(const std::string& method, const std::string& path,
                 const std::vector<std::pair<std::string, std::string>>& query, std::string_view payload,
                 const std::vector<std::string>& extra_headers, std::string* response) {
    std::string payload_hash = s3::Sha256Hex(std::string(payload));
    std::string qs = s3::CanonicalQuery(query);
    std::string url = endpoint_ + path + (qs.empty() ? "" : "?" + qs);
    std::mt19937_64 rng(std::random_device{}());
    Status last;
    for (int attempt = 0; attempt <= o_.max_retries; ++attempt) {
      if (attempt > 0) {
        int64_t base = std::min<int64_t>(100ll << (attempt - 1), 5000);
        std::this_thread::sleep_for(std::chrono::milliseconds(base / 2 + static_cast<int64_t>(rng() % (base + 1))));
      }
      s3::SigningInput in{method, host_, path, query, payload_hash, AmzDate(), o_.region,
                          o_.access_key_id, o_.secret_access_key, o_.session_token};
      CURL* curl = curl_easy_init();
      if (!curl) return Status::Internal("curl_easy_init failed");
      struct curl_slist* headers = nullptr;
      for (const auto& [k, v] : s3::SignV4(in)) headers = curl_slist_append(headers, (k + ": " + v).c_str());
      for (const auto& h : extra_headers) headers = curl_slist_append(headers, h.c_str());
      headers = curl_slist_append(headers, "Expect:");
      response->clear();
      ReadState rs{payload, 0};
      curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
      curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteCb);
      curl_easy_setopt(curl, CURLOPT_WRITEDATA, response);
      curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
      curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 120000L);
      curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
      if (method == "PUT") {
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadCb);
        curl_easy_setopt(curl, CURLOPT_READDATA, &rs);
        curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(payload.size()));
      }
      CURLcode rc = curl_easy_perform(curl);
      long code = 0;
      curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
      curl_slist_free_all(headers);
      curl_easy_cleanup(curl);
      std::string what = method + " " + path;
      if (rc != CURLE_OK) {
        last = Status::Unavailable(what + ": " + curl_easy_strerror(rc));
        continue;
      }
      if (code >= 200 && code < 300) return Status::OK();
      if (code == 404) return Status::NotFound(what + ": not found");
      if (code == 429 || code >= 500) {
        last = Status::Unavailable(what + ": HTTP " + std::to_string(code));
        continue;
      }
      return Status::IOError(what + ": HTTP " + std::to_string(code));
    }
    return last;
  }

  std::string endpoint_, bucket_, prefix_, host_;
  ObjectStoreOptions o_;
};

}  // namespace

Status OpenS3ObjectStore(const ObjectStoreOptions& options, std::unique_ptr<ObjectStore>* out) {
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!curl_ready) return Status::Internal("libcurl initialisation failed");
  ObjectStoreOptions o = options;
  std::string rest = o.url.substr(5);
  size_t slash = rest.find('/');
  std::string bucket = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  if (bucket.empty()) return Status::InvalidArgument("store URL '" + o.url + "': missing bucket");
  if (o.access_key_id.empty()) o.access_key_id = Env("AWS_ACCESS_KEY_ID");
  if (o.secret_access_key.empty()) o.secret_access_key = Env("AWS_SECRET_ACCESS_KEY");
  if (o.session_token.empty()) o.session_token = Env("AWS_SESSION_TOKEN");
  if (o.region.empty()) o.region = Env("AWS_REGION");
  if (o.region.empty()) o.region = Env("AWS_DEFAULT_REGION");
  if (o.region.empty()) o.region = "us-east-1";
  std::string endpoint = o.endpoint;
  if (endpoint.empty()) endpoint = Env("AWS_ENDPOINT_URL_S3");
  if (endpoint.empty()) endpoint = Env("AWS_ENDPOINT_URL");
  if (endpoint.empty()) endpoint = "https://s3." + o.region + ".amazonaws.com";
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  if (o.access_key_id.empty() || o.secret_access_key.empty())
    return Status::InvalidArgument("s3 store: no credentials (s3.access_key_id/s3.secret_access_key or AWS_* variables)");
  *out = std::make_unique<S3ObjectStore>(endpoint, bucket, prefix, o);
  return Status::OK();
}

}  // namespace spanpipe
