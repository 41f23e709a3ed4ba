#include "topology/ingest_stage.h"

#include "operators/otlp_detect.h"

namespace spanpipe {

IngestStage::IngestStage(const Config& cfg, const PriceTable* prices)
    : encoding_(cfg.input.encoding), normalizer_(NormalizeOptions{cfg.project, prices}) {}

void IngestStage::Process(std::string_view payload, std::string_view header_project,
                          std::string_view source, DeadLetters* dlq,
                          const std::function<void(const SpanRecord&)>& on_span) {
  batch_.Clear();
  otlp::Encoding enc = encoding_ == "otlp_json"    ? otlp::Encoding::kJson
                       : encoding_ == "otlp_proto" ? otlp::Encoding::kProto
                                                   : otlp::DetectEncoding(payload);
  Status s;
  switch (enc) {
    case otlp::Encoding::kJson: s = json_.Decode(payload, &batch_); break;
    case otlp::Encoding::kProto: s = proto_.Decode(payload, &batch_); break;
    case otlp::Encoding::kUnknown:
      s = Status::InvalidArgument(payload.empty() ? "empty message"
                                                  : "neither OTLP/JSON nor OTLP/protobuf");
      break;
  }
  if (!s.ok()) {
    ++dead_letters_;
    dlq->DeadLetter(s.message(), source, payload);
    return;
  }
  spans_.clear();
  rejects_.clear();
  normalizer_.Normalize(&batch_, header_project, &spans_, &rejects_);
  for (const SpanReject& r : rejects_) {
    ++dead_letters_;
    dlq->DeadLetter(r.reason, source, payload);
  }
  for (const SpanRecord& span : spans_) {
    ++spans_in_;
    on_span(span);
  }
}

}  // namespace spanpipe
