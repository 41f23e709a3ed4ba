#include <gtest/gtest.h>
#include <zstd.h>

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
}

TEST(ContentFormat, PackRoundTrip) {
  PackBuilder b;
  std::vector<std::string> raws = {std::string(5000, 'a'), "hello world",
                                   std::string(70000, 'z') + "tail"};
  std::vector<uint64_t> offsets;
  std::vector<size_t> sizes;
  for (const auto& r : raws) {
    std::string frame(ZSTD_compressBound(r.size()), '\0');
    size_t n = ZSTD_compress(frame.data(), frame.size(), r.data(), r.size(), 1);
    ASSERT_FALSE(ZSTD_isError(n));
    frame.resize(n);
    offsets.push_back(b.Add(Sha256(r), frame, static_cast<uint32_t>(r.size())));
    sizes.push_back(n);
  }
  std::string pack = b.Finish();
  EXPECT_EQ(b.entries(), 0u);  // reset for the next pack
  std::vector<PackIndexEntry> index;
  ASSERT_TRUE(DecodePackIndex(pack, &index).ok());
  ASSERT_EQ(index.size(), raws.size());
  for (size_t i = 0; i < raws.size(); ++i) {
    EXPECT_EQ(index[i].hash, Sha256(raws[i]));
    EXPECT_EQ(index[i].offset, offsets[i]);
    EXPECT_EQ(index[i].stored_len, sizes[i]);
    std::string raw(index[i].raw_len, '\0');
    size_t n =
        ZSTD_decompress(raw.data(), raw.size(), pack.data() + index[i].offset, index[i].stored_len);
    ASSERT_EQ(n, raws[i].size());
    EXPECT_EQ(raw, raws[i]);
  }
}

TEST(ContentFormat, PackIndexRejectsHostileInput) {
  PackBuilder b;
  b.Add(Sha256("x"), "frame-bytes", 1);
  std::string pack = b.Finish();
  std::vector<PackIndexEntry> index;
  for (size_t len = 0; len < pack.size(); ++len)
    EXPECT_FALSE(DecodePackIndex(pack.substr(0, len), &index).ok()) << len;
  std::string bad = pack;
  bad[0] = 'X';
  EXPECT_TRUE(DecodePackIndex(bad, &index).IsCorruption());
  bad = pack;
  bad[4] = 9;  // unknown version
  EXPECT_TRUE(DecodePackIndex(bad, &index).IsCorruption());
  bad = pack;
  bad[bad.size() - 16] = '\x7f';  // index offset far beyond the object
  EXPECT_TRUE(DecodePackIndex(bad, &index).IsCorruption());
  bad = pack;
  bad[bad.size() - 8] = '\x7f';  // entry count
  EXPECT_TRUE(DecodePackIndex(bad, &index).IsCorruption());
}

std::vector<ValueManifest> SampleManifest() {
  std::vector<ValueManifest> values(2);
  values[0].span_id = std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  values[0].key = "gen_ai.input.messages";
  for (int i = 0; i < 3; ++i) {
    ChunkLocation c;
    c.hash = Sha256(std::to_string(i));
    c.pack_id = "00aa11bb22cc33dd0000000000000001";
    c.offset = 5 + 1000u * i;
    c.stored_len = 900;
    c.raw_len = 4000;
    values[0].chunks.push_back(c);
    values[0].raw_len += c.raw_len;
  }
  values[1].span_id = std::string(8, '\xff');
  values[1].key = "event[0].body";
  values[1].raw_len = 0;  // an empty value has no chunks
  return values;
}

TEST(ContentFormat, ManifestRoundTrip) {
  auto values = SampleManifest();
  std::string obj;
  EncodeManifestObject(values, &obj);
  std::vector<ValueManifest> back;
  ASSERT_TRUE(DecodeManifestObject(obj, &back).ok());
  ASSERT_EQ(back.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(back[i].span_id, values[i].span_id);
    EXPECT_EQ(back[i].key, values[i].key);
    EXPECT_EQ(back[i].raw_len, values[i].raw_len);
    ASSERT_EQ(back[i].chunks.size(), values[i].chunks.size());
    for (size_t c = 0; c < values[i].chunks.size(); ++c) {
      EXPECT_EQ(back[i].chunks[c].hash, values[i].chunks[c].hash);
      EXPECT_EQ(back[i].chunks[c].pack_id, values[i].chunks[c].pack_id);
      EXPECT_EQ(back[i].chunks[c].offset, values[i].chunks[c].offset);
      EXPECT_EQ(back[i].chunks[c].stored_len, values[i].chunks[c].stored_len);
      EXPECT_EQ(back[i].chunks[c].raw_len, values[i].chunks[c].raw_len);
    }
  }
}

TEST(ContentFormat, ManifestRejectsTruncationBadMagicAndHugeLengths) {
  std::string obj;
  EncodeManifestObject(SampleManifest(), &obj);
  std::vector<ValueManifest> out;
  for (size_t len = 0; len < obj.size(); ++len)
    EXPECT_TRUE(DecodeManifestObject(obj.substr(0, len), &out).IsCorruption())
        << "truncated at " << len;
  std::string bad = obj;
  bad[1] = 'Q';
  EXPECT_TRUE(DecodeManifestObject(bad, &out).IsCorruption());
  bad = obj;
  bad[4] = 2;
  EXPECT_TRUE(DecodeManifestObject(bad, &out).IsCorruption());
  EXPECT_TRUE(DecodeManifestObject(obj + "x", &out).IsCorruption());

  // A value count of 2^63 and a key length of 2^40 must fail fast, not allocate.
  std::string huge = "SPMF";
  huge.push_back(1);
  huge.append("\xff\xff\xff\xff\xff\xff\xff\xff\x7f");
  EXPECT_TRUE(DecodeManifestObject(huge, &out).IsCorruption());
  huge = "SPMF";
  huge.push_back(1);
  huge.push_back(1);                           // one value
  huge.append(8, 's');                         // span id
  huge.append("\x80\x80\x80\x80\x80\x20", 6);  // key length 2^40
  EXPECT_TRUE(DecodeManifestObject(huge, &out).IsCorruption());
  // Chunk lengths that do not add up to the value's length.
  auto values = SampleManifest();
  values[0].raw_len += 1;
  std::string lying;
  EncodeManifestObject(values, &lying);
  EXPECT_TRUE(DecodeManifestObject(lying, &out).IsCorruption());
}

TEST(ContentFormat, ManifestSurvivesRandomMutation) {
  std::string obj;
  EncodeManifestObject(SampleManifest(), &obj);
  std::mt19937 rng(5);
  std::vector<ValueManifest> out;
  for (int i = 0; i < 20000; ++i) {
    std::string m = obj;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) m[rng() % m.size()] = static_cast<char>(rng());
    if (rng() % 3 == 0) m.resize(rng() % m.size());
    (void)DecodeManifestObject(m, &out);  // must not crash or over-read (ASan/UBSan builds)
  }
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 300, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    if (i % 2 == 0 && junk.size() >= 5) junk.replace(0, 5, std::string("SPMF\x01", 5));
    (void)DecodeManifestObject(junk, &out);
  }
  SUCCEED();
}

}  // namespace
}  // namespace spanpipe::content
