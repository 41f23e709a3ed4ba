// libFuzzer target: the OTLP/JSON decoder (simdjson On-Demand), then the normaliser on what it
// decoded; when every span is valid, the batch re-encoded as protobuf must decode to the same spans
// with the protobuf decoder (differential check of the two decoders).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "operators/otlp_json_decoder.h"
#include "operators/otlp_proto_decoder.h"
#include "operators/otlp_proto_encoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spanpipe;
  static otlp::JsonDecoder json;
  static otlp::ProtoDecoder proto;
  static otlp::Batch batch, again;
  std::string_view msg(reinterpret_cast<const char*>(data), size);
  if (!json.Decode(msg, &batch).ok()) {
    SPANPIPE_FUZZ_CHECK(batch.spans.empty());
    return 0;
  }
  fuzz::CheckBatch(batch);
  bool all_valid = true;
  for (const otlp::Span& s : batch.spans) all_valid = all_valid && s.invalid.empty();
  if (all_valid) {
    std::string wire = otlp::EncodeProto(batch);
    if (!batch.spans.empty()) {
      SPANPIPE_FUZZ_CHECK(proto.Decode(wire, &again).ok());
      SPANPIPE_FUZZ_CHECK(fuzz::SameSpans(batch, again));
    }
  }
  fuzz::NormalizeAll(&batch, size % 2 ? "" : "hdr-project");
  return 0;
}
