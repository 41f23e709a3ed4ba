#include "operators/content_format.h"

#include <openssl/evp.h>

#include "common/coding.h"
#include "common/hex.h"

namespace spanpipe::content {
namespace {
constexpr char kPackMagic[] = "SPPK";
constexpr char kPackIndexMagic[] = "SPPI";
constexpr char kManifestMagic[] = "SPMF";
constexpr uint8_t kVersion = 1;
constexpr size_t kIndexEntry = 32 + 8 + 4 + 4;
constexpr size_t kFooter = 8 + 4 + 4;
// No chunk is larger than content.max_chunk (at most 64 MiB, topology/config.cpp); its zstd frame
// is at most ZSTD_compressBound of that. A reference claiming more is corrupt, so that a hostile
// manifest cannot make a reader allocate gigabytes.
constexpr uint64_t kMaxRawChunk = uint64_t{1} << 26;
constexpr uint64_t kMaxStoredChunk = kMaxRawChunk + (kMaxRawChunk >> 7) + (1u << 20);
}  // namespace

std::string Sha256(std::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len,
             EVP_sha256(), nullptr);
  return out;
}

std::string EncodeProjectSegment(std::string_view project) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  bool dots_only = true;
  for (char ch : project) dots_only = dots_only && ch == '.';
  for (unsigned char c : project) {
    bool safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || (c == '.' && !dots_only);
    if (safe) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out.empty() ? "%" : out;
}

bool DecodeProjectSegment(std::string_view seg, std::string* project) {
  project->clear();
  if (seg == "%") return true;
  for (size_t i = 0; i < seg.size(); ++i) {
    if (seg[i] != '%') {
      project->push_back(seg[i]);
      continue;
    }
    std::string byte;
    if (i + 2 >= seg.size()) return false;
    if (!HexDecode(seg.substr(i + 1, 2), &byte) || byte.size() != 1) return false;
    project->append(byte);
    i += 2;
  }
  return true;
}

std::string ManifestPrefix(std::string_view project, std::string_view trace_id_hex) {
  return "manifests/" + EncodeProjectSegment(project) + "/" + std::string(trace_id_hex) + "/";
}

void EncodeChunkLocation(const ChunkLocation& c, std::string* out) {
  out->append(c.hash);
  PutLengthPrefixed(out, c.pack_id);
  PutVarint64(out, c.offset);
  PutVarint64(out, c.stored_len);
  PutVarint64(out, c.raw_len);
}

bool DecodeChunkLocation(std::string_view* in, ChunkLocation* c) {
  if (in->size() < 32) return false;
  c->hash.assign(in->data(), 32);
  in->remove_prefix(32);
  std::string_view pack;
  uint64_t off, slen, rlen;
  if (!GetLengthPrefixed(in, &pack) || pack.size() > 128 || !GetVarint64(in, &off) ||
      !GetVarint64(in, &slen) || !GetVarint64(in, &rlen) || slen > kMaxStoredChunk ||
      rlen > kMaxRawChunk)
    return false;
  c->pack_id.assign(pack);
  c->offset = off;
  c->stored_len = static_cast<uint32_t>(slen);
  c->raw_len = static_cast<uint32_t>(rlen);
  return true;
}

void EncodeManifestObject(const std::vector<ValueManifest>& values, std::string* out) {
  out->append(kManifestMagic, 4);
  out->push_back(static_cast<char>(kVersion));
  PutVarint64(out, values.size());
  for (const auto& v : values) {
    out->append(v.span_id);
    PutLengthPrefixed(out, v.key);
    PutVarint64(out, v.raw_len);
    PutVarint64(out, v.chunks.size());
    for (const auto& c : v.chunks) EncodeChunkLocation(c, out);
  }
}

Status DecodeManifestObject(std::string_view in, std::vector<ValueManifest>* out) {
  out->clear();
  if (in.size() < 5 || in.substr(0, 4) != std::string_view(kManifestMagic, 4))
    return Status::Corruption("manifest: bad magic");
  if (static_cast<uint8_t>(in[4]) != kVersion)
    return Status::Corruption("manifest: unknown version");
  in.remove_prefix(5);
  uint64_t n;
  if (!GetVarint64(&in, &n) || n > in.size())
    return Status::Corruption("manifest: bad value count");
  for (uint64_t i = 0; i < n; ++i) {
    ValueManifest v;
    std::string_view key;
    uint64_t raw_len, chunks;
    if (in.size() < 8) return Status::Corruption("manifest: truncated span id");
    v.span_id.assign(in.data(), 8);
    in.remove_prefix(8);
    if (!GetLengthPrefixed(&in, &key) || !GetVarint64(&in, &raw_len) ||
        !GetVarint64(&in, &chunks) || chunks > in.size() / 33 + 1)
      return Status::Corruption("manifest: truncated value header");
    v.key.assign(key);
    v.raw_len = raw_len;
    uint64_t sum = 0;
    for (uint64_t c = 0; c < chunks; ++c) {
      ChunkLocation loc;
      if (!DecodeChunkLocation(&in, &loc))
        return Status::Corruption("manifest: truncated chunk reference");
      sum += loc.raw_len;
      v.chunks.push_back(std::move(loc));
    }
    if (sum != raw_len)
      return Status::Corruption("manifest: chunk lengths do not add up for key " + v.key);
    out->push_back(std::move(v));
  }
  if (!in.empty()) return Status::Corruption("manifest: trailing bytes");
  return Status::OK();
}

PackBuilder::PackBuilder() {
  data_.append(kPackMagic, 4).push_back(static_cast<char>(kVersion));
}

uint64_t PackBuilder::Add(std::string_view hash, std::string_view stored, uint32_t raw_len) {
  uint64_t off = data_.size();
  data_.append(stored);
  index_.push_back({std::string(hash), off, static_cast<uint32_t>(stored.size()), raw_len});
  return off;
}

std::string PackBuilder::Finish() {
  std::string out = std::move(data_);
  uint64_t index_offset = out.size();
  for (const auto& e : index_) {
    out.append(e.hash);
    PutFixed64BE(&out, e.offset);
    PutFixed32BE(&out, e.stored_len);
    PutFixed32BE(&out, e.raw_len);
  }
  PutFixed64BE(&out, index_offset);
  PutFixed32BE(&out, static_cast<uint32_t>(index_.size()));
  out.append(kPackIndexMagic, 4);
  data_.clear();
  data_.append(kPackMagic, 4).push_back(static_cast<char>(kVersion));
  index_.clear();
  return out;
}

Status DecodePackIndex(std::string_view pack, std::vector<PackIndexEntry>* out) {
  out->clear();
  if (pack.size() < 5 + kFooter || pack.substr(0, 4) != std::string_view(kPackMagic, 4))
    return Status::Corruption("pack: bad magic");
  if (static_cast<uint8_t>(pack[4]) != kVersion) return Status::Corruption("pack: unknown version");
  std::string_view footer = pack.substr(pack.size() - kFooter);
  if (footer.substr(12) != std::string_view(kPackIndexMagic, 4))
    return Status::Corruption("pack: bad index magic");
  uint64_t index_offset = DecodeFixed64BE(footer.data());
  uint32_t entries = DecodeFixed32BE(footer.data() + 8);
  if (index_offset < 5 || index_offset > pack.size() - kFooter ||
      (pack.size() - kFooter - index_offset) != uint64_t{entries} * kIndexEntry)
    return Status::Corruption("pack: index out of bounds");
  const char* p = pack.data() + index_offset;
  for (uint32_t i = 0; i < entries; ++i, p += kIndexEntry) {
    PackIndexEntry e{std::string(p, 32), DecodeFixed64BE(p + 32), DecodeFixed32BE(p + 40),
                     DecodeFixed32BE(p + 44)};
    // offset + stored_len could wrap around: compare against what is left instead.
    if (e.offset < 5 || e.offset > index_offset || e.stored_len > index_offset - e.offset)
      return Status::Corruption("pack: chunk out of bounds");
    out->push_back(std::move(e));
  }
  return Status::OK();
}

}  // namespace spanpipe::content
