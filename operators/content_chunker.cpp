#include "operators/content_chunker.h"

#include <algorithm>
#include <array>
#include <bit>

namespace spanpipe::content {
namespace {

// 256 pseudo-random 64-bit values (SplitMix64 from a fixed seed): fixed forever, since chunk
// boundaries, and so dedup across versions, depend on them.
constexpr std::array<uint64_t, 256> MakeGear() {
  std::array<uint64_t, 256> g{};
  uint64_t x = 0x5350414e50495045ull;  // "SPANPIPE"
  for (auto& v : g) {
    x += 0x9e3779b97f4a7c15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    v = z ^ (z >> 31);
  }
  return g;
}
constexpr std::array<uint64_t, 256> kGear = MakeGear();

// Normalised chunking: a harder mask before the average size, an easier one after it, which
// narrows the chunk size distribution around the average.
uint64_t Mask(int bits) {
  return bits <= 0 ? 0 : (~uint64_t{0}) << (64 - bits);
}

}  // namespace

void ChunkBoundaries(std::string_view data, const ChunkerOptions& o, std::vector<size_t>* lengths) {
  if (o.algorithm == ChunkAlgorithm::kFixed) {
    const size_t step = o.avg_size > 0 ? o.avg_size : 1;
    for (size_t pos = 0; pos < data.size(); pos += step)
      lengths->push_back(std::min(step, data.size() - pos));
    return;
  }
  if (o.algorithm == ChunkAlgorithm::kNewline) {
    const size_t max = o.max_size > 0 ? o.max_size : 1;
    size_t pos = 0;
    while (pos < data.size()) {
      size_t nl = data.find('\n', pos);
      size_t end = nl == std::string_view::npos ? data.size() : nl + 1;
      lengths->push_back(std::min(end - pos, max));
      pos += lengths->back();
    }
    return;
  }
  const size_t min = o.min_size, max = o.max_size;
  const int bits = std::bit_width(o.avg_size) - 1;
  const uint64_t mask_small = Mask(bits + 2), mask_large = Mask(bits - 2);
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t pos = 0, n = data.size();
  while (pos < n) {
    size_t remaining = n - pos;
    if (remaining <= min) {
      lengths->push_back(remaining);
      break;
    }
    size_t limit = remaining < max ? remaining : max;
    size_t normal = o.avg_size < limit ? o.avg_size : limit;
    uint64_t h = 0;
    size_t i = min;
    size_t cut = limit;
    for (; i < normal; ++i) {
      h = (h << 1) + kGear[p[pos + i]];
      if (!(h & mask_small)) {
        cut = i + 1;
        goto found;
      }
    }
    for (; i < limit; ++i) {
      h = (h << 1) + kGear[p[pos + i]];
      if (!(h & mask_large)) {
        cut = i + 1;
        goto found;
      }
    }
  found:
    lengths->push_back(cut);
    pos += cut;
  }
}

}  // namespace spanpipe::content
