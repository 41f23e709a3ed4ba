// `spanpipe reconstruct` run as a user would, over content written by the real ContentProcessor
// into a file:// store.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

#include "common/hex.h"
#include "connectors/object_store.h"
#include "operators/content_format.h"
#include "operators/content_processor.h"
#include "state/state_db.h"
#include "tests/integration/process_util.h"

namespace spanpipe {
namespace {

otlp::AnyValue Str(otlp::Batch* b, std::string s) {
  otlp::AnyValue v;
  v.kind = otlp::ValueKind::kString;
  v.s = b->Own(std::move(s));
  return v;
}

class ReconstructTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testutil::TempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    url_ = "file://" + dir_ + "/objects";
    ObjectStoreOptions o;
    o.url = url_;
    ASSERT_TRUE(OpenObjectStore(o, &store_).ok());
    state::StateOptions so;
    so.path = dir_ + "/state";
    so.memory_budget_mib = 16;
    so.stores = {"content"};
    ASSERT_TRUE(state::StateDb::Open(so, &db_).ok());
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  // One span with the given content attributes, processed and flushed.
  void Write(std::string_view project, uint8_t trace, uint8_t span,
             const std::vector<std::pair<std::string, std::string>>& attrs) {
    WriteTrace(project, std::string(16, static_cast<char>(trace)), span, attrs);
  }
  void WriteTrace(std::string_view project, const std::string& trace_id, uint8_t span,
                  const std::vector<std::pair<std::string, std::string>>& attrs) {
    otlp::Batch b;
    uint32_t begin = static_cast<uint32_t>(b.kvs.size());
    for (const auto& [k, v] : attrs) b.kvs.push_back({b.Own(k), Str(&b, v)});
    SpanRecord r;
    std::memcpy(r.trace_id, trace_id.data(), 16);
    std::memset(r.span_id, span, 8);
    r.project = project;
    r.batch = &b;
    r.attr_begin = begin;
    r.attr_count = static_cast<uint32_t>(attrs.size());
    content::ContentProcessor p(db_->store("content"), store_.get(), {});
    std::vector<content::ContentRef> refs;
    ASSERT_TRUE(p.Process(r, &refs).ok());
    ASSERT_TRUE(p.Flush().ok());
    ASSERT_TRUE(db_->Commit().ok());
  }
  static std::string Trace(uint8_t t) { return HexEncode(std::string(16, static_cast<char>(t))); }
  static std::string Span(uint8_t s) { return HexEncode(std::string(8, static_cast<char>(s))); }

  std::string dir_, url_;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<state::StateDb> db_;
};

TEST_F(ReconstructTest, PlainAndJsonOutputsAreByteExact) {
  std::string prompt = "line one\nline \"two\" \\ ünïcødé \t end\n";
  for (int i = 0; i < 2000; ++i) prompt += "history line " + std::to_string(i % 37) + "\n";
  std::string answer = "the answer";
  Write("default", 1, 2, {{"gen_ai.prompt", prompt}, {"gen_ai.completion", answer}});
  auto r = testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store", url_, "--trace", Trace(1)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string expected = "== " + Span(2) + " gen_ai.prompt (" + std::to_string(prompt.size()) +
                         " bytes)\n" + prompt + "\n== " + Span(2) + " gen_ai.completion (" +
                         std::to_string(answer.size()) + " bytes)\n" + answer + "\n";
  EXPECT_TRUE(r.out == expected);

  r = testutil::Run(
      {SPANPIPE_BINARY, "reconstruct", "--store", url_, "--trace", Trace(1), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, std::string> got;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["trace_id"], Trace(1));
    EXPECT_EQ(j["span_id"], Span(2));
    got[j["key"].get<std::string>()] = j["value"].get<std::string>();
  }
  EXPECT_EQ(got.size(), 2u);
  EXPECT_TRUE(got["gen_ai.prompt"] == prompt);
  EXPECT_EQ(got["gen_ai.completion"], answer);
}

TEST_F(ReconstructTest, SpanFilterProjectsAndExitCodes) {
  Write("default", 3, 1, {{"input.value", "first"}});
  Write("default", 3, 2, {{"output.value", "second"}});
  Write("team/x", 4, 1, {{"input.value", "elsewhere"}});
  auto r = testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store", url_, "--trace", Trace(3),
                          "--span", Span(2), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["value"], "second");
  // Not under "default": every project is searched.
  r = testutil::Run(
      {SPANPIPE_BINARY, "reconstruct", "--store", url_, "--trace", Trace(4), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["value"], "elsewhere");
  r = testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store", url_, "--trace", Trace(4),
                     "--project", "team/x", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store", url_, "--trace", Trace(4),
                     "--project", "default"});
  EXPECT_EQ(r.exit_code, 1);
  r = testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store", url_, "--trace", Trace(9)});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(Trace(9)), std::string::npos) << r.err;
  r = testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store", url_, "--trace", "not-hex"});
  EXPECT_EQ(r.exit_code, 2);
  r = testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store", url_});
  EXPECT_EQ(r.exit_code, 2);
  r = testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store", "gopher://x", "--trace", Trace(3)});
  EXPECT_EQ(r.exit_code, 2);
}

// A 64-bit trace id (16 hex characters) is the low half of a 128-bit one, zero-padded (W3C).
TEST_F(ReconstructTest, SixteenHexTraceIdIsZeroPadded) {
  std::string id(8, '\0');
  id += std::string("\x12\x34\x56\x78\x9a\xbc\xde\xf0", 8);
  WriteTrace("default", id, 1, {{"input.value", "short id"}});
  auto r = testutil::Run(
      {SPANPIPE_BINARY, "reconstruct", "--store", url_, "--trace", "123456789ABCDEF0", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["trace_id"], "0000000000000000123456789abcdef0");
  EXPECT_EQ(j["value"], "short id");
}

// --config / --set reach the store options: a bad key is a usage error naming it.
TEST_F(ReconstructTest, ConfigErrorsAreUsageErrors) {
  Write("default", 7, 1, {{"input.value", "x"}});
  auto r = testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store", url_, "--trace", Trace(7),
                          "--set", "s3.no_such_key=1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("s3.no_such_key"), std::string::npos) << r.err;
  r = testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store", url_, "--trace", Trace(7), "--set",
                     "s3.region=eu-west-1", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store", url_, "--trace", Trace(7),
                     "--config", dir_ + "/missing.yaml"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(ReconstructTest, CorruptChunkExitsOneNamingIt) {
  std::string value;
  for (int i = 0; i < 5000; ++i) value += "row " + std::to_string(i) + "\n";
  Write("default", 5, 1, {{"gen_ai.prompt", value}});
  std::vector<std::string> segs;
  ASSERT_TRUE(store_->List("segs/", &segs).ok());
  ASSERT_EQ(segs.size(), 1u);  // small content: its frames live in the flush's segment
  std::string bytes;
  ASSERT_TRUE(store_->Get(segs[0], &bytes).ok());
  std::vector<content::PackFrameInfo> index;
  ASSERT_TRUE(content::DecodePackIndex(bytes, &index).ok());
  ASSERT_FALSE(index.empty());
  bytes[index[0].offset + index[0].stored_len - 3] ^= 1;
  ASSERT_TRUE(store_->Put(segs[0], bytes).ok());
  auto r = testutil::Run({SPANPIPE_BINARY, "reconstruct", "--store", url_, "--trace", Trace(5)});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("frame at offset " + std::to_string(index[0].offset) + " of " + segs[0]),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace spanpipe
