// DeadLetters: where bad input goes (CONTRACT §2). Kafka: the original bytes with headers
// spanpipe.error / spanpipe.source; files: a JSON object {error, source, payload}.
#pragma once

#include <string_view>

namespace spanpipe {

class DeadLetters {
 public:
  virtual ~DeadLetters() = default;
  // reason: one line; source: "topic/partition/offset" or "path:line"; payload: the original message.
  virtual void DeadLetter(std::string_view reason, std::string_view source, std::string_view payload) = 0;
};

}  // namespace spanpipe
