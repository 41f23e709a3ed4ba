// The spanpipe.rollups JSON value (CONTRACT §4) of one merged row.
#pragma once

#include <string>

#include "operators/rollup_metrics.h"
#include "operators/rollup_window.h"

namespace spanpipe::rollup {

void AppendRollupJson(const WindowId& id, const RollupMetrics& m, bool final, std::string* out);

}  // namespace spanpipe::rollup
