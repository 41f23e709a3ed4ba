#include "topology/job.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "common/coding.h"
#include "common/hex.h"
#include "connectors/kafka_admin.h"
#include "operators/emitter.h"
#include "operators/span_codec.h"
#include "topology/content_reader.h"
#include "topology/prices.h"
#include "topology/state_layout.h"

namespace spanpipe {
namespace {

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string OffsetKey(const kafka::TopicPartition& tp) {
  std::string k = tp.topic;
  k.push_back('\0');
  PutFixed32BE(&k, static_cast<uint32_t>(tp.partition));
  return k;
}

constexpr int kFlushTimeoutMs = 60000;
constexpr double kSlowCheckpointSeconds = 0.25;  // a quarter of the default interval

}  // namespace

// Outputs wait here until the checkpoint: content they refer to is durable before they are sent.
class Job::BufferedOutput : public Emitter {
 public:
  struct Record {
    std::string stream, key, value;
  };
  void Emit(std::string_view stream, std::string_view key, std::string_view value) override {
    records_.push_back({std::string(stream), std::string(key), std::string(value)});
  }
  std::vector<Record>& records() { return records_; }

 private:
  std::vector<Record> records_;
};

class Job::KafkaDeadLetters : public DeadLetters {
 public:
  explicit KafkaDeadLetters(kafka::KafkaSink* sink) : sink_(sink) {}
  void DeadLetter(std::string_view reason, std::string_view source,
                  std::string_view payload) override {
    // The reason is one line by contract: header values must not smuggle newlines.
    std::string one_line(reason.substr(0, 1000));
    for (char& c : one_line)
      if (c == '\n' || c == '\r') c = ' ';
    std::vector<std::pair<std::string, std::string>> headers = {
        {"spanpipe.error", one_line}, {"spanpipe.source", std::string(source)}};
    // The input's own headers travel with it, so that a re-sent record keeps its project.
    if (input)
      for (const auto& h : input->headers)
        if (!h.key.starts_with("spanpipe."))
          headers.emplace_back(std::string(h.key), std::string(h.value));
    Status s = sink_->Produce(streams::kDlq, "", payload, headers);
    if (!s.ok() && status.ok()) status = s;
    ++count;
  }
  const kafka::Message* input = nullptr;  // the message being processed, if any
  uint64_t count = 0;
  Status status;

 private:
  kafka::KafkaSink* sink_;
};

std::vector<kafka::TopicSpec> JobTopics(const Config& cfg) {
  int32_t parts = static_cast<int32_t>(cfg.kafka.partitions);
  std::vector<kafka::TopicSpec> topics = {
      {cfg.input.topic, parts, {}},
      {std::string(streams::kSpans), parts, {}},
      {std::string(streams::kTraces), parts, {}},
      {std::string(streams::kDlq), parts, {}},
      {std::string(streams::kRollups), parts, {{"cleanup.policy", "compact"}}},
      {std::string(streams::kThreads), parts, {{"cleanup.policy", "compact"}}},
      {std::string(streams::kRollupPartials), parts, {{"cleanup.policy", "compact"}}},
      {std::string(streams::kThreadPartials), parts, {{"cleanup.policy", "compact"}}},
  };
  if (!cfg.input.keyed_by_trace) topics.push_back({std::string(streams::kRepartition), parts, {}});
  return topics;
}

Job::Job(Config cfg, MetricsRegistry* metrics) : cfg_(std::move(cfg)), metrics_(metrics) {}
// The consumer goes first: closing it revokes partitions, whose callback checkpoints through the
// stages, so they must still exist (members are destroyed in reverse order of declaration).
Job::~Job() {
  if (source_) source_->Close();
}

Status Job::Open() {
  SPANPIPE_RETURN_IF_ERROR(LoadPrices(cfg_, &prices_));
  SPANPIPE_RETURN_IF_ERROR(
      state::StateDb::Open(stores::JobStateOptions(cfg_, cfg_.state.path), &db_));
  SPANPIPE_RETURN_IF_ERROR(OpenObjectStore(ObjectStoreOptionsFrom(cfg_), &objects_));

  SPANPIPE_RETURN_IF_ERROR(
      kafka::EnsureTopics(cfg_.kafka.brokers, cfg_.kafka.producer, JobTopics(cfg_)));

  kafka::SinkOptions so;
  so.brokers = cfg_.kafka.brokers;
  so.properties = cfg_.kafka.producer;
  SPANPIPE_RETURN_IF_ERROR(kafka::KafkaSink::Create(so, &sink_));

  ingest_ = std::make_unique<IngestStage>(cfg_, &prices_);
  task_ = std::make_unique<TaskStage>(cfg_, db_.get(), objects_.get());
  merge_ = std::make_unique<MergeStage>(db_.get());
  out_ = std::make_unique<BufferedOutput>();
  dlq_ = std::make_unique<KafkaDeadLetters>(sink_.get());
  task_topic_ = cfg_.input.keyed_by_trace ? cfg_.input.topic : std::string(streams::kRepartition);

  kafka::SourceOptions src;
  src.brokers = cfg_.kafka.brokers;
  src.group_id = cfg_.kafka.group_id;
  src.topics = {cfg_.input.topic, std::string(streams::kRollupPartials),
                std::string(streams::kThreadPartials)};
  if (!cfg_.input.keyed_by_trace) src.topics.push_back(std::string(streams::kRepartition));
  src.properties = cfg_.kafka.consumer;
  return kafka::KafkaSource::Create(
      src, [this](const auto& tps, auto* offsets) { OnAssign(tps, offsets); },
      [this](const auto& tps) { OnRevoke(tps); }, &source_);
}

void Job::OnAssign(const std::vector<kafka::TopicPartition>& tps, std::vector<int64_t>* offsets) {
  offsets->assign(tps.size(), -1);
  state::KvStore* store = db_->store(stores::kOffsets);
  for (size_t i = 0; i < tps.size(); ++i) {
    std::string v;
    bool found = false;
    Status s = store->Get(OffsetKey(tps[i]), &v, &found);
    if (!s.ok() && deferred_.ok()) deferred_ = s;
    if (found && v.size() == 8) (*offsets)[i] = static_cast<int64_t>(DecodeFixed64BE(v.data()));
    if (tps[i].topic == task_topic_) task_partitions_.push_back(tps[i].partition);
    spdlog::info(
        "assigned {}[{}] from offset {}", tps[i].topic, tps[i].partition,
        (*offsets)[i] < 0 ? std::string("committed/earliest") : std::to_string((*offsets)[i]));
  }
}

void Job::OnRevoke(const std::vector<kafka::TopicPartition>& tps) {
  // Checkpoint before the partitions go: the next owner resumes exactly where this one stopped.
  // Not after a failure: what is pending may be half-applied; the last good checkpoint stands.
  if (!failed_) {
    Status s = Checkpoint(WallMs(), /*persist=*/true);
    if (!s.ok() && deferred_.ok()) deferred_ = s;
  }
  for (const auto& tp : tps) {
    next_offsets_.erase(tp);
    if (tp.topic == task_topic_) std::erase(task_partitions_, tp.partition);
  }
}

Status Job::ProcessBatch(const std::vector<kafka::Message>& batch, int64_t now_ms) {
  if (decoded_.size() < batch.size()) decoded_.resize(batch.size());
  prefetch_.clear();
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].topic != streams::kRepartition) continue;
    DecodedSpan& d = decoded_[i];
    d.batch.Clear();
    d.status = DecodeSpanRecord(batch[i].value, &d.batch, &d.span);
    if (d.status.ok()) prefetch_.push_back(&d.span);
  }
  if (!prefetch_.empty()) SPANPIPE_RETURN_IF_ERROR(task_->Prefetch(prefetch_));
  for (size_t i = 0; i < batch.size(); ++i) {
    DecodedSpan* d = batch[i].topic == streams::kRepartition ? &decoded_[i] : nullptr;
    SPANPIPE_RETURN_IF_ERROR(ProcessMessage(batch[i], now_ms, d));
  }
  return Status::OK();
}

Status Job::ProcessMessage(const kafka::Message& m, int64_t now_ms, DecodedSpan* decoded) {
  dlq_->input = &m;
  struct Reset {
    KafkaDeadLetters* d;
    ~Reset() { d->input = nullptr; }
  } reset{dlq_.get()};
  next_offsets_[kafka::TopicPartition{std::string(m.topic), m.partition}] = m.offset + 1;
  std::string source =
      std::string(m.topic) + "/" + std::to_string(m.partition) + "/" + std::to_string(m.offset);
  if (m.topic == cfg_.input.topic) {
    std::string_view project = m.header("x-project-id").value_or("");
    if (cfg_.input.keyed_by_trace) {  // this task owns the message's traces: resolve them here
      prefetch_.clear();
      ingest_->Process(m.value, project, source, dlq_.get(),
                       [&](const SpanRecord& span) { prefetch_.push_back(&span); });
      SPANPIPE_RETURN_IF_ERROR(task_->Prefetch(prefetch_));
      for (const SpanRecord* span : prefetch_) {
        SPANPIPE_RETURN_IF_ERROR(
            task_->Process(*span, m.partition, now_ms, source, out_.get(), dlq_.get()));
      }
      return Status::OK();
    }
    Status inner;
    ingest_->Process(m.value, project, source, dlq_.get(), [&](const SpanRecord& span) {
      if (!inner.ok()) return;
      scratch_.clear();
      EncodeSpanRecord(span, &scratch_);
      inner = sink_->Produce(streams::kRepartition, HexEncode(span.trace_id_bytes()), scratch_);
    });
    return inner;
  }
  if (decoded != nullptr) {  // the repartition topic
    if (!decoded->status.ok()) {
      dlq_->DeadLetter(decoded->status.message(), source, m.value);
      return Status::OK();
    }
    return task_->Process(decoded->span, m.partition, now_ms, source, out_.get(), dlq_.get());
  }
  Status s = merge_->Process(m.topic, m.key, m.value);
  if (s.IsCorruption() || s.IsInvalidArgument()) {
    dlq_->DeadLetter(s.message(), source, m.value);
    return Status::OK();
  }
  return s;
}

Status Job::Checkpoint(int64_t now_ms, bool persist) {
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  SPANPIPE_RETURN_IF_ERROR(task_->Tick(task_partitions_, now_ms, out_.get()));
  SPANPIPE_RETURN_IF_ERROR(task_->PrepareCheckpoint(out_.get()));
  SPANPIPE_RETURN_IF_ERROR(merge_->Emit(out_.get()));
  const auto operated = Clock::now();
  auto& records = out_->records();
  for (const auto& r : records) SPANPIPE_RETURN_IF_ERROR(sink_->Produce(r.stream, r.key, r.value));
  uint64_t produced = records.size();
  records.clear();
  SPANPIPE_RETURN_IF_ERROR(dlq_->status);
  SPANPIPE_RETURN_IF_ERROR(sink_->Flush(kFlushTimeoutMs));
  const auto delivered = Clock::now();

  state::KvStore* offsets = db_->store(stores::kOffsets);
  Offsets commit;
  for (const auto& [tp, next] : next_offsets_) {
    std::string v;
    PutFixed64BE(&v, static_cast<uint64_t>(next));
    offsets->Put(OffsetKey(tp), v);
    commit.emplace_back(tp, next);
  }
  if (!persist) SPANPIPE_RETURN_IF_ERROR(PersistEarlierCommits());
  // The write lands while the next batch is processed; Persist and the next checkpoint wait
  // for it (state/state_db.h), so Kafka never gets offsets ahead of the state.
  SPANPIPE_RETURN_IF_ERROR(db_->CommitAsync());
  const auto committed = Clock::now();
  SPANPIPE_RETURN_IF_ERROR(CommitOffsetsWhenPersisted(std::move(commit), persist));
  const auto done = Clock::now();
  const double secs = std::chrono::duration<double>(done - started).count();
  if (secs >= kSlowCheckpointSeconds) {  // which step: operators, Kafka or RocksDB
    auto ms = [](auto a, auto b) {
      return std::chrono::duration<double, std::milli>(b - a).count();
    };
    spdlog::info(
        "slow checkpoint: {:.0f} ms (operators {:.0f}, produce + delivery of {} records {:.0f}, "
        "state commit {:.0f}, persist {:.0f})",
        secs * 1e3, ms(started, operated), produced, ms(operated, delivered),
        ms(delivered, committed), ms(committed, done));
  }
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.produced += produced;
    stats_.checkpoints++;
    stats_.last_checkpoint_seconds = secs;
  }
  if (metrics_) metrics_->ObserveCheckpoint(secs);
  return Status::OK();
}

// Kafka's committed offsets are where a partition starts when the state has none for it (a new
// owner, or a crash that took the state back past the partition's first checkpoint): they must
// never be ahead of crash-safe state, or the spans in between would be skipped.
Status Job::CommitOffsetsWhenPersisted(Offsets offsets, bool persist) {
  if (cfg_.checkpoint.persist_interval_ms == 0) {  // every commit went through the synced log
    CommitToKafka(offsets);
    return Status::OK();
  }
  if (persist) {
    SPANPIPE_RETURN_IF_ERROR(db_->Persist(/*wait=*/true));
    persisting_ = false;
    persisting_offsets_.clear();
    last_committed_.clear();
    last_persist_ = std::chrono::steady_clock::now();
    CommitToKafka(offsets);
    return Status::OK();
  }
  if (persisting_ && !db_->PersistPending()) {
    CommitToKafka(persisting_offsets_);
    persisting_ = false;
  }
  last_committed_ = std::move(offsets);
  return Status::OK();
}

// The periodic flush covers the commits made before this checkpoint's, not this one's: the last
// one's write has had a whole interval to land, where a flush of the commit just sealed waited
// for all of its write (a tenth of resolve's time at 10 M traces, docs/PERFORMANCE.md). Kafka
// then gets the last checkpoint's offsets once the flush lands: one interval older, never ahead.
Status Job::PersistEarlierCommits() {
  const auto now = std::chrono::steady_clock::now();
  if (cfg_.checkpoint.persist_interval_ms == 0 || persisting_ || last_committed_.empty() ||
      now - last_persist_ < std::chrono::milliseconds(cfg_.checkpoint.persist_interval_ms)) {
    return Status::OK();
  }
  SPANPIPE_RETURN_IF_ERROR(db_->Persist(/*wait=*/false));
  persisting_ = true;
  persisting_offsets_ = std::move(last_committed_);
  last_committed_.clear();
  last_persist_ = now;
  return Status::OK();
}

void Job::CommitToKafka(const Offsets& offsets) {
  if (offsets.empty()) return;
  Status cs = source_->Commit(offsets);
  if (!cs.ok()) spdlog::warn("offset commit to Kafka failed (RocksDB has them): {}", cs.message());
}

Status Job::Run(const std::atomic<bool>* stop) {
  Status s = RunLoop(stop);
  if (!s.ok()) failed_ = true;
  return s;
}

Status Job::RunLoop(const std::atomic<bool>* stop) {
  std::vector<kafka::Message> batch;
  auto last_checkpoint = std::chrono::steady_clock::now();
  const auto interval = std::chrono::milliseconds(cfg_.checkpoint.interval_ms);
  while (!stop->load()) {
    Status s = source_->Poll(2000, 100, &batch);
    SPANPIPE_RETURN_IF_ERROR(s);
    SPANPIPE_RETURN_IF_ERROR(deferred_);
    int64_t now = WallMs();
    uint64_t bytes = 0;
    for (const auto& m : batch) bytes += m.value.size();
    SPANPIPE_RETURN_IF_ERROR(ProcessBatch(batch, now));
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      stats_.consumed += batch.size();
      stats_.consumed_bytes += bytes;
    }
    if (std::chrono::steady_clock::now() - last_checkpoint >= interval) {
      SPANPIPE_RETURN_IF_ERROR(Checkpoint(now));
      last_checkpoint = std::chrono::steady_clock::now();
      UpdateMetrics();
    }
  }
  SPANPIPE_RETURN_IF_ERROR(Checkpoint(WallMs(), /*persist=*/true));
  UpdateMetrics();
  source_->Close();
  return Status::OK();
}

void Job::UpdateMetrics() {
  auto lag = source_->Lag();
  int64_t total_lag = 0;
  for (const auto& [tp, l] : lag) {
    if (tp.topic == cfg_.input.topic) total_lag += l;
  }
  JobStats snap;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.spans_in = ingest_->spans_in();
    stats_.spans_out = task_->spans_out();
    stats_.dlq = dlq_->count;
    stats_.duplicates = task_->duplicates();
    stats_.late_spans = task_->late_spans();
    stats_.lag = total_lag;
    snap = stats_;
  }
  if (!metrics_) return;
  PipelineSnapshot p;
  p.consumed_records = snap.consumed;
  p.consumed_bytes = snap.consumed_bytes;
  p.produced_records = sink_->delivered_records();
  p.produced_bytes = sink_->delivered_bytes();
  p.dlq_records = dlq_->count;
  p.late_spans = snap.late_spans;
  p.state_size_bytes = db_->ApproximateSizeBytes();
  p.rollup_overflow = task_->overflowed_spans();
  p.spans_in = snap.spans_in;
  p.spans_out = snap.spans_out;
  p.duplicate_spans = snap.duplicates;
  auto cs = task_->content().stats();
  p.content_dedup_ratio = cs.stored_bytes ? static_cast<double>(cs.raw_bytes) / cs.stored_bytes : 0;
  p.object_store_puts = objects_->puts();
  p.object_store_gets = objects_->gets();
  p.object_store_errors = objects_->errors();
  for (const auto& [tp, l] : lag) p.lag.push_back({tp.topic, tp.partition, l});
  metrics_->UpdatePipeline(p);
}

JobStats Job::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

}  // namespace spanpipe
