// Writes the fuzz targets' seed corpora: make_fuzz_seeds SHARED_DIR OUT_DIR creates
// OUT_DIR/<target>/ for each target. OTLP/JSON: the shared fixtures as they are and generated
// demo traffic; OTLP/protobuf: the same converted (fixtures decoded and re-encoded, demo traffic in
// its protobuf encoding); content store: manifests, packs and a readable manifest + pack pair.
#include <zstd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/coding.h"
#include "operators/content_format.h"
#include "operators/otlp_json_decoder.h"
#include "operators/otlp_proto_encoder.h"
#include "topology/demo_traffic.h"

namespace fs = std::filesystem;
using namespace spanpipe;

namespace {

constexpr size_t kMaxSeed = 64 * 1024;  // scripts/fuzz.sh runs the OTLP targets with -max_len=65536

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  if (bytes.size() > kMaxSeed) return;
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

// The AnyValue shapes and key styles the fixtures lack.
const char* kHandWritten[] = {
    R"({"resource_spans":[{"resource":{"attributes":[{"key":"service.name","value":{"string_value":"svc"}}]},
 "scope_spans":[{"scope":{"name":"sc"},"spans":[{"trace_id":"0102030405060708090A0B0C0D0E0F10",
 "span_id":"a1a2a3a4a5a6a7a8","parent_span_id":"b1b2b3b4b5b6b7b8","name":"chat","kind":"SPAN_KIND_CLIENT",
 "start_time_unix_nano":100,"end_time_unix_nano":"200","attributes":[
 {"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},
 {"key":"gen_ai.usage.input_tokens","value":{"int_value":"12"}},
 {"key":"gen_ai.usage.output_tokens","value":{"doubleValue":3.0}},
 {"key":"gen_ai.usage.cost","value":{"stringValue":"0.5"}},
 {"key":"b","value":{"bool_value":true}},{"key":"d","value":{"double_value":"NaN"}},
 {"key":"by","value":{"bytes_value":"aGVsbG8="}},
 {"key":"arr","value":{"array_value":{"values":[{"intValue":1},{"arrayValue":{"values":[{"boolValue":false}]}}]}}},
 {"key":"kv","value":{"kvlist_value":{"values":[{"key":"inner","value":{"stringValue":"v\u00e9\n"}}]}}},
 {"key":"e","value":{}}],
 "events":[{"time_unix_nano":"150","name":"gen_ai.content.prompt","attributes":[{"key":"body","value":{"stringValue":"hi"}}]}],
 "status":{"code":"STATUS_CODE_ERROR","message":"m"},"unknown":[1,{"a":null}]}]}]}]})",
    R"({"resourceSpans":[{"instrumentationLibrarySpans":[{"instrumentationLibrary":{"name":"old"},"spans":[
 {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","startTimeUnixNano":"5","endTimeUnixNano":"4"},
 {"traceId":"00000000000000000000000000000000","spanId":"0102030405060708","kind":7},
 {"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"01020304050607zz","status":{"code":2}}]}]}]})",
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_fuzz_seeds SHARED_DIR OUT_DIR\n");
    return 2;
  }
  fs::path out(argv[2]);
  fs::path json_dir = out / "otlp_json_decoder_fuzz", proto_dir = out / "otlp_proto_decoder_fuzz",
           content_dir = out / "content_format_fuzz";
  for (const auto& d : {json_dir, proto_dir, content_dir}) fs::create_directories(d);

  otlp::JsonDecoder json;
  int n = 0;
  std::vector<fs::path> fixtures;
  for (const auto& e : fs::directory_iterator(fs::path(argv[1]) / "fixtures" / "otlp"))
    if (e.path().extension() == ".json") fixtures.push_back(e.path());
  std::vector<std::string> texts;
  for (const auto& p : fixtures) texts.push_back(ReadFile(p));
  for (const char* h : kHandWritten) texts.emplace_back(h);
  for (const std::string& text : texts) {
    Write(json_dir, "seed-" + std::to_string(n), text);
    otlp::Batch b;
    if (json.Decode(text, &b).ok())
      Write(proto_dir, "seed-" + std::to_string(n), otlp::EncodeProto(b));
    ++n;
  }
  for (bool protobuf : {false, true}) {
    DemoTrafficOptions o;
    o.protobuf = protobuf;
    o.conversations = 8;
    o.malformed_rate = 0.05;
    o.start_unix_ms = 1700000000000;
    DemoTraffic gen(o);
    std::vector<DemoMessage> msgs;
    for (int t = 0; t < 40; ++t) gen.NextTurn(&msgs);
    int i = 0;
    for (const auto& m : msgs)
      Write(protobuf ? proto_dir : json_dir, "demo-" + std::to_string(i++), m.payload);
  }

  // Content store (format 2): a pack with one data frame, a segment with one data frame, a
  // manifest frame reading values out of both, and the segment's trace table.
  std::string a = "hello world" + std::string(3000, 'a') + "tail", b = "{\"role\":\"user\"}";
  content::PackBuilder pb;
  uint64_t pack_frame_off = pb.AddFrame(content::CompressFrame(a, 1), a.size(), {11, 3004});
  std::string pack = pb.Finish();
  std::string pack_frame = content::CompressFrame(a, 1);
  content::PackBuilder sb;
  std::string seg_frame = content::CompressFrame(b, 1);
  uint64_t seg_frame_off = sb.AddFrame(seg_frame, b.size(), {static_cast<uint32_t>(b.size())});
  content::ManifestFrame mf;
  mf.packs = {"packs/p", ""};
  mf.frames = {{0, pack_frame_off, static_cast<uint32_t>(pack_frame.size())},
               {1, seg_frame_off, static_cast<uint32_t>(seg_frame.size())}};
  content::TraceManifest tm;
  std::string trace_id;
  for (int i = 1; i <= 16; ++i) trace_id.push_back(static_cast<char>(i));
  tm.trace_id = trace_id;
  tm.project = "default";
  content::ValueManifest v1;
  v1.span_id = std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  v1.key = "gen_ai.prompt";
  v1.raw_len = a.size() + b.size();
  v1.sha256 = content::Sha256(a + b);
  v1.extents = {{0, 0, static_cast<uint32_t>(a.size())}, {1, 0, static_cast<uint32_t>(b.size())}};
  content::ValueManifest v2;
  v2.span_id = std::string("\x11\x12\x13\x14\x15\x16\x17\x18", 8);
  v2.key = "event[0].body";
  v2.raw_len = 5;
  v2.sha256 = content::Sha256("hello");
  v2.extents = {{0, 0, 5}};
  tm.values = {v1, v2};
  mf.traces = {tm};
  std::string manifest;
  content::EncodeManifestFrameRaw(mf, &manifest);
  std::string mz = content::CompressFrame(manifest, 3);
  uint64_t mf_off = sb.AddBytes(mz);
  std::vector<content::TraceIndexEntry> table = {
      {trace_id, "default", 0, mf_off, static_cast<uint32_t>(mz.size())}};
  std::string tt;
  content::EncodeTraceTableRaw(table, &tt);
  std::string tz = content::CompressFrame(tt, 3);
  uint64_t tt_off = sb.AddBytes(tz);
  std::string segment = sb.Finish();
  content::RunFooter footer;
  footer.segments = {"segs/x"};
  footer.blocks.push_back({trace_id, "default", 0, 100});
  std::string footer_raw;
  content::EncodeRunFooterRaw(footer, &footer_raw);
  std::string loc;
  content::EncodeChunkLocation(
      {"packs/p", pack_frame_off, static_cast<uint32_t>(pack_frame.size()), 11, 3004}, &loc);
  Write(content_dir, "manifest", std::string(1, '\0') + manifest);
  Write(content_dir, "manifest-empty", std::string(1, '\0') + "SPM2" + std::string(2, '\0'));
  Write(content_dir, "pack", std::string(1, '\1') + pack);
  Write(content_dir, "segment-pack", std::string(1, '\1') + segment);
  Write(content_dir, "chunk-location", std::string(1, '\2') + loc);
  Write(content_dir, "key", std::string(1, '\2') + "00000000000000a1-1f-20");
  Write(content_dir, "table", std::string(1, '\3') + tt);
  Write(content_dir, "footer", std::string(1, '\3') + footer_raw);
  Write(content_dir, "frame", std::string(1, '\3') + mz);
  std::string read(1, '\4');
  PutVarint64(&read, tt_off);
  PutVarint64(&read, tz.size());
  PutVarint64(&read, segment.size());
  Write(content_dir, "read", read + segment + pack);
  std::printf("seeds written to %s\n", out.c_str());
  return 0;
}
