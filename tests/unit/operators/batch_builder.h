// Test helper: builds otlp::Batch values by hand, so normaliser and codec tests do not depend on a
// decoder.
#pragma once

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "operators/otlp_model.h"

namespace spanpipe::testing {

struct Attr {
  std::string key;
  otlp::AnyValue value;
};

class BatchBuilder {
 public:
  static otlp::AnyValue Str(otlp::Batch* b, std::string s) {
    otlp::AnyValue v;
    v.kind = otlp::ValueKind::kString;
    v.s = b->Own(std::move(s));
    return v;
  }
  static otlp::AnyValue Int(int64_t i) {
    otlp::AnyValue v;
    v.kind = otlp::ValueKind::kInt;
    v.i = i;
    return v;
  }
  static otlp::AnyValue Dbl(double d) {
    otlp::AnyValue v;
    v.kind = otlp::ValueKind::kDouble;
    v.d = d;
    return v;
  }

  explicit BatchBuilder(otlp::Batch* b) : b_(b) {}

  // Appends a contiguous attribute list; returns its begin index.
  uint32_t List(const std::vector<std::pair<std::string, otlp::AnyValue>>& attrs) {
    uint32_t begin = static_cast<uint32_t>(b_->kvs.size());
    for (const auto& [k, v] : attrs) b_->kvs.push_back({b_->Own(k), v});
    return begin;
  }
  uint32_t Resource(const std::vector<std::pair<std::string, otlp::AnyValue>>& attrs) {
    uint32_t begin = List(attrs);
    b_->resources.push_back({begin, static_cast<uint32_t>(attrs.size())});
    return static_cast<uint32_t>(b_->resources.size() - 1);
  }
  otlp::Span& Span(uint32_t resource, uint8_t trace_byte, uint8_t span_byte,
                   const std::vector<std::pair<std::string, otlp::AnyValue>>& attrs) {
    otlp::Span s;
    std::memset(s.trace_id, trace_byte, 16);
    std::memset(s.span_id, span_byte, 8);
    s.name = "span";
    s.start_unix_nano = 1700000000000000000ull;
    s.end_unix_nano = s.start_unix_nano + 250000000ull;
    s.attr_begin = List(attrs);
    s.attr_count = static_cast<uint32_t>(attrs.size());
    s.resource = resource;
    b_->spans.push_back(s);
    return b_->spans.back();
  }

 private:
  otlp::Batch* b_;
};

}  // namespace spanpipe::testing
