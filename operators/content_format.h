// Binary formats of the content store, version 2 (docs/content-store.md). Every format starts with
// a magic and a version; every reader validates lengths before use and bounds every allocation, so
// hostile objects yield Corruption.
//
// Data frame: one zstd frame (content size and checksum recorded, optionally a dictionary id) of
//   the raw bytes of consecutive new chunks, of one or several values, up to frame_target bytes.
// Pack object `packs/<writer>-<seq>` (sealed at size) or segment `segs/<writer>/<seq>-<off>-<len>`
// (the last pack of a flush, which also carries that flush's manifests; <off>-<len> in hex locate
// its trace table):
//   "SPPK" u8 version=2 | data frames | manifest frames | trace table | pack index | footer
//   pack index: varint frames | frames × (varint offset | varint stored | varint raw |
//               varint chunks | chunks × varint chunk_len)
//   footer (24 bytes): u64 index_offset | u64 index_len | u32 0 | "SPPI"
// Manifest frame (zstd): "SPM2" | varint packs | packs × lp pack_key | varint frames |
//   frames × (varint pack | varint offset | varint stored_len) | varint traces | traces × trace
//   trace: trace_id[16] | lp project | varint spans | spans × (span_id[8] | varint values |
//          values × value)
//   value: lp key | varint raw_len | sha256[16] (first 128 bits of the value's SHA-256) |
//          varint extents | extents × (varint frame | varint offset_in_frame | varint len)
// Trace table (zstd): "SPT2" | varint n | n × entry, sorted by (trace_id, project)
//   entry: trace_id[16] | lp project | varint segment | varint mf_offset | varint mf_len
//   (segment: index into the run's segment table; always 0 = this object in a segment)
// Index run `tindex/<writer>/<level>/<j>-<off>-<len>`: trace-table blocks (zstd, as above) | footer
//   footer (zstd, at <off>,<len>): "SPRF" | varint segments | segments × lp segment key |
//   varint blocks | blocks × (trace_id[16] first | lp project first | varint offset | varint len)
// Chunk location (RocksDB value of the dedup index): u8 2 | lp pack_key | varint frame_offset |
//   varint frame_stored_len | varint offset_in_frame | varint len
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace spanpipe::content {

// Where a run of raw bytes lives: inside the zstd frame at [frame_offset, +frame_len) of the pack.
struct ChunkLocation {
  std::string pack_key;  // object key: packs/... or segs/...
  uint64_t frame_offset = 0;
  uint32_t frame_len = 0;  // stored (compressed) bytes of the frame
  uint32_t offset = 0;     // in the frame's raw bytes
  uint32_t len = 0;        // raw bytes
};

// A data frame named by a manifest frame: [offset, +stored_len) of pack `pack` (index into the
// manifest frame's pack table).
struct FrameRef {
  uint32_t pack = 0;
  uint64_t offset = 0;
  uint32_t stored_len = 0;
};

// Raw bytes [offset, +len) of frame `frame` (index into the manifest frame's frame table).
struct Extent {
  uint32_t frame = 0;
  uint32_t offset = 0;
  uint32_t len = 0;
};

struct ValueManifest {
  std::string span_id;  // 8 raw bytes
  std::string key;      // attribute name, or event[i].<name>
  uint64_t raw_len = 0;
  // The whole value's SHA-256, verified on read. Stored: its first kValueDigestBytes (128 bits:
  // second-preimage resistance stays 2^128; chunks are still addressed by all 256 bits).
  std::string sha256;
  std::vector<Extent> extents;
};

struct TraceManifest {
  std::string trace_id;  // 16 raw bytes
  std::string project;
  std::vector<ValueManifest> values;
};

struct ManifestFrame {
  std::vector<std::string> packs;  // pack table ("" = the segment holding this manifest frame)
  std::vector<FrameRef> frames;    // frame table
  std::vector<TraceManifest> traces;
};

// One entry of a trace table: the trace's manifest frame lives in `segment` at [mf_offset,
// +mf_len).
struct TraceIndexEntry {
  std::string trace_id;  // 16 raw bytes
  std::string project;
  uint32_t segment = 0;
  uint64_t mf_offset = 0;
  uint32_t mf_len = 0;
};
bool TraceIndexLess(const TraceIndexEntry& a, const TraceIndexEntry& b);

// Limits: no frame (data, manifest, table) may declare more raw bytes than this; larger claims are
// Corruption, so that a hostile object cannot make a reader allocate gigabytes.
constexpr uint64_t kMaxFrameRaw = uint64_t{1} << 27;
constexpr size_t kValueDigestBytes = 16;

std::string Sha256(std::string_view data);  // 32 raw bytes
void Sha256(std::string_view data, char out[32]);

void EncodeChunkLocation(const ChunkLocation& c, std::string* out);
bool DecodeChunkLocation(std::string_view* in, ChunkLocation* out);

// zstd helpers: Compress appends one frame (checksummed, content size recorded). Decompress checks
// the declared content size against max_raw before allocating, and the checksum.
std::string CompressFrame(std::string_view raw, int level);
Status DecompressFrame(std::string_view frame, uint64_t max_raw, std::string* out,
                       const void* ddict = nullptr);

void EncodeManifestFrameRaw(const ManifestFrame& m, std::string* out);
Status DecodeManifestFrameRaw(std::string_view raw, ManifestFrame* out);

void EncodeTraceTableRaw(const std::vector<TraceIndexEntry>& entries, std::string* out);
Status DecodeTraceTableRaw(std::string_view raw, std::vector<TraceIndexEntry>* out);

// Index run footer.
struct RunFooter {
  std::vector<std::string> segments;
  struct Block {
    std::string first_trace, first_project;
    uint64_t offset = 0;
    uint32_t len = 0;
  };
  std::vector<Block> blocks;
};
void EncodeRunFooterRaw(const RunFooter& f, std::string* out);
Status DecodeRunFooterRaw(std::string_view raw, RunFooter* out);

// Object keys.
std::string PackKey(uint64_t writer, uint64_t seq);
std::string SegmentKey(uint64_t writer, uint64_t seq, uint64_t tt_offset, uint64_t tt_len);
std::string RunKey(uint64_t writer, int level, uint64_t j, uint64_t footer_offset,
                   uint64_t footer_len);
std::string WriterKey(uint64_t writer);
std::string DictionaryKey(uint32_t dict_id);
// Parses "<prefix><hex>-<hex>-<hex>" names: the number and the (offset, len) suffix.
bool ParseLocatedKey(std::string_view key, std::string_view prefix, uint64_t* number,
                     uint64_t* offset, uint64_t* len);

// Builds a pack: data frames, then (segments only) manifest frames and a trace table.
struct PackFrameInfo {
  uint64_t offset = 0;
  uint32_t stored_len = 0, raw_len = 0;
  std::vector<uint32_t> chunk_lens;
};
class PackBuilder {
 public:
  PackBuilder();
  // Appends a data frame; returns its offset.
  uint64_t AddFrame(std::string_view stored, uint32_t raw_len, std::vector<uint32_t> chunk_lens);
  // Appends opaque bytes (manifest frames, the trace table); returns their offset.
  uint64_t AddBytes(std::string_view bytes);
  size_t size() const { return data_.size(); }
  size_t frames() const { return index_.size(); }
  std::string Finish();  // pack bytes; the builder is reset

 private:
  std::string data_;
  std::vector<PackFrameInfo> index_;
};
Status DecodePackIndex(std::string_view pack, std::vector<PackFrameInfo>* out);

}  // namespace spanpipe::content
