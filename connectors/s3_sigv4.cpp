#include "connectors/s3_sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

#include "common/hex.h"

namespace spanpipe::s3 {
namespace {

std::string Hmac(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char out[32];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
  return HexEncode(std::string_view(reinterpret_cast<char*>(out), 32));
}

std::string UriEncode(const std::string& s, bool encode_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~' || (c == '/' && !encode_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> q) {
  for (auto& [k, v] : q) {
    k = UriEncode(k, true);
    v = UriEncode(v, true);
  }
  std::sort(q.begin(), q.end());
  std::string out;
  for (const auto& [k, v] : q) out += (out.empty() ? "" : "&") + k + "=" + v;
  return out;
}

std::vector<std::pair<std::string, std::string>> SignV4(const SigningInput& in) {
  std::string date = in.amz_date.substr(0, 8);
  std::vector<std::pair<std::string, std::string>> headers = {
      {"host", in.host},
      {"x-amz-content-sha256", in.payload_sha256_hex},
      {"x-amz-date", in.amz_date}};
  if (!in.session_token.empty()) headers.emplace_back("x-amz-security-token", in.session_token);
  for (const auto& h : in.headers) headers.push_back(h);
  std::sort(headers.begin(), headers.end());
  std::string canonical_headers, signed_headers;
  for (const auto& [k, v] : headers) {
    canonical_headers += k + ":" + v + "\n";
    signed_headers += (signed_headers.empty() ? "" : ";") + k;
  }
  std::string canonical = in.method + "\n" + in.path + "\n" + CanonicalQuery(in.query) + "\n" +
                          canonical_headers + "\n" + signed_headers + "\n" + in.payload_sha256_hex;
  std::string scope = date + "/" + in.region + "/s3/aws4_request";
  std::string to_sign =
      "AWS4-HMAC-SHA256\n" + in.amz_date + "\n" + scope + "\n" + Sha256Hex(canonical);
  std::string key =
      Hmac(Hmac(Hmac(Hmac("AWS4" + in.secret_access_key, date), in.region), "s3"), "aws4_request");
  std::string signature = HexEncode(Hmac(key, to_sign));
  std::vector<std::pair<std::string, std::string>> out = {
      {"Authorization", "AWS4-HMAC-SHA256 Credential=" + in.access_key_id + "/" + scope +
                            ", SignedHeaders=" + signed_headers + ", Signature=" + signature},
      {"x-amz-date", in.amz_date},
      {"x-amz-content-sha256", in.payload_sha256_hex}};
  if (!in.session_token.empty()) out.emplace_back("x-amz-security-token", in.session_token);
  return out;
}

}  // namespace spanpipe::s3
