#include "topology/serve_options.h"

namespace spanpipe {

serve::ServeOptions ServeOptionsFrom(const Config& cfg) {
  serve::ServeOptions so;
  so.listen = cfg.http.listen;
  so.open_on_loopback = cfg.http.open;
  so.jwt_hs256_secret = cfg.http.jwt_secret;
  for (const auto& k : cfg.http.api_keys) so.api_keys.push_back({k.key, k.projects, k.role});
  so.rate_limit_rps = static_cast<double>(cfg.http.rate_limit_per_second);
  so.rate_limit_burst = static_cast<double>(cfg.http.rate_limit_burst);
  so.bucket_cache_bytes = static_cast<size_t>(cfg.http.bucket_cache_mib) << 20;
  return so;
}

}  // namespace spanpipe
