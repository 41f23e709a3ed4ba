// Price table (CONTRACT §3): USD per million input/output tokens by model. Exact model match first,
// then the longest key that is a prefix of the model; no match costs 0.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace spanpipe {

struct ModelPrice {
  double input_per_mtok = 0;
  double output_per_mtok = 0;
};

class PriceTable {
 public:
  // The table that ships with spanpipe (operators/default_prices.cpp).
  static const PriceTable& Default();
  // JSON {"<model>": {"input_per_mtok": 2.5, "output_per_mtok": 10.0}, ...}; error names the bad entry.
  static Status Parse(std::string_view json, PriceTable* out);
  static Status Load(const std::string& path, PriceTable* out);

  // nullptr when no entry matches.
  const ModelPrice* Find(std::string_view model) const;
  double Cost(std::string_view model, int64_t input_tokens, int64_t output_tokens) const;
  size_t size() const { return prices_.size(); }

 private:
  std::map<std::string, ModelPrice, std::less<>> prices_;
};

}  // namespace spanpipe
