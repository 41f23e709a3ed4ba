#include "common/status.h"

namespace spanpipe {

std::string Status::ToString() const {
  const char* name = "OK";
  switch (code_) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: name = "Invalid argument"; break;
    case Code::kNotFound: name = "Not found"; break;
    case Code::kCorruption: name = "Corruption"; break;
    case Code::kIOError: name = "IO error"; break;
    case Code::kUnavailable: name = "Unavailable"; break;
    case Code::kNotSupported: name = "Not supported"; break;
    case Code::kInternal: name = "Internal"; break;
  }
  return std::string(name) + ": " + msg_;
}

}  // namespace spanpipe
