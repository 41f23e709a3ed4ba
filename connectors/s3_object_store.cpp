#include "connectors/s3_object_store.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <random>
#include <thread>

#include "connectors/s3_sigv4.h"

namespace spanpipe {
namespace {

using Query = std::vector<std::pair<std::string, std::string>>;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

size_t WriteCb(char* p, size_t size, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, size * n);
  return size * n;
}

// Keeps the ETag response header (multipart parts).
size_t HeaderCb(char* p, size_t size, size_t n, void* ud) {
  std::string_view line(p, size * n);
  constexpr std::string_view kEtag = "etag:";
  if (line.size() > kEtag.size()) {
    bool match = true;
    for (size_t i = 0; i < kEtag.size() && match; ++i)
      match = std::tolower(static_cast<unsigned char>(line[i])) == kEtag[i];
    if (match) {
      std::string_view v = line.substr(kEtag.size());
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' '))
        v.remove_suffix(1);
      static_cast<std::string*>(ud)->assign(v);
    }
  }
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

// The text of the first <tag>...</tag> of an XML body, entity-decoded; "" when absent.
std::string XmlText(std::string_view body, std::string_view tag, size_t* from = nullptr);

std::string XmlUnescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out.push_back('&');
      continue;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    uint32_t cp = 0;
    bool numeric = false;
    if (ent == "lt")
      out.push_back('<');
    else if (ent == "gt")
      out.push_back('>');
    else if (ent == "amp")
      out.push_back('&');
    else if (ent == "quot")
      out.push_back('"');
    else if (ent == "apos")
      out.push_back('\'');
    else if (ent.size() > 1 && ent[0] == '#') {
      // &#13; &#x0D; (S3 encodes control characters of keys this way)
      bool hex = ent[1] == 'x' || ent[1] == 'X';
      std::string digits(ent.substr(hex ? 2 : 1));
      char* end = nullptr;
      unsigned long v = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
      if (digits.empty() || *end != '\0' || v > 0x10FFFF) {
        out.push_back('&');
        continue;
      }
      cp = static_cast<uint32_t>(v);
      numeric = true;
    } else {
      out.push_back('&');
      continue;
    }
    if (numeric) {
      if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
      } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
    }
    i = semi;
  }
  return out;
}

std::string XmlText(std::string_view body, std::string_view tag, size_t* from) {
  std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
  size_t a = body.find(open, from ? *from : 0);
  if (a == std::string_view::npos) return "";
  size_t b = body.find(close, a + open.size());
  if (b == std::string_view::npos) return "";
  if (from) *from = b + close.size();
  return XmlUnescape(body.substr(a + open.size(), b - a - open.size()));
}

// curl failures that no retry can fix.
bool PermanentCurlError(CURLcode rc) {
  switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_LOGIN_DENIED:
      return true;
    default:
      return false;
  }
}

struct Response {
  long code = 0;
  std::string body, etag;
};

class S3ObjectStore : public ObjectStore {
 public:
  S3ObjectStore(const std::string& endpoint, std::string bucket, std::string prefix,
                const ObjectStoreOptions& o)
      : bucket_(std::move(bucket)), prefix_(std::move(prefix)), o_(o) {
    // endpoint = scheme://host[:port][/base]
    size_t scheme = endpoint.find("://");
    std::string scheme_name = scheme == std::string::npos ? "https" : endpoint.substr(0, scheme);
    std::string rest = scheme == std::string::npos ? endpoint : endpoint.substr(scheme + 3);
    size_t slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    base_path_ = slash == std::string::npos ? "" : rest.substr(slash);
    while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();
    // libcurl leaves a scheme's default port out of the Host header: so must the signature.
    for (std::string_view def : {":443", ":80"}) {
      if ((def == ":443") != (scheme_name == "https")) continue;
      if (authority.size() > def.size() &&
          authority.compare(authority.size() - def.size(), def.size(), def) == 0)
        authority.resize(authority.size() - def.size());
    }
    if (o_.path_style) {
      host_ = authority;
      bucket_path_ = base_path_ + "/" + bucket_;
    } else {
      host_ = bucket_ + "." + authority;
      bucket_path_ = base_path_;
    }
    origin_ = scheme_name + "://" + host_;
    o_.max_retries = std::max(0, o_.max_retries);
    o_.retry_base_ms = std::max(0, o_.retry_base_ms);
    o_.retry_max_ms = std::max(o_.retry_base_ms, o_.retry_max_ms);
    o_.multipart_part_bytes = std::max<uint64_t>(1, o_.multipart_part_bytes);
    o_.list_page_keys = std::clamp(o_.list_page_keys, 1, 1000);
  }

  ~S3ObjectStore() override {
    for (CURL* c : pool_) curl_easy_cleanup(c);
  }

  Status Put(std::string_view key, std::string_view bytes) override {
    Status s =
        bytes.size() > o_.multipart_threshold ? PutMultipart(key, bytes) : PutSingle(key, bytes);
    if (s.ok())
      ++puts_;
    else
      ++errors_;
    return s;
  }

  Status Get(std::string_view key, std::string* bytes) override {
    ++gets_;
    Response r;
    Status s = Request("GET", ObjectPath(key), {}, {}, {}, key, &r);
    if (!s.ok()) {
      if (!s.IsNotFound()) ++errors_;
      return s;
    }
    *bytes = std::move(r.body);
    return Status::OK();
  }

  Status GetRange(std::string_view key, uint64_t offset, uint64_t length,
                  std::string* bytes) override {
    if (length == 0) {
      bytes->clear();
      return Status::OK();
    }
    ++gets_;
    Response r;
    Status s = Request(
        "GET", ObjectPath(key), {}, {},
        {{"range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1)}},
        key, &r);
    if (!s.ok()) {
      if (!s.IsNotFound()) ++errors_;
      return s;
    }
    if (r.code == 200 && r.body.size() > length) {
      // The server ignored the Range header and sent the whole object.
      if (offset + length > r.body.size())
        return Status::Corruption(Name(key) + " is shorter than the range requested");
      *bytes = r.body.substr(offset, length);
      return Status::OK();
    }
    if (r.body.size() != length)
      return Status::Corruption(Name(key) + ": range read returned " +
                                std::to_string(r.body.size()) + " bytes, expected " +
                                std::to_string(length));
    *bytes = std::move(r.body);
    return Status::OK();
  }

  Status Exists(std::string_view key, bool* exists) override {
    Response r;
    Status s = Request("HEAD", ObjectPath(key), {}, {}, {}, key, &r);
    *exists = s.ok();
    if (s.IsNotFound()) return Status::OK();
    if (!s.ok()) ++errors_;
    return s;
  }

  Status List(std::string_view prefix, std::vector<std::string>* keys) override {
    keys->clear();
    std::string token;
    std::string full = prefix_ + std::string(prefix);
    for (;;) {
      Query q = {
          {"list-type", "2"}, {"prefix", full}, {"max-keys", std::to_string(o_.list_page_keys)}};
      if (!token.empty()) q.emplace_back("continuation-token", token);
      Response r;
      Status s = Request("GET", bucket_path_ + "/", q, {}, {}, std::string(prefix) + "*", &r);
      if (!s.ok()) {
        ++errors_;
        return s;
      }
      size_t pos = 0;
      for (;;) {
        size_t contents = r.body.find("<Contents>", pos);
        if (contents == std::string::npos) break;
        pos = contents;
        std::string k = XmlText(r.body, "Key", &pos);
        if (k.compare(0, prefix_.size(), prefix_) == 0) keys->push_back(k.substr(prefix_.size()));
      }
      bool truncated = r.body.find("<IsTruncated>true</IsTruncated>") != std::string::npos;
      std::string next = XmlText(r.body, "NextContinuationToken");
      if (!truncated) break;
      if (next.empty() || next == token) {
        ++errors_;
        return Status::IOError("LIST " + Name(full) +
                               "*: truncated listing without a new continuation token");
      }
      token = std::move(next);
    }
    std::sort(keys->begin(), keys->end());
    return Status::OK();
  }

 private:
  // How errors name an object: never with credentials or the endpoint's query.
  std::string Name(std::string_view key) const {
    return "s3://" + bucket_ + "/" + prefix_ + std::string(key);
  }
  std::string ObjectPath(std::string_view key) const {
    return bucket_path_ + "/" + s3::UriEncode(prefix_ + std::string(key), false);
  }

  Status PutSingle(std::string_view key, std::string_view bytes) {
    Response r;
    return Request("PUT", ObjectPath(key), {}, bytes, {}, key, &r);
  }

  // CreateMultipartUpload, UploadPart × n (each retried on its own), CompleteMultipartUpload; on
  // failure the upload is aborted so no parts linger (and are billed) on the bucket.
  Status PutMultipart(std::string_view key, std::string_view bytes) {
    std::string path = ObjectPath(key);
    Response r;
    SPANPIPE_RETURN_IF_ERROR(
        Request("POST", path, {{"uploads", ""}}, {}, {{"content-type", ""}}, key, &r));
    std::string upload_id = XmlText(r.body, "UploadId");
    if (upload_id.empty())
      return Status::IOError("PUT " + Name(key) + ": CreateMultipartUpload returned no UploadId");
    std::string complete = "<CompleteMultipartUpload>";
    Status s;
    int part = 0;
    for (uint64_t off = 0; s.ok() && off < bytes.size(); off += o_.multipart_part_bytes) {
      ++part;
      std::string_view body = bytes.substr(off, o_.multipart_part_bytes);
      s = Request("PUT", path, {{"partNumber", std::to_string(part)}, {"uploadId", upload_id}},
                  body, {}, key, &r);
      if (s.ok() && r.etag.empty())
        s = Status::IOError("PUT " + Name(key) + ": part " + std::to_string(part) + " has no ETag");
      std::string etag = r.etag;
      // Escape for XML (ETags are quoted hex in practice).
      std::string esc;
      for (char c : etag) {
        if (c == '"')
          esc += "&quot;";
        else if (c == '&')
          esc += "&amp;";
        else if (c == '<')
          esc += "&lt;";
        else
          esc.push_back(c);
      }
      complete += "<Part><PartNumber>" + std::to_string(part) + "</PartNumber><ETag>" + esc +
                  "</ETag></Part>";
    }
    complete += "</CompleteMultipartUpload>";
    if (s.ok())
      s = Request("POST", path, {{"uploadId", upload_id}}, complete,
                  {{"content-type", "application/xml"}}, key, &r);
    if (!s.ok()) {
      Response ignored;
      Status a = Request("DELETE", path, {{"uploadId", upload_id}}, {}, {}, key, &ignored);
      if (!a.ok())
        spdlog::warn("object store: aborting the multipart upload of {} failed: {}", Name(key),
                     a.message());
    }
    return s;
  }

  CURL* Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!pool_.empty()) {
        CURL* c = pool_.back();
        pool_.pop_back();
        return c;
      }
    }
    return curl_easy_init();
  }
  void Release(CURL* c) {
    std::lock_guard<std::mutex> lock(mu_);
    pool_.push_back(c);  // keeps its connection alive for the next request
  }

  // One signed request with retries. 404 is NotFound (not retried); other 4xx are final errors.
  // `what_key` names the object in errors and logs. Extra headers (lower-case names) are signed;
  // an empty value removes a header libcurl would add.
  Status Request(const std::string& method, const std::string& path, const Query& query,
                 std::string_view payload, const Query& extra_headers, std::string_view what_key,
                 Response* resp) {
    const std::string payload_hash = s3::Sha256Hex(payload);
    const std::string qs = s3::CanonicalQuery(query);
    const std::string url = origin_ + path + (qs.empty() ? "" : "?" + qs);
    const std::string what = method + " " + Name(what_key);
    thread_local std::mt19937_64 rng(std::random_device{}());
    std::string last;  // why the previous attempt failed
    for (int attempt = 0; attempt <= o_.max_retries; ++attempt) {
      if (attempt > 0) {
        int64_t d = std::min<int64_t>(int64_t{o_.retry_base_ms} << std::min(attempt - 1, 20),
                                      o_.retry_max_ms);
        int64_t delay = d / 2 + static_cast<int64_t>(rng() % static_cast<uint64_t>(d / 2 + 1));
        spdlog::warn("object store: {} failed ({}); retry {}/{} in {} ms", what, last, attempt,
                     o_.max_retries, delay);
        ++retries_;
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      }
      s3::SigningInput in{method,
                          host_,
                          path,
                          query,
                          payload_hash,
                          AmzDate(),
                          o_.region,
                          o_.access_key_id,
                          o_.secret_access_key,
                          o_.session_token,
                          {}};
      for (const auto& [k, v] : extra_headers)
        if (!v.empty()) in.headers.emplace_back(k, v);
      CURL* curl = Acquire();
      if (!curl) return Status::Internal(what + ": curl_easy_init failed");
      curl_easy_reset(curl);
      struct curl_slist* headers = nullptr;
      for (const auto& [k, v] : s3::SignV4(in))
        headers = curl_slist_append(headers, (k + ": " + v).c_str());
      for (const auto& [k, v] : extra_headers)
        headers = curl_slist_append(headers, (k + (v.empty() ? ":" : ": " + v)).c_str());
      headers = curl_slist_append(headers, "Expect:");
      resp->code = 0;
      resp->body.clear();
      resp->etag.clear();
      ReadState rs{payload, 0};
      char errbuf[CURL_ERROR_SIZE] = {0};
      curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
      // The path is signed as sent: no "/../" squashing.
      curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
      curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteCb);
      curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp->body);
      curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, HeaderCb);
      curl_easy_setopt(curl, CURLOPT_HEADERDATA, &resp->etag);
      curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
      curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, o_.connect_timeout_ms);
      curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, o_.request_timeout_ms);
      curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
      if (method == "PUT") {
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadCb);
        curl_easy_setopt(curl, CURLOPT_READDATA, &rs);
        curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(payload.size()));
      } else if (method == "POST") {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        // Never a null pointer: curl would read the body from stdin.
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.empty() ? "" : payload.data());
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(payload.size()));
      } else if (method == "HEAD") {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
      } else if (method != "GET") {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
      }
      ++requests_;
      CURLcode rc = curl_easy_perform(curl);
      curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->code);
      // Drop the options that point into this frame before the handle goes back to the pool.
      curl_easy_reset(curl);
      curl_slist_free_all(headers);
      Release(curl);
      if (rc != CURLE_OK) {
        last = errbuf[0] ? errbuf : curl_easy_strerror(rc);
        while (!last.empty() && last.back() == '\n') last.pop_back();
        if (PermanentCurlError(rc)) return Status::IOError(what + ": " + last);
        continue;
      }
      const long code = resp->code;
      std::string s3code = XmlText(resp->body, "Code");
      std::string s3msg = XmlText(resp->body, "Message");
      if (s3msg.size() > 200) s3msg = s3msg.substr(0, 200) + "...";
      std::string detail = "HTTP " + std::to_string(code) + (s3code.empty() ? "" : " " + s3code) +
                           (s3msg.empty() ? "" : ": " + s3msg);
      if (code >= 200 && code < 300) {
        // CompleteMultipartUpload can fail after its 200 header: the body is then an <Error>.
        if (method == "POST" && resp->body.find("<Error>") != std::string::npos) {
          last = detail;
          continue;
        }
        return Status::OK();
      }
      if (code == 404) return Status::NotFound(what + ": not found (" + detail + ")");
      if (code == 429 || code == 408 || code >= 500 || s3code == "RequestTimeout" ||
          s3code == "SlowDown") {
        last = detail;
        continue;
      }
      return Status::IOError(what + ": " + detail);
    }
    return Status::Unavailable(what + ": " + last + " (gave up after " +
                               std::to_string(o_.max_retries + 1) + " attempts)");
  }

  std::string bucket_, prefix_, host_, origin_, base_path_, bucket_path_;
  ObjectStoreOptions o_;
  std::mutex mu_;
  std::vector<CURL*> pool_;
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
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
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
    return Status::InvalidArgument(
        "s3 store: no credentials (config keys s3.access_key_id and s3.secret_access_key, or "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
  *out = std::make_unique<S3ObjectStore>(endpoint, bucket, prefix, o);
  return Status::OK();
}

}  // namespace spanpipe
