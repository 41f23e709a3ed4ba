#include "topology/reconstruct_command.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>

#include "common/hex.h"
#include "common/json_writer.h"
#include "connectors/object_store.h"
#include "operators/content_format.h"
#include "operators/content_reader.h"
#include "topology/config.h"
#include "topology/content_reader.h"

namespace spanpipe {
namespace {

struct ReconstructOptions {
  std::string store, trace, span, project, config;
  std::vector<std::string> sets;
  bool json = false;
};

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  return s;
}

int Run(const ReconstructOptions& o) {
  // s3:// endpoint, region, path style and credentials: config (--config, SPANPIPE_S3__*, --set),
  // else the AWS_* variables (OpenObjectStore). --store wins over content.store.
  Config cfg;
  Status s = LoadConfig(o.config, ProcessEnvironment(), &cfg);
  for (const auto& kv : o.sets) {
    if (!s.ok()) break;
    size_t eq = kv.find('=');
    s = eq == std::string::npos ? Status::InvalidArgument("--set '" + kv + "': expected key=value")
                                : SetConfigValue(&cfg, kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (!s.ok()) {
    std::cerr << "spanpipe: " << s.message() << "\n";
    return 2;
  }
  cfg.content.store = o.store;
  ObjectStoreOptions so = ObjectStoreOptionsFrom(cfg);
  std::unique_ptr<ObjectStore> store;
  s = OpenObjectStore(so, &store);
  if (!s.ok()) {
    std::cerr << "spanpipe: " << s.message() << "\n";
    return 2;
  }
  auto list = [&](std::string_view prefix, std::vector<std::string>* keys) {
    return store->List(prefix, keys);
  };
  std::string trace = Lower(o.trace), span = Lower(o.span);
  std::string ignored;
  if ((trace.size() != 32 && trace.size() != 16) || !HexDecode(trace, &ignored)) {
    std::cerr << "spanpipe: --trace must be a trace id in hex (32 characters)\n";
    return 2;
  }
  // A 64-bit id (16 hex characters) is the low half of a 128-bit one, as W3C trace context pads it.
  if (trace.size() == 16) trace = std::string(16, '0') + trace;
  if (!span.empty() && (span.size() != 16 || !HexDecode(span, &ignored))) {
    std::cerr << "spanpipe: --span must be a span id in hex (16 characters)\n";
    return 2;
  }
  // One lookup in the trace index finds the trace under every project; "default" is preferred
  // when --project is not given and the trace is there too.
  std::vector<content::ContentValue> all;
  std::string wanted_project = o.project;
  s = content::ReadTraceContent(store.get(), list, o.project.empty() ? nullptr : &wanted_project,
                                trace, span, &all);
  std::vector<std::vector<content::ContentValue>> results;
  if (s.ok()) {
    std::vector<content::ContentValue> defaults, others;
    for (auto& v : all) (v.project == "default" ? defaults : others).push_back(std::move(v));
    if (!defaults.empty() && o.project.empty()) others.clear();
    results.push_back(std::move(defaults));
    results.push_back(std::move(others));
  }
  if (!s.ok()) {
    std::cerr << "spanpipe: " << s.message() << "\n";
    return 1;
  }
  size_t count = 0;
  for (const auto& values : results) {
    for (const auto& v : values) {
      if (o.json) {
        std::string line;
        JsonWriter w(&line);
        w.BeginObject()
            .Field("trace_id", std::string_view(v.trace_id_hex))
            .Field("span_id", std::string_view(v.span_id_hex));
        w.Field("key", std::string_view(v.key))
            .Field("value", std::string_view(v.value))
            .EndObject();
        std::cout << line << "\n";
      } else {
        std::cout << "== " << v.span_id_hex << " " << v.key << " (" << v.value.size()
                  << " bytes)\n";
        std::cout.write(v.value.data(), static_cast<std::streamsize>(v.value.size()));
        std::cout << "\n";
      }
      ++count;
    }
  }
  if (count == 0) {
    std::cerr << "spanpipe: no stored content for trace " << trace
              << (span.empty() ? "" : " span " + span) << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

void RegisterReconstructCommand(CLI::App& app, int* exit_code) {
  static ReconstructOptions o;
  auto* cmd = app.add_subcommand("reconstruct",
                                 "Print every stored content value of a trace, byte for byte");
  cmd->add_option("--store", o.store, "file:///path or s3://bucket/prefix")->required();
  cmd->add_option("--trace", o.trace, "Trace id (32 hex characters)")->required();
  cmd->add_option("--span", o.span, "Only this span (16 hex characters)");
  cmd->add_option("--project", o.project,
                  "Project (default: \"default\", then every project that has the trace)");
  cmd->add_flag("--json", o.json, "One JSON object per value: {trace_id, span_id, key, value}");
  cmd->add_option("--config", o.config,
                  "Config file (YAML): s3.endpoint, s3.region, s3.path_style, s3.* credentials");
  cmd->add_option("--set", o.sets,
                  "Override a config key: --set s3.endpoint=http://127.0.0.1:9000");
  cmd->callback([exit_code] { *exit_code = Run(o); });
}

}  // namespace spanpipe
