#include "operators/rollup_window.h"

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

std::string ContractKey(const WindowId& id) {
  const RollupDims& d = id.dims;
  std::string k;
  k.reserve(d.project.size() + d.service.size() + d.provider.size() + d.model.size() +
            d.operation.size() + d.environment.size() + 32);
  k.append(d.project).push_back('|');
  k.append(GranularityName(id.granularity)).push_back('|');
  k.append(std::to_string(id.start_ms)).push_back('|');
  k.append(d.service).push_back('|');
  k.append(d.provider).push_back('|');
  k.append(d.model).push_back('|');
  k.append(d.operation).push_back('|');
  k.append(d.environment);
  return k;
}

void EncodeWindowIdParts(Granularity g, int64_t start_ms, std::string_view project,
                         std::string_view service, std::string_view provider,
                         std::string_view model, std::string_view operation,
                         std::string_view environment, std::string* out) {
  out->push_back(static_cast<char>(g));
  PutOrderedInt64(out, start_ms);
  PutLengthPrefixed(out, project);
  PutLengthPrefixed(out, service);
  PutLengthPrefixed(out, provider);
  PutLengthPrefixed(out, model);
  PutLengthPrefixed(out, operation);
  PutLengthPrefixed(out, environment);
}

void EncodeWindowId(const WindowId& id, std::string* out) {
  const RollupDims& d = id.dims;
  EncodeWindowIdParts(id.granularity, id.start_ms, d.project, d.service, d.provider, d.model,
                      d.operation, d.environment, out);
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
