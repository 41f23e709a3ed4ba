#include "operators/price_table.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace spanpipe {

extern const char kDefaultPricesJson[];

const PriceTable& PriceTable::Default() {
  static const PriceTable table = [] {
    PriceTable t;
    Status s = Parse(kDefaultPricesJson, &t);
    if (!s.ok()) std::abort();  // the shipped table is tested; a broken one is a build defect
    return t;
  }();
  return table;
}

Status PriceTable::Parse(std::string_view json, PriceTable* out) {
  nlohmann::json doc = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Status::InvalidArgument("price table: not a JSON object");
  out->prices_.clear();
  for (auto& [model, entry] : doc.items()) {
    if (!entry.is_object()) return Status::InvalidArgument("price table: entry '" + model + "' is not an object");
    ModelPrice p;
    for (auto [name, field] : {std::pair{"input_per_mtok", &p.input_per_mtok},
                               std::pair{"output_per_mtok", &p.output_per_mtok}}) {
      auto it = entry.find(name);
      if (it == entry.end()) continue;
      if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < 0)
        return Status::InvalidArgument("price table: '" + model + "." + name +
                                       "' must be a non-negative number");
      *field = it->get<double>();
    }
    out->prices_.emplace(model, p);
  }
  return Status::OK();
}

Status PriceTable::Load(const std::string& path, PriceTable* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("prices: cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  Status s = Parse(ss.str(), out);
  if (!s.ok()) return Status::InvalidArgument(path + ": " + s.message());
  return Status::OK();
}

const ModelPrice* PriceTable::Find(std::string_view model) const {
  if (model.empty()) return nullptr;
  auto exact = prices_.find(model);
  if (exact != prices_.end()) return &exact->second;
  // Longest prefix: walk candidate prefixes from longest to shortest; map lookups stay O(len log n).
  for (size_t len = model.size() - 1; len > 0; --len) {
    auto it = prices_.find(model.substr(0, len));
    if (it != prices_.end()) return &it->second;
  }
  return nullptr;
}

double PriceTable::Cost(std::string_view model, int64_t input_tokens, int64_t output_tokens) const {
  const ModelPrice* p = Find(model);
  if (!p) return 0;
  return (static_cast<double>(input_tokens) * p->input_per_mtok +
          static_cast<double>(output_tokens) * p->output_per_mtok) /
         1e6;
}

}  // namespace spanpipe
