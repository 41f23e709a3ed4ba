// IngestStage (stage 1): one input message → decode (JSON or protobuf, detected per message) →
// normalise → valid SpanRecords to the caller; an undecodable message or an invalid span is
// dead-lettered, never dropped and never fatal.
#pragma once

#include <functional>
#include <string_view>
#include <vector>

#include "operators/normalize.h"
#include "operators/otlp_json_decoder.h"
#include "operators/otlp_proto_decoder.h"
#include "topology/config.h"
#include "topology/dead_letters.h"

namespace spanpipe {

class IngestStage {
 public:
  IngestStage(const Config& cfg, const PriceTable* prices);
  // on_span sees SpanRecords valid until the next Process call.
  void Process(std::string_view payload, std::string_view header_project, std::string_view source,
               DeadLetters* dlq, const std::function<void(const SpanRecord&)>& on_span);

  uint64_t spans_in() const { return spans_in_; }
  uint64_t dead_letters() const { return dead_letters_; }

 private:
  std::string encoding_;
  otlp::JsonDecoder json_;
  otlp::ProtoDecoder proto_;
  otlp::Batch batch_;
  Normalizer normalizer_;
  std::vector<SpanRecord> spans_;
  std::vector<SpanReject> rejects_;
  uint64_t spans_in_ = 0;
  uint64_t dead_letters_ = 0;
};

}  // namespace spanpipe
