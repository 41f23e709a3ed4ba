// content: extracts prompts, completions and other large values (CONTRACT §5) from spans, chunks
// them (FastCDC), addresses chunks by SHA-256, de-duplicates against an index in RocksDB (a chunk
// stored once is never uploaded or probed again), zstd-compresses new chunks into packs of a few
// MiB, and writes one manifest object per trace and flush. Object-store requests grow with bytes
// and traces, not with chunks.
#pragma once

#include <cstdint>
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
  size_t min_chunk = 2048, avg_chunk = 8192, max_chunk = 65536;
  ChunkAlgorithm chunk_algorithm = ChunkAlgorithm::kFastCdc;  // others only for measurements
  int zstd_level = 1;
  size_t pack_target_bytes = 4 << 20;
  size_t large_string_threshold = 1024;
  bool train_dictionary =
      false;  // reserved: dictionaries are not implemented (docs/content-store.md)
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
  // Writes the open pack and the pending manifests durably, then records the new chunks in the
  // index (pending until the caller's StateDb::Commit).
  Status Flush();

  struct Stats {
    uint64_t values = 0, raw_bytes = 0, chunks = 0, new_chunks = 0, dedup_hits = 0;
    uint64_t stored_bytes = 0, puts = 0;
    uint64_t failed_uploads = 0;  // pack uploads that failed during Process (retried later)
  };
  Stats stats() const { return stats_; }

 private:
  Status AddValue(const SpanRecord& span, std::string key, std::string_view value,
                  std::vector<ContentRef>* refs);
  // Closes the open pack and uploads every closed pack; a pack whose Put failed stays queued, so a
  // retried Flush never writes a manifest that points into a pack that is not stored.
  Status SealPack();
  Status PutSealedPacks();

  struct TraceManifest {
    uint64_t first_start_ns = UINT64_MAX;  // orders a trace's manifests roughly by time
    std::vector<ValueManifest> values;
  };

  state::KvStore* index_;
  PackSink* sink_;
  ContentOptions options_;
  ChunkerOptions chunker_;
  void* cctx_;  // ZSTD_CCtx
  PackBuilder pack_;
  std::string pack_id_;       // id of the open pack
  uint64_t pack_frames_ = 0;  // compressed bytes in the open pack
  // New chunks since the last Flush (open, queued or uploaded packs), not yet in the index: dedup
  // sees them too.
  std::unordered_map<std::string, ChunkLocation> pending_chunks_;
  std::vector<std::pair<std::string, std::string>> sealed_;  // (pack id, bytes) awaiting Put
  std::map<std::string, TraceManifest> manifests_;           // by manifest prefix
  std::vector<size_t> lengths_;
  std::string scratch_;
  Stats stats_;
};

}  // namespace spanpipe::content
