// SpanRecord: one normalised span (CONTRACT §3), the unit that flows from `normalize` onwards.
// Views only: it borrows from an otlp::Batch (after decode) or from a repartition record (after
// span_codec decode); the owner outlives the record's use within one batch.
#pragma once

#include <cstdint>
#include <string_view>

#include "operators/otlp_model.h"

namespace spanpipe {

struct SpanRecord {
  uint8_t trace_id[16] = {};
  uint8_t span_id[8] = {};
  uint8_t parent_span_id[8] = {};
  bool has_parent = false;
  std::string_view name;
  int32_t kind = 0;
  uint64_t start_unix_nano = 0;
  uint64_t end_unix_nano = 0;
  int32_t status_code = 0;
  std::string_view status_message;
  bool error = false;

  // Normalised fields; "" when absent.
  std::string_view project;
  std::string_view service;
  std::string_view model;
  std::string_view provider;  // lower-cased
  std::string_view operation;
  std::string_view thread_id;
  std::string_view user_id;
  std::string_view environment;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  double cost_usd = 0;

  // The span's own attributes and events (including content values), in `batch`.
  const otlp::Batch* batch = nullptr;
  uint32_t attr_begin = 0, attr_count = 0;
  uint32_t event_begin = 0, event_count = 0;

  bool is_llm_call() const { return !model.empty(); }
  int64_t duration_ns() const {
    return end_unix_nano >= start_unix_nano ? static_cast<int64_t>(end_unix_nano - start_unix_nano) : 0;
  }
  double duration_ms() const { return static_cast<double>(duration_ns()) / 1e6; }
  int64_t start_ms() const { return static_cast<int64_t>(start_unix_nano / 1000000); }
  int64_t end_ms() const { return static_cast<int64_t>(end_unix_nano / 1000000); }
  std::string_view trace_id_bytes() const {
    return {reinterpret_cast<const char*>(trace_id), 16};
  }
  std::string_view span_id_bytes() const { return {reinterpret_cast<const char*>(span_id), 8}; }
};

}  // namespace spanpipe
