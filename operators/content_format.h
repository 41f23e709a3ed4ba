// Binary formats of the content store (docs/content-store.md). Every format starts with a magic
// and a version; every reader validates lengths before use, so hostile objects yield Corruption.
//
// Pack object `packs/<pack_id>`:
//   "SPPK" u8 version=1 | chunk frames (zstd, back to back) | index | footer
//   index entry: sha256[32] | u64 offset | u32 stored_len | u32 raw_len          (big-endian)
//   footer: u64 index_offset | u32 entries | "SPPI"
// Manifest object `manifests/<project>/<trace_id>/<seq>`: the trace's values written by one flush
//   "SPMF" u8 version=1 | varint n | n × value
//   value: span_id[8] | lp key | varint raw_len | varint chunks | chunks × chunk
//   chunk: sha256[32] | lp pack_id | varint offset | varint stored_len | varint raw_len
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace spanpipe::content {

struct ChunkLocation {
  std::string hash;     // 32 raw bytes (SHA-256 of the raw chunk)
  std::string pack_id;  // object key suffix: packs/<pack_id>
  uint64_t offset = 0;  // of the stored (compressed) frame in the pack
  uint32_t stored_len = 0;
  uint32_t raw_len = 0;
};

struct ValueManifest {
  std::string span_id;  // 8 raw bytes
  std::string key;      // attribute name, or event[i].<name>
  uint64_t raw_len = 0;
  std::vector<ChunkLocation> chunks;
};

std::string Sha256(std::string_view data);  // 32 raw bytes

// "manifests/<project>/<trace_id_hex>/": the folder holding a trace's manifest objects. The project
// is percent-encoded outside [A-Za-z0-9._-] (and "." / ".." / "" are encoded too), so any project
// name is one safe path segment.
std::string ManifestPrefix(std::string_view project, std::string_view trace_id_hex);
std::string EncodeProjectSegment(std::string_view project);
bool DecodeProjectSegment(std::string_view segment, std::string* project);

void EncodeChunkLocation(const ChunkLocation& c, std::string* out);
bool DecodeChunkLocation(std::string_view* in, ChunkLocation* out);

void EncodeManifestObject(const std::vector<ValueManifest>& values, std::string* out);
Status DecodeManifestObject(std::string_view data, std::vector<ValueManifest>* out);

struct PackIndexEntry {
  std::string hash;
  uint64_t offset;
  uint32_t stored_len, raw_len;
};
// Builds a pack from stored frames; returns the pack bytes.
class PackBuilder {
 public:
  PackBuilder();
  // Appends a stored frame; returns its offset.
  uint64_t Add(std::string_view hash, std::string_view stored, uint32_t raw_len);
  size_t size() const { return data_.size(); }
  size_t entries() const { return index_.size(); }
  std::string Finish();  // pack bytes; the builder is reset

 private:
  std::string data_;
  std::vector<PackIndexEntry> index_;
};
Status DecodePackIndex(std::string_view pack, std::vector<PackIndexEntry>* out);

}  // namespace spanpipe::content
