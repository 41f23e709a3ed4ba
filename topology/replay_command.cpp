#include "topology/replay_command.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <vector>

#include "common/hex.h"
#include "common/json_writer.h"
#include "connectors/file_sink.h"
#include "connectors/file_source.h"
#include "connectors/object_store.h"
#include "topology/ingest_stage.h"
#include "topology/prices.h"
#include "topology/state_layout.h"
#include "topology/task_stage.h"

namespace spanpipe {
namespace {

bool LooksLikeText(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x09 || (c > 0x0d && c < 0x20)) return false;
  return true;
}

class FileDeadLetters : public DeadLetters {
 public:
  explicit FileDeadLetters(FileSink* sink) : sink_(sink) {}
  void DeadLetter(std::string_view reason, std::string_view source,
                  std::string_view payload) override {
    buf_.clear();
    JsonWriter w(&buf_);
    w.BeginObject().Field("error", reason).Field("source", source);
    bool text = LooksLikeText(payload);
    w.Field("payload", text ? std::string(payload) : Base64Encode(payload));
    w.Field("payload_encoding", text ? "text" : "base64").EndObject();
    if (!sink_->Write("spanpipe.dlq", buf_).ok()) failed_ = true;
    ++count_;
  }
  uint64_t count() const { return count_; }
  bool failed() const { return failed_; }

 private:
  FileSink* sink_;
  std::string buf_;
  uint64_t count_ = 0;
  bool failed_ = false;
};

// Partials go to the in-process merge stage; every other stream is an output file.
class ReplayRouter : public Emitter {
 public:
  ReplayRouter(FileSink* sink, MergeStage* merge) : sink_(sink), merge_(merge) {}
  void Emit(std::string_view stream, std::string_view key, std::string_view value) override {
    if (!status_.ok()) return;
    if (stream == streams::kRollupPartials || stream == streams::kThreadPartials) {
      status_ = merge_->Process(stream, key, value);
    } else {
      status_ = sink_->Write(stream, value);
    }
  }
  const Status& status() const { return status_; }

 private:
  FileSink* sink_;
  MergeStage* merge_;
  Status status_;
};

}  // namespace

int RunReplay(const Config& cfg, const ReplayOptions& opts) {
  std::vector<std::string> files;
  Status s = ListInputFiles(opts.inputs, &files);
  if (!s.ok()) {
    spdlog::error("{}", s.message());
    return 2;
  }
  PriceTable prices;
  s = LoadPrices(cfg, &prices);
  if (!s.ok()) {
    spdlog::error("{}", s.message());
    return 2;
  }
  FileSink sink(opts.out_dir);
  s = sink.Open();
  if (!s.ok()) {
    spdlog::error("{}", s.message());
    return 1;
  }
  std::string state_dir = opts.state_dir.empty() ? opts.out_dir + "/.state" : opts.state_dir;
  std::filesystem::remove_all(state_dir);
  std::unique_ptr<state::StateDb> db;
  s = state::StateDb::Open(stores::JobStateOptions(cfg, state_dir), &db);
  if (!s.ok()) {
    spdlog::error("{}", s.message());
    return 1;
  }
  std::unique_ptr<ObjectStore> objects;
  ObjectStoreOptions os_opts;
  os_opts.url = "file://" + std::filesystem::absolute(opts.out_dir + "/objects").string();
  s = OpenObjectStore(os_opts, &objects);
  if (!s.ok()) {
    spdlog::error("{}", s.message());
    return 1;
  }

  IngestStage ingest(cfg, &prices);
  TaskStage task(cfg, db.get(), objects.get());
  MergeStage merge(db.get());
  ReplayRouter router(&sink, &merge);
  FileDeadLetters dlq(&sink);
  const std::vector<int32_t> partitions = {0};

  int64_t max_event_ms = INT64_MIN;
  int64_t since_checkpoint = 0;
  uint64_t messages = 0;
  Status failure;
  std::vector<const SpanRecord*> spans;  // one message's, valid until the next ingest
  auto started = std::chrono::steady_clock::now();
  auto last_progress = started;

  auto checkpoint = [&]() -> Status {
    if (max_event_ms != INT64_MIN)
      SPANPIPE_RETURN_IF_ERROR(task.Tick(partitions, max_event_ms, &router));
    SPANPIPE_RETURN_IF_ERROR(task.PrepareCheckpoint(&router));
    SPANPIPE_RETURN_IF_ERROR(router.status());
    SPANPIPE_RETURN_IF_ERROR(merge.Emit(&router));
    SPANPIPE_RETURN_IF_ERROR(router.status());
    SPANPIPE_RETURN_IF_ERROR(sink.Flush());
    return db->Commit();
  };
  auto progress = [&](bool final) {
    auto now = std::chrono::steady_clock::now();
    double secs = std::chrono::duration<double>(now - started).count();
    if (!opts.progress && !final) return;
    spdlog::info(
        "replay: {} messages, {} spans in ({:.0f}/s), {} out, {} duplicates, {} dlq, {} late",
        messages, ingest.spans_in(), secs > 0 ? ingest.spans_in() / secs : 0.0, task.spans_out(),
        task.duplicates(), dlq.count(), task.late_spans());
  };

  for (const auto& file : files) {
    Status rs = ReadInputFile(file, [&](const FileRecord& rec) {
      if (!failure.ok()) return;
      ++messages;
      spans.clear();
      ingest.Process(rec.value, "", rec.source, &dlq,
                     [&](const SpanRecord& span) { spans.push_back(&span); });
      if (!spans.empty()) failure = task.Prefetch(spans);  // the message's traces in one read
      for (const SpanRecord* span : spans) {
        if (!failure.ok()) break;
        max_event_ms = std::max(max_event_ms, span->start_ms());
        failure = task.Process(*span, 0, max_event_ms, rec.source, &router, &dlq);
        if (failure.ok() && ++since_checkpoint >= opts.checkpoint_spans) {
          since_checkpoint = 0;
          failure = checkpoint();
        }
      }
      if (failure.ok() && !router.status().ok()) failure = router.status();
      auto now = std::chrono::steady_clock::now();
      if (now - last_progress >= std::chrono::seconds(1)) {
        last_progress = now;
        progress(false);
      }
    });
    if (!rs.ok()) {
      // An unreadable or corrupt file is bad input: dead-lettered whole, the replay goes on.
      dlq.DeadLetter(rs.message(), file, "");
    }
    if (!failure.ok()) break;
  }
  if (failure.ok()) failure = task.FinishInput(partitions, &router);
  if (failure.ok()) failure = router.status();
  if (failure.ok()) failure = merge.Emit(&router);
  if (failure.ok()) failure = router.status();
  if (failure.ok()) failure = sink.Flush();
  if (failure.ok()) failure = db->Commit();
  if (failure.ok() && dlq.failed())
    failure = Status::IOError("writing the dead-letter file failed");
  progress(true);
  if (!failure.ok()) {
    spdlog::error("replay failed: {}", failure.ToString());
    return 1;
  }
  db.reset();
  std::filesystem::remove_all(state_dir);
  return 0;
}

}  // namespace spanpipe
