// content: extracts prompts, completions and other large values (CONTRACT §5) from spans, chunks
// them (FastCDC), addresses chunks by SHA-256, de-duplicates against an index in RocksDB (a chunk
// stored once is never uploaded or probed again), zstd-compresses runs of new chunks as frames of
// ~128 KiB into packs of a few MiB, and writes each flush's manifests (extents into frames) and a
// sorted trace table into the flush's last pack (its segment), merging trace tables into index
// runs. Object-store requests grow with bytes and flushes, not with chunks or traces
// (docs/content-store.md).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "operators/content_chunker.h"
#include "operators/content_format.h"
#include "operators/pack_sink.h"
#include "operators/span_record.h"
#include "state/state_db.h"

namespace spanpipe::content {

struct ContentOptions {
  size_t min_chunk = 64, avg_chunk = 256, max_chunk = 4096;
  ChunkAlgorithm chunk_algorithm = ChunkAlgorithm::kFastCdc;  // others only for measurements
  int zstd_level = 3;
  // New chunks are compressed together, as one zstd frame per frame_target_bytes of raw bytes
  // (several values share a frame); a read decompresses whole frames.
  size_t frame_target_bytes = 128 << 10;
  size_t pack_target_bytes = 4 << 20;
  size_t manifest_frame_bytes = 256 << 10;  // raw manifest bytes per zstd manifest frame
  size_t large_string_threshold = 1024;
  // zstd dictionary trained (once per writer) from the first dictionary_train_bytes of new chunks,
  // stored as dicts/<id>; later frames name it in their header.
  bool train_dictionary = false;
  size_t dictionary_train_bytes = 1 << 20;
  size_t dictionary_bytes = 64 << 10;
  // Chunk locations kept in memory (two generations of cache_entries / 2) in front of RocksDB.
  size_t cache_entries = 1 << 19;
  // Trace index runs: every 16 segments (or runs of one level) are merged into one run of the
  // next level, up to this level (docs/content-store.md).
  int max_index_level = 3;
};

struct ContentRef {
  std::string key;
  std::string manifest;  // hex SHA-256 of the value: its content address
  uint64_t length = 0;
};

// True when this string attribute is content: a key of CONTRACT §5's list, or any other string
// larger than the threshold.
bool IsContentAttribute(std::string_view key, size_t value_size, const ContentOptions& options);

class ContentProcessor {
 public:
  ContentProcessor(state::KvStore* chunk_index, PackSink* sink, ContentOptions options);
  ~ContentProcessor();
  Status Process(const SpanRecord& span, std::vector<ContentRef>* refs);
  // Writes the open pack with this flush's manifests (a segment) durably, then records the new
  // chunks in the index (pending until the caller's StateDb::Commit), then merges index runs.
  Status Flush();

  struct Stats {
    uint64_t values = 0, raw_bytes = 0, chunks = 0, new_chunks = 0, dedup_hits = 0;
    uint64_t stored_bytes = 0, puts = 0, frames = 0, segments = 0, runs = 0, dictionaries = 0;
    uint64_t failed_uploads = 0;  // pack uploads that failed during Process (retried later)
    uint64_t failed_merges = 0;   // index merges that failed (retried at the next flush)
  };
  Stats stats() const { return stats_; }
  uint64_t writer_id() const { return writer_; }

 private:
  using ChunkHash = std::array<char, 32>;
  struct HashOfHash {  // a SHA-256 is uniform already: its first 8 bytes are a fine hash
    size_t operator()(const ChunkHash& h) const {
      size_t x;
      std::memcpy(&x, h.data(), sizeof x);
      return x;
    }
  };
  struct Loc {
    uint32_t frame = 0;  // index into frames_
    uint32_t offset = 0, len = 0;
  };
  using HashMap = std::unordered_map<ChunkHash, Loc, HashOfHash>;
  struct Frame {
    uint32_t pack = 0;  // index into pack_keys_
    uint64_t offset = 0;
    uint32_t stored_len = 0;
  };
  struct PendingValue {
    std::string span_id, key, sha256;
    uint64_t raw_len = 0;
    std::vector<Loc> extents;
  };
  struct PendingTrace {
    std::string trace_id, project;
    std::vector<PendingValue> values;
  };
  struct Run {
    std::string key;
    std::vector<TraceIndexEntry> entries;  // level 0 (segments) only; others are read back
    std::vector<std::string> segments;
  };

  Status AddValue(const SpanRecord& span, std::string key, std::string_view value,
                  std::vector<ContentRef>* refs);
  Status Lookup(const ChunkHash& hash, Loc* loc, bool* found);
  void Remember(const ChunkHash& hash, const Loc& loc);
  uint32_t InternPack(const std::string& key);
  uint32_t InternFrame(uint32_t pack, uint64_t offset, uint32_t stored_len);
  Status CloseFrame();
  void SealPack(std::string key);
  Status PutSealed();
  Status BuildSegment();
  Status MaybeTrainDictionary(std::string_view chunk);
  Status Merge();
  Status ReadRun(const std::string& key, std::vector<TraceIndexEntry>* entries,
                 std::vector<std::string>* segments);
  Status WriteRun(int level, uint64_t j, std::vector<TraceIndexEntry> entries,
                  const std::vector<std::string>& segments);

  state::KvStore* index_;
  PackSink* sink_;
  ContentOptions options_;
  ChunkerOptions chunker_;
  void* cctx_;   // ZSTD_CCtx
  void* cdict_;  // ZSTD_CDict, when a dictionary is trained
  uint64_t writer_;
  uint64_t pack_seq_ = 0, segment_seq_ = 0;
  bool writer_announced_ = false;

  std::vector<std::string> pack_keys_;  // "" while the pack is open
  std::unordered_map<std::string, uint32_t> pack_ids_;
  std::vector<Frame> frames_;
  std::unordered_map<std::string, uint32_t> frame_ids_;  // pack index ‖ offset
  uint32_t open_pack_ = UINT32_MAX, open_frame_ = UINT32_MAX;
  PackBuilder pack_;
  std::string frame_raw_;
  std::vector<uint32_t> frame_chunks_;

  // New chunks since the last successful Flush (not yet in the index), and a bounded cache of
  // chunk locations (new ones and those read from the index).
  std::vector<std::pair<ChunkHash, Loc>> pending_;
  HashMap cache_[2];
  std::map<std::string, PendingTrace> traces_;               // by trace_id ‖ project
  std::vector<std::pair<std::string, std::string>> sealed_;  // (key, bytes) awaiting Put
  std::vector<std::vector<Run>> levels_;  // live (unmerged) segments / runs per level, durable
  std::vector<Run> segments_in_flight_;   // sealed segments not yet durable

  std::string dict_samples_;
  std::vector<size_t> dict_sample_sizes_;
  bool dict_done_ = false;

  std::vector<size_t> lengths_;
  std::string scratch_;
  Stats stats_;
};

}  // namespace spanpipe::content
