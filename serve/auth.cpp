#include "serve/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>

#include "common/hex.h"

namespace spanpipe::serve {
namespace {

std::string B64Url(std::string_view in) {
  std::string s = Base64Encode(in);
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string HmacSha256(const std::string& key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace

int RoleLevel(std::string_view role) {
  if (role == "read") return 1;
  if (role == "query") return 2;
  if (role == "admin") return 3;
  return 0;
}

std::string KeyFingerprint(std::string_view key) {
  unsigned char d[32];
  unsigned int n = 0;
  EVP_Digest(key.data(), key.size(), d, &n, EVP_sha256(), nullptr);
  return "key:" + HexEncode(std::string_view(reinterpret_cast<char*>(d), 4));
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string MakeJwt(const std::string& secret, const std::string& payload_json) {
  std::string head = B64Url(R"({"alg":"HS256","typ":"JWT"})") + "." + B64Url(payload_json);
  return head + "." + B64Url(HmacSha256(secret, head));
}

bool Authenticate(std::string_view token, const std::vector<ApiKey>& keys,
                  const std::string& jwt_secret, int64_t now_s, Principal* out,
                  std::string* error) {
  if (token.empty()) {
    *error = "missing bearer token";
    return false;
  }
  bool matched = false;
  for (const auto& k : keys) {
    // Compare against every key (no early exit) so timing does not reveal which one matched.
    if (ConstantTimeEquals(token, k.key) && !matched) {
      matched = true;
      *out = Principal{KeyFingerprint(k.key), k.projects, RoleLevel(k.role)};
    }
  }
  if (matched) return true;
  size_t d1 = token.find('.'), d2 = token.rfind('.');
  if (jwt_secret.empty() || d1 == std::string_view::npos || d1 == d2) {
    *error = "invalid API key";
    return false;
  }
  std::string expected = B64Url(HmacSha256(jwt_secret, token.substr(0, d2)));
  if (!ConstantTimeEquals(expected, token.substr(d2 + 1))) {
    *error = "invalid token signature";
    return false;
  }
  std::string header, payload;
  auto b64 = [](std::string_view s, std::string* o) { return Base64Decode(s, o); };
  if (!b64(token.substr(0, d1), &header) || !b64(token.substr(d1 + 1, d2 - d1 - 1), &payload)) {
    *error = "malformed token";
    return false;
  }
  auto h = nlohmann::json::parse(header, nullptr, false);
  auto p = nlohmann::json::parse(payload, nullptr, false);
  if (!h.is_object() || h.value("alg", "") != "HS256" || !p.is_object()) {
    *error = "unsupported token";
    return false;
  }
  // exp and nbf are optional (RFC 7519 4.1.4/4.1.5); when present they must be NumericDates.
  if ((p.contains("exp") && !p["exp"].is_number()) ||
      (p.contains("nbf") && !p["nbf"].is_number())) {
    *error = "malformed token: exp and nbf must be numbers";
    return false;
  }
  if (p.contains("exp") && p["exp"].get<double>() <= static_cast<double>(now_s)) {
    *error = "token expired";
    return false;
  }
  if (p.contains("nbf") && p["nbf"].get<double>() > static_cast<double>(now_s)) {
    *error = "token not yet valid";
    return false;
  }
  Principal pr;
  pr.name = "jwt:" + p.value("sub", std::string("?"));
  pr.role = RoleLevel(p.value("role", std::string()));
  if (p.contains("projects") && p["projects"].is_array())
    for (const auto& x : p["projects"])
      if (x.is_string()) pr.projects.push_back(x.get<std::string>());
  if (pr.role == 0 || pr.projects.empty()) {
    *error = "token lacks role or projects";
    return false;
  }
  *out = pr;
  return true;
}

}  // namespace spanpipe::serve
