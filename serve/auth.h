// Access control for the query API: API keys (Authorization: Bearer <key>) bound to projects and a
// role, or HS256 JWTs with the same claims ({"sub", "projects": [..], "role", "exp", "nbf"}; exp
// and nbf optional). Keys are compared in constant time and never logged (only a short SHA-256
// prefix). Roles and project scoping: docs/query-api.md "Access control".
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace spanpipe::serve {

struct ApiKey {
  std::string key;
  std::vector<std::string> projects;
  std::string role;  // read | query | admin
};

struct Principal {
  std::string name;  // key fingerprint or JWT subject
  std::vector<std::string> projects;
  int role = 0;  // 1 read, 2 query, 3 admin
};

int RoleLevel(std::string_view role);
std::string KeyFingerprint(std::string_view key);
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Returns false with an error (for a 401) when the token is neither a known key nor a valid JWT.
bool Authenticate(std::string_view bearer, const std::vector<ApiKey>& keys,
                  const std::string& jwt_secret, int64_t now_s, Principal* out, std::string* error);

// Encodes an HS256 JWT (tests and operators use it to mint tokens).
std::string MakeJwt(const std::string& secret, const std::string& payload_json);

}  // namespace spanpipe::serve
