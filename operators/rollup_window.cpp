#include "operators/rollup_window.h"

#include <charconv>
#include <cstring>
#include <iterator>

#include "common/coding.h"
#include "common/time_format.h"

namespace spanpipe::rollup {

int64_t GranularityMs(Granularity g) {
  switch (g) {
    case Granularity::k1m:
      return 60'000;
    case Granularity::k1h:
      return 3'600'000;
    case Granularity::k1d:
      return 86'400'000;  // unix time has no leap seconds: every UTC day is this long
  }
  return 60'000;
}

std::string_view GranularityName(Granularity g) {
  switch (g) {
    case Granularity::k1m:
      return "1m";
    case Granularity::k1h:
      return "1h";
    case Granularity::k1d:
      return "1d";
  }
  return "1m";
}

bool ParseGranularity(std::string_view name, Granularity* g) {
  for (Granularity c : kAllGranularities) {
    if (GranularityName(c) == name) {
      *g = c;
      return true;
    }
  }
  return false;
}

bool GranularityFromByte(uint8_t b, Granularity* g) {
  if (b > 2) return false;
  *g = static_cast<Granularity>(b);
  return true;
}

int64_t WindowStartMs(Granularity g, int64_t event_ms) {
  const int64_t len = GranularityMs(g);
  return FloorDiv(event_ms, len) * len;
}

// Both keys below are built once per row emitted and per span (three granularities): sized
// first, then written in place, instead of a dozen appends each checking capacity.
void ContractKeyTo(const WindowId& id, std::string* out) {
  const RollupDims& d = id.dims;
  char start[24];
  const size_t start_len =
      static_cast<size_t>(std::to_chars(start, start + sizeof(start), id.start_ms).ptr - start);
  const std::string_view parts[] = {d.project,          GranularityName(id.granularity),
                                    {start, start_len}, d.service,
                                    d.provider,         d.model,
                                    d.operation,        d.environment};
  size_t n = std::size(parts) - 1;  // the separators
  for (std::string_view s : parts) n += s.size();
  out->assign(n, '|');
  char* p = out->data();
  for (std::string_view s : parts) {
    p = EncodeBytesTo(p, s) + 1;  // past the separator already in place
  }
}

std::string ContractKey(const WindowId& id) {
  std::string k;
  ContractKeyTo(id, &k);
  return k;
}

void EncodeWindowDims(std::string_view project, std::string_view service, std::string_view provider,
                      std::string_view model, std::string_view operation,
                      std::string_view environment, std::string* out) {
  const std::string_view parts[] = {project, service, provider, model, operation, environment};
  size_t n = 0;
  for (std::string_view s : parts) n += VarintLength(s.size()) + s.size();
  const size_t at = out->size();
  out->resize(at + n);
  char* p = out->data() + at;
  for (std::string_view s : parts) {
    p = EncodeVarint64To(p, s.size());
    p = EncodeBytesTo(p, s);
  }
}

void EncodeWindowIdWithDims(Granularity g, int64_t start_ms, std::string_view encoded_dims,
                            std::string* out) {
  const size_t at = out->size();
  out->resize(at + 9 + encoded_dims.size());
  char* p = out->data() + at;
  *p++ = static_cast<char>(g);
  p = EncodeFixed64BETo(p, static_cast<uint64_t>(start_ms) ^ (uint64_t{1} << 63));  // ordered
  EncodeBytesTo(p, encoded_dims);
}

void EncodeWindowId(const WindowId& id, std::string* out) {
  const RollupDims& d = id.dims;
  out->push_back(static_cast<char>(id.granularity));
  PutOrderedInt64(out, id.start_ms);
  EncodeWindowDims(d.project, d.service, d.provider, d.model, d.operation, d.environment, out);
}

bool DecodeWindowId(std::string_view* in, WindowId* id) {
  if (in->size() < 9) return false;
  if (!GranularityFromByte(static_cast<uint8_t>((*in)[0]), &id->granularity)) return false;
  id->start_ms = DecodeOrderedInt64(in->data() + 1);
  in->remove_prefix(9);
  std::string_view parts[6];
  for (auto& p : parts)
    if (!GetLengthPrefixed(in, &p)) return false;
  RollupDims& d = id->dims;
  d.project.assign(parts[0]);
  d.service.assign(parts[1]);
  d.provider.assign(parts[2]);
  d.model.assign(parts[3]);
  d.operation.assign(parts[4]);
  d.environment.assign(parts[5]);
  return true;
}

}  // namespace spanpipe::rollup
