// Test helpers for the Kafka integration tests: spanpipe processes (broker, job) and a separate
// consumer that reads output topics back, as a downstream user would.
#pragma once

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "connectors/kafka_source.h"
#include "process_util.h"

namespace spanpipe::testutil {

inline pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

inline int Reap(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

// Waits until `path` has non-blank content; returns it trimmed ("" on timeout).
inline std::string WaitForFile(const std::string& path, int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string s = Slurp(path);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    if (!s.empty()) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

// A `spanpipe broker` process with spanpipe's topics pre-created.
struct BrokerProcess {
  pid_t pid = -1;
  std::string brokers;
  BrokerProcess(const std::string& dir, int brokers_n, int partitions) {
    std::string port_file = dir + "/brokers";
    pid = Spawn({SPANPIPE_BINARY, "broker", "--brokers", std::to_string(brokers_n), "--partitions",
                 std::to_string(partitions), "--port-file", port_file},
                dir + "/broker.log");
    brokers = WaitForFile(port_file, 30);
  }
  ~BrokerProcess() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      Reap(pid);
    }
  }
};

// `spanpipe run` against `brokers` with state and objects under `dir` (short session,
// checkpoints and idle close, no HTTP), its output in dir/job.log. Returns its pid.
// checkpoint_extra: more members of the checkpoint section, e.g. ", persist_interval_ms: 0".
// checkpoint_extra: more checkpoint settings (", key: value"); extra_yaml: more top-level lines.
inline pid_t SpawnJob(const std::string& dir, const std::string& brokers,
                      const std::string& checkpoint_extra = "",
                      const std::string& extra_yaml = "") {
  std::ofstream(dir + "/spanpipe.yaml")
      << "kafka:\n  brokers: \"" << brokers << "\"\n  partitions: 4\n"
      << "  consumer:\n    session.timeout.ms: \"6000\"\n"
      << "state: {path: \"" << dir << "/state\", memory_mib: 64}\n"
      << "content: {store: \"file://" << dir << "/objects\"}\n"
      << "checkpoint: {interval_ms: 300" << checkpoint_extra << "}\n"
      << "trace: {idle_timeout_ms: 1000}\n"
      << "http: {enabled: false}\n"
      << extra_yaml;
  return Spawn({SPANPIPE_BINARY, "run", "--config", dir + "/spanpipe.yaml"}, dir + "/job.log");
}

struct OwnedMessage {
  std::string topic, key, value;
  int32_t partition = 0;
  int64_t offset = 0;
  std::map<std::string, std::string> headers;
};

// Reads `topics` from the beginning with a fresh consumer group until `done(all so far)` is true or
// `seconds` pass. Each record is returned once, however often the reader's group rebalances: the
// reader commits nothing, so a re-assigned partition (e.g. after its session timed out on a loaded
// machine) would restart from the earliest offset; it resumes after the last record read instead,
// and a record at an offset already read (fetched before the rebalance) is skipped. `reassigned`,
// if given, counts the assignments after the first, as they happen (`done` may look at it).
inline std::vector<OwnedMessage> ReadTopics(
    const std::string& brokers, const std::vector<std::string>& topics,
    const std::function<bool(const std::vector<OwnedMessage>&)>& done, int seconds,
    int* reassigned = nullptr) {
  static int n = 0;
  kafka::SourceOptions so;
  so.brokers = brokers;
  so.group_id = "it-reader-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
  so.topics = topics;
  so.properties = {{"session.timeout.ms", "6000"}};
  // Next offset to read per partition; declared before src, whose callbacks use it.
  std::map<kafka::TopicPartition, int64_t> next;
  int assignments = 0;
  uint64_t skipped = 0;
  if (reassigned) *reassigned = 0;
  std::unique_ptr<kafka::KafkaSource> src;
  std::vector<OwnedMessage> all;
  Status s = kafka::KafkaSource::Create(
      so,
      [&](const auto& tps, auto* o) {
        o->assign(tps.size(), -1);
        for (size_t i = 0; i < tps.size(); ++i)
          if (auto it = next.find(tps[i]); it != next.end()) (*o)[i] = it->second;
        if (++assignments > 1 && reassigned) *reassigned = assignments - 1;
        if (assignments > 1)
          std::fprintf(stderr,
                       "test reader: group rebalanced, %zu partitions re-assigned; resuming\n",
                       tps.size());
      },
      [](const auto&) {}, &src);
  if (!s.ok()) return all;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::vector<kafka::Message> batch;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!src->Poll(1000, 200, &batch).ok()) continue;
    for (const auto& m : batch) {
      int64_t& want = next[kafka::TopicPartition{std::string(m.topic), m.partition}];
      if (m.offset < want) {
        ++skipped;
        continue;
      }
      want = m.offset + 1;
      OwnedMessage o{std::string(m.topic), std::string(m.key), std::string(m.value),
                     m.partition,          m.offset,           {}};
      for (const auto& h : m.headers) o.headers[std::string(h.key)] = std::string(h.value);
      all.push_back(std::move(o));
    }
    if (done(all)) break;
  }
  if (skipped)
    std::fprintf(stderr, "test reader: skipped %llu records read twice\n",
                 static_cast<unsigned long long>(skipped));
  src->Close();
  return all;
}

// Newest record per key of one topic (what a compacted topic converges to).
inline std::map<std::string, nlohmann::json> NewestOf(const std::vector<OwnedMessage>& all,
                                                      const std::string& topic) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& m : all)
    if (m.topic == topic) out[m.key] = nlohmann::json::parse(m.value);
  return out;
}

}  // namespace spanpipe::testutil
