// span_codec: the binary form of a SpanRecord on the internal repartition stream
// (spanpipe-repartition). Stage 1 (decode + normalise) writes it keyed by trace id; the task that
// owns the trace reads it back without re-normalising. Format (version 1):
//   u8 version=1 | trace_id[16] | span_id[8] | parent[8] | u8 flags (1 has_parent, 2 error)
//   varint kind | fixed64 start | fixed64 end | varint status_code
//   lp name, status_message, project, service, model, provider, operation, thread_id, user_id, environment
//   varint input_tokens | varint output_tokens | double cost
//   attributes: varint n, n × (lp key, value) ; events: varint n, n × (lp name, fixed64 time, attributes)
//   value: u8 kind, then: string/bytes lp | bool u8 | int zigzag varint | double | array/kvlist attributes
// (lp = varint length + bytes; fixed-width numbers big-endian.)
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "operators/otlp_model.h"
#include "operators/span_record.h"

namespace spanpipe {

void EncodeSpanRecord(const SpanRecord& span, std::string* out);
// Views into `data` and into `batch` (which receives the attributes and events); both must outlive
// the record. Corruption on malformed input (never trusted: it crossed Kafka).
Status DecodeSpanRecord(std::string_view data, otlp::Batch* batch, SpanRecord* out);

}  // namespace spanpipe
