// libFuzzer target: the OTLP/protobuf wire decoder, then the normaliser on what it decoded; the
// batch re-encoded must decode to the same spans (the decoder is stable under its own encoding).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "operators/otlp_proto_decoder.h"
#include "operators/otlp_proto_encoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spanpipe;
  static otlp::ProtoDecoder proto, proto2;
  static otlp::Batch batch, again;
  std::string_view msg(reinterpret_cast<const char*>(data), size);
  if (!proto.Decode(msg, &batch).ok()) {
    SPANPIPE_FUZZ_CHECK(batch.spans.empty());
    return 0;
  }
  fuzz::CheckBatch(batch);
  bool all_valid = true;
  for (const otlp::Span& s : batch.spans) all_valid = all_valid && s.invalid.empty();
  if (all_valid && !batch.spans.empty()) {
    std::string wire = otlp::EncodeProto(batch);
    SPANPIPE_FUZZ_CHECK(proto2.Decode(wire, &again).ok());
    SPANPIPE_FUZZ_CHECK(fuzz::SameSpans(batch, again));
  }
  fuzz::NormalizeAll(&batch, size % 2 ? "" : "hdr-project");
  return 0;
}
