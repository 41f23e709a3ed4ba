// Append-only JSON text builder for output records on the hot path (no DOM, no allocation per field
// beyond the output string). Produces valid UTF-8: invalid input bytes become U+FFFD.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

namespace spanpipe {

// Appends s as a JSON string literal (with quotes).
void AppendJsonString(std::string* out, std::string_view s);
// Shortest round-trip form; non-finite values (never valid JSON) are written as null.
void AppendJsonDouble(std::string* out, double d);

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& BeginObject() { Sep(); out_->push_back('{'); first_ = true; return *this; }
  JsonWriter& EndObject() { out_->push_back('}'); first_ = false; return *this; }
  JsonWriter& BeginArray() { Sep(); out_->push_back('['); first_ = true; return *this; }
  JsonWriter& EndArray() { out_->push_back(']'); first_ = false; return *this; }
  JsonWriter& Key(std::string_view k) {
    Sep();
    AppendJsonString(out_, k);
    out_->push_back(':');
    first_ = true;  // the value that follows takes no comma
    return *this;
  }
  JsonWriter& String(std::string_view s) { Sep(); AppendJsonString(out_, s); return *this; }
  JsonWriter& Int(int64_t v) { Sep(); out_->append(std::to_string(v)); return *this; }
  JsonWriter& Uint(uint64_t v) { Sep(); out_->append(std::to_string(v)); return *this; }
  JsonWriter& Double(double d) { Sep(); AppendJsonDouble(out_, d); return *this; }
  JsonWriter& Bool(bool b) { Sep(); out_->append(b ? "true" : "false"); return *this; }
  JsonWriter& Null() { Sep(); out_->append("null"); return *this; }
  // Already-serialised JSON (e.g. a nested document).
  JsonWriter& Raw(std::string_view json) { Sep(); out_->append(json); return *this; }

  template <typename T>
  JsonWriter& Field(std::string_view k, T v);

 private:
  void Sep() {
    if (!first_) out_->push_back(',');
    first_ = false;
  }
  std::string* out_;
  bool first_ = true;
};

template <>
inline JsonWriter& JsonWriter::Field(std::string_view k, std::string_view v) { return Key(k).String(v); }
template <>
inline JsonWriter& JsonWriter::Field(std::string_view k, const char* v) { return Key(k).String(v); }
template <>
inline JsonWriter& JsonWriter::Field(std::string_view k, std::string v) { return Key(k).String(v); }
template <>
inline JsonWriter& JsonWriter::Field(std::string_view k, int64_t v) { return Key(k).Int(v); }
template <>
inline JsonWriter& JsonWriter::Field(std::string_view k, uint64_t v) { return Key(k).Uint(v); }
template <>
inline JsonWriter& JsonWriter::Field(std::string_view k, int v) { return Key(k).Int(v); }
template <>
inline JsonWriter& JsonWriter::Field(std::string_view k, double v) { return Key(k).Double(v); }
template <>
inline JsonWriter& JsonWriter::Field(std::string_view k, bool v) { return Key(k).Bool(v); }

}  // namespace spanpipe
