#include "operators/content_reader.h"

#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>

#include "common/hex.h"
#include "operators/content_format.h"

namespace spanpipe::content {
namespace {
constexpr uint64_t kMaxReserve = 16u << 20;
// Reads of one pack are coalesced: frames closer than kMaxGap are fetched by one range GET, up to
// kMaxFetch bytes per GET. Object-store requests then grow with the bytes of the trace (and the
// packs it touches), not with its chunks; a GET of a few hundred KiB more costs less than a
// round trip.
constexpr uint64_t kMaxGap = 256u << 10;
constexpr uint64_t kMaxFetch = 8u << 20;

struct Fetch {
  uint64_t begin = 0, end = 0;
  std::string first_hash;  // names the fetch in errors
  std::string bytes;
};

std::string ChunkName(const ChunkLocation& c) {
  return "chunk " + HexEncode(c.hash) + " in packs/" + c.pack_id;
}

}  // namespace

Status ReadTraceContent(PackSink* store, const ListFn& list, std::string_view project,
                        std::string_view trace_id_hex, std::string_view span_id_hex,
                        std::vector<ContentValue>* out) {
  out->clear();
  std::vector<std::string> keys;
  std::string prefix = ManifestPrefix(project, trace_id_hex);
  SPANPIPE_RETURN_IF_ERROR(list(prefix, &keys));
  // 1. The values wanted, in manifest order, each once per (span, key): a replay may have written
  //    a value twice.
  std::set<std::pair<std::string, std::string>> seen;
  std::vector<ValueManifest> wanted;
  std::string obj;
  for (const auto& key : keys) {
    SPANPIPE_RETURN_IF_ERROR(store->Get(key, &obj));
    std::vector<ValueManifest> values;
    Status s = DecodeManifestObject(obj, &values);
    if (!s.ok()) return Status::Corruption(key + ": " + s.message());
    for (auto& v : values) {
      std::string span_hex = HexEncode(v.span_id);
      if (!span_id_hex.empty() && span_hex != span_id_hex) continue;
      if (!seen.insert({span_hex, v.key}).second) continue;
      wanted.push_back(std::move(v));
    }
  }
  // 2. Plan the range reads: per pack, frames sorted by offset, merged across small gaps.
  std::map<std::string, std::vector<const ChunkLocation*>> by_pack;
  for (const auto& v : wanted)
    for (const auto& c : v.chunks) {
      if (c.offset > UINT64_MAX - c.stored_len)
        return Status::Corruption(ChunkName(c) + " is corrupt (offset out of range)");
      by_pack[c.pack_id].push_back(&c);
    }
  std::map<std::string, std::vector<Fetch>> fetched;
  for (auto& [pack, chunks] : by_pack) {
    std::sort(chunks.begin(), chunks.end(),
              [](const ChunkLocation* a, const ChunkLocation* b) { return a->offset < b->offset; });
    std::vector<Fetch>& fetches = fetched[pack];
    for (const ChunkLocation* c : chunks) {
      uint64_t end = c->offset + c->stored_len;
      if (!fetches.empty() && c->offset <= fetches.back().end + kMaxGap &&
          std::max(end, fetches.back().end) - fetches.back().begin <= kMaxFetch) {
        fetches.back().end = std::max(end, fetches.back().end);
        continue;
      }
      fetches.push_back({c->offset, end, c->hash, {}});
    }
    // 3. Fetch.
    for (auto& f : fetches) {
      Status gs = store->GetRange("packs/" + pack, f.begin, f.end - f.begin, &f.bytes);
      if (!gs.ok())
        return Status::Corruption("chunk " + HexEncode(f.first_hash) + " in packs/" + pack +
                                  " cannot be read: " + gs.message());
    }
  }
  // 4. Assemble the values, verifying every chunk.
  std::string raw;
  for (const auto& v : wanted) {
    ContentValue cv{std::string(trace_id_hex), HexEncode(v.span_id), v.key, {}};
    // raw_len is what the manifest claims (up to 2^30 per chunk): reserve no more than the first
    // 16 MiB of it; the chunks, each verified below, grow the value to its real size.
    cv.value.reserve(std::min<uint64_t>(v.raw_len, kMaxReserve));
    for (const auto& c : v.chunks) {
      const std::vector<Fetch>& fetches = fetched[c.pack_id];
      auto it = std::upper_bound(fetches.begin(), fetches.end(), c.offset,
                                 [](uint64_t off, const Fetch& f) { return off < f.begin; });
      if (it == fetches.begin()) return Status::Internal(ChunkName(c) + ": not planned");
      const Fetch& f = *(it - 1);
      // (Only a hostile manifest, with overlapping frames, can point outside its fetch.)
      if (c.offset - f.begin > f.bytes.size())
        return Status::Corruption(ChunkName(c) + " is corrupt (bad frame)");
      std::string_view frame = std::string_view(f.bytes).substr(c.offset - f.begin, c.stored_len);
      // The frame declares its size: check it before allocating what a hostile manifest claims.
      if (frame.size() != c.stored_len ||
          ZSTD_getFrameContentSize(frame.data(), frame.size()) != c.raw_len)
        return Status::Corruption(ChunkName(c) + " is corrupt (bad frame)");
      raw.resize(c.raw_len);
      size_t n = ZSTD_decompress(raw.data(), raw.size(), frame.data(), frame.size());
      if (ZSTD_isError(n) || n != c.raw_len || Sha256(raw) != c.hash)
        return Status::Corruption(ChunkName(c) + " is corrupt (hash mismatch)");
      cv.value.append(raw);
    }
    out->push_back(std::move(cv));
  }
  return Status::OK();
}

}  // namespace spanpipe::content
