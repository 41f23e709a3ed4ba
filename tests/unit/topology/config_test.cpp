#include "topology/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace spanpipe {
namespace {

std::string WriteTemp(const std::string& text) {
  static int n = 0;
  auto path = std::filesystem::temp_directory_path() /
              ("spanpipe_cfg_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + ".yaml");
  std::ofstream(path) << text;
  return path.string();
}

TEST(Config, DefaultsWithoutAFile) {
  Config c;
  ASSERT_TRUE(LoadConfig("", {}, &c).ok());
  EXPECT_EQ(c.input.topic, "otlp_spans");
  EXPECT_EQ(c.checkpoint.interval_ms, 1000);
  EXPECT_EQ(c.trace.idle_timeout_ms, 30000);
  EXPECT_EQ(c.rollups.allowed_lateness_ms, 120000);
}

TEST(Config, FileThenEnvironmentOverrides) {
  std::string p = WriteTemp(R"(
project: acme
kafka:
  brokers: k1:9092
  consumer:
    security.protocol: SASL_SSL
    sasl.mechanism: PLAIN
state: {path: /tmp/x, memory_mib: 64}
http:
  api_keys:
    - {key: abcdefgh1234, projects: [acme, beta], role: query}
)");
  Config c;
  Status s = LoadConfig(p, {{"SPANPIPE_KAFKA__BROKERS", "k2:9092"},
                            {"SPANPIPE_KAFKA__PRODUCER__LINGER__MS", "5"},
                            {"HOME", "/root"}},
                        &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(c.project, "acme");
  EXPECT_EQ(c.kafka.brokers, "k2:9092");
  ASSERT_EQ(c.kafka.consumer.size(), 2u);
  EXPECT_EQ(c.kafka.consumer[0], (std::pair<std::string, std::string>{"security.protocol", "SASL_SSL"}));
  ASSERT_EQ(c.kafka.producer.size(), 1u);
  EXPECT_EQ(c.kafka.producer[0].first, "linger.ms");
  EXPECT_EQ(c.state.memory_mib, 64);
  ASSERT_EQ(c.http.api_keys.size(), 1u);
  EXPECT_EQ(c.http.api_keys[0].projects, (std::vector<std::string>{"acme", "beta"}));
  EXPECT_EQ(c.http.api_keys[0].role, "query");
}

TEST(Config, UnknownKeyIsNamed) {
  Config c;
  Status s = LoadConfig(WriteTemp("kafka:\n  brokerz: x\n"), {}, &c);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("kafka.brokerz"), std::string::npos) << s.message();
  s = LoadConfig("", {{"SPANPIPE_NOPE", "1"}}, &c);
  EXPECT_NE(s.message().find("SPANPIPE_NOPE"), std::string::npos) << s.message();
}

TEST(Config, BadValuesAreNamed) {
  Config c;
  Status s = LoadConfig(WriteTemp("checkpoint: {interval_ms: soon}\n"), {}, &c);
  EXPECT_NE(s.message().find("checkpoint.interval_ms"), std::string::npos);
  s = LoadConfig(WriteTemp("input: {encoding: xml}\n"), {}, &c);
  EXPECT_NE(s.message().find("input.encoding"), std::string::npos);
  s = LoadConfig(WriteTemp("input: {keyed_by_trace: maybe}\n"), {}, &c);
  EXPECT_NE(s.message().find("input.keyed_by_trace"), std::string::npos);
  s = LoadConfig(WriteTemp("state: {memory_mib: 1}\n"), {}, &c);
  EXPECT_NE(s.message().find("out of range"), std::string::npos);
  s = LoadConfig(WriteTemp("content: {min_chunk: 9000, avg_chunk: 8192}\n"), {}, &c);
  EXPECT_NE(s.message().find("content.min_chunk"), std::string::npos);
  s = LoadConfig(WriteTemp("http: {open: true, listen: '0.0.0.0:8080'}\n"), {}, &c);
  EXPECT_NE(s.message().find("http.open"), std::string::npos);
  s = LoadConfig(WriteTemp("kafka: [1, 2]\n"), {}, &c);
  EXPECT_FALSE(s.ok());
  s = LoadConfig(WriteTemp("a: [unclosed\n"), {}, &c);
  EXPECT_FALSE(s.ok());
  s = LoadConfig("/nonexistent/spanpipe.yaml", {}, &c);
  EXPECT_NE(s.message().find("/nonexistent/spanpipe.yaml"), std::string::npos);
}

// docs/configuration.md lists exactly the keys the loader accepts: a key added to one and not the
// other fails here.
TEST(Config, DocumentationListsExactlyTheKeysInCode) {
  std::ifstream in(std::string(SPANPIPE_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(in.good()) << "docs/configuration.md is missing";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  std::set<std::string> documented;
  std::regex row(R"(^\| `([a-z0-9_.]+)` \|)", std::regex::multiline);
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), row); it != std::sregex_iterator(); ++it)
    documented.insert((*it)[1]);
  std::set<std::string> in_code;
  for (const auto& k : ConfigKeys()) in_code.insert(k.name);
  for (const auto& k : in_code) EXPECT_TRUE(documented.count(k)) << k << " is in code but not in the doc";
  for (const auto& k : documented) EXPECT_TRUE(in_code.count(k)) << k << " is in the doc but not in code";
}

}  // namespace
}  // namespace spanpipe
