// What `resolve` (the trace registry) tells the operators downstream of it about one span.
// Rollups and thread groups use the binding flags for late binding (CONTRACT §3): the first
// thread / user id seen on any span of a trace applies to all of its spans, earlier ones too.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace spanpipe {

// Per-trace aggregate kept by the registry (CONTRACT §4 spanpipe.traces).
struct TraceAggregate {
  std::string project;
  std::string trace_id_hex;
  std::string trace_uuid;
  std::string service;
  std::string name;  // root span's name; "" until the root arrives
  std::string thread_id;
  std::string user_id;
  std::string environment;
  uint64_t start_unix_nano = 0;  // min span start
  uint64_t end_unix_nano = 0;    // max span end
  int64_t span_count = 0;
  int64_t llm_calls = 0;
  int64_t errors = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  double cost_usd = 0;
  std::vector<std::string> models;  // distinct, first-seen order
};

struct ResolveOutcome {
  bool duplicate = false;   // seen before (same project, trace id, span id): change nothing anywhere
  std::string trace_uuid;   // stable name-based UUID of (project, trace id)
  std::string thread_id;    // the trace's bound thread after this span ("" if none yet)
  std::string user_id;      // the trace's bound user after this span ("" if none yet)
  bool thread_bound_now = false;  // this span carried the trace's first thread id
  bool user_bound_now = false;    // this span carried the trace's first user id
  const TraceAggregate* trace = nullptr;  // the trace after applying this span; valid until next Apply
};

}  // namespace spanpipe
