// gzip for HTTP answers (libdeflate: about twice zlib's speed at level 1, and smaller output).
// The server compresses JSON itself (fast level, once per cached answer): cpp-httplib would
// otherwise pick brotli at its slowest quality (11) for any browser, ~1.9 s for a 545 KB
// /api/v1/metrics answer.
#pragma once

#include <string>
#include <string_view>

namespace spanpipe::serve {

// True when an Accept-Encoding header value allows gzip (a "gzip" or "*" coding whose q is not 0).
bool AcceptsGzip(std::string_view accept_encoding);

// gzip-compresses `in` at `level` (1 = fastest .. 12) into *out. False on failure.
bool Gzip(std::string_view in, int level, std::string* out);

}  // namespace spanpipe::serve
