// libFuzzer target: the content store's readers (docs/content-store.md, format version 2). The
// first byte picks one:
//   0  manifest frame (DecodeManifestFrameRaw; a decoded frame must re-encode to the same bytes)
//   1  pack index (DecodePackIndex; every frame must lie inside the pack's data area)
//   2  chunk location and located key names
//   3  trace table and index run footer (sorted entries; re-encode round trip); DecompressFrame
//   4  ReadTraceContent over an in-memory store holding one writer, one segment and one pack:
//      varint tt_offset | varint tt_len | varint n | segment (n bytes) | pack bytes
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/coding.h"
#include "fuzz/fuzz_util.h"
#include "operators/content_format.h"
#include "operators/content_reader.h"
#include "operators/pack_sink.h"
#include "tests/unit/operators/memory_pack_sink.h"

namespace {

using namespace spanpipe;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: {
      content::ManifestFrame m, again;
      if (!content::DecodeManifestFrameRaw(in, &m).ok()) return 0;
      for (const auto& f : m.frames) SPANPIPE_FUZZ_CHECK(f.pack < m.packs.size());
      for (const auto& t : m.traces) {
        SPANPIPE_FUZZ_CHECK(t.trace_id.size() == 16);
        for (const auto& v : t.values) {
          SPANPIPE_FUZZ_CHECK(v.span_id.size() == 8 &&
                              v.sha256.size() == content::kValueDigestBytes);
          uint64_t sum = 0;
          for (const auto& e : v.extents) {
            SPANPIPE_FUZZ_CHECK(e.frame < m.frames.size());
            sum += e.len;
          }
          SPANPIPE_FUZZ_CHECK(sum == v.raw_len);
        }
      }
      std::string enc, enc2;
      content::EncodeManifestFrameRaw(m, &enc);
      SPANPIPE_FUZZ_CHECK(content::DecodeManifestFrameRaw(enc, &again).ok());
      content::EncodeManifestFrameRaw(again, &enc2);
      SPANPIPE_FUZZ_CHECK(enc == enc2);
      break;
    }
    case 1: {
      std::vector<content::PackFrameInfo> index;
      if (!content::DecodePackIndex(in, &index).ok()) return 0;
      unsigned h = 0;
      for (const auto& e : index) {
        SPANPIPE_FUZZ_CHECK(e.offset >= 5 && e.offset <= in.size() &&
                            e.stored_len <= in.size() - e.offset);
        h += fuzz::Touch(in.substr(e.offset, e.stored_len));
      }
      (void)h;
      break;
    }
    case 2: {
      std::string_view rest = in;
      content::ChunkLocation loc;
      if (content::DecodeChunkLocation(&rest, &loc)) {
        std::string enc;
        content::EncodeChunkLocation(loc, &enc);
        std::string_view e = enc;
        content::ChunkLocation again;
        SPANPIPE_FUZZ_CHECK(content::DecodeChunkLocation(&e, &again) && e.empty());
        SPANPIPE_FUZZ_CHECK(
            again.pack_key == loc.pack_key && again.frame_offset == loc.frame_offset &&
            again.frame_len == loc.frame_len && again.offset == loc.offset && again.len == loc.len);
      }
      uint64_t n, off, len;
      if (content::ParseLocatedKey(in, "", &n, &off, &len))
        SPANPIPE_FUZZ_CHECK(off <= UINT64_MAX - len);
      break;
    }
    case 3: {
      std::vector<content::TraceIndexEntry> table, again;
      if (content::DecodeTraceTableRaw(in, &table).ok()) {
        for (size_t i = 1; i < table.size(); ++i)
          SPANPIPE_FUZZ_CHECK(!content::TraceIndexLess(table[i], table[i - 1]));
        std::string enc;
        content::EncodeTraceTableRaw(table, &enc);
        SPANPIPE_FUZZ_CHECK(content::DecodeTraceTableRaw(enc, &again).ok() &&
                            again.size() == table.size());
      }
      content::RunFooter f;
      if (content::DecodeRunFooterRaw(in, &f).ok()) {
        std::string enc;
        content::EncodeRunFooterRaw(f, &enc);
        content::RunFooter g;
        SPANPIPE_FUZZ_CHECK(content::DecodeRunFooterRaw(enc, &g).ok() &&
                            g.blocks.size() == f.blocks.size());
      }
      std::string out;
      if (content::DecompressFrame(in, 1 << 20, &out).ok())
        SPANPIPE_FUZZ_CHECK(out.size() <= (1u << 20));
      break;
    }
    case 4: {
      uint64_t tt_off, tt_len, n;
      if (!GetVarint64(&in, &tt_off) || !GetVarint64(&in, &tt_len) || !GetVarint64(&in, &n) ||
          n > in.size() || tt_off > (uint64_t{1} << 40) || tt_len > (uint64_t{1} << 40))
        return 0;
      testutil::MemoryPackSink store;
      store.objects["writers/0000000000000001"] = "";
      store.objects[content::SegmentKey(1, 0, tt_off, tt_len)] = std::string(in.substr(0, n));
      store.objects["packs/p"] = std::string(in.substr(n));
      auto list = store.List();
      std::vector<content::ContentValue> values;
      Status s = content::ReadTraceContent(&store, list, nullptr,
                                           "0102030405060708090a0b0c0d0e0f10", "", &values);
      if (s.ok())
        for (const auto& v : values) SPANPIPE_FUZZ_CHECK(v.trace_id_hex.size() == 32);
      break;
    }
  }
  return 0;
}
