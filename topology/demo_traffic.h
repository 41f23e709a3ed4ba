// DemoTraffic: a generator of realistic LLM traffic for `spanpipe demo` and the tests: several
// services, providers and models; conversations whose history grows turn by turn (re-sent each
// turn, with shared system prompts); errors; every attribute dialect of CONTRACT §3 (OTel GenAI,
// OpenLLMetry, OpenInference, Langfuse); a trace's spans split over messages with the root last;
// occasional duplicates and malformed messages. Deterministic for a seed.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "operators/otlp_model.h"

namespace spanpipe {

struct DemoMessage {
  std::string key;      // trace id hex (as a collector with partition_traces_by_id writes it)
  std::string payload;  // one ExportTraceServiceRequest
  std::string project;  // x-project-id header ("" = none)
  bool malformed = false;
};

struct DemoTrafficOptions {
  uint64_t seed = 42;
  bool protobuf = true;          // the collector's default encoding
  double duplicate_rate = 0.01;  // messages sent twice
  double malformed_rate = 0.002;
  double error_rate = 0.04;
  int conversations = 200;       // concurrent conversations (threads)
  int64_t start_unix_ms = 0;     // 0 = now
  int64_t turn_gap_ms = 4000;    // event time between turns of a conversation
};

class DemoTraffic {
 public:
  explicit DemoTraffic(DemoTrafficOptions opts);
  // Appends the messages of the next conversation turn (one trace, usually 2 messages).
  void NextTurn(std::vector<DemoMessage>* out);
  uint64_t traces() const { return traces_; }
  uint64_t spans() const { return spans_; }

 private:
  struct Conversation {
    std::string thread_id, user_id, service, project, system_prompt;
    int model_index = 0;
    int dialect = 0;
    std::vector<std::string> history;  // alternating user / assistant turns
    int64_t next_ms = 0;
  };
  Conversation NewConversation();
  std::string Encode(const otlp::Batch& batch);

  DemoTrafficOptions opts_;
  std::mt19937_64 rng_;
  std::vector<Conversation> conversations_;
  uint64_t traces_ = 0;
  uint64_t spans_ = 0;
  uint64_t next_id_ = 1;
};

// OTLP/JSON text of a batch (lowerCamelCase, ids hex, 64-bit integers as strings, as the spec's
// JSON mapping writes them).
std::string EncodeOtlpJson(const otlp::Batch& batch);

}  // namespace spanpipe
