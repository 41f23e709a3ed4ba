#include "operators/rollup_partial.h"

#include "common/coding.h"

namespace spanpipe::rollup {

namespace {
constexpr char kPartialTag = 'P';
constexpr char kHeartbeatTag = 'H';
constexpr char kFormat = 1;
}  // namespace

void EncodePartialWithMetrics(int32_t source_partition, uint64_t version, int64_t watermark_ms,
                              const WindowId& id, std::string_view encoded_metrics,
                              std::string* out) {
  out->push_back(kPartialTag);
  out->push_back(kFormat);
  PutFixed32BE(out, static_cast<uint32_t>(source_partition));
  PutVarint64(out, version);
  PutOrderedInt64(out, watermark_ms);
  EncodeWindowId(id, out);
  out->append(encoded_metrics);
}

void EncodePartial(int32_t source_partition, uint64_t version, int64_t watermark_ms,
                   const WindowId& id, const RollupMetrics& metrics, std::string* out) {
  std::string m;
  metrics.EncodeTo(&m);
  EncodePartialWithMetrics(source_partition, version, watermark_ms, id, m, out);
}

void EncodeHeartbeat(int32_t source_partition, int64_t watermark_ms, std::string* out) {
  out->push_back(kHeartbeatTag);
  out->push_back(kFormat);
  PutFixed32BE(out, static_cast<uint32_t>(source_partition));
  PutOrderedInt64(out, watermark_ms);
}

std::string HeartbeatKey(int32_t source_partition) {
  return "__watermark__/" + std::to_string(source_partition);
}

Status DecodePartial(std::string_view in, RollupPartial* out, bool header_only) {
  if (in.size() < 2 || in[1] != kFormat || (in[0] != kPartialTag && in[0] != kHeartbeatTag))
    return Status::Corruption("rollup partial: unknown tag or format version");
  out->heartbeat = in[0] == kHeartbeatTag;
  in.remove_prefix(2);
  if (in.size() < 4) return Status::Corruption("rollup partial: truncated partition");
  out->source_partition = static_cast<int32_t>(DecodeFixed32BE(in.data()));
  in.remove_prefix(4);
  out->version = 0;
  if (!out->heartbeat && !GetVarint64(&in, &out->version))
    return Status::Corruption("rollup partial: truncated version");
  if (in.size() < 8) return Status::Corruption("rollup partial: truncated watermark");
  out->watermark_ms = DecodeOrderedInt64(in.data());
  in.remove_prefix(8);
  if (out->heartbeat) return Status::OK();
  if (!DecodeWindowId(&in, &out->id)) return Status::Corruption("rollup partial: bad window id");
  if (header_only) return Status::OK();
  if (!out->metrics.DecodeFrom(&in)) return Status::Corruption("rollup partial: bad metrics");
  return Status::OK();
}

bool DecodePartialVersion(std::string_view in, uint64_t* version) {
  if (in.size() < 6 || in[0] != kPartialTag || in[1] != kFormat) return false;
  in.remove_prefix(6);
  return GetVarint64(&in, version);
}

}  // namespace spanpipe::rollup
