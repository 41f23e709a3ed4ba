// span_json: the spanpipe.spans record (CONTRACT §4) of a resolved span, and the AnyValue → JSON
// rendering that the attributes object uses.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "operators/otlp_model.h"
#include "operators/resolve_outcome.h"
#include "operators/span_record.h"

namespace spanpipe {

// Renders an AnyValue: strings, numbers and bools as themselves, bytes as base64, arrays and
// kvlists as JSON arrays and objects.
void AppendAnyValueJson(const otlp::Batch& batch, const otlp::AnyValue& v, std::string* out);

// Writes the record. `is_content(key, value)` says which string attributes were moved to the
// content store; they are left out of `attributes`. `content_refs_json` is the already-rendered
// JSON array of refs ("[]" when none).
void AppendSpanJson(const SpanRecord& span, const ResolveOutcome& resolved,
                    const std::function<bool(std::string_view key, std::string_view value)>& is_content,
                    std::string_view content_refs_json, std::string* out);

}  // namespace spanpipe
