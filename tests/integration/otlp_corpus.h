// A test corpus with a known answer, written by the test itself (not by spanpipe's generator), so
// expected values never come from the code under test. Each trace: a root plus LLM children, each
// with explicit tokens and cost; spans spread over several messages, shuffled, some sent twice.
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace spanpipe::testutil {

struct ExpectedTrace {
  std::string trace_id, project, thread_id, user_id, root_name;
  int64_t span_count = 0, llm_calls = 0, errors = 0, input_tokens = 0, output_tokens = 0;
  double cost_usd = 0;
  std::set<std::string> models;
};

// One LLM call as the test wrote it: what rollups and thread groups must count.
struct ExpectedLlmSpan {
  std::string project, service, provider, model, operation, thread_id, user_id, trace_id;
  int64_t start_ms = 0, duration_ms = 0, input_tokens = 0, output_tokens = 0;
  double cost_usd = 0;
  bool error = false;
};

struct CorpusMessage {
  std::string key, payload, project;
};

struct Corpus {
  std::vector<CorpusMessage> messages;
  std::map<std::string, ExpectedTrace> traces;  // by trace id hex
  std::vector<ExpectedLlmSpan> llm_spans;
  int64_t min_start_ms = INT64_MAX, max_end_ms = 0;  // over all spans
};

inline std::string Hex(uint64_t v, int bytes) {
  std::string s;
  char buf[3];
  for (int i = bytes - 1; i >= 0; --i) {
    std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>((v >> (8 * (i % 8))) & 0xff));
    s += buf;
  }
  return s;
}

// Traces start within [base_ms, base_ms + spread_ms).
inline Corpus MakeCorpus(int traces, uint64_t seed, int64_t base_ms, double duplicate_rate = 0.15,
                         int64_t spread_ms = 600000) {
  std::mt19937_64 rng(seed);
  Corpus c;
  const char* models[] = {"gpt-4o", "claude-3-5-sonnet", "gemini-1.5-flash"};
  const char* providers[] = {"openai", "anthropic", "google"};  // sent as gen_ai.system
  const char* projects[] = {"alpha", "beta"};
  std::vector<CorpusMessage> msgs;
  for (int t = 0; t < traces; ++t) {
    ExpectedTrace e;
    e.trace_id = Hex(rng() | 1, 8) + Hex(rng() | 1, 8);
    e.project = projects[t % 2];
    e.thread_id = "thread-" + std::to_string(t % 37);
    e.user_id = "user-" + std::to_string(t % 11);
    e.root_name = "handle-" + std::to_string(t);
    int children = 1 + static_cast<int>(rng() % 4);
    std::string root_id = Hex(rng() | 1, 8);
    int64_t start = base_ms + static_cast<int64_t>(rng() % static_cast<uint64_t>(spread_ms));
    std::vector<std::string> spans;
    auto span_json = [&](const std::string& id, const std::string& parent, const std::string& name,
                         const std::string& attrs, int64_t s_ms, int64_t dur_ms, bool error) {
      std::string j = "{\"traceId\":\"" + e.trace_id + "\",\"spanId\":\"" + id + "\",";
      if (!parent.empty()) j += "\"parentSpanId\":\"" + parent + "\",";
      j += "\"name\":\"" + name + "\",\"kind\":1,\"startTimeUnixNano\":\"" + std::to_string(s_ms * 1000000) +
           "\",\"endTimeUnixNano\":\"" + std::to_string((s_ms + dur_ms) * 1000000) + "\",\"attributes\":[" + attrs +
           "],\"status\":{\"code\":" + (error ? "2" : "0") + "}}";
      return j;
    };
    // The thread and user sit on the last child only: spans before it must be bound late.
    for (int k = 0; k < children; ++k) {
      int m = static_cast<int>(rng() % 3);
      std::string model = models[m];
      int64_t dur = 20 + static_cast<int64_t>(rng() % 3000);
      int64_t in = 10 + static_cast<int64_t>(rng() % 1000), out = static_cast<int64_t>(rng() % 300);
      double cost = static_cast<double>(in + out) / 1e6;  // exact in binary? close enough: summed the same way
      bool error = rng() % 10 == 0;
      std::string attrs = "{\"key\":\"gen_ai.request.model\",\"value\":{\"stringValue\":\"" + model +
                          "\"}},{\"key\":\"gen_ai.usage.input_tokens\",\"value\":{\"intValue\":\"" + std::to_string(in) +
                          "\"}},{\"key\":\"gen_ai.usage.output_tokens\",\"value\":{\"intValue\":" + std::to_string(out) +
                          "}},{\"key\":\"gen_ai.usage.cost\",\"value\":{\"doubleValue\":" + std::to_string(cost) +
                          "}},{\"key\":\"gen_ai.system\",\"value\":{\"stringValue\":\"" + providers[m] + "\"}}";
      cost = std::stod(std::to_string(cost));
      if (k == children - 1)
        attrs += ",{\"key\":\"gen_ai.conversation.id\",\"value\":{\"stringValue\":\"" + e.thread_id +
                 "\"}},{\"key\":\"user.id\",\"value\":{\"stringValue\":\"" + e.user_id + "\"}}";
      spans.push_back(span_json(Hex(rng() | 1, 8), root_id, "llm", attrs, start + 5 + k, dur, error));
      c.llm_spans.push_back({e.project, "svc", providers[m], model, "llm", e.thread_id, e.user_id, e.trace_id,
                             start + 5 + k, dur, in, out, cost, error});
      c.max_end_ms = std::max(c.max_end_ms, start + 5 + k + dur);
      e.span_count++;
      e.llm_calls++;
      e.errors += error;
      e.input_tokens += in;
      e.output_tokens += out;
      e.cost_usd += cost;
      e.models.insert(model);
    }
    spans.push_back(span_json(root_id, "", e.root_name, "", start, 500, false));
    c.min_start_ms = std::min(c.min_start_ms, start);
    c.max_end_ms = std::max(c.max_end_ms, start + 500);
    e.span_count++;
    // Spread the trace's spans over 1..3 messages.
    int parts = 1 + static_cast<int>(rng() % 3);
    std::vector<std::string> bodies(parts);
    for (size_t i = 0; i < spans.size(); ++i) {
      std::string& b = bodies[i % parts];
      b += (b.empty() ? "" : ",") + spans[i];
    }
    for (const auto& b : bodies) {
      if (b.empty()) continue;
      std::string payload =
          "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":"
          "\"svc\"}},{\"key\":\"spanpipe.project\",\"value\":{\"stringValue\":\"" +
          e.project + "\"}}]},\"scopeSpans\":[{\"spans\":[" + b + "]}]}]}";
      msgs.push_back({"", payload, ""});
      if (std::uniform_real_distribution<double>(0, 1)(rng) < duplicate_rate) msgs.push_back({"", payload, ""});
    }
    c.traces[e.trace_id] = e;
  }
  std::shuffle(msgs.begin(), msgs.end(), rng);
  c.messages = std::move(msgs);
  return c;
}

}  // namespace spanpipe::testutil
