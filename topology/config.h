// Config: one YAML file (`--config`), then SPANPIPE_* environment overrides, then flags.
// Every key is declared once in config.cpp's registry (name, type, default, meaning); docs/configuration.md
// lists the same keys and a test keeps the two equal. An unknown key or a bad value is a usage error (exit 2)
// whose message names the key.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace spanpipe {

struct ApiKeyConfig {
  std::string key;
  std::vector<std::string> projects;
  std::string role = "read";  // read | query | admin
};

struct Config {
  std::string project = "default";
  struct {
    std::string topic = "otlp_spans";
    std::string encoding = "auto";  // auto | otlp_json | otlp_proto
    bool keyed_by_trace = false;
  } input;
  struct {
    std::string brokers = "localhost:9092";
    std::string group_id = "spanpipe";
    int64_t partitions = 8;  // partitions of the internal topics spanpipe creates
    std::vector<std::pair<std::string, std::string>> consumer;  // librdkafka properties, verbatim
    std::vector<std::pair<std::string, std::string>> producer;
  } kafka;
  struct {
    std::string path = "./data/state";
    int64_t memory_mib = 256;
  } state;
  struct {
    int64_t interval_ms = 1000;
    // Checkpoints skip RocksDB's write-ahead log and are made crash-safe by an atomic flush this
    // often; 0 = every checkpoint synced through the log (docs/architecture.md).
    int64_t persist_interval_ms = 5000;
  } checkpoint;
  struct {
    int64_t idle_timeout_ms = 30000;
    int64_t retention_ms = int64_t{7} * 24 * 3600 * 1000;
  } trace;
  struct {
    int64_t allowed_lateness_ms = 120000;
    int64_t idle_advance_ms = 30000;
    int64_t max_keys_per_project = 10000;
    int64_t retention_1m_days = 37;
    int64_t retention_1h_days = 210;
    int64_t retention_1d_days = 1095;
  } rollups;
  struct {
    bool enabled = true;
    std::string store = "file://./data/objects";
    int64_t min_chunk = 64;
    int64_t avg_chunk = 256;
    int64_t max_chunk = 4096;
    int64_t zstd_level = 3;
    int64_t pack_mib = 4;
    int64_t large_string_bytes = 1024;
    bool dictionary = false;
  } content;
  struct {
    std::string endpoint;
    std::string region;  // "" = AWS_REGION, AWS_DEFAULT_REGION, then us-east-1
    bool path_style = true;
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;
  } s3;
  std::string prices;  // path of a price table JSON; "" = the shipped table
  struct {
    bool enabled = true;
    std::string listen = "127.0.0.1:8080";
    bool open = false;  // no auth; refused unless listen is a loopback address
    std::string jwt_secret;
    std::vector<ApiKeyConfig> api_keys;
    std::string state_path = "./data/serve";
    int64_t rate_limit_per_second = 1000;  // per API key / JWT subject / client address; 0 = off
    int64_t rate_limit_burst = 2000;
    int64_t bucket_cache_mib = 64;  // serve's per-bucket partial-result cache; 0 = off
  } http;
};

struct ConfigKey {
  std::string name;  // dotted, e.g. "kafka.brokers"
  std::string type;  // string | int | bool | map | list
  std::string default_value;
  std::string meaning;
};
// Every key the loader accepts, in documentation order.
const std::vector<ConfigKey>& ConfigKeys();

// Loads `path` (may be empty: defaults only), then applies SPANPIPE_* variables from `env`
// (e.g. SPANPIPE_KAFKA__BROKERS=host:9092; `__` separates levels). InvalidArgument names the key.
Status LoadConfig(const std::string& path, const std::vector<std::pair<std::string, std::string>>& env,
                  Config* out);
// Reads the process environment for LoadConfig.
std::vector<std::pair<std::string, std::string>> ProcessEnvironment();
// Sets one dotted key from text (flags and env use this).
Status SetConfigValue(Config* cfg, const std::string& key, const std::string& value);
// Cross-field checks (chunk sizes ordered, open only on loopback...).
Status ValidateConfig(const Config& cfg);

}  // namespace spanpipe
