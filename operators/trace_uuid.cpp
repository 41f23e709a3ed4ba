#include "operators/trace_uuid.h"

#include <cstring>

// SHA1_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, but EVP's per-call
// dispatch (provider lookup of the algorithm context in EVP_DigestInit_ex) costs about twice the
// two compression blocks of a trace UUID, a fifth of the registry's work per new trace. The
// low-level calls are kept by OpenSSL 3 and compute the same digest (golden tests).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "common/hex.h"

namespace spanpipe::resolve {
namespace {

// kTraceUuidNamespace as bytes (RFC 4122 network order).
constexpr uint8_t kNamespaceBytes[16] = {0xdf, 0x4a, 0xd7, 0xa9, 0x57, 0x3b, 0x5c, 0x0a,
                                         0x96, 0xde, 0xbc, 0x4c, 0x16, 0x28, 0x5b, 0x04};

}  // namespace

std::string TraceUuid(std::string_view project, const uint8_t trace_id[16]) {
  std::string out;
  TraceUuidTo(project, trace_id, &out);
  return out;
}

void TraceUuidTo(std::string_view project, const uint8_t trace_id[16], std::string* out) {
  uint8_t bytes[16];
  TraceUuidBytes(project, trace_id, bytes);
  FormatUuidTo(bytes, out);
}

void TraceUuidBytes(std::string_view project, const uint8_t trace_id[16], uint8_t out[16]) {
  char hex[32];
  HexEncodeTo(trace_id, 16, hex);
  uint8_t digest[SHA_DIGEST_LENGTH] = {};
  // SHA-1 of in-memory input cannot fail; there is no error path to surface.
  SHA_CTX ctx;
  SHA1_Init(&ctx);
  SHA1_Update(&ctx, kNamespaceBytes, sizeof(kNamespaceBytes));
  SHA1_Update(&ctx, project.data(), project.size());
  SHA1_Update(&ctx, "", 1);  // the '\0' separator
  SHA1_Update(&ctx, hex, sizeof(hex));
  SHA1_Final(digest, &ctx);
  digest[6] = static_cast<uint8_t>((digest[6] & 0x0f) | 0x50);  // version 5
  digest[8] = static_cast<uint8_t>((digest[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::memcpy(out, digest, 16);
}

void FormatUuidTo(const uint8_t bytes[16], std::string* out) {
  out->resize(36);
  char* p = out->data();
  HexEncodeTo(bytes, 4, p);
  p[8] = '-';
  HexEncodeTo(bytes + 4, 2, p + 9);
  p[13] = '-';
  HexEncodeTo(bytes + 6, 2, p + 14);
  p[18] = '-';
  HexEncodeTo(bytes + 8, 2, p + 19);
  p[23] = '-';
  HexEncodeTo(bytes + 10, 6, p + 24);
}

}  // namespace spanpipe::resolve
