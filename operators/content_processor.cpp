#include "operators/content_processor.h"

#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>

#include "common/coding.h"
#include "common/hex.h"

namespace spanpipe::content {
namespace {

bool IsDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// "<prefix>N<suffix>" with N a decimal index.
bool Indexed(std::string_view key, std::string_view prefix, std::string_view suffix) {
  if (key.size() <= prefix.size() + suffix.size() || key.substr(0, prefix.size()) != prefix ||
      key.substr(key.size() - suffix.size()) != suffix)
    return false;
  return IsDigits(key.substr(prefix.size(), key.size() - prefix.size() - suffix.size()));
}

std::string IndexKey(std::string_view hash) {
  // Built by append: GCC 12's -Wrestrict misfires on `"c" + std::string` at -O3 (Release).
  std::string key;
  key.reserve(hash.size() + 1);
  key.push_back('c');
  key.append(hash);
  return key;
}

}  // namespace

bool IsContentAttribute(std::string_view key, size_t value_size, const ContentOptions& o) {
  static constexpr std::string_view kKeys[] = {"gen_ai.input.messages",
                                               "gen_ai.output.messages",
                                               "gen_ai.system_instructions",
                                               "gen_ai.prompt",
                                               "gen_ai.completion",
                                               "input.value",
                                               "output.value",
                                               "langfuse.observation.input",
                                               "langfuse.observation.output",
                                               "langfuse.trace.input",
                                               "langfuse.trace.output",
                                               "traceloop.entity.input",
                                               "traceloop.entity.output",
                                               "body"};
  for (auto k : kKeys)
    if (key == k) return true;
  if (Indexed(key, "gen_ai.prompt.", ".content") ||
      Indexed(key, "gen_ai.completion.", ".content") ||
      Indexed(key, "llm.input_messages.", ".message.content") ||
      Indexed(key, "llm.output_messages.", ".message.content"))
    return true;
  return value_size > o.large_string_threshold;
}

ContentProcessor::ContentProcessor(state::KvStore* chunk_index, PackSink* sink,
                                   ContentOptions options)
    : index_(chunk_index),
      sink_(sink),
      options_(options),
      chunker_{options.min_chunk, options.avg_chunk, options.max_chunk, options.chunk_algorithm},
      cctx_(ZSTD_createCCtx()) {}

ContentProcessor::~ContentProcessor() {
  ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_));
}

Status ContentProcessor::Process(const SpanRecord& span, std::vector<ContentRef>* refs) {
  if (!span.batch) return Status::OK();
  const otlp::Batch& b = *span.batch;
  for (uint32_t i = span.attr_begin; i < span.attr_begin + span.attr_count; ++i) {
    const otlp::KeyValue& kv = b.kvs[i];
    if (kv.value.kind == otlp::ValueKind::kString &&
        IsContentAttribute(kv.key, kv.value.s.size(), options_))
      SPANPIPE_RETURN_IF_ERROR(AddValue(span, std::string(kv.key), kv.value.s, refs));
  }
  for (uint32_t e = 0; e < span.event_count; ++e) {
    const otlp::Event& ev = b.events[span.event_begin + e];
    for (uint32_t i = ev.attr_begin; i < ev.attr_begin + ev.attr_count; ++i) {
      const otlp::KeyValue& kv = b.kvs[i];
      if (kv.value.kind == otlp::ValueKind::kString &&
          IsContentAttribute(kv.key, kv.value.s.size(), options_))
        SPANPIPE_RETURN_IF_ERROR(AddValue(
            span, "event[" + std::to_string(e) + "]." + std::string(kv.key), kv.value.s, refs));
    }
  }
  return Status::OK();
}

Status ContentProcessor::AddValue(const SpanRecord& span, std::string key, std::string_view value,
                                  std::vector<ContentRef>* refs) {
  ValueManifest vm;
  vm.span_id = span.span_id_bytes();
  vm.key = key;
  vm.raw_len = value.size();
  lengths_.clear();
  ChunkBoundaries(value, chunker_, &lengths_);
  size_t pos = 0;
  for (size_t len : lengths_) {
    std::string_view chunk = value.substr(pos, len);
    pos += len;
    std::string hash = Sha256(chunk);
    stats_.chunks++;
    auto pending = pending_chunks_.find(hash);
    if (pending != pending_chunks_.end()) {
      stats_.dedup_hits++;
      vm.chunks.push_back(pending->second);
      continue;
    }
    std::string stored;
    bool found = false;
    SPANPIPE_RETURN_IF_ERROR(index_->Get(IndexKey(hash), &stored, &found));
    if (found) {
      std::string_view in = stored;
      ChunkLocation loc;
      if (!DecodeChunkLocation(&in, &loc))
        return Status::Corruption("content index entry is malformed");
      stats_.dedup_hits++;
      vm.chunks.push_back(std::move(loc));
      continue;
    }
    // A new chunk: compress into the open pack.
    if (pack_id_.empty()) {
      // Unique per process start and a process-wide sequence (several processors share a store):
      // packs are never overwritten.
      static const uint64_t run =
          (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}() ^
          static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
      static std::atomic<uint64_t> seq{0};
      std::string id;
      PutFixed64BE(&id, run);
      PutFixed64BE(&id, ++seq);
      pack_id_ = HexEncode(id);
    }
    scratch_.resize(ZSTD_compressBound(chunk.size()));
    size_t n = ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(cctx_), scratch_.data(), scratch_.size(),
                                 chunk.data(), chunk.size(), options_.zstd_level);
    if (ZSTD_isError(n)) return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
    ChunkLocation loc;
    loc.hash = hash;
    loc.pack_id = pack_id_;
    loc.offset =
        pack_.Add(hash, std::string_view(scratch_.data(), n), static_cast<uint32_t>(chunk.size()));
    loc.stored_len = static_cast<uint32_t>(n);
    loc.raw_len = static_cast<uint32_t>(chunk.size());
    stats_.new_chunks++;
    stats_.stored_bytes += n;
    pack_frames_ += n;
    pending_chunks_.emplace(hash, loc);
    vm.chunks.push_back(std::move(loc));
  }
  stats_.values++;
  stats_.raw_bytes += value.size();
  refs->push_back({key, HexEncode(Sha256(value)), value.size()});
  TraceManifest& tm = manifests_[ManifestPrefix(span.project, HexEncode(span.trace_id_bytes()))];
  tm.first_start_ns = std::min(tm.first_start_ns, span.start_unix_nano);
  tm.values.push_back(std::move(vm));
  if (pack_.size() >= options_.pack_target_bytes) {
    // A pack that cannot be uploaded now stays queued (SealPack): the next seal or Flush retries
    // it, and Flush, the checkpoint's durability point, fails while it cannot be stored. Process
    // itself does not fail: the value is recorded, and failing here would leave the caller with a
    // half-processed span.
    if (!SealPack().ok()) stats_.failed_uploads++;
  }
  return Status::OK();
}

Status ContentProcessor::SealPack() {
  if (pack_.entries() > 0) {
    std::string bytes = pack_.Finish();
    stats_.stored_bytes += bytes.size() - pack_frames_;  // header and index
    pack_frames_ = 0;
    sealed_.emplace_back(std::move(pack_id_), std::move(bytes));
    pack_id_.clear();
  }
  return PutSealedPacks();
}

Status ContentProcessor::PutSealedPacks() {
  while (!sealed_.empty()) {
    SPANPIPE_RETURN_IF_ERROR(sink_->Put("packs/" + sealed_.front().first, sealed_.front().second));
    stats_.puts++;
    sealed_.erase(sealed_.begin());
  }
  return Status::OK();
}

Status ContentProcessor::Flush() {
  SPANPIPE_RETURN_IF_ERROR(SealPack());
  // Manifests after the packs they point into: a manifest never refers to a missing chunk.
  for (auto it = manifests_.begin(); it != manifests_.end();) {
    std::string obj;
    EncodeManifestObject(it->second.values, &obj);
    // Content-addressed name: a replay that regroups the same values the same way writes the same
    // object; the time prefix keeps a trace's manifests listed roughly in order.
    char when[17];
    std::snprintf(when, sizeof when, "%016llx",
                  static_cast<unsigned long long>(it->second.first_start_ns));
    std::string name = std::string(when) + "-" + HexEncode(Sha256(obj)).substr(0, 32);
    SPANPIPE_RETURN_IF_ERROR(sink_->Put(it->first + name, obj));
    stats_.puts++;
    stats_.stored_bytes += obj.size();
    it = manifests_.erase(it);
  }
  // Only now, with everything they point to stored, may later spans dedup against these chunks
  // across restarts (the entries commit with the caller's checkpoint).
  std::string v;
  for (const auto& [hash, loc] : pending_chunks_) {
    v.clear();
    EncodeChunkLocation(loc, &v);
    index_->Put(IndexKey(hash), v);
  }
  pending_chunks_.clear();
  return Status::OK();
}

}  // namespace spanpipe::content
