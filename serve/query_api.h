// The query API's logic, independent of HTTP: parameters in, (status, JSON) out. Every answer is
// computed from the QueryStore's views of the published records (docs/query-api.md).
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "serve/query_store.h"

namespace spanpipe::serve {

struct ApiResult {
  int status = 200;
  nlohmann::json body;
};
using Params = std::multimap<std::string, std::string>;

ApiResult Error(int status, const std::string& message);

ApiResult GroupQuery(const QueryStore& store, const std::string& project, const Params& p, int64_t now_ms);
ApiResult ThreadSpans(const QueryStore& store, const std::string& project, const std::string& thread_id,
                      const Params& p);
ApiResult MetricsSeries(const QueryStore& store, const std::string& project, const Params& p, int64_t now_ms);
ApiResult MetricsSummary(const QueryStore& store, const std::string& project, const Params& p, int64_t now_ms);
ApiResult MetricsQuery(const QueryStore& store, const std::string& project, const nlohmann::json& body,
                       int64_t now_ms);
ApiResult TraceRecord(const QueryStore& store, const std::string& project, const std::string& trace_id);

}  // namespace spanpipe::serve
