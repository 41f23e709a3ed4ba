// Rollup windows: tumbling, UTC-aligned 1m/1h/1d windows by span start time, and the dimensions
// that name one rollup row (CONTRACT §4).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace spanpipe::rollup {

enum class Granularity : uint8_t { k1m = 0, k1h = 1, k1d = 2 };
inline constexpr Granularity kAllGranularities[] = {Granularity::k1m, Granularity::k1h,
                                                    Granularity::k1d};

int64_t GranularityMs(Granularity g);
std::string_view GranularityName(Granularity g);  // "1m" | "1h" | "1d"
bool ParseGranularity(std::string_view name, Granularity* g);
bool GranularityFromByte(uint8_t b, Granularity* g);

// Floors toward -infinity: 1969-12-31T23:59:30Z belongs to the minute starting 23:59:00.
int64_t WindowStartMs(Granularity g, int64_t event_ms);

// Model of the row that takes spans beyond a project's key limit (cardinality guard).
inline constexpr std::string_view kOverflowModel = "__overflow__";

struct RollupDims {
  std::string project, service, provider, model, operation, environment;
  bool operator==(const RollupDims&) const = default;
};

struct WindowId {
  Granularity granularity = Granularity::k1m;
  int64_t start_ms = 0;
  RollupDims dims;
  int64_t end_ms() const { return start_ms + GranularityMs(granularity); }
  bool operator==(const WindowId&) const = default;
};

// `project|granularity|window_start_ms|service|provider|model|operation|environment`.
std::string ContractKey(const WindowId& id);
// The same key into *out (replacing its content; the string's capacity is reused).
void ContractKeyTo(const WindowId& id, std::string* out);

// Binary (sortable by granularity, then start) encoding of a WindowId; used inside state keys.
void EncodeWindowId(const WindowId& id, std::string* out);
// The per-span path, without building a WindowId: a span's six dims encoded once (the tail of
// EncodeWindowId's bytes), then the bytes of each of its windows from them.
void EncodeWindowDims(std::string_view project, std::string_view service, std::string_view provider,
                      std::string_view model, std::string_view operation,
                      std::string_view environment, std::string* out);
void EncodeWindowIdWithDims(Granularity g, int64_t start_ms, std::string_view encoded_dims,
                            std::string* out);
bool DecodeWindowId(std::string_view* in, WindowId* id);

}  // namespace spanpipe::rollup
