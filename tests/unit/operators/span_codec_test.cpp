#include "operators/span_codec.h"

#include <gtest/gtest.h>

#include "batch_builder.h"

namespace spanpipe {
namespace {

using testing::BatchBuilder;

TEST(SpanCodec, RoundTripKeepsEveryFieldAndNestedAttributes) {
  otlp::Batch src;
  BatchBuilder bb(&src);
  // A kvlist value {"a": [1, "x"]}: the inner array's children first, then the kvlist's, then the
  // span's.
  uint32_t arr = bb.List({{"", BatchBuilder::Int(1)}, {"", BatchBuilder::Str(&src, "x")}});
  otlp::AnyValue array;
  array.kind = otlp::ValueKind::kArray;
  array.child_begin = arr;
  array.child_count = 2;
  uint32_t kvl = bb.List({{"a", array}});
  otlp::AnyValue kvlist;
  kvlist.kind = otlp::ValueKind::kKvlist;
  kvlist.child_begin = kvl;
  kvlist.child_count = 1;
  auto& raw = bb.Span(0, 0xab, 0xcd, {{"k", kvlist}, {"n", BatchBuilder::Dbl(-0.5)}});
  uint32_t ev_attrs = bb.List({{"body", BatchBuilder::Str(&src, "hello")}});
  src.events.push_back({"gen_ai.choice", 123, ev_attrs, 1});
  raw.event_begin = 0;
  raw.event_count = 1;

  SpanRecord in;
  std::memcpy(in.trace_id, raw.trace_id, 16);
  std::memcpy(in.span_id, raw.span_id, 8);
  std::memset(in.parent_span_id, 0x77, 8);
  in.has_parent = true;
  in.name = "chat";
  in.kind = 3;
  in.start_unix_nano = 10;
  in.end_unix_nano = 20;
  in.status_code = 2;
  in.status_message = "boom";
  in.error = true;
  in.project = "p";
  in.service = "svc";
  in.model = "gpt-4o";
  in.provider = "openai";
  in.operation = "chat";
  in.thread_id = "t";
  in.user_id = "u";
  in.environment = "prod";
  in.input_tokens = 12;
  in.output_tokens = 34;
  in.cost_usd = 0.125;
  in.batch = &src;
  in.attr_begin = raw.attr_begin;
  in.attr_count = raw.attr_count;
  in.event_begin = 0;
  in.event_count = 1;

  std::string wire;
  EncodeSpanRecord(in, &wire);
  otlp::Batch dst;
  SpanRecord out;
  ASSERT_TRUE(DecodeSpanRecord(wire, &dst, &out).ok());
  EXPECT_EQ(std::memcmp(out.trace_id, in.trace_id, 16), 0);
  EXPECT_EQ(std::memcmp(out.parent_span_id, in.parent_span_id, 8), 0);
  EXPECT_TRUE(out.has_parent && out.error);
  EXPECT_EQ(out.name, "chat");
  EXPECT_EQ(out.kind, 3);
  EXPECT_EQ(out.status_message, "boom");
  EXPECT_EQ(out.model, "gpt-4o");
  EXPECT_EQ(out.thread_id, "t");
  EXPECT_EQ(out.input_tokens, 12);
  EXPECT_EQ(out.output_tokens, 34);
  EXPECT_DOUBLE_EQ(out.cost_usd, 0.125);
  ASSERT_EQ(out.attr_count, 2u);
  const auto& k = dst.kvs[out.attr_begin];
  EXPECT_EQ(k.key, "k");
  ASSERT_EQ(k.value.kind, otlp::ValueKind::kKvlist);
  const auto& a = dst.kvs[k.value.child_begin];
  EXPECT_EQ(a.key, "a");
  ASSERT_EQ(a.value.kind, otlp::ValueKind::kArray);
  ASSERT_EQ(a.value.child_count, 2u);
  EXPECT_EQ(dst.kvs[a.value.child_begin].value.i, 1);
  EXPECT_EQ(dst.kvs[a.value.child_begin + 1].value.s, "x");
  EXPECT_DOUBLE_EQ(dst.kvs[out.attr_begin + 1].value.d, -0.5);
  ASSERT_EQ(out.event_count, 1u);
  EXPECT_EQ(dst.events[out.event_begin].name, "gen_ai.choice");
  EXPECT_EQ(dst.kvs[dst.events[out.event_begin].attr_begin].value.s, "hello");
}

TEST(SpanCodec, EveryTruncationIsCorruptionNotACrash) {
  otlp::Batch src;
  BatchBuilder bb(&src);
  bb.Span(0, 1, 2, {{"a", BatchBuilder::Str(&src, "b")}, {"n", BatchBuilder::Int(-9)}});
  SpanRecord in;
  in.batch = &src;
  in.attr_begin = src.spans[0].attr_begin;
  in.attr_count = src.spans[0].attr_count;
  std::string wire;
  EncodeSpanRecord(in, &wire);
  for (size_t n = 0; n < wire.size(); ++n) {
    otlp::Batch dst;
    SpanRecord out;
    EXPECT_TRUE(DecodeSpanRecord(std::string_view(wire.data(), n), &dst, &out).IsCorruption()) << n;
  }
  wire.push_back('x');
  otlp::Batch dst;
  SpanRecord out;
  EXPECT_TRUE(DecodeSpanRecord(wire, &dst, &out).IsCorruption());
}

}  // namespace
}  // namespace spanpipe
