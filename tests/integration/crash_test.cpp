// Crash test (trace resolution issue): the broker runs as its own process (`spanpipe broker`), a
// producer writes a corpus with a known answer, and `spanpipe run` is killed with SIGKILL at random
// moments and restarted. At the end the newest spanpipe.traces record of every trace equals the
// answer exactly, and so does every rollup (1m, 1h, 1d) and thread group: nothing lost, nothing
// counted twice.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include "connectors/kafka_sink.h"
#include "connectors/kafka_source.h"
#include "expected_outputs.h"
#include "kafka_util.h"

namespace spanpipe {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

using testutil::Reap;
using testutil::Spawn;
using testutil::WaitForFile;

TEST(CrashTest, SigkillAtRandomMomentsLosesNothingAndCountsNothingTwice) {
  std::string dir = testutil::TempDir("crash");
  std::string port_file = dir + "/brokers";
  pid_t broker = Spawn({SPANPIPE_BINARY, "broker", "--brokers", "1", "--partitions", "4", "--port-file", port_file},
                       dir + "/broker.log");
  std::string brokers = WaitForFile(port_file, 30);
  ASSERT_FALSE(brokers.empty()) << testutil::Slurp(dir + "/broker.log");

  testutil::Corpus corpus = testutil::MakeCorpus(400, 7, testutil::RecentCorpusBaseMs(), 0.15, 3 * 3600000);
  auto want_rollups = testutil::ExpectRollups(corpus);
  auto want_threads = testutil::ExpectThreads(corpus);

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
  const int kKills = 10;
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
  // Read the outputs back until every trace, rollup and thread equals the answer (or time runs out).
  const auto& newest = testutil::NewestOf;
  auto all = testutil::ReadTopics(
      brokers, {"spanpipe.traces", "spanpipe.rollups", "spanpipe.threads"},
      [&](const std::vector<testutil::OwnedMessage>& got) {
        return testutil::DiffTraces(corpus.traces, newest(got, "spanpipe.traces"), 1).empty() &&
               testutil::DiffRollups(want_rollups, newest(got, "spanpipe.rollups"), 1).empty() &&
               testutil::DiffThreads(want_threads, newest(got, "spanpipe.threads"), 1).empty();
      },
      120);
  kill(job, SIGTERM);
  int status = Reap(job);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "final run did not stop cleanly";

  auto traces = newest(all, "spanpipe.traces");
  ASSERT_EQ(traces.size(), corpus.traces.size()) << testutil::Slurp(dir + "/job.log").substr(0, 4000);
  for (const auto& d : testutil::DiffTraces(corpus.traces, traces)) ADD_FAILURE() << d;
  for (const auto& d : testutil::DiffRollups(want_rollups, newest(all, "spanpipe.rollups"))) ADD_FAILURE() << d;
  for (const auto& d : testutil::DiffThreads(want_threads, newest(all, "spanpipe.threads"))) ADD_FAILURE() << d;
  kill(broker, SIGTERM);
  Reap(broker);
}

}  // namespace
}  // namespace spanpipe
