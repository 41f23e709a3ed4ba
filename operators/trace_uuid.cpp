#include "operators/trace_uuid.h"

#include <openssl/evp.h>

#include "common/hex.h"

namespace spanpipe::resolve {
namespace {

// kTraceUuidNamespace as bytes (RFC 4122 network order).
constexpr uint8_t kNamespaceBytes[16] = {0xdf, 0x4a, 0xd7, 0xa9, 0x57, 0x3b, 0x5c, 0x0a,
                                         0x96, 0xde, 0xbc, 0x4c, 0x16, 0x28, 0x5b, 0x04};

// OpenSSL 3 looks the algorithm up and allocates a context on every EVP_Digest call, which cost
// more than the hash itself (a third of the registry's per-trace CPU): fetch once, reuse a
// per-thread context.
struct Sha1 {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Sha1() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
};

}  // namespace

std::string TraceUuid(std::string_view project, const uint8_t trace_id[16]) {
  char hex[32];
  HexEncodeTo(trace_id, 16, hex);
  std::string name;
  name.reserve(sizeof(kNamespaceBytes) + project.size() + 1 + sizeof(hex));
  name.append(reinterpret_cast<const char*>(kNamespaceBytes), sizeof(kNamespaceBytes));
  name.append(project);
  name.push_back('\0');
  name.append(hex, sizeof(hex));
  uint8_t digest[EVP_MAX_MD_SIZE] = {};
  unsigned int len = 0;
  // SHA-1 cannot fail on in-memory input with the default provider; a zeroed digest would still
  // be a well-formed (if useless) UUID, so there is no error path to surface.
  thread_local Sha1 sha1;
  if (sha1.md != nullptr && sha1.ctx != nullptr &&
      EVP_DigestInit_ex(sha1.ctx, sha1.md, nullptr) == 1 &&
      EVP_DigestUpdate(sha1.ctx, name.data(), name.size()) == 1) {
    EVP_DigestFinal_ex(sha1.ctx, digest, &len);
  }
  digest[6] = static_cast<uint8_t>((digest[6] & 0x0f) | 0x50);  // version 5
  digest[8] = static_cast<uint8_t>((digest[8] & 0x3f) | 0x80);  // RFC 4122 variant
  char text[36];
  char* p = text;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
    HexEncodeTo(&digest[i], 1, p);
    p += 2;
  }
  return std::string(text, sizeof(text));
}

}  // namespace spanpipe::resolve
