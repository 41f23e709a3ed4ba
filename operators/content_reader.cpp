#include "operators/content_reader.h"

#include <zstd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <tuple>

#include "common/hex.h"

namespace spanpipe::content {
namespace {
constexpr uint64_t kMaxReserve = 16u << 20;
constexpr uint64_t kMaxDictionary = 16u << 20;
constexpr int kMaxLevel = 8;
constexpr uint64_t kFanout = 16;
// Reads of one pack are coalesced: frames closer than kMaxGap are fetched by one range GET, up to
// kMaxFetch bytes per GET. Object-store requests then grow with the bytes of the trace (and the
// packs it touches), not with its chunks.
constexpr uint64_t kMaxGap = 256u << 10;
constexpr uint64_t kMaxFetch = 8u << 20;

std::string FrameName(const std::string& pack, uint64_t offset) {
  char b[40];
  std::snprintf(b, sizeof b, "frame at offset %" PRIu64 " of ", offset);
  return b + pack;
}

Status GetFrame(PackSink* store, const std::string& key, uint64_t off, uint64_t len,
                std::string* raw) {
  std::string z;
  Status s = store->GetRange(key, off, len, &z);
  if (!s.ok()) return Status::Corruption(key + " cannot be read: " + s.message());
  s = DecompressFrame(z, kMaxFrameRaw, raw);
  if (!s.ok()) return Status::Corruption(FrameName(key, off) + " is corrupt: " + s.message());
  return Status::OK();
}

// "<hex15(g)>" group prefix: the 16 consecutive numbers 16g..16g+15.
std::string Group(uint64_t g) {
  char b[20];
  std::snprintf(b, sizeof b, "%015" PRIx64, g);
  return b;
}

Status LastNumber(const std::vector<std::string>& keys, uint64_t* next) {
  *next = 0;
  for (const auto& k : keys) {
    uint64_t n, off, len;
    size_t slash = k.rfind('/');
    if (slash == std::string::npos ||
        !ParseLocatedKey(std::string_view(k).substr(slash + 1), "", &n, &off, &len))
      return Status::Corruption(k + ": malformed index key");
    *next = std::max(*next, n + 1);
  }
  return Status::OK();
}

// Lists the live entries of one level: groups g, g+1, ... of 16 until one is not full (entries of
// a level are written in order, so a later group exists only once the earlier ones are full).
Status ListGroups(const ListFn& list, const std::string& prefix, uint64_t g,
                  std::vector<std::string>* out) {
  for (;; ++g) {
    std::vector<std::string> keys;
    SPANPIPE_RETURN_IF_ERROR(list(prefix + Group(g), &keys));
    out->insert(out->end(), keys.begin(), keys.end());
    if (keys.size() < kFanout) return Status::OK();
  }
}

Status ReadFooter(PackSink* store, const std::string& key, RunFooter* footer) {
  uint64_t j, off, len;
  size_t slash = key.rfind('/');
  if (slash == std::string::npos ||
      !ParseLocatedKey(std::string_view(key).substr(slash + 1), "", &j, &off, &len))
    return Status::Corruption(key + ": malformed index key");
  std::string raw;
  SPANPIPE_RETURN_IF_ERROR(GetFrame(store, key, off, len, &raw));
  Status s = DecodeRunFooterRaw(raw, footer);
  if (!s.ok()) return Status::Corruption(key + ": " + s.message());
  return Status::OK();
}

Status ReadBlock(PackSink* store, const std::string& key, const RunFooter::Block& b,
                 std::vector<TraceIndexEntry>* entries) {
  std::string raw;
  SPANPIPE_RETURN_IF_ERROR(GetFrame(store, key, b.offset, b.len, &raw));
  Status s = DecodeTraceTableRaw(raw, entries);
  if (!s.ok()) return Status::Corruption(key + ": " + s.message());
  return Status::OK();
}

void Collect(const std::vector<TraceIndexEntry>& entries, const std::vector<std::string>& segments,
             std::string_view trace_id, const std::string* project, const std::string& where,
             std::vector<ManifestLocation>* out, Status* status) {
  auto lo =
      std::lower_bound(entries.begin(), entries.end(), trace_id,
                       [](const TraceIndexEntry& e, std::string_view t) { return e.trace_id < t; });
  for (auto it = lo; it != entries.end() && it->trace_id == trace_id; ++it) {
    if (project && it->project != *project) continue;
    if (it->segment >= segments.size()) {
      *status = Status::Corruption(where + ": bad segment index");
      return;
    }
    out->push_back({it->project, segments[it->segment], it->mf_offset, it->mf_len});
  }
}

}  // namespace

Status ReadIndexRun(PackSink* store, const std::string& key, std::vector<TraceIndexEntry>* entries,
                    std::vector<std::string>* segments) {
  RunFooter footer;
  SPANPIPE_RETURN_IF_ERROR(ReadFooter(store, key, &footer));
  entries->clear();
  std::vector<TraceIndexEntry> block;
  for (const auto& b : footer.blocks) {
    SPANPIPE_RETURN_IF_ERROR(ReadBlock(store, key, b, &block));
    for (auto& e : block) {
      if (e.segment >= footer.segments.size())
        return Status::Corruption(key + ": bad segment index");
      entries->push_back(std::move(e));
    }
  }
  *segments = std::move(footer.segments);
  return Status::OK();
}

Status FindTrace(PackSink* store, const ListFn& list, std::string_view trace_id,
                 const std::string* project, std::vector<ManifestLocation>* out) {
  out->clear();
  std::vector<std::string> writers;
  SPANPIPE_RETURN_IF_ERROR(list("writers/", &writers));
  Status status;
  for (const auto& wkey : writers) {
    std::string w = wkey.substr(wkey.rfind('/') + 1);
    // 1. Find the top level, going up: level L+1 can only exist once level L's first group of 16
    //    is full, so group 0 of each level is listed until one is not full (that one is the top,
    //    and its group 0 holds all its runs). Then, going down, the live runs of each level: run j
    //    of level L+1 covers runs 16j..16j+15 of level L.
    auto prefix = [&](int level) {
      char b[64];
      std::snprintf(b, sizeof b, "tindex/%s/%x/", w.c_str(), level);
      return std::string(b);
    };
    std::vector<std::vector<std::string>> group0(1);  // [level] -> keys of its group 0
    int top = 0;
    for (int level = 1; level <= kMaxLevel; ++level) {
      std::vector<std::string> keys;
      SPANPIPE_RETURN_IF_ERROR(list(prefix(level) + Group(0), &keys));
      group0.push_back(std::move(keys));
      if (group0.back().size() < kFanout) break;
      top = level;
    }
    top = std::max(top, static_cast<int>(group0.size()) - 1);
    std::vector<std::string> runs;
    uint64_t next = 0;  // number of runs of the level above
    for (int level = top; level >= 1; --level) {
      std::vector<std::string> keys;
      if (next == 0) {
        // Nothing above covers this level (the top, or a merge not written yet): group 0 is
        // listed already; further groups only if it is full.
        keys = group0[level];
        if (keys.size() >= kFanout)
          SPANPIPE_RETURN_IF_ERROR(ListGroups(list, prefix(level), 1, &keys));
      } else {
        SPANPIPE_RETURN_IF_ERROR(ListGroups(list, prefix(level), next, &keys));
      }
      SPANPIPE_RETURN_IF_ERROR(LastNumber(keys, &next));
      runs.insert(runs.end(), keys.begin(), keys.end());
    }
    // 2. Live segments: those of no run yet.
    std::vector<std::string> segments;
    SPANPIPE_RETURN_IF_ERROR(ListGroups(list, "segs/" + w + "/", next, &segments));
    for (const auto& run : runs) {
      RunFooter footer;
      SPANPIPE_RETURN_IF_ERROR(ReadFooter(store, run, &footer));
      const auto& bs = footer.blocks;
      for (size_t i = 0; i < bs.size(); ++i) {
        // Block i holds keys from its first entry to the next block's first entry.
        if (bs[i].first_trace > trace_id) break;
        if (i + 1 < bs.size() && bs[i + 1].first_trace < trace_id) continue;
        std::vector<TraceIndexEntry> entries;
        SPANPIPE_RETURN_IF_ERROR(ReadBlock(store, run, bs[i], &entries));
        Collect(entries, footer.segments, trace_id, project, run, out, &status);
        SPANPIPE_RETURN_IF_ERROR(status);
      }
    }
    for (const auto& seg : segments) {
      uint64_t seq, off, len;
      if (!ParseLocatedKey(seg, "segs/" + w + "/", &seq, &off, &len))
        return Status::Corruption(seg + ": malformed segment key");
      std::string raw;
      SPANPIPE_RETURN_IF_ERROR(GetFrame(store, seg, off, len, &raw));
      std::vector<TraceIndexEntry> entries;
      Status s = DecodeTraceTableRaw(raw, &entries);
      if (!s.ok()) return Status::Corruption(seg + ": " + s.message());
      Collect(entries, {seg}, trace_id, project, seg, out, &status);
      SPANPIPE_RETURN_IF_ERROR(status);
    }
  }
  return Status::OK();
}

Status ReadTraceContent(PackSink* store, const ListFn& list, const std::string* project,
                        std::string_view trace_id_hex, std::string_view span_id_hex,
                        std::vector<ContentValue>* out, uint64_t frame_budget) {
  out->clear();
  std::string trace_id;
  if (!HexDecode(trace_id_hex, &trace_id) || trace_id.size() != 16)
    return Status::InvalidArgument("trace id must be 32 hex characters");
  std::vector<ManifestLocation> locs;
  SPANPIPE_RETURN_IF_ERROR(FindTrace(store, list, trace_id, project, &locs));
  // Projects in order, then segments by key (writer, then sequence: time order within a writer).
  std::sort(locs.begin(), locs.end(), [](const ManifestLocation& a, const ManifestLocation& b) {
    return std::tie(a.project, a.segment, a.offset) < std::tie(b.project, b.segment, b.offset);
  });
  // 1. The values wanted, each once per (project, span, key): a replay may have written a value
  //    twice. Extents' pack indexes become object keys.
  struct Wanted {
    std::string project;
    ValueManifest v;
    std::vector<std::string> packs;  // per extent
    std::vector<FrameRef> frames;    // per extent
  };
  std::vector<Wanted> wanted;
  std::set<std::tuple<std::string, std::string, std::string>> seen;
  for (const auto& l : locs) {
    std::string raw;
    SPANPIPE_RETURN_IF_ERROR(GetFrame(store, l.segment, l.offset, l.len, &raw));
    ManifestFrame mf;
    Status s = DecodeManifestFrameRaw(raw, &mf);
    if (!s.ok()) return Status::Corruption(FrameName(l.segment, l.offset) + ": " + s.message());
    for (auto& t : mf.traces) {
      if (t.trace_id != trace_id || t.project != l.project) continue;
      for (auto& v : t.values) {
        std::string span_hex = HexEncode(v.span_id);
        if (!span_id_hex.empty() && span_hex != span_id_hex) continue;
        if (!seen.insert({t.project, span_hex, v.key}).second) continue;
        Wanted w{t.project, std::move(v), {}, {}};
        for (const auto& e : w.v.extents) {
          const FrameRef& f = mf.frames[e.frame];
          w.packs.push_back(mf.packs[f.pack].empty() ? l.segment : mf.packs[f.pack]);
          w.frames.push_back(f);
        }
        wanted.push_back(std::move(w));
      }
    }
  }
  uint64_t claimed = 0;
  for (const auto& w : wanted) {
    claimed += w.v.raw_len;
    if (w.v.raw_len > kMaxTraceContent || claimed > kMaxTraceContent)
      return Status::Corruption("trace " + std::string(trace_id_hex) +
                                ": its manifests claim more " + "than " +
                                std::to_string(kMaxTraceContent >> 30) + " GiB of content");
  }
  const uint64_t budget = std::max(frame_budget, claimed * 4);
  uint64_t held = 0;
  // 2. Plan the range reads: per pack, frames sorted by offset, merged across small gaps.
  std::map<std::string, std::map<uint64_t, uint32_t>> frames;  // pack -> offset -> stored length
  for (const auto& w : wanted)
    for (size_t i = 0; i < w.v.extents.size(); ++i) {
      const FrameRef& e = w.frames[i];
      auto [it, inserted] = frames[w.packs[i]].emplace(e.offset, e.stored_len);
      if (!inserted && it->second != e.stored_len)
        return Status::Corruption(FrameName(w.packs[i], e.offset) +
                                  ": manifests disagree on its length");
    }
  std::map<std::pair<std::string, uint64_t>, std::string> raw_frames;
  std::map<uint32_t, std::shared_ptr<ZSTD_DDict>> dicts;
  for (const auto& [pack, fs] : frames) {
    struct Fetch {
      uint64_t begin, end;
    };
    std::vector<Fetch> fetches;
    for (const auto& [off, len] : fs) {
      uint64_t end = off + len;
      if (!fetches.empty() && off < fetches.back().end)
        return Status::Corruption(FrameName(pack, off) + ": overlaps another frame");
      if (!fetches.empty() && off <= fetches.back().end + kMaxGap &&
          end - fetches.back().begin <= kMaxFetch) {
        fetches.back().end = end;
        continue;
      }
      fetches.push_back({off, end});
    }
    // 3. Fetch and decompress each frame once (a dictionary is read once per reconstruct).
    auto fit = fs.begin();
    for (const auto& f : fetches) {
      std::string bytes;
      Status gs = store->GetRange(pack, f.begin, f.end - f.begin, &bytes);
      if (!gs.ok())
        return Status::Corruption(FrameName(pack, f.begin) + " cannot be read: " + gs.message());
      if (bytes.size() != f.end - f.begin)
        return Status::Corruption(FrameName(pack, f.begin) + ": short read");
      for (; fit != fs.end() && fit->first < f.end; ++fit) {
        std::string_view z = std::string_view(bytes).substr(fit->first - f.begin, fit->second);
        unsigned id = ZSTD_getDictID_fromFrame(z.data(), z.size());
        const void* ddict = nullptr;
        if (id != 0) {
          auto d = dicts.find(id);
          if (d == dicts.end()) {
            std::string dict;
            Status ds = store->Get(DictionaryKey(id), &dict);
            if (!ds.ok() || dict.size() > kMaxDictionary)
              return Status::Corruption(DictionaryKey(id) + " (needed by " +
                                        FrameName(pack, fit->first) +
                                        ") cannot be read: " + ds.message());
            std::shared_ptr<ZSTD_DDict> dd(ZSTD_createDDict(dict.data(), dict.size()),
                                           ZSTD_freeDDict);
            if (!dd) return Status::Corruption(DictionaryKey(id) + " is corrupt");
            d = dicts.emplace(id, std::move(dd)).first;
          }
          ddict = d->second.get();
        }
        // Declared sizes are checked (and bounded by kMaxFrameRaw) before anything is allocated.
        unsigned long long declared = ZSTD_getFrameContentSize(z.data(), z.size());
        if (declared <= kMaxFrameRaw && (held += declared) > budget)
          return Status::Corruption(FrameName(pack, fit->first) + ": the trace's frames exceed " +
                                    std::to_string(budget >> 20) + " MiB decompressed");
        std::string& raw = raw_frames[{pack, fit->first}];
        Status s = DecompressFrame(z, kMaxFrameRaw, &raw, ddict);
        if (!s.ok())
          return Status::Corruption(FrameName(pack, fit->first) + " is corrupt: " + s.message());
      }
    }
  }
  // 4. Assemble the values, verifying each one's SHA-256.
  for (auto& w : wanted) {
    const ValueManifest& v = w.v;
    ContentValue cv{std::string(trace_id_hex), HexEncode(v.span_id), v.key, {}, w.project};
    // raw_len is what the manifest claims: reserve no more than the first 16 MiB of it.
    cv.value.reserve(std::min<uint64_t>(v.raw_len, kMaxReserve));
    for (size_t i = 0; i < v.extents.size(); ++i) {
      const Extent& e = v.extents[i];
      const std::string& raw = raw_frames[{w.packs[i], w.frames[i].offset}];
      if (e.offset > raw.size() || e.len > raw.size() - e.offset)
        return Status::Corruption(FrameName(w.packs[i], w.frames[i].offset) +
                                  " is shorter than the manifest of " + v.key + " claims");
      cv.value.append(raw, e.offset, e.len);
    }
    if (Sha256(cv.value).compare(0, kValueDigestBytes, v.sha256) != 0)
      return Status::Corruption(
          "value " + v.key + " of span " + cv.span_id_hex + " (sha256 " + HexEncode(v.sha256) +
          ") does not match its content (first " +
          FrameName(w.packs.empty() ? "" : w.packs[0], w.frames.empty() ? 0 : w.frames[0].offset) +
          ")");
    out->push_back(std::move(cv));
  }
  return Status::OK();
}

}  // namespace spanpipe::content
