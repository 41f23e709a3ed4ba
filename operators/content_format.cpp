#include "operators/content_format.h"

#include <openssl/evp.h>
#include <zstd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <memory>

#include "common/coding.h"

namespace spanpipe::content {
namespace {
constexpr char kPackMagic[] = "SPPK";
constexpr char kPackIndexMagic[] = "SPPI";
constexpr char kManifestMagic[] = "SPM2";
constexpr char kTableMagic[] = "SPT2";
constexpr char kRunFooterMagic[] = "SPRF";
constexpr uint8_t kVersion = 2;
constexpr size_t kFooter = 8 + 8 + 4 + 4;
constexpr size_t kMaxKey = 1024;  // object keys, attribute keys, project names
constexpr uint64_t kMaxChunkLen = uint64_t{1} << 26;

bool GetU32(std::string_view* in, uint32_t* v) {
  uint64_t x;
  if (!GetVarint64(in, &x) || x > UINT32_MAX) return false;
  *v = static_cast<uint32_t>(x);
  return true;
}

bool GetBytes(std::string_view* in, size_t n, std::string* out) {
  if (in->size() < n) return false;
  out->assign(in->data(), n);
  in->remove_prefix(n);
  return true;
}

bool GetString(std::string_view* in, std::string* out) {
  std::string_view s;
  if (!GetLengthPrefixed(in, &s) || s.size() > kMaxKey) return false;
  out->assign(s);
  return true;
}

bool CheckMagic(std::string_view* in, const char* magic) {
  if (in->size() < 4 || in->substr(0, 4) != std::string_view(magic, 4)) return false;
  in->remove_prefix(4);
  return true;
}

}  // namespace

void Sha256(std::string_view data, char out[32]) {
  // One context per thread, the digest fetched once: EVP_Digest would allocate and look up the
  // algorithm on every call, which dominates for sub-KiB chunks.
  struct Ctx {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    ~Ctx() {
      EVP_MD_free(md);
      EVP_MD_CTX_free(ctx);
    }
  };
  thread_local Ctx c;
  unsigned int len = 0;
  EVP_DigestInit_ex(c.ctx, c.md, nullptr);
  EVP_DigestUpdate(c.ctx, data.data(), data.size());
  EVP_DigestFinal_ex(c.ctx, reinterpret_cast<unsigned char*>(out), &len);
}

std::string Sha256(std::string_view data) {
  std::string out(32, '\0');
  Sha256(data, out.data());
  return out;
}

bool TraceIndexLess(const TraceIndexEntry& a, const TraceIndexEntry& b) {
  if (a.trace_id != b.trace_id) return a.trace_id < b.trace_id;
  if (a.project != b.project) return a.project < b.project;
  if (a.segment != b.segment) return a.segment < b.segment;
  return a.mf_offset < b.mf_offset;
}

void EncodeChunkLocation(const ChunkLocation& c, std::string* out) {
  out->push_back(static_cast<char>(kVersion));
  PutLengthPrefixed(out, c.pack_key);
  PutVarint64(out, c.frame_offset);
  PutVarint64(out, c.frame_len);
  PutVarint64(out, c.offset);
  PutVarint64(out, c.len);
}

bool DecodeChunkLocation(std::string_view* in, ChunkLocation* c) {
  if (in->empty() || static_cast<uint8_t>((*in)[0]) != kVersion) return false;
  in->remove_prefix(1);
  return GetString(in, &c->pack_key) && GetVarint64(in, &c->frame_offset) &&
         GetU32(in, &c->frame_len) && GetU32(in, &c->offset) && GetU32(in, &c->len) &&
         c->len <= kMaxChunkLen && c->offset <= kMaxFrameRaw && c->len <= kMaxFrameRaw - c->offset;
}

// One compression and one decompression context per thread, freed when the thread ends (the
// query side's HTTP workers come and go; a bare thread_local pointer leaked each one's ~96 KiB).
namespace {
struct FreeCCtx {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct FreeDCtx {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};
}  // namespace

std::string CompressFrame(std::string_view raw, int level) {
  thread_local std::unique_ptr<ZSTD_CCtx, FreeCCtx> owned(ZSTD_createCCtx());
  ZSTD_CCtx* c = owned.get();
  ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  size_t n = ZSTD_compress2(c, out.data(), out.size(), raw.data(), raw.size());
  out.resize(ZSTD_isError(n) ? 0 : n);
  return out;
}

Status DecompressFrame(std::string_view frame, uint64_t max_raw, std::string* out,
                       const void* ddict) {
  unsigned long long n = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN || n > max_raw)
    return Status::Corruption("bad zstd frame header");
  if (ZSTD_findFrameCompressedSize(frame.data(), frame.size()) != frame.size())
    return Status::Corruption("zstd frame length mismatch");
  out->resize(n);
  thread_local std::unique_ptr<ZSTD_DCtx, FreeDCtx> owned(ZSTD_createDCtx());
  ZSTD_DCtx* dctx = owned.get();
  size_t r = ddict
                 ? ZSTD_decompress_usingDDict(dctx, out->data(), out->size(), frame.data(),
                                              frame.size(), static_cast<const ZSTD_DDict*>(ddict))
                 : ZSTD_decompressDCtx(dctx, out->data(), out->size(), frame.data(), frame.size());
  if (ZSTD_isError(r) || r != n)
    return Status::Corruption(std::string("zstd: ") +
                              (ZSTD_isError(r) ? ZSTD_getErrorName(r) : "short frame"));
  return Status::OK();
}

void EncodeManifestFrameRaw(const ManifestFrame& m, std::string* out) {
  out->append(kManifestMagic, 4);
  PutVarint64(out, m.packs.size());
  for (const auto& p : m.packs) PutLengthPrefixed(out, p);
  PutVarint64(out, m.frames.size());
  for (const auto& f : m.frames) {
    PutVarint64(out, f.pack);
    PutVarint64(out, f.offset);
    PutVarint64(out, f.stored_len);
  }
  PutVarint64(out, m.traces.size());
  for (const auto& t : m.traces) {
    out->append(t.trace_id);
    PutLengthPrefixed(out, t.project);
    // Values grouped by span: consecutive values of one span share its id.
    size_t spans = 0;
    for (size_t i = 0; i < t.values.size(); ++i)
      spans += i == 0 || t.values[i].span_id != t.values[i - 1].span_id;
    PutVarint64(out, spans);
    for (size_t i = 0; i < t.values.size();) {
      size_t end = i + 1;
      while (end < t.values.size() && t.values[end].span_id == t.values[i].span_id) ++end;
      out->append(t.values[i].span_id);
      PutVarint64(out, end - i);
      for (; i < end; ++i) {
        const ValueManifest& v = t.values[i];
        PutLengthPrefixed(out, v.key);
        PutVarint64(out, v.raw_len);
        out->append(v.sha256, 0, kValueDigestBytes);
        out->append(kValueDigestBytes - std::min(v.sha256.size(), kValueDigestBytes), '\0');
        PutVarint64(out, v.extents.size());
        for (const auto& e : v.extents) {
          PutVarint64(out, e.frame);
          PutVarint64(out, e.offset);
          PutVarint64(out, e.len);
        }
      }
    }
  }
}

Status DecodeManifestFrameRaw(std::string_view in, ManifestFrame* out) {
  *out = {};
  if (!CheckMagic(&in, kManifestMagic)) return Status::Corruption("manifest: bad magic");
  uint64_t n;
  if (!GetVarint64(&in, &n) || n > in.size()) return Status::Corruption("manifest: bad pack count");
  for (uint64_t i = 0; i < n; ++i) {
    std::string key;
    if (!GetString(&in, &key)) return Status::Corruption("manifest: bad pack key");
    out->packs.push_back(std::move(key));
  }
  if (!GetVarint64(&in, &n) || n > in.size() / 3)
    return Status::Corruption("manifest: bad frame count");
  out->frames.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    FrameRef f;
    if (!GetU32(&in, &f.pack) || !GetVarint64(&in, &f.offset) || !GetU32(&in, &f.stored_len))
      return Status::Corruption("manifest: truncated frame table");
    if (f.pack >= out->packs.size() || f.offset > UINT64_MAX - f.stored_len)
      return Status::Corruption("manifest: frame out of range");
    out->frames.push_back(f);
  }
  if (!GetVarint64(&in, &n) || n > in.size() / 18)
    return Status::Corruption("manifest: bad trace count");
  for (uint64_t i = 0; i < n; ++i) {
    TraceManifest t;
    uint64_t spans;
    if (!GetBytes(&in, 16, &t.trace_id) || !GetString(&in, &t.project) ||
        !GetVarint64(&in, &spans) || spans > in.size() / 9)
      return Status::Corruption("manifest: truncated trace");
    for (uint64_t s = 0; s < spans; ++s) {
      std::string span_id;
      uint64_t nv;
      if (!GetBytes(&in, 8, &span_id) || !GetVarint64(&in, &nv) || nv > in.size() / 19)
        return Status::Corruption("manifest: truncated span");
      for (uint64_t j = 0; j < nv; ++j) {
        ValueManifest v;
        v.span_id = span_id;
        uint64_t ne;
        if (!GetString(&in, &v.key) || !GetVarint64(&in, &v.raw_len) ||
            !GetBytes(&in, kValueDigestBytes, &v.sha256) || !GetVarint64(&in, &ne) ||
            ne > in.size() / 3)
          return Status::Corruption("manifest: truncated value header");
        uint64_t sum = 0;
        for (uint64_t k = 0; k < ne; ++k) {
          Extent e;
          if (!GetU32(&in, &e.frame) || !GetU32(&in, &e.offset) || !GetU32(&in, &e.len))
            return Status::Corruption("manifest: truncated extent");
          if (e.frame >= out->frames.size() || e.offset > kMaxFrameRaw ||
              e.len > kMaxFrameRaw - e.offset)
            return Status::Corruption("manifest: extent out of range for key " + v.key);
          sum += e.len;
          v.extents.push_back(e);
        }
        if (sum != v.raw_len)
          return Status::Corruption("manifest: extent lengths do not add up for key " + v.key);
        t.values.push_back(std::move(v));
      }
    }
    out->traces.push_back(std::move(t));
  }
  if (!in.empty()) return Status::Corruption("manifest: trailing bytes");
  return Status::OK();
}

void EncodeTraceTableRaw(const std::vector<TraceIndexEntry>& entries, std::string* out) {
  out->append(kTableMagic, 4);
  PutVarint64(out, entries.size());
  for (const auto& e : entries) {
    out->append(e.trace_id);
    PutLengthPrefixed(out, e.project);
    PutVarint64(out, e.segment);
    PutVarint64(out, e.mf_offset);
    PutVarint64(out, e.mf_len);
  }
}

Status DecodeTraceTableRaw(std::string_view in, std::vector<TraceIndexEntry>* out) {
  out->clear();
  if (!CheckMagic(&in, kTableMagic)) return Status::Corruption("trace table: bad magic");
  uint64_t n;
  if (!GetVarint64(&in, &n) || n > in.size() / 20)
    return Status::Corruption("trace table: bad count");
  out->reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    TraceIndexEntry e;
    if (!GetBytes(&in, 16, &e.trace_id) || !GetString(&in, &e.project) ||
        !GetU32(&in, &e.segment) || !GetVarint64(&in, &e.mf_offset) || !GetU32(&in, &e.mf_len) ||
        e.mf_offset > UINT64_MAX - e.mf_len)
      return Status::Corruption("trace table: truncated entry");
    if (!out->empty() && TraceIndexLess(e, out->back()))
      return Status::Corruption("trace table: not sorted");
    out->push_back(std::move(e));
  }
  if (!in.empty()) return Status::Corruption("trace table: trailing bytes");
  return Status::OK();
}

void EncodeRunFooterRaw(const RunFooter& f, std::string* out) {
  out->append(kRunFooterMagic, 4);
  PutVarint64(out, f.segments.size());
  for (const auto& s : f.segments) PutLengthPrefixed(out, s);
  PutVarint64(out, f.blocks.size());
  for (const auto& b : f.blocks) {
    out->append(b.first_trace);
    PutLengthPrefixed(out, b.first_project);
    PutVarint64(out, b.offset);
    PutVarint64(out, b.len);
  }
}

Status DecodeRunFooterRaw(std::string_view in, RunFooter* out) {
  *out = {};
  if (!CheckMagic(&in, kRunFooterMagic)) return Status::Corruption("index run: bad magic");
  uint64_t n;
  if (!GetVarint64(&in, &n) || n > in.size()) return Status::Corruption("index run: bad count");
  for (uint64_t i = 0; i < n; ++i) {
    std::string s;
    if (!GetString(&in, &s)) return Status::Corruption("index run: bad segment key");
    out->segments.push_back(std::move(s));
  }
  if (!GetVarint64(&in, &n) || n > in.size() / 19)
    return Status::Corruption("index run: bad block count");
  for (uint64_t i = 0; i < n; ++i) {
    RunFooter::Block b;
    if (!GetBytes(&in, 16, &b.first_trace) || !GetString(&in, &b.first_project) ||
        !GetVarint64(&in, &b.offset) || !GetU32(&in, &b.len) || b.offset > UINT64_MAX - b.len)
      return Status::Corruption("index run: truncated block entry");
    out->blocks.push_back(std::move(b));
  }
  if (!in.empty()) return Status::Corruption("index run: trailing bytes");
  return Status::OK();
}

std::string PackKey(uint64_t writer, uint64_t seq) {
  char b[64];
  std::snprintf(b, sizeof b, "packs/%016" PRIx64 "-%016" PRIx64, writer, seq);
  return b;
}

std::string SegmentKey(uint64_t writer, uint64_t seq, uint64_t off, uint64_t len) {
  char b[96];
  std::snprintf(b, sizeof b, "segs/%016" PRIx64 "/%016" PRIx64 "-%" PRIx64 "-%" PRIx64, writer, seq,
                off, len);
  return b;
}

std::string RunKey(uint64_t writer, int level, uint64_t j, uint64_t off, uint64_t len) {
  char b[112];
  std::snprintf(b, sizeof b, "tindex/%016" PRIx64 "/%x/%016" PRIx64 "-%" PRIx64 "-%" PRIx64, writer,
                level, j, off, len);
  return b;
}

std::string WriterKey(uint64_t writer) {
  char b[48];
  std::snprintf(b, sizeof b, "writers/%016" PRIx64, writer);
  return b;
}

std::string DictionaryKey(uint32_t dict_id) {
  char b[32];
  std::snprintf(b, sizeof b, "dicts/%08" PRIx32, dict_id);
  return b;
}

bool ParseLocatedKey(std::string_view key, std::string_view prefix, uint64_t* number,
                     uint64_t* offset, uint64_t* len) {
  if (key.substr(0, prefix.size()) != prefix) return false;
  key.remove_prefix(prefix.size());
  uint64_t* outs[3] = {number, offset, len};
  for (int i = 0; i < 3; ++i) {
    size_t end = i < 2 ? key.find('-') : key.size();
    if (end == std::string_view::npos || end == 0 || end > 16) return false;
    uint64_t v = 0;
    for (char c : key.substr(0, end)) {
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return false;
      v = v << 4 | static_cast<uint64_t>(d);
    }
    *outs[i] = v;
    key.remove_prefix(i < 2 ? end + 1 : end);
  }
  return *offset <= UINT64_MAX - *len;
}

PackBuilder::PackBuilder() {
  data_.append(kPackMagic, 4).push_back(static_cast<char>(kVersion));
}

uint64_t PackBuilder::AddFrame(std::string_view stored, uint32_t raw_len,
                               std::vector<uint32_t> chunk_lens) {
  uint64_t off = data_.size();
  data_.append(stored);
  index_.push_back({off, static_cast<uint32_t>(stored.size()), raw_len, std::move(chunk_lens)});
  return off;
}

uint64_t PackBuilder::AddBytes(std::string_view bytes) {
  uint64_t off = data_.size();
  data_.append(bytes);
  return off;
}

std::string PackBuilder::Finish() {
  std::string out = std::move(data_);
  uint64_t index_offset = out.size();
  PutVarint64(&out, index_.size());
  for (const auto& f : index_) {
    PutVarint64(&out, f.offset);
    PutVarint64(&out, f.stored_len);
    PutVarint64(&out, f.raw_len);
    PutVarint64(&out, f.chunk_lens.size());
    for (uint32_t l : f.chunk_lens) PutVarint64(&out, l);
  }
  uint64_t index_len = out.size() - index_offset;
  PutFixed64BE(&out, index_offset);
  PutFixed64BE(&out, index_len);
  PutFixed32BE(&out, 0);
  out.append(kPackIndexMagic, 4);
  data_.clear();
  data_.append(kPackMagic, 4).push_back(static_cast<char>(kVersion));
  index_.clear();
  return out;
}

Status DecodePackIndex(std::string_view pack, std::vector<PackFrameInfo>* out) {
  out->clear();
  if (pack.size() < 5 + kFooter || pack.substr(0, 4) != std::string_view(kPackMagic, 4))
    return Status::Corruption("pack: bad magic");
  if (static_cast<uint8_t>(pack[4]) != kVersion) return Status::Corruption("pack: unknown version");
  std::string_view footer = pack.substr(pack.size() - kFooter);
  if (footer.substr(20) != std::string_view(kPackIndexMagic, 4))
    return Status::Corruption("pack: bad index magic");
  uint64_t index_offset = DecodeFixed64BE(footer.data());
  uint64_t index_len = DecodeFixed64BE(footer.data() + 8);
  uint64_t body = pack.size() - kFooter;
  if (index_offset < 5 || index_offset > body || index_len != body - index_offset)
    return Status::Corruption("pack: index out of bounds");
  std::string_view in = pack.substr(index_offset, index_len);
  uint64_t n;
  if (!GetVarint64(&in, &n) || n > in.size() / 4) return Status::Corruption("pack: bad index");
  for (uint64_t i = 0; i < n; ++i) {
    PackFrameInfo f;
    uint64_t chunks, sum = 0;
    if (!GetVarint64(&in, &f.offset) || !GetU32(&in, &f.stored_len) || !GetU32(&in, &f.raw_len) ||
        !GetVarint64(&in, &chunks) || chunks > in.size())
      return Status::Corruption("pack: truncated index");
    // offset + stored_len could wrap around: compare against what is left instead.
    if (f.offset < 5 || f.offset > index_offset || f.stored_len > index_offset - f.offset)
      return Status::Corruption("pack: frame out of bounds");
    for (uint64_t c = 0; c < chunks; ++c) {
      uint32_t l;
      if (!GetU32(&in, &l)) return Status::Corruption("pack: truncated index");
      sum += l;
      f.chunk_lens.push_back(l);
    }
    if (sum != f.raw_len) return Status::Corruption("pack: chunk lengths do not add up");
    out->push_back(std::move(f));
  }
  if (!in.empty()) return Status::Corruption("pack: trailing index bytes");
  return Status::OK();
}

}  // namespace spanpipe::content
