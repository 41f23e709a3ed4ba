// Thread-group totals, the binary partial record between ThreadGroups and ThreadMerge, and the
// spanpipe.threads JSON (CONTRACT §4). Layouts in docs/thread-groups.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace spanpipe::threads {

struct ThreadTrace {
  uint64_t start_unix_nano = 0;  // the trace's first span start
  std::string trace_id_hex;
};

struct ThreadTotals {
  int64_t trace_count = 0;  // exact, even beyond the trace_ids cap
  int64_t span_count = 0;
  int64_t llm_calls = 0;
  int64_t errors = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  double cost_usd = 0;
  uint64_t first_seen_unix_nano = 0;  // min span start (valid when span_count > 0)
  uint64_t last_seen_unix_nano = 0;   // max span end
  std::vector<ThreadTrace> traces;    // oldest first by (start, id), capped
  std::vector<std::string> models;    // distinct, first-seen order, capped
  std::vector<std::string> user_ids;  // distinct, first-seen order, capped
};

struct ThreadLimits {
  size_t max_trace_ids = 100;
  size_t max_user_ids = 20;
  size_t max_models = 100;
};

// One partition's total for one thread. The version orders partials of the same
// (thread, partition): the newest wins in the merge.
struct ThreadPartial {
  int32_t partition = 0;
  uint64_t version = 0;
  std::string project;
  std::string thread_id;
  ThreadTotals totals;
};

// "project|thread_id": the output key of spanpipe.threads and of the partials stream.
std::string ThreadOutputKey(std::string_view project, std::string_view thread_id);

void EncodeThreadPartial(const ThreadPartial& p, std::string* out);
bool DecodeThreadPartial(std::string_view in, ThreadPartial* p);
// Only the version of an encoded partial (its header), without decoding the lists.
bool DecodeThreadPartialVersion(std::string_view in, uint64_t* version);

// Adds a trace to totals.traces keeping the oldest `cap` by (start, id); if the trace is already
// listed its start is lowered to `start` when earlier.
void AddThreadTrace(ThreadTotals* t, uint64_t start, std::string_view trace_id_hex, size_t cap);
// Appends s to a distinct, capped list.
void AddDistinct(std::vector<std::string>* list, std::string_view s, size_t cap);
// Merges other into into (sums, min/max, capped unions).
void MergeThreadTotals(const ThreadTotals& other, const ThreadLimits& limits, ThreadTotals* into);

// spanpipe.threads record.
void AppendThreadJson(std::string_view project, std::string_view thread_id, const ThreadTotals& t,
                      std::string* out);

}  // namespace spanpipe::threads
