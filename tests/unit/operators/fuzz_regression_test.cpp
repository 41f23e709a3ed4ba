// Regression cases for the bugs the fuzz targets (fuzz/, docs/perf/fuzz.md) and the sanitizer runs
// found in the decoders and readers: each input once crashed, over-allocated or decoded
// inconsistently. They run in every build, so the ASan/UBSan suite (.ci/sanitize) re-checks them.
#include <gtest/gtest.h>
#include <zstd.h>

#include <map>
#include <string>
#include <vector>

#include "common/coding.h"
#include "common/hex.h"
#include "operators/content_format.h"
#include "operators/content_reader.h"
#include "operators/otlp_json_decoder.h"
#include "operators/otlp_proto_decoder.h"
#include "operators/pack_sink.h"
#include "tests/unit/operators/memory_pack_sink.h"

namespace spanpipe {
namespace {

// A pack index entry whose offset + stored_len wraps around 2^64 passed the bounds check, and a
// reader trusting the index would then read far outside the pack. (Format 2: varint offsets.)
TEST(FuzzRegression, PackIndexOffsetPlusLengthWrapsAround) {
  content::PackBuilder b;
  b.AddFrame("frame-bytes", 1, {1});
  std::string pack = b.Finish();
  std::vector<content::PackFrameInfo> index;
  ASSERT_TRUE(content::DecodePackIndex(pack, &index).ok());
  ASSERT_EQ(index.size(), 1u);
  // Rebuild the index with a hostile offset: 2^64 - 3 (+ 11 stored bytes wraps to 7), and 2^63.
  for (uint64_t off : {~uint64_t{0} - 2, uint64_t{1} << 63}) {
    std::string body = pack.substr(0, 5 + 11), idx;
    PutVarint64(&idx, 1);
    PutVarint64(&idx, off);
    PutVarint64(&idx, 11);
    PutVarint64(&idx, 1);
    PutVarint64(&idx, 1);
    PutVarint64(&idx, 1);
    std::string bad = body + idx;
    PutFixed64BE(&bad, body.size());
    PutFixed64BE(&bad, idx.size());
    PutFixed32BE(&bad, 0);
    bad += "SPPI";
    EXPECT_TRUE(content::DecodePackIndex(bad, &index).IsCorruption()) << off;
  }
}

using MemoryStore = testutil::MemoryPackSink;

const char kTrace[] = "0102030405060708090a0b0c0d0e0f10";

// One writer, one segment holding `mf` (and optionally a data frame), readable by ReadTraceContent.
void WriteSegment(MemoryStore* store, const content::ManifestFrame& mf) {
  std::string raw;
  content::EncodeManifestFrameRaw(mf, &raw);
  content::PackBuilder sb;
  std::string mz = content::CompressFrame(raw, 3);
  uint64_t mf_off = sb.AddBytes(mz);
  std::string trace_id;
  HexDecode(kTrace, &trace_id);
  std::string tt;
  content::EncodeTraceTableRaw({{trace_id, "p", 0, mf_off, static_cast<uint32_t>(mz.size())}}, &tt);
  std::string tz = content::CompressFrame(tt, 3);
  uint64_t tt_off = sb.AddBytes(tz);
  store->objects["writers/0000000000000001"] = "";
  store->objects[content::SegmentKey(1, 0, tt_off, tz.size())] = sb.Finish();
}

// A manifest frame of one trace ("p", kTrace) with one value of span 0101010101010101 whose
// extents point into `frames`, all in packs/p.
content::ManifestFrame OneValue(const std::string& key, const std::string& sha256,
                                std::vector<content::FrameRef> frames,
                                std::vector<content::Extent> extents) {
  content::ValueManifest v;
  v.span_id = std::string(8, '\x01');
  v.key = key;
  v.sha256 = sha256;
  for (const auto& e : extents) v.raw_len += e.len;
  v.extents = std::move(extents);
  content::TraceManifest tm;
  HexDecode(kTrace, &tm.trace_id);
  tm.project = "p";
  tm.values = {v};
  content::ManifestFrame mf;
  mf.packs = {"packs/p"};
  mf.frames = std::move(frames);
  mf.traces = {tm};
  return mf;
}

// A manifest of a few hundred bytes may claim a value of many GiB: the reader must not reserve
// the claim up front. Extents are bounded by the largest frame a reader accepts, and a frame's
// declared size is checked before anything is allocated for it.
TEST(FuzzRegression, ManifestClaimingHugeValueIsCorruptionNotAnAllocation) {
  std::vector<content::FrameRef> frames;
  std::vector<content::Extent> extents;
  for (uint32_t i = 0; i < 64; ++i) {
    frames.push_back({0, 5u + 100u * i, 10});
    extents.push_back({i, 0, 1u << 26});  // 4 GiB in all
  }
  content::ManifestFrame mf = OneValue("gen_ai.prompt", std::string(32, 'h'), frames, extents);
  MemoryStore store;
  WriteSegment(&store, mf);
  store.objects["packs/p"] = "SPPK\x02" + std::string(64 * 100, 'z');
  std::vector<content::ContentValue> out;
  Status s = content::ReadTraceContent(&store, store.List(), nullptr, kTrace, "", &out);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();

  // An extent claiming more than any frame may hold is refused by the manifest decoder itself.
  mf = OneValue("gen_ai.prompt", std::string(32, 'h'), {{0, 5, 10}},
                {{0, 0, static_cast<uint32_t>(content::kMaxFrameRaw) + 1}});
  std::string raw;
  content::EncodeManifestFrameRaw(mf, &raw);
  content::ManifestFrame back;
  EXPECT_TRUE(content::DecodeManifestFrameRaw(raw, &back).IsCorruption());
}

// A zstd frame header of a few bytes may declare far more content than the frame holds: the
// declared size is bounded, and the frame must really decompress to it (and match its checksum).
TEST(FuzzRegression, TinyFrameDeclaringLargeContentIsCorrupt) {
  std::string raw(1000, 'a');
  std::string frame = content::CompressFrame(raw, 1);
  content::PackBuilder pb;
  uint64_t off = pb.AddFrame(frame, 1000, {1000});
  MemoryStore store;
  store.objects["packs/p"] = pb.Finish();
  content::ManifestFrame mf = OneValue(
      "k", content::Sha256(raw), {{0, off, static_cast<uint32_t>(frame.size())}}, {{0, 0, 1000}});
  WriteSegment(&store, mf);
  std::vector<content::ContentValue> out;
  Status s = content::ReadTraceContent(&store, store.List(), nullptr, kTrace, "", &out);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value, raw);
  // Truncate the frame: the header still declares 1000 bytes.
  mf.frames[0].stored_len = 12;
  WriteSegment(&store, mf);
  EXPECT_TRUE(
      content::ReadTraceContent(&store, store.List(), nullptr, kTrace, "", &out).IsCorruption());
  // A value whose bytes do not hash to its SHA-256 is corrupt, not returned.
  mf.frames[0].stored_len = static_cast<uint32_t>(frame.size());
  mf.traces[0].values[0].sha256 = content::Sha256("other");
  WriteSegment(&store, mf);
  s = content::ReadTraceContent(&store, store.List(), nullptr, kTrace, "", &out);
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_NE(s.message().find("value k of span 0101010101010101"), std::string::npos) << s.message();
}

// Frames that decompress far beyond what the trace's values need (a zstd frame of a few KB may
// hold 128 MiB of zeros), and manifests claiming terabytes through many extents of one frame: the
// reader bounds both before allocating (Corruption), instead of holding every frame at once.
TEST(FuzzRegression, DecompressedFramesAndClaimedContentAreBounded) {
  std::string zeros(64 << 10, '\0');
  std::string frame = content::CompressFrame(zeros, 1);
  content::PackBuilder pb;
  uint64_t a = pb.AddFrame(frame, zeros.size(), {static_cast<uint32_t>(zeros.size())});
  uint64_t b = pb.AddFrame(frame, zeros.size(), {static_cast<uint32_t>(zeros.size())});
  MemoryStore store;
  store.objects["packs/p"] = pb.Finish();
  uint32_t len = static_cast<uint32_t>(frame.size());
  content::ManifestFrame mf = OneValue("k", content::Sha256(std::string(20, '\0')),
                                       {{0, a, len}, {0, b, len}}, {{0, 0, 10}, {1, 0, 10}});
  WriteSegment(&store, mf);
  std::vector<content::ContentValue> out;
  ASSERT_TRUE(content::ReadTraceContent(&store, store.List(), nullptr, kTrace, "", &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value, std::string(20, '\0'));
  // 128 KiB of frames for 20 bytes of value: over a 100 KiB budget.
  Status s = content::ReadTraceContent(&store, store.List(), nullptr, kTrace, "", &out, 100 << 10);
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_NE(s.message().find("exceed"), std::string::npos) << s.message();
  // 33 extents of 128 MiB each (legal one by one) claim more than 4 GiB: refused up front.
  std::vector<content::Extent> huge(33, {0, 0, static_cast<uint32_t>(content::kMaxFrameRaw)});
  WriteSegment(&store, OneValue("k", std::string(32, 'h'), {{0, a, len}}, huge));
  s = content::ReadTraceContent(&store, store.List(), nullptr, kTrace, "", &out);
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_NE(s.message().find("GiB"), std::string::npos) << s.message();
}

// The JSON decoder gave spans an empty scope name when "scope" followed "spans" in the text, where
// the protobuf decoder (and the Collector) attach the scope whatever the order.
TEST(FuzzRegression, JsonScopeAfterSpansStillNamesTheSpans) {
  std::string msg = R"({"resourceSpans":[{"scopeSpans":[{"spans":[
    {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"}],
    "scope":{"name":"late"}},{"scope":{"name":"early"},"spans":[
    {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060709"}]}]}]})";
  otlp::JsonDecoder d;
  otlp::Batch b;
  ASSERT_TRUE(d.Decode(msg, &b).ok());
  ASSERT_EQ(b.spans.size(), 2u);
  EXPECT_EQ(b.spans[0].scope_name, "late");
  EXPECT_EQ(b.spans[1].scope_name, "early");
}

}  // namespace
}  // namespace spanpipe
