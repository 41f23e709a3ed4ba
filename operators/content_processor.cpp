#include "operators/content_processor.h"

#include <zstd.h>

#include <zdict.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>

#include "common/coding.h"
#include "common/hex.h"
#include "operators/content_reader.h"

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
  // Called for every string attribute of every span: the size test first, then a length
  // comparison per name; the indexed forms only for keys long enough and starting right.
  if (value_size > o.large_string_threshold) return true;
  for (auto k : kKeys)
    if (key == k) return true;
  if (key.size() < 16 || (key[0] != 'g' && key[0] != 'l')) return false;
  return Indexed(key, "gen_ai.prompt.", ".content") ||
         Indexed(key, "gen_ai.completion.", ".content") ||
         Indexed(key, "llm.input_messages.", ".message.content") ||
         Indexed(key, "llm.output_messages.", ".message.content");
}

ContentProcessor::ContentProcessor(state::KvStore* chunk_index, PackSink* sink,
                                   ContentOptions options)
    : index_(chunk_index),
      sink_(sink),
      options_(options),
      chunker_{options.min_chunk, options.avg_chunk, options.max_chunk, options.chunk_algorithm},
      cctx_(ZSTD_createCCtx()),
      cdict_(nullptr) {
  // Unique per processor: its packs, segments and runs never collide with another writer's.
  std::random_device rd;
  writer_ = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
            static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  auto* c = static_cast<ZSTD_CCtx*>(cctx_);
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, options_.zstd_level);
  ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
  ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
}

ContentProcessor::~ContentProcessor() {
  ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_));
  ZSTD_freeCDict(static_cast<ZSTD_CDict*>(cdict_));
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

uint32_t ContentProcessor::InternPack(const std::string& key) {
  auto [it, inserted] = pack_ids_.emplace(key, static_cast<uint32_t>(pack_keys_.size()));
  if (inserted) pack_keys_.push_back(key);
  return it->second;
}

uint32_t ContentProcessor::InternFrame(uint32_t pack, uint64_t offset, uint32_t stored_len) {
  std::string k;
  PutVarint64(&k, pack);
  PutVarint64(&k, offset);
  auto [it, inserted] = frame_ids_.emplace(k, static_cast<uint32_t>(frames_.size()));
  if (inserted) frames_.push_back({pack, offset, stored_len});
  return it->second;
}

Status ContentProcessor::Lookup(const ChunkHash& hash, Loc* loc, bool* found) {
  *found = true;
  for (auto& gen : cache_) {
    auto c = gen.find(hash);
    if (c != gen.end()) {
      *loc = c->second;
      return Status::OK();
    }
  }
  std::string stored;
  SPANPIPE_RETURN_IF_ERROR(index_->Get(IndexKey({hash.data(), hash.size()}), &stored, found));
  if (!*found) return Status::OK();
  std::string_view in = stored;
  ChunkLocation cl;
  if (!DecodeChunkLocation(&in, &cl) || !in.empty())
    return Status::Corruption("content index entry is malformed");
  *loc = {InternFrame(InternPack(cl.pack_key), cl.frame_offset, cl.frame_len), cl.offset, cl.len};
  Remember(hash, *loc);
  return Status::OK();
}

void ContentProcessor::Remember(const ChunkHash& hash, const Loc& loc) {
  // Two generations: when the young one is full it becomes the old one, and the old one is
  // dropped. A dropped entry only costs a RocksDB read later (or, for a chunk not yet flushed, a
  // second copy of it): pending_ keeps what Flush must index.
  if (cache_[0].size() >= options_.cache_entries / 2 + 1) {
    cache_[1] = std::move(cache_[0]);
    cache_[0].clear();
  }
  cache_[0].emplace(hash, loc);
}

Status ContentProcessor::AddValue(const SpanRecord& span, std::string key, std::string_view value,
                                  std::vector<ContentRef>* refs) {
  PendingValue pv;
  pv.span_id = span.span_id_bytes();
  pv.raw_len = value.size();
  lengths_.clear();
  ChunkBoundaries(value, chunker_, &lengths_);
  size_t pos = 0;
  for (size_t len : lengths_) {
    std::string_view chunk = value.substr(pos, len);
    pos += len;
    // A value of one chunk: its hash is the value's hash, computed once below.
    ChunkHash hash;
    Sha256(chunk, hash.data());
    if (lengths_.size() == 1) pv.sha256.assign(hash.data(), hash.size());
    stats_.chunks++;
    Loc loc;
    bool found = false;
    SPANPIPE_RETURN_IF_ERROR(Lookup(hash, &loc, &found));
    if (found) {
      stats_.dedup_hits++;
    } else {
      // A new chunk: append it to the open frame of the open pack.
      if (open_pack_ == UINT32_MAX) {
        open_pack_ = static_cast<uint32_t>(pack_keys_.size());
        pack_keys_.emplace_back();
      }
      if (open_frame_ == UINT32_MAX) {
        open_frame_ = static_cast<uint32_t>(frames_.size());
        frames_.push_back({open_pack_, 0, 0});
      }
      loc = {open_frame_, static_cast<uint32_t>(frame_raw_.size()), static_cast<uint32_t>(len)};
      frame_raw_.append(chunk);
      frame_chunks_.push_back(static_cast<uint32_t>(len));
      stats_.new_chunks++;
      pending_.emplace_back(hash, loc);
      Remember(hash, loc);
      if (options_.train_dictionary && !dict_done_)
        SPANPIPE_RETURN_IF_ERROR(MaybeTrainDictionary(chunk));
      if (frame_raw_.size() >= options_.frame_target_bytes) SPANPIPE_RETURN_IF_ERROR(CloseFrame());
    }
    // Consecutive bytes of one frame are one extent, however many chunks they span.
    if (!pv.extents.empty()) {
      Loc& last = pv.extents.back();
      if (last.frame == loc.frame && last.offset + last.len == loc.offset) {
        last.len += loc.len;
        continue;
      }
    }
    pv.extents.push_back(loc);
  }
  if (pv.sha256.empty()) pv.sha256 = Sha256(value);
  stats_.values++;
  stats_.raw_bytes += value.size();
  refs->push_back({key, HexEncode(pv.sha256), value.size()});
  pv.key = std::move(key);
  std::string tkey(span.trace_id_bytes());
  tkey.append(span.project);
  PendingTrace& t = traces_[tkey];
  if (t.trace_id.empty()) {
    t.trace_id = span.trace_id_bytes();
    t.project = std::string(span.project);
  }
  t.values.push_back(std::move(pv));
  if (pack_.size() + frame_raw_.size() / 2 >= options_.pack_target_bytes) {
    // A pack that cannot be uploaded now stays queued: the next seal or Flush retries it, and
    // Flush, the checkpoint's durability point, fails while it cannot be stored. Process itself
    // does not fail: the value is recorded, and failing here would leave the caller with a
    // half-processed span.
    SPANPIPE_RETURN_IF_ERROR(CloseFrame());
    SealPack(PackKey(writer_, pack_seq_++));
    if (!PutSealed().ok()) stats_.failed_uploads++;
  }
  return Status::OK();
}

Status ContentProcessor::MaybeTrainDictionary(std::string_view chunk) {
  dict_samples_.append(chunk);
  dict_sample_sizes_.push_back(chunk.size());
  if (dict_samples_.size() < options_.dictionary_train_bytes) return Status::OK();
  dict_done_ = true;  // one attempt per writer
  std::string dict(options_.dictionary_bytes, '\0');
  size_t n = ZDICT_trainFromBuffer(dict.data(), dict.size(), dict_samples_.data(),
                                   dict_sample_sizes_.data(),
                                   static_cast<unsigned>(dict_sample_sizes_.size()));
  dict_samples_.clear();
  dict_samples_.shrink_to_fit();
  dict_sample_sizes_.clear();
  if (ZDICT_isError(n)) return Status::OK();  // too little variety: go on without
  dict.resize(n);
  uint32_t id = ZDICT_getDictID(dict.data(), dict.size());
  if (id == 0) return Status::OK();
  // Queued before any pack whose frames use it, so it is durable first (sealed_ is FIFO).
  stats_.stored_bytes += dict.size();
  stats_.dictionaries++;
  sealed_.emplace_back(DictionaryKey(id), dict);
  cdict_ = ZSTD_createCDict(dict.data(), dict.size(), options_.zstd_level);
  if (!cdict_) return Status::Internal("zstd: cannot load the trained dictionary");
  // Frames opened from now on use it; the open frame too (it is compressed at close).
  return Status::OK();
}

Status ContentProcessor::CloseFrame() {
  if (open_frame_ == UINT32_MAX) return Status::OK();
  auto* c = static_cast<ZSTD_CCtx*>(cctx_);
  ZSTD_CCtx_refCDict(c, static_cast<ZSTD_CDict*>(cdict_));
  scratch_.resize(ZSTD_compressBound(frame_raw_.size()));
  size_t n =
      ZSTD_compress2(c, scratch_.data(), scratch_.size(), frame_raw_.data(), frame_raw_.size());
  if (ZSTD_isError(n)) return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
  Frame& f = frames_[open_frame_];
  f.offset = pack_.AddFrame(std::string_view(scratch_.data(), n),
                            static_cast<uint32_t>(frame_raw_.size()), std::move(frame_chunks_));
  f.stored_len = static_cast<uint32_t>(n);
  std::string fk;
  PutVarint64(&fk, f.pack);
  PutVarint64(&fk, f.offset);
  frame_ids_.emplace(fk, open_frame_);
  stats_.frames++;
  stats_.stored_bytes += n;
  frame_raw_.clear();
  frame_chunks_.clear();
  open_frame_ = UINT32_MAX;
  return Status::OK();
}

void ContentProcessor::SealPack(std::string key) {
  std::string bytes = pack_.Finish();
  stats_.stored_bytes += bytes.size();
  for (const auto& f : frames_)
    if (f.pack == open_pack_) stats_.stored_bytes -= f.stored_len;  // counted at CloseFrame
  if (open_pack_ == UINT32_MAX) {
    open_pack_ = static_cast<uint32_t>(pack_keys_.size());
    pack_keys_.emplace_back();
  }
  pack_keys_[open_pack_] = key;
  pack_ids_.emplace(key, open_pack_);
  open_pack_ = UINT32_MAX;
  sealed_.emplace_back(std::move(key), std::move(bytes));
}

Status ContentProcessor::PutSealed() {
  size_t done = 0;
  Status s;
  for (; done < sealed_.size(); ++done) {
    s = sink_->Put(sealed_[done].first, sealed_[done].second);
    if (!s.ok()) break;
    stats_.puts++;
    if (sealed_[done].first.compare(0, 5, "segs/") == 0) {
      // Durable: its trace table may now be merged into the index runs.
      for (size_t i = 0; i < segments_in_flight_.size(); ++i)
        if (segments_in_flight_[i].key == sealed_[done].first) {
          if (levels_.empty()) levels_.emplace_back();
          levels_[0].push_back(std::move(segments_in_flight_[i]));
          segments_in_flight_.erase(segments_in_flight_.begin() + static_cast<long>(i));
          break;
        }
    }
  }
  sealed_.erase(sealed_.begin(), sealed_.begin() + static_cast<long>(done));
  return s;
}

Status ContentProcessor::BuildSegment() {
  SPANPIPE_RETURN_IF_ERROR(CloseFrame());
  if (traces_.empty() && pack_.frames() == 0) return Status::OK();
  if (!writer_announced_) {
    // The reader finds writers by listing writers/: announced before its first segment.
    sealed_.emplace_back(WriterKey(writer_), std::string());
    writer_announced_ = true;
  }
  // Manifest frames: traces in (trace id, project) order, one zstd frame per ~manifest_frame_bytes.
  // Pack table entry "" = this segment (its key is known only once the table is placed).
  std::vector<TraceIndexEntry> table;
  ManifestFrame mf;
  std::unordered_map<uint32_t, uint32_t> local;        // pack index -> pack table index
  std::unordered_map<uint32_t, uint32_t> local_frame;  // frame index -> frame table index
  std::vector<size_t> frame_traces;                    // table entries of the open manifest frame
  std::string raw;
  auto emit = [&] {
    if (mf.traces.empty()) return;
    raw.clear();
    EncodeManifestFrameRaw(mf, &raw);
    std::string z = CompressFrame(raw, 3);
    uint64_t off = pack_.AddBytes(z);
    for (size_t i : frame_traces) {
      table[i].mf_offset = off;
      table[i].mf_len = static_cast<uint32_t>(z.size());
    }
    frame_traces.clear();
    mf = {};
    local.clear();
    local_frame.clear();
  };
  size_t approx = 0;
  for (auto& [k, pt] : traces_) {
    TraceManifest tm;
    tm.trace_id = pt.trace_id;
    tm.project = pt.project;
    for (auto& pv : pt.values) {
      ValueManifest vm;
      vm.span_id = std::move(pv.span_id);
      vm.key = std::move(pv.key);
      vm.raw_len = pv.raw_len;
      vm.sha256 = std::move(pv.sha256);
      for (const Loc& l : pv.extents) {
        const Frame& f = frames_[l.frame];
        auto [ft, new_frame] =
            local_frame.emplace(l.frame, static_cast<uint32_t>(mf.frames.size()));
        if (new_frame) {
          auto [it, inserted] = local.emplace(f.pack, static_cast<uint32_t>(mf.packs.size()));
          if (inserted) mf.packs.push_back(f.pack == open_pack_ ? "" : pack_keys_[f.pack]);
          mf.frames.push_back({it->second, f.offset, f.stored_len});
        }
        vm.extents.push_back({ft->second, l.offset, l.len});
        approx += 12;
      }
      approx += 60 + vm.key.size();
      tm.values.push_back(std::move(vm));
    }
    table.push_back({tm.trace_id, tm.project, 0, 0, 0});
    frame_traces.push_back(table.size() - 1);
    mf.traces.push_back(std::move(tm));
    if (approx >= options_.manifest_frame_bytes) {
      emit();
      approx = 0;
    }
  }
  emit();
  traces_.clear();
  raw.clear();
  EncodeTraceTableRaw(table, &raw);
  std::string z = CompressFrame(raw, 3);
  uint64_t tt_off = pack_.AddBytes(z);
  std::string key = SegmentKey(writer_, segment_seq_++, tt_off, z.size());
  segments_in_flight_.push_back({key, std::move(table), {}});
  SealPack(key);
  stats_.segments++;
  return Status::OK();
}

Status ContentProcessor::Flush() {
  SPANPIPE_RETURN_IF_ERROR(BuildSegment());
  // Packs, then the segment whose manifests point into them: a manifest never refers to a
  // missing frame.
  SPANPIPE_RETURN_IF_ERROR(PutSealed());
  // Only now, with everything they point to stored, may later spans dedup against these chunks
  // across restarts (the entries commit with the caller's checkpoint).
  std::string v;
  for (auto& [hash, loc] : pending_) {
    const Frame& f = frames_[loc.frame];
    v.clear();
    EncodeChunkLocation({pack_keys_[f.pack], f.offset, f.stored_len, loc.offset, loc.len}, &v);
    index_->Put(IndexKey({hash.data(), hash.size()}), v);
  }
  pending_.clear();
  // Index runs: a failed merge is retried at the next flush; readers see the segments meanwhile.
  if (!Merge().ok()) stats_.failed_merges++;
  return Status::OK();
}

// Every kFanout live entries of level L (segments at 0) become one run of level L+1, in order:
// run j of level L+1 covers entries [16j, 16j+15] of level L, so a reader lists the live ones of
// level L with one prefix (docs/content-store.md, "Finding a trace").
constexpr size_t kFanout = 16;

Status ContentProcessor::Merge() {
  for (size_t level = 0; level < levels_.size(); ++level) {
    // Readers probe levels up to 8 (operators/content_reader.cpp).
    if (static_cast<int>(level) >= std::min(options_.max_index_level, 8)) break;
    while (levels_[level].size() >= kFanout) {
      std::vector<TraceIndexEntry> entries;
      std::vector<std::string> segments;
      std::unordered_map<std::string, uint32_t> seg_ids;
      for (size_t i = 0; i < kFanout; ++i) {
        const Run& r = levels_[level][i];
        std::vector<TraceIndexEntry> es = r.entries;
        std::vector<std::string> segs = r.segments;
        if (level == 0) {
          segs = {r.key};
        } else {
          SPANPIPE_RETURN_IF_ERROR(ReadRun(r.key, &es, &segs));
        }
        for (auto& e : es) {
          if (e.segment >= segs.size()) return Status::Corruption(r.key + ": bad segment index");
          auto [it, inserted] =
              seg_ids.emplace(segs[e.segment], static_cast<uint32_t>(segments.size()));
          if (inserted) segments.push_back(segs[e.segment]);
          e.segment = it->second;
          entries.push_back(std::move(e));
        }
      }
      if (levels_.size() <= level + 1) levels_.emplace_back();
      // The run's number: that of its first entry / 16 (entries of a level are merged in order,
      // 16 at a time, so the first live entry's number is a multiple of 16).
      static_assert(kFanout == 16);
      uint64_t first = 0, off = 0, len = 0;
      std::string_view k = levels_[level][0].key;
      size_t slash = k.rfind('/');
      if (slash == std::string_view::npos ||
          !ParseLocatedKey(k.substr(slash + 1), "", &first, &off, &len))
        return Status::Internal("bad index key " + std::string(k));
      uint64_t j = first / kFanout;
      SPANPIPE_RETURN_IF_ERROR(
          WriteRun(static_cast<int>(level) + 1, j, std::move(entries), segments));
      levels_[level].erase(levels_[level].begin(),
                           levels_[level].begin() + static_cast<long>(kFanout));
    }
  }
  return Status::OK();
}

Status ContentProcessor::WriteRun(int level, uint64_t j, std::vector<TraceIndexEntry> entries,
                                  const std::vector<std::string>& segments) {
  std::sort(entries.begin(), entries.end(), TraceIndexLess);
  std::string obj, raw;
  RunFooter footer;
  footer.segments = segments;
  size_t i = 0;
  while (i < entries.size()) {
    std::vector<TraceIndexEntry> block;
    size_t bytes = 0;
    for (; i < entries.size() && bytes < (64u << 10); ++i) {
      bytes += 24 + entries[i].project.size();
      block.push_back(entries[i]);
    }
    raw.clear();
    EncodeTraceTableRaw(block, &raw);
    std::string z = CompressFrame(raw, 3);
    footer.blocks.push_back({block.front().trace_id, block.front().project, obj.size(),
                             static_cast<uint32_t>(z.size())});
    obj += z;
  }
  raw.clear();
  EncodeRunFooterRaw(footer, &raw);
  std::string z = CompressFrame(raw, 3);
  uint64_t footer_off = obj.size();
  obj += z;
  std::string key = RunKey(writer_, level, j, footer_off, z.size());
  SPANPIPE_RETURN_IF_ERROR(sink_->Put(key, obj));
  stats_.puts++;
  stats_.runs++;
  stats_.stored_bytes += obj.size();
  levels_[level].push_back({key, {}, {}});
  return Status::OK();
}

Status ContentProcessor::ReadRun(const std::string& key, std::vector<TraceIndexEntry>* entries,
                                 std::vector<std::string>* segments) {
  return ReadIndexRun(sink_, key, entries, segments);
}

}  // namespace spanpipe::content
