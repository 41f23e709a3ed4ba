#include <gtest/gtest.h>
#include <zstd.h>

#include <functional>
#include <random>
#include <string>

#include "common/hex.h"
#include "operators/content_format.h"

namespace spanpipe::content {
namespace {

TEST(ContentFormat, Sha256KnownVector) {
  // FIPS 180-2 test vector.
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

std::string Zstd(std::string_view raw) {
  std::string frame(ZSTD_compressBound(raw.size()), '\0');
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
  size_t n = ZSTD_compress2(c, frame.data(), frame.size(), raw.data(), raw.size());
  ZSTD_freeCCtx(c);
  frame.resize(n);
  return frame;
}

TEST(ContentFormat, PackRoundTrip) {
  PackBuilder b;
  std::vector<std::string> raws = {std::string(5000, 'a') + "hello world",
                                   std::string(70000, 'z') + "tail"};
  std::vector<std::vector<uint32_t>> chunks = {{5000, 11}, {70004}};
  std::vector<uint64_t> offsets;
  for (size_t i = 0; i < raws.size(); ++i)
    offsets.push_back(b.AddFrame(Zstd(raws[i]), static_cast<uint32_t>(raws[i].size()), chunks[i]));
  uint64_t extra = b.AddBytes("manifest bytes");
  EXPECT_GT(extra, offsets.back());
  std::string pack = b.Finish();
  EXPECT_EQ(b.frames(), 0u);  // reset for the next pack
  std::vector<PackFrameInfo> index;
  ASSERT_TRUE(DecodePackIndex(pack, &index).ok());
  ASSERT_EQ(index.size(), raws.size());
  for (size_t i = 0; i < raws.size(); ++i) {
    EXPECT_EQ(index[i].offset, offsets[i]);
    EXPECT_EQ(index[i].chunk_lens, chunks[i]);
    std::string raw;
    ASSERT_TRUE(DecompressFrame(std::string_view(pack).substr(index[i].offset, index[i].stored_len),
                                kMaxFrameRaw, &raw)
                    .ok());
    EXPECT_EQ(raw, raws[i]);
  }
  EXPECT_EQ(pack.substr(extra, 14), "manifest bytes");
}

TEST(ContentFormat, PackIndexRejectsHostileInput) {
  PackBuilder b;
  b.AddFrame("frame-bytes", 3, {1, 2});
  std::string pack = b.Finish();
  std::vector<PackFrameInfo> index;
  ASSERT_TRUE(DecodePackIndex(pack, &index).ok());
  for (size_t len = 0; len < pack.size(); ++len)
    EXPECT_FALSE(DecodePackIndex(pack.substr(0, len), &index).ok()) << len;
  std::string bad = pack;
  bad[0] = 'X';
  EXPECT_TRUE(DecodePackIndex(bad, &index).IsCorruption());
  bad = pack;
  bad[4] = 1;  // version 1 is not read any more
  EXPECT_TRUE(DecodePackIndex(bad, &index).IsCorruption());
  bad = pack;
  bad[bad.size() - 24] = '\x7f';  // index offset far beyond the object
  EXPECT_TRUE(DecodePackIndex(bad, &index).IsCorruption());
  bad = pack;
  bad[bad.size() - 16] = '\x7f';  // index length
  EXPECT_TRUE(DecodePackIndex(bad, &index).IsCorruption());
  // Chunk lengths that do not add up to the frame's raw length.
  PackBuilder b2;
  b2.AddFrame("frame-bytes", 4, {1, 2});
  EXPECT_TRUE(DecodePackIndex(b2.Finish(), &index).IsCorruption());
}

TEST(ContentFormat, DecompressFrameChecksSizeAndChecksum) {
  std::string raw(100000, 'q');
  std::string z = Zstd(raw);
  std::string out;
  ASSERT_TRUE(DecompressFrame(z, kMaxFrameRaw, &out).ok());
  EXPECT_EQ(out, raw);
  EXPECT_TRUE(DecompressFrame(z, 1000, &out).IsCorruption());  // declares more than allowed
  EXPECT_TRUE(DecompressFrame(z + "x", kMaxFrameRaw, &out).IsCorruption());
  EXPECT_TRUE(DecompressFrame(z.substr(0, z.size() - 1), kMaxFrameRaw, &out).IsCorruption());
  std::string bad = z;
  bad[bad.size() - 2] ^= 1;  // the checksum
  EXPECT_TRUE(DecompressFrame(bad, kMaxFrameRaw, &out).IsCorruption());
  EXPECT_TRUE(DecompressFrame("", kMaxFrameRaw, &out).IsCorruption());
}

ManifestFrame SampleManifest() {
  ManifestFrame m;
  m.packs = {"", "packs/00aa11bb22cc33dd-0000000000000001"};
  m.frames = {{0, 5, 900}, {1, 1005, 900}, {1, 7000, 12}};
  TraceManifest t;
  t.trace_id = std::string(16, '\x07');
  t.project = "team/a b";
  ValueManifest v;
  v.span_id = std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  v.key = "gen_ai.input.messages";
  v.sha256 = Sha256("x");
  for (uint32_t i = 0; i < 3; ++i) {
    v.extents.push_back({i, 17 * i, 4000});
    v.raw_len += 4000;
  }
  t.values.push_back(v);
  ValueManifest same_span = v;  // a second value of the same span: grouped under one span id
  same_span.key = "gen_ai.output.messages";
  t.values.push_back(same_span);
  ValueManifest empty;
  empty.span_id = std::string(8, '\xff');
  empty.key = "event[0].body";
  empty.sha256 = Sha256("");  // an empty value has no extents
  t.values.push_back(empty);
  m.traces.push_back(t);
  t.trace_id = std::string(16, '\x09');
  t.project = "default";
  m.traces.push_back(t);
  return m;
}

TEST(ContentFormat, ManifestRoundTrip) {
  ManifestFrame m = SampleManifest(), back;
  std::string raw;
  EncodeManifestFrameRaw(m, &raw);
  ASSERT_TRUE(DecodeManifestFrameRaw(raw, &back).ok());
  EXPECT_EQ(back.packs, m.packs);
  ASSERT_EQ(back.frames.size(), m.frames.size());
  for (size_t f = 0; f < m.frames.size(); ++f) {
    EXPECT_EQ(back.frames[f].pack, m.frames[f].pack);
    EXPECT_EQ(back.frames[f].offset, m.frames[f].offset);
    EXPECT_EQ(back.frames[f].stored_len, m.frames[f].stored_len);
  }
  ASSERT_EQ(back.traces.size(), m.traces.size());
  for (size_t t = 0; t < m.traces.size(); ++t) {
    EXPECT_EQ(back.traces[t].trace_id, m.traces[t].trace_id);
    EXPECT_EQ(back.traces[t].project, m.traces[t].project);
    ASSERT_EQ(back.traces[t].values.size(), m.traces[t].values.size());
    for (size_t i = 0; i < m.traces[t].values.size(); ++i) {
      const auto &a = m.traces[t].values[i], &b = back.traces[t].values[i];
      EXPECT_EQ(b.span_id, a.span_id);
      EXPECT_EQ(b.key, a.key);
      EXPECT_EQ(b.raw_len, a.raw_len);
      EXPECT_EQ(b.sha256, a.sha256.substr(0, kValueDigestBytes));  // stored: 128 bits
      ASSERT_EQ(b.extents.size(), a.extents.size());
      for (size_t e = 0; e < a.extents.size(); ++e) {
        EXPECT_EQ(b.extents[e].frame, a.extents[e].frame);
        EXPECT_EQ(b.extents[e].offset, a.extents[e].offset);
        EXPECT_EQ(b.extents[e].len, a.extents[e].len);
      }
    }
  }
}

TEST(ContentFormat, ManifestRejectsTruncationBadMagicAndHugeLengths) {
  std::string raw;
  EncodeManifestFrameRaw(SampleManifest(), &raw);
  ManifestFrame out;
  for (size_t len = 0; len < raw.size(); ++len)
    EXPECT_TRUE(DecodeManifestFrameRaw(raw.substr(0, len), &out).IsCorruption())
        << "truncated at " << len;
  std::string bad = raw;
  bad[1] = 'Q';
  EXPECT_TRUE(DecodeManifestFrameRaw(bad, &out).IsCorruption());
  EXPECT_TRUE(DecodeManifestFrameRaw(raw + "x", &out).IsCorruption());
  // A pack count of 2^63 and a trace count of 2^40 must fail fast, not allocate.
  EXPECT_TRUE(
      DecodeManifestFrameRaw("SPM2\xff\xff\xff\xff\xff\xff\xff\xff\x7f", &out).IsCorruption());
  EXPECT_TRUE(DecodeManifestFrameRaw(std::string("SPM2\x00\x80\x80\x80\x80\x80\x20", 11), &out)
                  .IsCorruption());
  // Extent lengths that do not add up; an extent naming a frame the table lacks; a frame naming a
  // pack the table lacks.
  ManifestFrame m = SampleManifest();
  m.traces[0].values[0].raw_len += 1;
  std::string lying;
  EncodeManifestFrameRaw(m, &lying);
  EXPECT_TRUE(DecodeManifestFrameRaw(lying, &out).IsCorruption());
  m = SampleManifest();
  m.traces[0].values[0].extents[0].frame = 3;
  lying.clear();
  EncodeManifestFrameRaw(m, &lying);
  EXPECT_TRUE(DecodeManifestFrameRaw(lying, &out).IsCorruption());
  m = SampleManifest();
  m.frames[1].pack = 2;
  lying.clear();
  EncodeManifestFrameRaw(m, &lying);
  EXPECT_TRUE(DecodeManifestFrameRaw(lying, &out).IsCorruption());
  // An extent reaching past any frame a reader would accept.
  m = SampleManifest();
  m.traces[0].values[0].extents[0].offset = static_cast<uint32_t>(kMaxFrameRaw);
  lying.clear();
  EncodeManifestFrameRaw(m, &lying);
  EXPECT_TRUE(DecodeManifestFrameRaw(lying, &out).IsCorruption());
}

std::vector<TraceIndexEntry> SampleTable() {
  std::vector<TraceIndexEntry> t;
  for (int i = 0; i < 50; ++i)
    t.push_back({std::string(16, static_cast<char>(i / 2)), i % 2 ? "b" : "a",
                 static_cast<uint32_t>(i % 3), 5u + 100u * i, 90});
  std::sort(t.begin(), t.end(), TraceIndexLess);
  return t;
}

TEST(ContentFormat, TraceTableAndRunFooterRoundTrip) {
  auto table = SampleTable();
  std::string raw;
  EncodeTraceTableRaw(table, &raw);
  std::vector<TraceIndexEntry> back;
  ASSERT_TRUE(DecodeTraceTableRaw(raw, &back).ok());
  ASSERT_EQ(back.size(), table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(back[i].trace_id, table[i].trace_id);
    EXPECT_EQ(back[i].project, table[i].project);
    EXPECT_EQ(back[i].segment, table[i].segment);
    EXPECT_EQ(back[i].mf_offset, table[i].mf_offset);
    EXPECT_EQ(back[i].mf_len, table[i].mf_len);
  }
  for (size_t len = 0; len < raw.size(); ++len)
    EXPECT_TRUE(DecodeTraceTableRaw(raw.substr(0, len), &back).IsCorruption()) << len;
  // Out of order: a binary search over it would miss entries.
  std::swap(table[0], table[10]);
  raw.clear();
  EncodeTraceTableRaw(table, &raw);
  EXPECT_TRUE(DecodeTraceTableRaw(raw, &back).IsCorruption());

  RunFooter f;
  f.segments = {"segs/0000000000000001/0000000000000000-10-20", "segs/x"};
  f.blocks.push_back({std::string(16, '\0'), "a", 0, 100});
  f.blocks.push_back({std::string(16, '\5'), "", 100, 50});
  raw.clear();
  EncodeRunFooterRaw(f, &raw);
  RunFooter fb;
  ASSERT_TRUE(DecodeRunFooterRaw(raw, &fb).ok());
  EXPECT_EQ(fb.segments, f.segments);
  ASSERT_EQ(fb.blocks.size(), 2u);
  EXPECT_EQ(fb.blocks[1].first_trace, f.blocks[1].first_trace);
  EXPECT_EQ(fb.blocks[1].offset, 100u);
  EXPECT_EQ(fb.blocks[1].len, 50u);
  for (size_t len = 0; len < raw.size(); ++len)
    EXPECT_TRUE(DecodeRunFooterRaw(raw.substr(0, len), &fb).IsCorruption()) << len;
}

TEST(ContentFormat, ChunkLocationAndKeys) {
  ChunkLocation c{"segs/00000000000000ab/0000000000000003-1f-20", 12345, 999, 77, 4096};
  std::string enc;
  EncodeChunkLocation(c, &enc);
  std::string_view in = enc;
  ChunkLocation back;
  ASSERT_TRUE(DecodeChunkLocation(&in, &back));
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(back.pack_key, c.pack_key);
  EXPECT_EQ(back.frame_offset, c.frame_offset);
  EXPECT_EQ(back.frame_len, c.frame_len);
  EXPECT_EQ(back.offset, c.offset);
  EXPECT_EQ(back.len, c.len);
  for (size_t len = 0; len < enc.size(); ++len) {
    std::string_view t = std::string_view(enc).substr(0, len);
    EXPECT_FALSE(DecodeChunkLocation(&t, &back)) << len;
  }
  EXPECT_EQ(SegmentKey(0xab, 3, 0x1f, 0x20), c.pack_key);
  uint64_t n, off, len;
  ASSERT_TRUE(ParseLocatedKey(c.pack_key, "segs/00000000000000ab/", &n, &off, &len));
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(off, 0x1fu);
  EXPECT_EQ(len, 0x20u);
  ASSERT_TRUE(ParseLocatedKey(RunKey(1, 2, 0x35, 7, 9).substr(29), "", &n, &off, &len))
      << RunKey(1, 2, 0x35, 7, 9);
  EXPECT_EQ(n, 0x35u);
  for (const char* bad : {"", "1-2", "1-2-", "-1-2", "1-2-3-4", "x-1-2", "1-2-ffffffffffffffff0",
                          "1-ffffffffffffffff-ffffffffffffffff"})
    EXPECT_FALSE(ParseLocatedKey(bad, "", &n, &off, &len)) << bad;
  EXPECT_EQ(PackKey(1, 2), "packs/0000000000000001-0000000000000002");
  EXPECT_EQ(DictionaryKey(0x8000), "dicts/00008000");
  EXPECT_EQ(WriterKey(5), "writers/0000000000000005");
}

// Random mutation of every decoder's input: no crash, no over-read, no huge allocation (the ASan
// and UBSan builds check the first two; the bounds below the third).
TEST(ContentFormat, DecodersSurviveRandomMutation) {
  std::string manifest, table, footer, pack;
  EncodeManifestFrameRaw(SampleManifest(), &manifest);
  EncodeTraceTableRaw(SampleTable(), &table);
  RunFooter f;
  f.segments = {"segs/a"};
  f.blocks.push_back({std::string(16, '\0'), "a", 0, 100});
  EncodeRunFooterRaw(f, &footer);
  PackBuilder b;
  b.AddFrame(Zstd("abcdef"), 6, {2, 4});
  pack = b.Finish();
  std::mt19937 rng(5);
  ManifestFrame mf;
  std::vector<TraceIndexEntry> tt;
  RunFooter rf;
  std::vector<PackFrameInfo> pi;
  std::string out;
  for (int i = 0; i < 20000; ++i) {
    for (const std::string* src : {&manifest, &table, &footer, &pack}) {
      std::string m = *src;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) m[rng() % m.size()] = static_cast<char>(rng());
      if (rng() % 3 == 0) m.resize(rng() % m.size());
      (void)DecodeManifestFrameRaw(m, &mf);
      (void)DecodeTraceTableRaw(m, &tt);
      (void)DecodeRunFooterRaw(m, &rf);
      (void)DecodePackIndex(m, &pi);
      (void)DecompressFrame(m, 1 << 20, &out);
    }
  }
  SUCCEED();
}

}  // namespace
}  // namespace spanpipe::content
