#pragma once

#include "operators/price_table.h"
#include "topology/config.h"

namespace spanpipe {

// The price table in force: config `prices` (a file) replaces the shipped one.
inline Status LoadPrices(const Config& cfg, PriceTable* out) {
  if (cfg.prices.empty()) {
    *out = PriceTable::Default();
    return Status::OK();
  }
  Status s = PriceTable::Load(cfg.prices, out);
  if (!s.ok()) return Status::InvalidArgument("config key 'prices': " + s.message());
  return Status::OK();
}

}  // namespace spanpipe
