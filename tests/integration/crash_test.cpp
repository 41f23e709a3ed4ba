// Crash test (trace resolution issue): the broker runs as its own process (`spanpipe broker`), a
// producer writes a corpus with a known answer, and `spanpipe run` is killed with SIGKILL at random
// moments and restarted. At the end the newest spanpipe.traces record of every trace equals the
// answer exactly: nothing lost, nothing counted twice.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include "connectors/kafka_sink.h"
#include "connectors/kafka_source.h"
#include "otlp_corpus.h"
#include "process_util.h"

namespace spanpipe {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
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

int Reap(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

std::string WaitForFile(const std::string& path, int seconds) {
  auto deadline = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < deadline) {
    std::string s = testutil::Slurp(path);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    if (!s.empty()) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

// Reads spanpipe.traces from the beginning; newest record per key.
std::map<std::string, json> ReadTraces(const std::string& brokers, size_t want, int seconds,
                                       const std::map<std::string, testutil::ExpectedTrace>* expected) {
  kafka::SourceOptions so;
  so.brokers = brokers;
  so.group_id = "crash-test-reader-" + std::to_string(::getpid()) + "-" + std::to_string(rand());
  so.topics = {"spanpipe.traces"};
  so.properties = {{"session.timeout.ms", "6000"}};
  std::unique_ptr<kafka::KafkaSource> src;
  Status s = kafka::KafkaSource::Create(
      so, [](const auto& tps, auto* o) { o->assign(tps.size(), -1); }, [](const auto&) {}, &src);
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::map<std::string, json> newest;
  if (!s.ok()) return newest;
  auto deadline = Clock::now() + std::chrono::seconds(seconds);
  std::vector<kafka::Message> batch;
  while (Clock::now() < deadline) {
    if (!src->Poll(1000, 200, &batch).ok()) continue;
    for (const auto& m : batch) newest[std::string(m.key)] = json::parse(m.value);
    if (newest.size() >= want && expected) {
      // Done once every trace's newest record is complete (late records may still be in flight).
      bool complete = true;
      for (const auto& [id, e] : *expected) {
        auto it = newest.find(id);
        if (it == newest.end() || it->second["span_count"] != e.span_count) {
          complete = false;
          break;
        }
      }
      if (complete) break;
    }
  }
  src->Close();
  return newest;
}

TEST(CrashTest, SigkillAtRandomMomentsLosesNothingAndCountsNothingTwice) {
  std::string dir = testutil::TempDir("crash");
  std::string port_file = dir + "/brokers";
  pid_t broker = Spawn({SPANPIPE_BINARY, "broker", "--brokers", "1", "--partitions", "4", "--port-file", port_file},
                       dir + "/broker.log");
  std::string brokers = WaitForFile(port_file, 30);
  ASSERT_FALSE(brokers.empty()) << testutil::Slurp(dir + "/broker.log");

  const int64_t base_ms = 1767225600000;  // 2026-01-01T00:00:00Z: fixed event times
  testutil::Corpus corpus = testutil::MakeCorpus(400, 7, base_ms);

  std::string cfg_path = dir + "/spanpipe.yaml";
  std::ofstream(cfg_path) << "kafka:\n  brokers: \"" << brokers << "\"\n  partitions: 4\n"
                          << "  consumer:\n    session.timeout.ms: \"4000\"\n    heartbeat.interval.ms: \"400\"\n"
                          << "state: {path: \"" << dir << "/state\", memory_mib: 64}\n"
                          << "content: {store: \"file://" << dir << "/objects\"}\n"
                          << "checkpoint: {interval_ms: 200}\n"
                          << "trace: {idle_timeout_ms: 1500}\n"
                          << "http: {enabled: false}\n";

  // Produce the corpus in the background while the job is being killed.
  std::thread producer([&] {
    kafka::SinkOptions so;
    so.brokers = brokers;
    std::unique_ptr<kafka::KafkaSink> sink;
    ASSERT_TRUE(kafka::KafkaSink::Create(so, &sink).ok());
    size_t n = 0;
    for (const auto& m : corpus.messages) {
      ASSERT_TRUE(sink->Produce("otlp_spans", m.key, m.payload).ok());
      if (++n % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(sink->Flush(30000).ok());
  });

  // Each run is killed at a random moment after it has been assigned partitions (i.e. while it
  // processes and checkpoints), never before: a kill before the rebalance would test nothing.
  auto assignments = [&] {
    std::string log = testutil::Slurp(dir + "/job.log");
    size_t n = 0, pos = 0;
    while ((pos = log.find("assigned ", pos)) != std::string::npos) ++n, ++pos;
    return n;
  };
  std::mt19937 rng(12345);
  const int kKills = 8;
  int killed_while_assigned = 0;
  for (int i = 0; i < kKills; ++i) {
    size_t before = assignments();
    pid_t job = Spawn({SPANPIPE_BINARY, "run", "--config", cfg_path}, dir + "/job.log");
    auto deadline = Clock::now() + std::chrono::seconds(20);
    while (assignments() == before && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (assignments() > before) ++killed_while_assigned;
    std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 2300));
    kill(job, SIGKILL);
    Reap(job);
  }
  EXPECT_EQ(killed_while_assigned, kKills) << "some runs never got partitions before they were killed";
  producer.join();
  pid_t job = Spawn({SPANPIPE_BINARY, "run", "--config", cfg_path}, dir + "/job.log");
  auto traces = ReadTraces(brokers, corpus.traces.size(), 120, &corpus.traces);
  kill(job, SIGTERM);
  int status = Reap(job);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "final run did not stop cleanly";

  ASSERT_EQ(traces.size(), corpus.traces.size()) << testutil::Slurp(dir + "/job.log").substr(0, 4000);
  int mismatches = 0;
  for (const auto& [id, e] : corpus.traces) {
    const json& t = traces.at(id);
    bool ok = t["span_count"] == e.span_count && t["llm_calls"] == e.llm_calls && t["errors"] == e.errors &&
              t["input_tokens"] == e.input_tokens && t["output_tokens"] == e.output_tokens &&
              std::abs(t["cost_usd"].get<double>() - e.cost_usd) < 1e-9 && t["project"] == e.project &&
              t["thread_id"] == e.thread_id && t["user_id"] == e.user_id && t["name"] == e.root_name &&
              std::set<std::string>(t["models"].begin(), t["models"].end()) == e.models;
    if (!ok && ++mismatches <= 5) ADD_FAILURE() << "trace " << id << " got " << t.dump();
  }
  EXPECT_EQ(mismatches, 0);
  kill(broker, SIGTERM);
  Reap(broker);
}

}  // namespace
}  // namespace spanpipe
