// Regression cases for the bugs the fuzz targets (fuzz/, docs/perf/fuzz.md) and the sanitizer runs
// found in the decoders and readers: each input once crashed, over-allocated or decoded
// inconsistently. They run in every build, so the ASan/UBSan suite (.ci/sanitize) re-checks them.
#include <gtest/gtest.h>
#include <zstd.h>

#include <string>
#include <vector>

#include "common/coding.h"
#include "operators/content_format.h"
#include "operators/content_reader.h"
#include "operators/otlp_json_decoder.h"
#include "operators/otlp_proto_decoder.h"
#include "operators/pack_sink.h"

namespace spanpipe {
namespace {

// A pack index entry whose offset + stored_len wraps around 2^64 passed the bounds check, and a
// reader trusting the index would then read far outside the pack.
TEST(FuzzRegression, PackIndexOffsetPlusLengthWrapsAround) {
  content::PackBuilder b;
  b.Add(content::Sha256("x"), "frame-bytes", 1);
  std::string pack = b.Finish();
  // The single index entry sits just before the 16-byte footer: hash[32] | offset u64 | stored u32
  // | raw u32.
  size_t entry = pack.size() - 16 - 48;
  std::string bad = pack;
  std::string off;
  PutFixed64BE(&off, ~uint64_t{0} - 2);  // offset = 2^64 - 3, stored_len = 11: the sum wraps to 7
  bad.replace(entry + 32, 8, off);
  std::vector<content::PackIndexEntry> index;
  EXPECT_TRUE(content::DecodePackIndex(bad, &index).IsCorruption());
  // An offset past the index, with a length that brings the sum back in range.
  bad = pack;
  off.clear();
  PutFixed64BE(&off, uint64_t{1} << 63);
  bad.replace(entry + 32, 8, off);
  EXPECT_TRUE(content::DecodePackIndex(bad, &index).IsCorruption());
  ASSERT_TRUE(content::DecodePackIndex(pack, &index).ok());
  ASSERT_EQ(index.size(), 1u);
}

class OneObjectStore : public PackSink {
 public:
  std::string manifest, pack;
  Status Put(std::string_view, std::string_view) override {
    return Status::NotSupported("read only");
  }
  Status Get(std::string_view, std::string* bytes) override {
    *bytes = manifest;
    return Status::OK();
  }
  Status GetRange(std::string_view, uint64_t offset, uint64_t length, std::string* bytes) override {
    if (offset > pack.size() || length > pack.size() - offset)
      return Status::Corruption("short object");
    bytes->assign(pack, offset, length);
    return Status::OK();
  }
};

// A manifest of a few hundred bytes may claim a value of many GiB (chunks of up to 1 GiB each):
// the reader reserved the whole claim up front and died of bad_alloc / the allocator's limit before
// looking at a single chunk. Now the claim is verified chunk by chunk, and a chunk's size is
// bounded by the largest chunk spanpipe writes (content.max_chunk <= 64 MiB).
TEST(FuzzRegression, ManifestClaimingHugeValueIsCorruptionNotAnAllocation) {
  std::vector<content::ValueManifest> values(1);
  values[0].span_id = std::string(8, '\x01');
  values[0].key = "gen_ai.prompt";
  for (int i = 0; i < 64; ++i) {
    content::ChunkLocation c;
    c.hash = std::string(32, static_cast<char>(i));
    c.pack_id = "p";
    c.offset = 5;
    c.stored_len = 10;
    c.raw_len = 1u << 26;
    values[0].chunks.push_back(c);
    values[0].raw_len += c.raw_len;  // 4 GiB in all
  }
  OneObjectStore store;
  content::EncodeManifestObject(values, &store.manifest);
  store.pack = "SPPK\x01" + std::string(64, 'z');
  std::vector<content::ContentValue> out;
  auto list = [](std::string_view prefix, std::vector<std::string>* keys) {
    keys->assign({std::string(prefix) + "0"});
    return Status::OK();
  };
  Status s = content::ReadTraceContent(&store, list, "p", "0102", "", &out);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();

  // A chunk claiming more than the largest chunk size is refused by the manifest decoder itself.
  values[0].chunks.resize(1);
  values[0].chunks[0].raw_len = (1u << 26) + 1;
  values[0].raw_len = values[0].chunks[0].raw_len;
  std::string obj;
  content::EncodeManifestObject(values, &obj);
  std::vector<content::ValueManifest> back;
  EXPECT_TRUE(content::DecodeManifestObject(obj, &back).IsCorruption());
}

// A zstd frame header of a few bytes may declare 64 MiB of content: the declared size must match
// the manifest, and the frame must then really decompress to it, or the chunk is corrupt.
TEST(FuzzRegression, TinyFrameDeclaringLargeContentIsCorrupt) {
  std::string raw(1000, 'a');
  std::string frame(ZSTD_compressBound(raw.size()), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), raw.data(), raw.size(), 1));
  content::PackBuilder pb;
  uint64_t off = pb.Add(content::Sha256(raw), frame, 1000);
  OneObjectStore store;
  store.pack = pb.Finish();
  std::vector<content::ValueManifest> values(1);
  values[0].span_id = std::string(8, '\x01');
  values[0].key = "k";
  content::ChunkLocation c{content::Sha256(raw), "p", off, static_cast<uint32_t>(frame.size()),
                           1000};
  values[0].chunks = {c};
  values[0].raw_len = 1000;
  content::EncodeManifestObject(values, &store.manifest);
  auto list = [](std::string_view prefix, std::vector<std::string>* keys) {
    keys->assign({std::string(prefix) + "0"});
    return Status::OK();
  };
  std::vector<content::ContentValue> out;
  ASSERT_TRUE(content::ReadTraceContent(&store, list, "p", "0102", "", &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value, raw);
  // Truncate the frame: the header still declares 1000 bytes.
  values[0].chunks[0].stored_len = 12;
  store.manifest.clear();
  content::EncodeManifestObject(values, &store.manifest);
  EXPECT_TRUE(content::ReadTraceContent(&store, list, "p", "0102", "", &out).IsCorruption());
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
