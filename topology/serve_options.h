// The query side's server options from the config (http.* keys).
#pragma once

#include "serve/http_server.h"
#include "topology/config.h"

namespace spanpipe {

serve::ServeOptions ServeOptionsFrom(const Config& cfg);

}  // namespace spanpipe
