// The decoded form of one OTLP ExportTraceServiceRequest, shared by the JSON and protobuf decoders.
//
// Zero-copy: every string_view points into the message buffer, the decoder's own buffers, or
// Batch::arena (for the few values that must be rewritten: base64 bytes, escaped JSON strings,
// lower-cased providers). A Batch is valid until the decoder that filled it decodes again.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace spanpipe::otlp {

enum class ValueKind : uint8_t { kEmpty, kString, kBool, kInt, kDouble, kBytes, kArray, kKvlist };

struct AnyValue {
  ValueKind kind = ValueKind::kEmpty;
  bool b = false;
  int64_t i = 0;
  double d = 0;
  std::string_view s;  // kString: UTF-8 text; kBytes: the raw bytes (JSON's base64 already decoded)
  // kArray / kKvlist: children are Batch::kvs[child_begin, child_begin + child_count); array items
  // have empty keys. Every list (attributes, array, kvlist) is contiguous in Batch::kvs.
  uint32_t child_begin = 0;
  uint32_t child_count = 0;
};

struct KeyValue {
  std::string_view key;
  AnyValue value;
};

struct Resource {
  uint32_t attr_begin = 0, attr_count = 0;  // in Batch::kvs
};

struct Event {
  std::string_view name;
  uint64_t time_unix_nano = 0;
  uint32_t attr_begin = 0, attr_count = 0;  // in Batch::kvs
};

struct Span {
  uint8_t trace_id[16] = {};
  uint8_t span_id[8] = {};
  uint8_t parent_span_id[8] = {};
  bool has_parent = false;
  std::string_view name;
  int32_t kind = 0;
  uint64_t start_unix_nano = 0;
  uint64_t end_unix_nano = 0;
  int32_t status_code = 0;  // 0 unset, 1 ok, 2 error
  std::string_view status_message;
  uint32_t attr_begin = 0, attr_count = 0;    // in Batch::kvs
  uint32_t event_begin = 0, event_count = 0;  // in Batch::events
  uint32_t resource = 0;                      // index in Batch::resources
  std::string_view scope_name;
  // Non-empty when the span is structurally invalid (trace id not 16 bytes or all zero, span id not
  // 8 bytes or all zero, end before start...). Points to a static string or into arena. Invalid
  // spans are dead-lettered one by one; the rest of the message goes on.
  std::string_view invalid;
};

struct Batch {
  std::vector<KeyValue> kvs;
  std::vector<Event> events;
  std::vector<Resource> resources;
  std::vector<Span> spans;
  std::deque<std::string> arena;  // deque: growth never moves earlier strings

  std::string_view Own(std::string s) {
    arena.push_back(std::move(s));
    return arena.back();
  }
  void Clear() {
    kvs.clear();
    events.clear();
    resources.clear();
    spans.clear();
    arena.clear();
  }
  // Attribute lookup by exact key in [begin, begin+count); nullptr if absent.
  const AnyValue* Find(uint32_t begin, uint32_t count, std::string_view key) const {
    for (uint32_t i = begin; i < begin + count; ++i)
      if (kvs[i].key == key) return &kvs[i].value;
    return nullptr;
  }
};

}  // namespace spanpipe::otlp
