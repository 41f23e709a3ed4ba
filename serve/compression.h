// gzip for HTTP answers (libdeflate: about twice zlib's speed at level 1, and smaller output).
// The server compresses JSON itself (fast level, once per cached answer): cpp-httplib would
// otherwise pick brotli at its slowest quality (11) for any browser, ~1.9 s for a 545 KB
// /api/v1/metrics answer.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace spanpipe::serve {

// True when an Accept-Encoding header value allows gzip (a "gzip" or "*" coding whose q is not 0).
bool AcceptsGzip(std::string_view accept_encoding);

// gzip-compresses `in` at `level` (1 = fastest .. 12) into *out. False on failure.
bool Gzip(std::string_view in, int level, std::string* out);

// Deflate in pieces, for answers assembled from cached parts (serve/bucket_cache.h): a segment is
// raw deflate data that starts and ends on a byte boundary, has no final block and refers to
// nothing outside itself, so that segments concatenate into one deflate stream.
// `in` compressed by zlib at `level` (1..9), ending with a sync flush.
bool DeflateSegment(std::string_view in, int level, std::string* out);
// `in` as stored (uncompressed) blocks, appended to *out: for the few bytes between parts.
void AppendStoredSegment(std::string_view in, std::string* out);
// A gzip stream of `plain` from segments whose contents, in order, are exactly `plain`.
void GzipFromSegments(const std::vector<std::string_view>& segments, std::string_view plain,
                      std::string* out);

}  // namespace spanpipe::serve
