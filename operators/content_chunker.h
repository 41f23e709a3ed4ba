// Content-defined chunking (FastCDC, Xia et al. 2016: gear rolling hash with normalised chunking):
// boundaries depend on local content, so an edit shifts only the chunks around it and the history
// a chat re-sends every turn dedups chunk for chunk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace spanpipe::content {

// FastCDC is what the store uses; the others exist to measure it against (bench/content_bench.cpp,
// docs/perf/content.md) and are not offered by the config.
enum class ChunkAlgorithm {
  kFastCdc,
  kFixed,    // cuts every avg_size bytes
  kNewline,  // cuts after every '\n' (lines longer than max_size are cut at max_size)
};

struct ChunkerOptions {
  size_t min_size = 2048;
  size_t avg_size = 8192;
  size_t max_size = 65536;
  ChunkAlgorithm algorithm = ChunkAlgorithm::kFastCdc;
};

// Appends the lengths of the chunks of data (they sum to data.size()).
void ChunkBoundaries(std::string_view data, const ChunkerOptions& options,
                     std::vector<size_t>* lengths);

}  // namespace spanpipe::content
