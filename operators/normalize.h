// normalize: decoded OTLP spans → SpanRecords with the fields of CONTRACT §3.
// First matching attribute wins; span attributes before resource attributes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "operators/otlp_model.h"
#include "operators/price_table.h"
#include "operators/span_record.h"

namespace spanpipe {

struct NormalizeOptions {
  std::string default_project = "default";
  const PriceTable* prices = &PriceTable::Default();
};

// A span that could not be normalised: it is dead-lettered alone, the rest of its message goes on.
struct SpanReject {
  uint32_t span_index;  // in Batch::spans
  std::string reason;   // one line, names the span and the problem
};

class Normalizer {
 public:
  explicit Normalizer(NormalizeOptions options) : options_(std::move(options)) {}
  // header_project: the Kafka header x-project-id ("" if absent). Appends to out and rejects.
  // May add lower-cased or converted strings to batch->arena.
  void Normalize(otlp::Batch* batch, std::string_view header_project, std::vector<SpanRecord>* out,
                 std::vector<SpanReject>* rejects) const;

 private:
  NormalizeOptions options_;
};

// One-line description of a span for error messages: "span <span_id> of trace <trace_id>".
std::string DescribeSpan(const otlp::Span& span);

}  // namespace spanpipe
