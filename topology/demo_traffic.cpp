#include "topology/demo_traffic.h"

#include <chrono>
#include <cstring>

#include "common/hex.h"
#include "common/json_writer.h"
#include "operators/otlp_proto_encoder.h"

namespace spanpipe {
namespace {

struct ModelInfo {
  const char* provider;
  const char* model;
  int latency_ms;
};
const ModelInfo kModels[] = {
    {"openai", "gpt-4o", 1800},         {"openai", "gpt-4o-mini", 700},
    {"openai", "gpt-4.1", 2100},        {"anthropic", "claude-3-5-sonnet-20241022", 2400},
    {"anthropic", "claude-3-5-haiku", 900}, {"gcp.gemini", "gemini-1.5-flash", 600},
    {"mistral_ai", "mistral-large-2411", 1500}, {"openai", "o3-mini", 4200},
};
const char* kServices[] = {"chat-api", "support-bot", "rag-search", "code-assistant"};
const char* kProjects[] = {"", "", "acme", "globex"};  // "" = no header: the config's default project
const char* kEnvs[] = {"production", "production", "staging"};
const char* kSystemPrompts[] = {
    "You are a helpful customer support assistant for Acme Corp. Answer politely and concisely. "
    "Never reveal internal policies. If you do not know the answer, offer to escalate to a human agent. "
    "Always respond in the language of the user and keep answers under 200 words.",
    "You are an expert software engineer. Explain code clearly, prefer idiomatic solutions, point out "
    "bugs and security issues, and include short runnable examples when useful. Use Markdown.",
    "You answer questions using only the retrieved documents provided in the context. Cite the document "
    "ids in square brackets. If the documents do not contain the answer, say so explicitly.",
};
const char* kQuestions[] = {
    "How do I reset my password?", "Why was my card charged twice this month?",
    "Can you explain what a Kafka consumer group rebalance is?", "Write a function that merges two sorted lists.",
    "What is the refund policy for annual plans?", "Summarise the attached quarterly report in five bullets.",
    "Why does my RocksDB instance use so much memory?", "Translate 'good morning' into French and German.",
    "What are the opening hours of the Berlin office?", "Find the bug in this loop: for (i = 0; i <= n; i++)",
};
const char* kAnswerParts[] = {
    "Sure, here is what you can do. ", "First, open the settings page and select the account tab. ",
    "The short answer is that it depends on your configuration. ", "Here is an example implementation:\n```\n",
    "def merge(a, b):\n    out = []\n    while a and b:\n        out.append((a if a[0] < b[0] else b).pop(0))\n    return out + a + b\n```\n",
    "According to the documents [doc-12], the policy changed in March. ", "Let me know if that helps! ",
    "In short: the memtables and the block cache dominate, so give them one shared budget. ",
};

void SetId(uint8_t* dst, size_t n, uint64_t a, uint64_t b) {
  for (size_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>((i < 8 ? a >> (8 * i) : b >> (8 * (i - 8))) & 0xff);
  dst[0] |= 1;  // never all zero
}

}  // namespace

DemoTraffic::DemoTraffic(DemoTrafficOptions opts) : opts_(opts), rng_(opts.seed) {
  if (opts_.start_unix_ms == 0)
    opts_.start_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  for (int i = 0; i < opts_.conversations; ++i) conversations_.push_back(NewConversation());
}

DemoTraffic::Conversation DemoTraffic::NewConversation() {
  Conversation c;
  uint64_t n = next_id_++;
  c.thread_id = "thread-" + std::to_string(opts_.seed) + "-" + std::to_string(n);
  c.user_id = "user-" + std::to_string(rng_() % 97);
  c.service = kServices[rng_() % std::size(kServices)];
  c.project = kProjects[rng_() % std::size(kProjects)];
  c.system_prompt = kSystemPrompts[rng_() % std::size(kSystemPrompts)];
  c.model_index = static_cast<int>(rng_() % std::size(kModels));
  c.dialect = static_cast<int>(rng_() % 4);
  c.next_ms = opts_.start_unix_ms + static_cast<int64_t>(rng_() % 60000);
  return c;
}

void DemoTraffic::NextTurn(std::vector<DemoMessage>* out) {
  std::uniform_real_distribution<double> u(0, 1);
  size_t ci = rng_() % conversations_.size();
  Conversation& c = conversations_[ci];
  const ModelInfo& m = kModels[c.model_index];
  std::string question = kQuestions[rng_() % std::size(kQuestions)];
  std::string answer;
  for (int i = 0, n = 2 + static_cast<int>(rng_() % 5); i < n; ++i) answer += kAnswerParts[rng_() % std::size(kAnswerParts)];
  c.history.push_back(question);

  otlp::Batch llm_batch, root_batch;
  uint64_t tid_a = rng_(), tid_b = rng_();
  uint8_t trace_id[16];
  SetId(trace_id, 16, tid_a, tid_b);
  uint8_t root_id[8], llm_id[8];
  SetId(root_id, 8, rng_(), 0);
  SetId(llm_id, 8, rng_(), 0);
  int64_t start_ms = c.next_ms;
  int latency = m.latency_ms / 2 + static_cast<int>(rng_() % static_cast<uint64_t>(m.latency_ms));
  bool error = u(rng_) < opts_.error_rate;
  int64_t in_tokens = 0;
  for (const auto& h : c.history) in_tokens += static_cast<int64_t>(h.size() / 4);
  in_tokens += static_cast<int64_t>(c.system_prompt.size() / 4);
  int64_t out_tokens = error ? 0 : static_cast<int64_t>(answer.size() / 4);

  auto add_resource = [&](otlp::Batch& b) {
    uint32_t begin = static_cast<uint32_t>(b.kvs.size());
    auto str = [&](const char* k, std::string v) {
      otlp::AnyValue a;
      a.kind = otlp::ValueKind::kString;
      a.s = b.Own(std::move(v));
      b.kvs.push_back({k, a});
    };
    str("service.name", c.service);
    str("deployment.environment.name", kEnvs[std::hash<std::string>{}(c.thread_id) % std::size(kEnvs)]);
    str("telemetry.sdk.language", "python");
    b.resources.push_back({begin, 3});
  };

  // The LLM call, in the conversation's dialect.
  {
    otlp::Batch& b = llm_batch;
    add_resource(b);
    otlp::Span s;
    std::memcpy(s.trace_id, trace_id, 16);
    std::memcpy(s.span_id, llm_id, 8);
    std::memcpy(s.parent_span_id, root_id, 8);
    s.has_parent = true;
    s.kind = 3;
    s.start_unix_nano = static_cast<uint64_t>(start_ms + 15) * 1000000ull;
    s.end_unix_nano = s.start_unix_nano + static_cast<uint64_t>(latency) * 1000000ull;
    s.status_code = error ? 2 : 1;
    if (error) s.status_message = "429 Too Many Requests: rate limit exceeded";
    s.attr_begin = static_cast<uint32_t>(b.kvs.size());
    auto str = [&](std::string k, std::string v) {
      otlp::AnyValue a;
      a.kind = otlp::ValueKind::kString;
      a.s = b.Own(std::move(v));
      b.kvs.push_back({b.Own(std::move(k)), a});
    };
    auto num = [&](std::string k, int64_t v) {
      otlp::AnyValue a;
      a.kind = otlp::ValueKind::kInt;
      a.i = v;
      b.kvs.push_back({b.Own(std::move(k)), a});
    };
    std::string messages = "[{\"role\":\"system\",\"content\":";
    AppendJsonString(&messages, c.system_prompt);
    messages += "}";
    for (size_t i = 0; i < c.history.size(); ++i) {
      messages += i % 2 == 0 ? ",{\"role\":\"user\",\"content\":" : ",{\"role\":\"assistant\",\"content\":";
      AppendJsonString(&messages, c.history[i]);
      messages += "}";
    }
    messages += "]";
    std::string output = "[{\"role\":\"assistant\",\"content\":";
    AppendJsonString(&output, answer);
    output += "}]";
    switch (c.dialect) {
      case 0:  // OpenTelemetry GenAI semantic conventions
        s.name = b.Own("chat " + std::string(m.model));
        str("gen_ai.operation.name", "chat");
        str("gen_ai.provider.name", m.provider);
        str("gen_ai.request.model", m.model);
        str("gen_ai.response.model", m.model);
        num("gen_ai.usage.input_tokens", in_tokens);
        num("gen_ai.usage.output_tokens", out_tokens);
        str("gen_ai.conversation.id", c.thread_id);
        str("user.id", c.user_id);
        str("gen_ai.input.messages", messages);
        if (!error) str("gen_ai.output.messages", output);
        break;
      case 1:  // OpenLLMetry / Traceloop
        s.name = b.Own(std::string(m.provider) + ".chat");
        str("gen_ai.system", m.provider);
        str("gen_ai.request.model", m.model);
        num("gen_ai.usage.prompt_tokens", in_tokens);
        num("gen_ai.usage.completion_tokens", out_tokens);
        str("traceloop.association.properties.session_id", c.thread_id);
        str("traceloop.association.properties.user_id", c.user_id);
        str("gen_ai.prompt.0.role", "system");
        str("gen_ai.prompt.0.content", c.system_prompt);
        for (size_t i = 0; i < c.history.size(); ++i) {
          str("gen_ai.prompt." + std::to_string(i + 1) + ".role", i % 2 ? "assistant" : "user");
          str("gen_ai.prompt." + std::to_string(i + 1) + ".content", c.history[i]);
        }
        if (!error) str("gen_ai.completion.0.content", answer);
        break;
      case 2:  // OpenInference
        s.name = "ChatCompletion";
        str("openinference.span.kind", "LLM");
        str("llm.provider", m.provider);
        str("llm.model_name", m.model);
        num("llm.token_count.prompt", in_tokens);
        num("llm.token_count.completion", out_tokens);
        str("session.id", c.thread_id);
        str("user.id", c.user_id);
        str("input.value", messages);
        if (!error) str("output.value", answer);
        break;
      default:  // Langfuse
        s.name = "generation";
        str("langfuse.observation.model.name", m.model);
        str("gen_ai.system", m.provider);
        num("gen_ai.usage.input_tokens", in_tokens);
        num("gen_ai.usage.output_tokens", out_tokens);
        str("langfuse.session.id", c.thread_id);
        str("langfuse.user.id", c.user_id);
        str("langfuse.observation.input", messages);
        if (!error) str("langfuse.observation.output", answer);
        break;
    }
    if (error) str("error.type", "rate_limit_exceeded");
    s.attr_count = static_cast<uint32_t>(b.kvs.size()) - s.attr_begin;
    b.spans.push_back(s);
  }
  // The root (the service's request handler) arrives in a later message, as a batching exporter sends it.
  {
    otlp::Batch& b = root_batch;
    add_resource(b);
    otlp::Span s;
    std::memcpy(s.trace_id, trace_id, 16);
    std::memcpy(s.span_id, root_id, 8);
    s.kind = 2;
    s.name = "POST /v1/chat";
    s.start_unix_nano = static_cast<uint64_t>(start_ms) * 1000000ull;
    s.end_unix_nano = s.start_unix_nano + static_cast<uint64_t>(latency + 40) * 1000000ull;
    s.status_code = error ? 2 : 0;
    s.attr_begin = static_cast<uint32_t>(b.kvs.size());
    otlp::AnyValue route;
    route.kind = otlp::ValueKind::kString;
    route.s = "/v1/chat";
    b.kvs.push_back({"http.route", route});
    otlp::AnyValue status;
    status.kind = otlp::ValueKind::kInt;
    status.i = error ? 500 : 200;
    b.kvs.push_back({"http.response.status_code", status});
    s.attr_count = 2;
    b.spans.push_back(s);
  }
  std::string key = HexEncode({reinterpret_cast<const char*>(trace_id), 16});
  for (otlp::Batch* b : {&llm_batch, &root_batch}) {
    DemoMessage msg{key, Encode(*b), c.project, false};
    out->push_back(msg);
    if (u(rng_) < opts_.duplicate_rate) out->push_back(msg);
  }
  if (u(rng_) < opts_.malformed_rate) {
    DemoMessage bad{key, opts_.protobuf ? std::string("\x0a\xff\xff\xff", 4) : "{\"resourceSpans\": [", c.project, true};
    out->push_back(bad);
  }
  ++traces_;
  spans_ += 2;
  c.history.push_back(answer);
  c.next_ms += opts_.turn_gap_ms + static_cast<int64_t>(rng_() % 2000);
  if (c.history.size() > 16 || u(rng_) < 0.08) c = NewConversation();
}

std::string DemoTraffic::Encode(const otlp::Batch& batch) {
  return opts_.protobuf ? otlp::EncodeProto(batch) : EncodeOtlpJson(batch);
}

namespace {
void WriteJsonValue(const otlp::Batch& b, const otlp::AnyValue& v, JsonWriter& w);
void WriteJsonAttrs(const otlp::Batch& b, uint32_t begin, uint32_t count, JsonWriter& w) {
  w.BeginArray();
  for (uint32_t i = begin; i < begin + count; ++i) {
    w.BeginObject().Key("key").String(b.kvs[i].key).Key("value");
    WriteJsonValue(b, b.kvs[i].value, w);
    w.EndObject();
  }
  w.EndArray();
}
void WriteJsonValue(const otlp::Batch& b, const otlp::AnyValue& v, JsonWriter& w) {
  w.BeginObject();
  switch (v.kind) {
    case otlp::ValueKind::kEmpty: break;
    case otlp::ValueKind::kString: w.Key("stringValue").String(v.s); break;
    case otlp::ValueKind::kBool: w.Key("boolValue").Bool(v.b); break;
    case otlp::ValueKind::kInt: w.Key("intValue").String(std::to_string(v.i)); break;
    case otlp::ValueKind::kDouble: w.Key("doubleValue").Double(v.d); break;
    case otlp::ValueKind::kBytes: w.Key("bytesValue").String(Base64Encode(v.s)); break;
    case otlp::ValueKind::kArray:
      w.Key("arrayValue").BeginObject().Key("values").BeginArray();
      for (uint32_t i = v.child_begin; i < v.child_begin + v.child_count; ++i) WriteJsonValue(b, b.kvs[i].value, w);
      w.EndArray().EndObject();
      break;
    case otlp::ValueKind::kKvlist:
      w.Key("kvlistValue").BeginObject().Key("values");
      WriteJsonAttrs(b, v.child_begin, v.child_count, w);
      w.EndObject();
      break;
  }
  w.EndObject();
}
}  // namespace

std::string EncodeOtlpJson(const otlp::Batch& b) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("resourceSpans").BeginArray();
  for (uint32_t r = 0; r < b.resources.size(); ++r) {
    w.BeginObject().Key("resource").BeginObject().Key("attributes");
    WriteJsonAttrs(b, b.resources[r].attr_begin, b.resources[r].attr_count, w);
    w.EndObject().Key("scopeSpans").BeginArray().BeginObject();
    w.Key("scope").BeginObject().Field("name", "spanpipe.demo").EndObject();
    w.Key("spans").BeginArray();
    for (const otlp::Span& s : b.spans) {
      if (s.resource != r) continue;
      w.BeginObject();
      w.Field("traceId", HexEncode({reinterpret_cast<const char*>(s.trace_id), 16}));
      w.Field("spanId", HexEncode({reinterpret_cast<const char*>(s.span_id), 8}));
      if (s.has_parent) w.Field("parentSpanId", HexEncode({reinterpret_cast<const char*>(s.parent_span_id), 8}));
      w.Field("name", s.name).Field("kind", s.kind);
      w.Field("startTimeUnixNano", std::to_string(s.start_unix_nano));
      w.Field("endTimeUnixNano", std::to_string(s.end_unix_nano));
      w.Key("attributes");
      WriteJsonAttrs(b, s.attr_begin, s.attr_count, w);
      if (s.event_count) {
        w.Key("events").BeginArray();
        for (uint32_t e = s.event_begin; e < s.event_begin + s.event_count; ++e) {
          w.BeginObject().Field("name", b.events[e].name).Field("timeUnixNano", std::to_string(b.events[e].time_unix_nano));
          w.Key("attributes");
          WriteJsonAttrs(b, b.events[e].attr_begin, b.events[e].attr_count, w);
          w.EndObject();
        }
        w.EndArray();
      }
      w.Key("status").BeginObject().Field("code", s.status_code);
      if (!s.status_message.empty()) w.Field("message", s.status_message);
      w.EndObject();
      w.EndObject();
    }
    w.EndArray().EndObject().EndArray().EndObject();
  }
  w.EndArray().EndObject();
  return out;
}

}  // namespace spanpipe
