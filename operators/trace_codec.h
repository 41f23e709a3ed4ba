// Byte layouts of the trace registry's state (docs/trace-resolution.md) and the spanpipe.traces
// JSON record. Pure encoding: no store access.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "operators/resolve_outcome.h"

namespace spanpipe::resolve {

// What the registry keeps per trace beyond the public aggregate.
struct TraceState {
  TraceAggregate agg;  // project / trace_id_hex / trace_uuid come from the key, not the value
  bool open = false;   // in the idle index, awaiting close
  bool has_root = false;
  int64_t last_update_ms = 0;  // idleness clock at the last change
  // Time in this trace's idle-index key while open: <= last_update_ms (the key moves lazily).
  int64_t idle_key_ms = 0;
  // De-duplication set, kept in the trace's own value so that a span costs no extra state write:
  // the first kInlineSpanIds span ids (raw 8 bytes each, as uint64 in host order). Later ids live
  // in the spans store, and spans_in_store says a lookup must also read it.
  std::vector<uint64_t> span_ids;
  bool spans_in_store = false;
};

// Span ids kept inline per trace; bounds a value's size (2 KiB of ids).
constexpr size_t kInlineSpanIds = 256;

// traces store: project '\0' trace_id[16].
void AppendTraceKey(std::string* out, std::string_view project, const uint8_t trace_id[16]);
// spans store: project '\0' trace_id[16] span_id[8].
void AppendSpanKey(std::string* out, std::string_view project, const uint8_t trace_id[16],
                   const uint8_t span_id[8]);
// idle store, format 2: one key per bucket of kIdleBucketMs, ordered_be64(bucket_ms), whose value
// lists the trace keys that entered the index in that bucket (varint length + key each), so a
// checkpoint writes one index key per 100 ms instead of one per trace. 100 ms, not a second:
// the bucket holding the cutoff is read again by every close scan until it is due (exact
// closes), so its size is what a close scan costs beyond the traces it closes.
constexpr int64_t kIdleBucketMs = 100;
int64_t IdleBucket(int64_t ms);  // floor to kIdleBucketMs (also before 1970)
void AppendIdleBucketKey(std::string* out, int64_t bucket_ms);
// idle store, close snapshots: ordered_be64(bucket_ms) 0xFF be64(seq), 17 bytes, sorted right
// after the bucket's own key. The value lists, in the order they were taken, the states of traces
// of that bucket as they left the registry's cache (varint length + trace key, varint length +
// EncodeTraceState payload; an empty payload says "read the store": the trace was loaded again
// since). The last record of a trace is its current state, so a close needs no point read.
void AppendIdleSnapshotPrefix(std::string* out, int64_t bucket_ms);
void AppendIdleSnapshotKey(std::string* out, int64_t bucket_ms, uint64_t seq);
bool ParseIdleSnapshotKey(std::string_view key, int64_t* bucket_ms);
// idle store, format 1 (still read): ordered_be64(last_update_ms) then the trace key.
void AppendIdleKey(std::string* out, int64_t last_update_ms, std::string_view trace_key);

// Splits a trace key; false if too short or missing the separator.
bool ParseTraceKey(std::string_view key, std::string_view* project, const uint8_t** trace_id);
// Format 1 idle key; false for anything else (a bucket key or the meta key).
bool ParseIdleKey(std::string_view key, int64_t* last_update_ms, std::string_view* trace_key);
// Format 2 bucket key; false for anything else.
bool ParseIdleBucketKey(std::string_view key, int64_t* bucket_ms);

// Value payload (inside state::WrapExpiring). First byte is a format version.
void EncodeTraceState(const TraceState& st, std::string* out);
bool DecodeTraceState(std::string_view in, TraceState* st);
// Appends the encoded state `in` with its open flag cleared: the closed trace's value, byte for
// byte what EncodeTraceState writes for it. False if `in` is not an encoded state.
bool AppendClosedTraceState(std::string_view in, std::string* out);
// The fields a close scan decides on, without decoding the rest.
bool PeekTraceState(std::string_view in, bool* open, int64_t* last_update_ms, int64_t* idle_key_ms);

// spanpipe.traces record (CONTRACT §4), appended to out.
void AppendTraceJson(const TraceAggregate& agg, std::string* out);

}  // namespace spanpipe::resolve
