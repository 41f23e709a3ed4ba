// An independent AWS Signature V4 signer for tests: botocore's S3SigV4Auth (Debian's
// python3-botocore), run as `python3` with the clock frozen at the request's x-amz-date. Used by
// the SigV4 unit test (fixed inputs) and the S3 integration test (requests captured on the wire).
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/hex.h"

namespace spanpipe::testutil {

struct BotoRequest {
  std::string method;
  std::string url;  // scheme://host[:port]/path, the path already encoded as it goes on the wire
  std::vector<std::pair<std::string, std::string>>
      params;  // raw query parameters (botocore encodes)
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers to sign, if any
  std::string payload;
  std::string amz_date;  // 20261123T101500Z
  std::string region = "us-east-1";
  std::string access_key_id, secret_access_key, session_token;
};

struct BotoSignature {
  std::string authorization, amz_date, content_sha256, security_token;
};

// The python side: fixed clock, S3SigV4Auth.add_auth, the signed headers back as JSON.
inline constexpr const char* kBotocoreSignerPy = R"PY(
import datetime as _real, json, sys
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

def frozen(stamp):
    fixed = _real.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ")
    class FrozenDateTime(_real.datetime):
        @classmethod
        def utcnow(cls):
            return fixed
        @classmethod
        def now(cls, tz=None):
            return fixed.replace(tzinfo=tz) if tz else fixed
    class Module:
        datetime = FrozenDateTime
        timezone = _real.timezone
        timedelta = _real.timedelta
    return Module

out = []
for case in json.load(open(sys.argv[1])):
    botocore.auth.datetime = frozen(case["amz_date"])
    creds = Credentials(case["access_key_id"], case["secret_access_key"],
                        case["session_token"] or None)
    req = AWSRequest(method=case["method"], url=case["url"],
                     data=bytes.fromhex(case["payload_hex"]),
                     params=[tuple(p) for p in case["params"]] or None,
                     headers=dict(case["headers"]))
    botocore.auth.S3SigV4Auth(creds, "s3", case["region"]).add_auth(req)
    out.append({"authorization": req.headers["Authorization"],
                "amz_date": req.headers["X-Amz-Date"],
                "content_sha256": req.headers["X-Amz-Content-SHA256"],
                "security_token": req.headers.get("X-Amz-Security-Token", "")})
json.dump(out, sys.stdout)
)PY";

inline bool BotocoreAvailable() {
  return std::system("/usr/bin/python3 -c 'import botocore.auth' >/dev/null 2>&1") == 0;
}

// Signs every request with botocore; false (and *error) when python or botocore fails.
inline bool BotocoreSign(const std::vector<BotoRequest>& reqs, std::vector<BotoSignature>* out,
                         std::string* error) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() /
                 ("spanpipe_boto_" + std::to_string(::getpid()) + "_" + std::to_string(rand()));
  fs::create_directories(dir);
  nlohmann::json cases = nlohmann::json::array();
  for (const auto& r : reqs) {
    nlohmann::json params = nlohmann::json::array(), headers = nlohmann::json::array();
    for (const auto& [k, v] : r.params) params.push_back({k, v});
    for (const auto& [k, v] : r.headers) headers.push_back({k, v});
    cases.push_back({{"method", r.method},
                     {"url", r.url},
                     {"params", params},
                     {"headers", headers},
                     {"payload_hex", HexEncode(r.payload)},
                     {"amz_date", r.amz_date},
                     {"region", r.region},
                     {"access_key_id", r.access_key_id},
                     {"secret_access_key", r.secret_access_key},
                     {"session_token", r.session_token}});
  }
  std::ofstream(dir / "cases.json") << cases.dump();
  std::ofstream(dir / "sign.py") << kBotocoreSignerPy;
  std::string cmd = "/usr/bin/python3 " + (dir / "sign.py").string() + " " +
                    (dir / "cases.json").string() + " >" + (dir / "out.json").string() + " 2>" +
                    (dir / "err.txt").string();
  int rc = std::system(cmd.c_str());
  std::ifstream outf(dir / "out.json"), errf(dir / "err.txt");
  std::string text((std::istreambuf_iterator<char>(outf)), {});
  std::string err((std::istreambuf_iterator<char>(errf)), {});
  fs::remove_all(dir);
  if (rc != 0) {
    *error = "botocore signer failed: " + err;
    return false;
  }
  out->clear();
  for (const auto& j : nlohmann::json::parse(text))
    out->push_back({j["authorization"], j["amz_date"], j["content_sha256"], j["security_token"]});
  return true;
}

}  // namespace spanpipe::testutil
