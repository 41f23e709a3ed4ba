// AWS Signature Version 4 for S3 requests. Written against OpenSSL so it can be tested with a
// fixed clock (libcurl's CURLOPT_AWS_SIGV4 cannot be): tests compare it with botocore's signer.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spanpipe::s3 {

struct SigningInput {
  std::string method;  // GET, PUT
  std::string host;    // "127.0.0.1:4569" (as sent in the Host header)
  std::string path;    // already URI-encoded, e.g. "/bucket/a%20b"
  std::vector<std::pair<std::string, std::string>> query;  // raw (unencoded) names and values
  std::string payload_sha256_hex;
  std::string amz_date;  // "20261123T101500Z"
  std::string region;
  std::string access_key_id, secret_access_key, session_token;
  // More headers to sign and send (e.g. range, content-type): lower-case names, trimmed values.
  std::vector<std::pair<std::string, std::string>> headers = {};
};

// Headers to send: Authorization, x-amz-date, x-amz-content-sha256 (and x-amz-security-token);
// in.headers are signed too and must be sent as given.
std::vector<std::pair<std::string, std::string>> SignV4(const SigningInput& in);
// RFC 3986 encoding; '/' kept when encode_slash is false (paths).
std::string UriEncode(const std::string& s, bool encode_slash);
// The canonical (sorted, encoded) query string that must also be sent on the wire.
std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> query);
std::string Sha256Hex(std::string_view data);

}  // namespace spanpipe::s3
