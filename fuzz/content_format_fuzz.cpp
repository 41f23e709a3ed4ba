// libFuzzer target: the content store's readers (docs/content-store.md). The first byte picks one:
//   0  manifest object (DecodeManifestObject; a decoded manifest must re-encode to the same values)
//   1  pack index (DecodePackIndex; every entry must lie inside the pack's chunk area)
//   2  project path segment and chunk reference (DecodeProjectSegment, DecodeChunkLocation)
//   3  ReadTraceContent over an in-memory store: varint n | manifest object (n bytes) | pack bytes
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/coding.h"
#include "fuzz/fuzz_util.h"
#include "operators/content_format.h"
#include "operators/content_reader.h"
#include "operators/pack_sink.h"

namespace {

using namespace spanpipe;

// One manifest object and one pack: every "packs/*" key reads the same pack, as a real store would
// (the range must lie inside the object).
class MemoryStore : public PackSink {
 public:
  std::string manifest_key, manifest, pack;
  Status Put(std::string_view, std::string_view) override {
    return Status::NotSupported("read only");
  }
  Status Get(std::string_view key, std::string* bytes) override {
    if (key != manifest_key) return Status::NotFound(std::string(key));
    *bytes = manifest;
    return Status::OK();
  }
  Status GetRange(std::string_view key, uint64_t offset, uint64_t length,
                  std::string* bytes) override {
    if (key.substr(0, 6) != "packs/") return Status::NotFound(std::string(key));
    if (offset > pack.size() || length > pack.size() - offset)
      return Status::Corruption("short object");
    bytes->assign(pack, offset, length);
    return Status::OK();
  }
};

bool SameManifests(const std::vector<content::ValueManifest>& a,
                   const std::vector<content::ValueManifest>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].span_id != b[i].span_id || a[i].key != b[i].key || a[i].raw_len != b[i].raw_len ||
        a[i].chunks.size() != b[i].chunks.size())
      return false;
    for (size_t c = 0; c < a[i].chunks.size(); ++c) {
      const auto &x = a[i].chunks[c], &y = b[i].chunks[c];
      if (x.hash != y.hash || x.pack_id != y.pack_id || x.offset != y.offset ||
          x.stored_len != y.stored_len || x.raw_len != y.raw_len)
        return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      std::vector<content::ValueManifest> values, again;
      if (!content::DecodeManifestObject(in, &values).ok()) return 0;
      for (const auto& v : values) {
        SPANPIPE_FUZZ_CHECK(v.span_id.size() == 8);
        uint64_t sum = 0;
        for (const auto& c : v.chunks) {
          SPANPIPE_FUZZ_CHECK(c.hash.size() == 32);
          sum += c.raw_len;
        }
        SPANPIPE_FUZZ_CHECK(sum == v.raw_len);
      }
      std::string enc;
      content::EncodeManifestObject(values, &enc);
      SPANPIPE_FUZZ_CHECK(content::DecodeManifestObject(enc, &again).ok());
      SPANPIPE_FUZZ_CHECK(SameManifests(values, again));
      break;
    }
    case 1: {
      std::vector<content::PackIndexEntry> index;
      if (!content::DecodePackIndex(in, &index).ok()) return 0;
      unsigned h = 0;
      for (const auto& e : index) {
        SPANPIPE_FUZZ_CHECK(e.hash.size() == 32);
        SPANPIPE_FUZZ_CHECK(e.offset >= 5 && e.offset <= in.size() &&
                            e.stored_len <= in.size() - e.offset);
        h += fuzz::Touch(in.substr(e.offset, e.stored_len));
      }
      (void)h;
      break;
    }
    case 2: {
      std::string project, back;
      if (content::DecodeProjectSegment(in, &project)) {
        SPANPIPE_FUZZ_CHECK(
            content::DecodeProjectSegment(content::EncodeProjectSegment(project), &back));
        SPANPIPE_FUZZ_CHECK(back == project);
      }
      std::string seg = content::EncodeProjectSegment(in);
      SPANPIPE_FUZZ_CHECK(seg.find('/') == std::string::npos && seg != "." && seg != ".." &&
                          !seg.empty());
      SPANPIPE_FUZZ_CHECK(content::DecodeProjectSegment(seg, &back) && back == in);
      std::string_view rest = in;
      content::ChunkLocation loc;
      if (content::DecodeChunkLocation(&rest, &loc)) {
        std::string enc;
        content::EncodeChunkLocation(loc, &enc);
        std::string_view e = enc;
        content::ChunkLocation again;
        SPANPIPE_FUZZ_CHECK(content::DecodeChunkLocation(&e, &again) && e.empty());
        SPANPIPE_FUZZ_CHECK(again.hash == loc.hash && again.pack_id == loc.pack_id &&
                            again.offset == loc.offset && again.stored_len == loc.stored_len &&
                            again.raw_len == loc.raw_len);
      }
      break;
    }
    case 3: {
      uint64_t n;
      if (!GetVarint64(&in, &n) || n > in.size()) return 0;
      static MemoryStore store;
      store.manifest_key = content::ManifestPrefix("p", "0102") + "0";
      store.manifest.assign(in.substr(0, n));
      store.pack.assign(in.substr(n));
      auto list = [](std::string_view prefix, std::vector<std::string>* keys) {
        keys->assign({std::string(prefix) + "0"});
        return Status::OK();
      };
      std::vector<content::ContentValue> values;
      Status s = content::ReadTraceContent(&store, list, "p", "0102", "", &values);
      if (s.ok()) {
        std::vector<content::ValueManifest> manifest;
        SPANPIPE_FUZZ_CHECK(content::DecodeManifestObject(store.manifest, &manifest).ok());
        SPANPIPE_FUZZ_CHECK(values.size() <= manifest.size());
      }
      break;
    }
  }
  return 0;
}
