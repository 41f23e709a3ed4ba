#include "topology/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>

extern char** environ;

namespace spanpipe {
namespace {

using Setter = std::function<Status(Config&, const std::string& key, const std::string& value)>;

struct Entry {
  ConfigKey doc;
  Setter set;
};

Status ParseInt(const std::string& key, const std::string& v, int64_t min, int64_t max, int64_t* out) {
  int64_t x = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), x);
  if (r.ec != std::errc() || r.ptr != v.data() + v.size())
    return Status::InvalidArgument("config key '" + key + "': '" + v + "' is not an integer");
  if (x < min || x > max)
    return Status::InvalidArgument("config key '" + key + "': " + v + " is out of range [" +
                                   std::to_string(min) + ", " + std::to_string(max) + "]");
  *out = x;
  return Status::OK();
}

Status ParseBool(const std::string& key, const std::string& v, bool* out) {
  std::string l = v;
  std::transform(l.begin(), l.end(), l.begin(), ::tolower);
  if (l == "true" || l == "1" || l == "yes" || l == "on") *out = true;
  else if (l == "false" || l == "0" || l == "no" || l == "off") *out = false;
  else return Status::InvalidArgument("config key '" + key + "': '" + v + "' is not a boolean");
  return Status::OK();
}


template <typename F>
Entry StrKey(std::string name, std::string meaning, F field, std::vector<std::string> allowed = {}) {
  Config d;
  std::string def = field(d);
  return Entry{{name, "string", def, meaning}, [field, allowed](Config& c, const std::string& key,
                                                                const std::string& v) {
                 if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
                   std::string list;
                   for (auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
                   return Status::InvalidArgument("config key '" + key + "': '" + v +
                                                  "' is not one of " + list);
                 }
                 field(c) = v;
                 return Status::OK();
               }};
}

template <typename F>
Entry IntKey(std::string name, std::string meaning, F field, int64_t min, int64_t max) {
  Config d;
  return Entry{{name, "int", std::to_string(field(d)), meaning},
               [field, min, max](Config& c, const std::string& key, const std::string& v) {
                 return ParseInt(key, v, min, max, &field(c));
               }};
}

template <typename F>
Entry BoolKey(std::string name, std::string meaning, F field) {
  Config d;
  return Entry{{name, "bool", field(d) ? "true" : "false", meaning},
               [field](Config& c, const std::string& key, const std::string& v) {
                 return ParseBool(key, v, &field(c));
               }};
}

#define FIELD(expr) [](Config& c) -> auto& { return c.expr; }

const std::vector<Entry>& Registry() {
  static const std::vector<Entry> entries = {
      StrKey("project", "Project of spans that carry neither an x-project-id header nor a spanpipe.project resource attribute.", FIELD(project)),
      StrKey("input.topic", "Kafka topic the collectors write OTLP spans to.", FIELD(input.topic)),
      StrKey("input.encoding", "Message encoding: auto (detected per message), otlp_json or otlp_proto.", FIELD(input.encoding), {"auto", "otlp_json", "otlp_proto"}),
      BoolKey("input.keyed_by_trace", "The input is keyed by trace id (collector partition_traces_by_id: true): skip the repartition topic.", FIELD(input.keyed_by_trace)),
      StrKey("kafka.brokers", "Bootstrap servers, comma-separated.", FIELD(kafka.brokers)),
      StrKey("kafka.group_id", "Consumer group id of the job.", FIELD(kafka.group_id)),
      IntKey("kafka.partitions", "Partitions of the internal and output topics spanpipe creates when missing.", FIELD(kafka.partitions), 1, 10000),
      Entry{{"kafka.consumer", "map", "{}", "librdkafka consumer properties passed through verbatim (e.g. security.protocol, sasl.*)."}, nullptr},
      Entry{{"kafka.producer", "map", "{}", "librdkafka producer properties passed through verbatim."}, nullptr},
      StrKey("state.path", "Directory of the job's RocksDB state.", FIELD(state.path)),
      IntKey("state.memory_mib", "RocksDB memory budget (block cache; memtables are charged to it).", FIELD(state.memory_mib), 16, 1 << 20),
      IntKey("checkpoint.interval_ms", "Commit interval: outputs delivered, then state and offsets committed.", FIELD(checkpoint.interval_ms), 10, 3600000),
      IntKey("checkpoint.persist_interval_ms", "How often checkpoints are made crash-safe by a flush of the state (no write-ahead log); a crash resumes from the last one. 0: every checkpoint synced through RocksDB's write-ahead log.", FIELD(checkpoint.persist_interval_ms), 0, 3600000),
      IntKey("trace.idle_timeout_ms", "A trace idle this long is closed and its spanpipe.traces record emitted.", FIELD(trace.idle_timeout_ms), 0, int64_t{1} << 40),
      IntKey("trace.retention_ms", "How long trace and span de-duplication state is kept.", FIELD(trace.retention_ms), 60000, int64_t{1} << 45),
      IntKey("rollups.allowed_lateness_ms", "Watermark = max event time seen minus this; windows before it are final.", FIELD(rollups.allowed_lateness_ms), 0, int64_t{1} << 40),
      IntKey("rollups.idle_advance_ms", "A task that saw nothing this long advances its watermark with processing time.", FIELD(rollups.idle_advance_ms), 1000, int64_t{1} << 40),
      IntKey("rollups.max_keys_per_project", "Active rollup keys per project and window before spans go to model __overflow__.", FIELD(rollups.max_keys_per_project), 1, int64_t{1} << 32),
      IntKey("rollups.retention_1m_days", "Late spans still update 1-minute windows this many days old.", FIELD(rollups.retention_1m_days), 1, 100000),
      IntKey("rollups.retention_1h_days", "Late spans still update 1-hour windows this many days old.", FIELD(rollups.retention_1h_days), 1, 100000),
      IntKey("rollups.retention_1d_days", "Late spans still update 1-day windows this many days old.", FIELD(rollups.retention_1d_days), 1, 100000),
      BoolKey("content.enabled", "Extract content to the object store; false leaves content values out of span records.", FIELD(content.enabled)),
      StrKey("content.store", "Object store URL for content: file:///path or s3://bucket/prefix.", FIELD(content.store)),
      IntKey("content.min_chunk", "Content-defined chunking: minimum chunk size in bytes.", FIELD(content.min_chunk), 64, 1 << 24),
      IntKey("content.avg_chunk", "Content-defined chunking: average chunk size in bytes.", FIELD(content.avg_chunk), 256, 1 << 24),
      IntKey("content.max_chunk", "Content-defined chunking: maximum chunk size in bytes.", FIELD(content.max_chunk), 1024, 1 << 26),
      IntKey("content.zstd_level", "zstd compression level of content chunks.", FIELD(content.zstd_level), -7, 22),
      IntKey("content.pack_mib", "Target size of a pack object in MiB.", FIELD(content.pack_mib), 1, 1024),
      IntKey("content.large_string_bytes", "Any other string attribute larger than this is content too.", FIELD(content.large_string_bytes), 1, int64_t{1} << 30),
      BoolKey("content.dictionary", "Train zstd dictionaries from recent content.", FIELD(content.dictionary)),
      StrKey("s3.endpoint", "S3 endpoint URL (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, else AWS).", FIELD(s3.endpoint)),
      StrKey("s3.region", "S3 region; empty: AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1.", FIELD(s3.region)),
      BoolKey("s3.path_style", "Path-style bucket addressing (MinIO, s3rver).", FIELD(s3.path_style)),
      StrKey("s3.access_key_id", "S3 access key (default AWS_ACCESS_KEY_ID).", FIELD(s3.access_key_id)),
      StrKey("s3.secret_access_key", "S3 secret key (default AWS_SECRET_ACCESS_KEY). Never logged.", FIELD(s3.secret_access_key)),
      StrKey("s3.session_token", "S3 session token (default AWS_SESSION_TOKEN).", FIELD(s3.session_token)),
      StrKey("prices", "Path of a price table JSON that replaces the shipped one.", FIELD(prices)),
      BoolKey("http.enabled", "Serve the query API and dashboard inside run/demo.", FIELD(http.enabled)),
      StrKey("http.listen", "Address of the query API and dashboard (host:port).", FIELD(http.listen)),
      BoolKey("http.open", "No authentication (only allowed on a loopback address).", FIELD(http.open)),
      StrKey("http.jwt_secret", "HS256 secret for JWT bearer tokens (empty: JWTs disabled).", FIELD(http.jwt_secret)),
      Entry{{"http.api_keys", "list", "[]", "API keys: [{key, projects: [..], role: read|query|admin}]."}, nullptr},
      StrKey("http.state_path", "Directory of the query side's own RocksDB.", FIELD(http.state_path)),
      IntKey("http.rate_limit_per_second", "Requests per second per API key (JWT subject; client address when open); beyond it 429. 0 = no limit.", FIELD(http.rate_limit_per_second), 0, 1000000000),
      IntKey("http.rate_limit_burst", "Requests a caller may send at once before http.rate_limit_per_second applies.", FIELD(http.rate_limit_burst), 1, 1000000000),
      IntKey("http.bucket_cache_mib", "Memory for cached per-bucket query results (docs/query-api.md, Bucket cache). 0 = off.", FIELD(http.bucket_cache_mib), 0, 65536),
  };
  return entries;
}
#undef FIELD

const Entry* FindEntry(const std::string& key) {
  for (const auto& e : Registry())
    if (e.doc.name == key) return &e;
  return nullptr;
}

Status ParseApiKeys(const std::string& text, std::vector<ApiKeyConfig>* out) {
  // Env form: key@proj1,proj2@role;key2@proj@read
  out->clear();
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(';', start);
    std::string item = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!item.empty()) {
      size_t a = item.find('@'), b = item.rfind('@');
      if (a == std::string::npos || a == b)
        return Status::InvalidArgument("config key 'http.api_keys': expected key@projects@role");
      ApiKeyConfig k;
      k.key = item.substr(0, a);
      std::string projects = item.substr(a + 1, b - a - 1);
      k.role = item.substr(b + 1);
      size_t p = 0;
      while (p <= projects.size()) {
        size_t q = projects.find(',', p);
        std::string pr = projects.substr(p, q == std::string::npos ? std::string::npos : q - p);
        if (!pr.empty()) k.projects.push_back(pr);
        if (q == std::string::npos) break;
        p = q + 1;
      }
      out->push_back(std::move(k));
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return Status::OK();
}

Status ApplyYaml(const YAML::Node& node, const std::string& prefix, Config* cfg) {
  if (!node.IsMap()) {
    return Status::InvalidArgument("config key '" + (prefix.empty() ? std::string("<root>") : prefix) +
                                   "': expected a mapping");
  }
  for (const auto& kv : node) {
    std::string key = prefix.empty() ? kv.first.as<std::string>() : prefix + "." + kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (key == "kafka.consumer" || key == "kafka.producer") {
      if (v.IsNull()) continue;
      if (!v.IsMap()) return Status::InvalidArgument("config key '" + key + "': expected a mapping");
      auto& props = key == "kafka.consumer" ? cfg->kafka.consumer : cfg->kafka.producer;
      for (const auto& p : v) {
        if (!p.second.IsScalar())
          return Status::InvalidArgument("config key '" + key + "." + p.first.as<std::string>() +
                                         "': expected a scalar");
        props.emplace_back(p.first.as<std::string>(), p.second.as<std::string>());
      }
      continue;
    }
    if (key == "http.api_keys") {
      if (v.IsNull()) continue;
      if (!v.IsSequence()) return Status::InvalidArgument("config key 'http.api_keys': expected a list");
      cfg->http.api_keys.clear();
      for (const auto& item : v) {
        if (!item.IsMap() || !item["key"] || !item["key"].IsScalar())
          return Status::InvalidArgument("config key 'http.api_keys': each entry needs a 'key'");
        ApiKeyConfig k;
        for (const auto& f : item) {
          std::string fk = f.first.as<std::string>();
          if (fk == "key") k.key = f.second.as<std::string>();
          else if (fk == "role") k.role = f.second.as<std::string>();
          else if (fk == "projects" && f.second.IsSequence())
            for (const auto& p : f.second) k.projects.push_back(p.as<std::string>());
          else if (fk == "projects" && f.second.IsScalar()) k.projects.push_back(f.second.as<std::string>());
          else return Status::InvalidArgument("config key 'http.api_keys." + fk + "' is unknown");
        }
        cfg->http.api_keys.push_back(std::move(k));
      }
      continue;
    }
    if (v.IsMap()) {
      SPANPIPE_RETURN_IF_ERROR(ApplyYaml(v, key, cfg));
      continue;
    }
    if (!v.IsScalar() && !v.IsNull())
      return Status::InvalidArgument("config key '" + key + "': expected a scalar value");
    SPANPIPE_RETURN_IF_ERROR(SetConfigValue(cfg, key, v.IsNull() ? "" : v.as<std::string>()));
  }
  return Status::OK();
}

bool IsLoopback(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host == "::1" ||
         host.rfind("127.", 0) == 0;
}

}  // namespace

const std::vector<ConfigKey>& ConfigKeys() {
  static const std::vector<ConfigKey> keys = [] {
    std::vector<ConfigKey> out;
    for (const auto& e : Registry()) out.push_back(e.doc);
    return out;
  }();
  return keys;
}

Status SetConfigValue(Config* cfg, const std::string& key, const std::string& value) {
  for (const char* map_key : {"kafka.consumer.", "kafka.producer."}) {
    if (key.rfind(map_key, 0) == 0 && key.size() > std::string(map_key).size()) {
      auto& props = key[6] == 'c' ? cfg->kafka.consumer : cfg->kafka.producer;
      props.emplace_back(key.substr(std::string(map_key).size()), value);
      return Status::OK();
    }
  }
  if (key == "http.api_keys") return ParseApiKeys(value, &cfg->http.api_keys);
  const Entry* e = FindEntry(key);
  if (!e || !e->set) return Status::InvalidArgument("unknown config key '" + key + "'");
  return e->set(*cfg, key, value);
}

std::vector<std::pair<std::string, std::string>> ProcessEnvironment() {
  std::vector<std::pair<std::string, std::string>> env;
  for (char** e = environ; e && *e; ++e) {
    std::string s(*e);
    size_t eq = s.find('=');
    if (eq != std::string::npos) env.emplace_back(s.substr(0, eq), s.substr(eq + 1));
  }
  return env;
}

Status LoadConfig(const std::string& path, const std::vector<std::pair<std::string, std::string>>& env,
                  Config* out) {
  *out = Config();
  if (!path.empty()) {
    YAML::Node root;
    try {
      root = YAML::LoadFile(path);
    } catch (const YAML::BadFile&) {
      return Status::InvalidArgument("config file '" + path + "' cannot be read");
    } catch (const YAML::Exception& e) {
      return Status::InvalidArgument("config file '" + path + "': " + e.what());
    }
    if (!root.IsNull()) {
      try {
        SPANPIPE_RETURN_IF_ERROR(ApplyYaml(root, "", out));
      } catch (const YAML::Exception& e) {
        return Status::InvalidArgument("config file '" + path + "': " + e.what());
      }
    }
  }
  // SPANPIPE_KAFKA__BROKERS -> kafka.brokers; SPANPIPE_KAFKA__CONSUMER__SASL__MECHANISM ->
  // kafka.consumer.sasl.mechanism. Sorted so that the result does not depend on environ order.
  std::vector<std::pair<std::string, std::string>> sorted(env.begin(), env.end());
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [name, value] : sorted) {
    if (name.rfind("SPANPIPE_", 0) != 0) continue;
    std::string rest = name.substr(9);
    if (rest == "CONFIG" || rest == "LOG_LEVEL" || rest == "SKIP_NPM") continue;  // not config keys
    std::string key;
    for (size_t i = 0; i < rest.size(); ++i) {
      if (rest.compare(i, 2, "__") == 0) {
        key += '.';
        ++i;
      } else {
        key += static_cast<char>(::tolower(static_cast<unsigned char>(rest[i])));
      }
    }
    Status s = SetConfigValue(out, key, value);
    if (!s.ok()) return Status::InvalidArgument("environment " + name + ": " + s.message());
  }
  return ValidateConfig(*out);
}

Status ValidateConfig(const Config& c) {
  if (!(c.content.min_chunk <= c.content.avg_chunk && c.content.avg_chunk <= c.content.max_chunk))
    return Status::InvalidArgument(
        "config keys 'content.min_chunk' <= 'content.avg_chunk' <= 'content.max_chunk' must hold");
  if (c.http.open && !IsLoopback(c.http.listen))
    return Status::InvalidArgument("config key 'http.open': allowed only when 'http.listen' is a loopback address");
  for (const auto& k : c.http.api_keys) {
    if (k.key.size() < 8) return Status::InvalidArgument("config key 'http.api_keys': a key must have at least 8 characters");
    if (k.role != "read" && k.role != "query" && k.role != "admin")
      return Status::InvalidArgument("config key 'http.api_keys': role '" + k.role + "' is not read, query or admin");
    if (k.projects.empty()) return Status::InvalidArgument("config key 'http.api_keys': a key needs at least one project");
  }
  if (c.content.store.rfind("file://", 0) != 0 && c.content.store.rfind("s3://", 0) != 0)
    return Status::InvalidArgument("config key 'content.store': expected file:///path or s3://bucket/prefix");
  return Status::OK();
}

}  // namespace spanpipe
