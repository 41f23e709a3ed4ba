#include "operators/content_reader.h"

#include <zstd.h>

#include <set>

#include "common/hex.h"
#include "operators/content_format.h"

namespace spanpipe::content {

Status ReadTraceContent(PackSink* store, const ListFn& list, std::string_view project,
                        std::string_view trace_id_hex, std::string_view span_id_hex,
                        std::vector<ContentValue>* out) {
  out->clear();
  std::vector<std::string> keys;
  std::string prefix = ManifestPrefix(project, trace_id_hex);
  SPANPIPE_RETURN_IF_ERROR(list(prefix, &keys));
  std::set<std::pair<std::string, std::string>> seen;  // a replay may have written a value twice
  std::string obj, frame, raw;
  for (const auto& key : keys) {
    SPANPIPE_RETURN_IF_ERROR(store->Get(key, &obj));
    std::vector<ValueManifest> values;
    Status s = DecodeManifestObject(obj, &values);
    if (!s.ok()) return Status::Corruption(key + ": " + s.message());
    for (const auto& v : values) {
      std::string span_hex = HexEncode(v.span_id);
      if (!span_id_hex.empty() && span_hex != span_id_hex) continue;
      if (!seen.insert({span_hex, v.key}).second) continue;
      ContentValue cv{std::string(trace_id_hex), span_hex, v.key, {}};
      cv.value.reserve(v.raw_len);
      for (const auto& c : v.chunks) {
        std::string pack_key = "packs/" + c.pack_id;
        Status gs = store->GetRange(pack_key, c.offset, c.stored_len, &frame);
        if (!gs.ok())
          return Status::Corruption("chunk " + HexEncode(c.hash) + " in " + pack_key +
                                    " cannot be read: " + gs.message());
        // The frame declares its size: check it before allocating what a hostile manifest claims.
        if (ZSTD_getFrameContentSize(frame.data(), frame.size()) != c.raw_len)
          return Status::Corruption("chunk " + HexEncode(c.hash) + " in " + pack_key +
                                    " is corrupt (bad frame)");
        raw.resize(c.raw_len);
        size_t n = ZSTD_decompress(raw.data(), raw.size(), frame.data(), frame.size());
        if (ZSTD_isError(n) || n != c.raw_len || Sha256(raw) != c.hash)
          return Status::Corruption("chunk " + HexEncode(c.hash) + " in " + pack_key +
                                    " is corrupt (hash mismatch)");
        cv.value.append(raw);
      }
      out->push_back(std::move(cv));
    }
  }
  return Status::OK();
}

}  // namespace spanpipe::content
