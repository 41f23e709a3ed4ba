// Append-only JSON text builder for output records on the hot path (no DOM, no allocation per field
// beyond the output string). Produces valid UTF-8: invalid input bytes become U+FFFD.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace spanpipe {

// Appends s as a JSON string literal (with quotes).
void AppendJsonString(std::string* out, std::string_view s);
// Shortest round-trip form; non-finite values (never valid JSON) are written as null.
void AppendJsonDouble(std::string* out, double d);
// The same text at out (room for kMaxJsonDoubleChars needed); returns the end of what it wrote.
inline constexpr size_t kMaxJsonDoubleChars = 32;  // fmt's longest: "-2.2250738585072014e-308"
char* WriteJsonDouble(char* out, double d);
// WriteJsonDouble(out, ns / 1e6) for a span's duration in ms, from its integer nanoseconds: the
// text is the exact decimal quotient whenever that is the shortest round-trip form (ns in [100,
// 1e15): 15 significant digits at most, fixed notation), else the double's.
char* WriteMillisFromNanos(char* out, int64_t ns);
// Decimal digits of v (std::to_chars's text): numbers of 9 digits or more, the records' unix
// nanoseconds, in blocks of 8 digits two at a time instead of a division per two digits.
char* WriteUint64(char* out, uint64_t v);

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& BeginObject() {
    Sep();
    out_->push_back('{');
    first_ = true;
    return *this;
  }
  JsonWriter& EndObject() {
    out_->push_back('}');
    first_ = false;
    return *this;
  }
  JsonWriter& BeginArray() {
    Sep();
    out_->push_back('[');
    first_ = true;
    return *this;
  }
  JsonWriter& EndArray() {
    out_->push_back(']');
    first_ = false;
    return *this;
  }
  JsonWriter& Key(std::string_view k) {
    Sep();
    if (IsPlainName(k)) {  // member names are short ASCII literals: skip the escaping loop
      out_->push_back('"');
      out_->append(k);
      out_->append("\":", 2);
    } else {
      AppendJsonString(out_, k);
      out_->push_back(':');
    }
    first_ = true;  // the value that follows takes no comma
    return *this;
  }
  JsonWriter& String(std::string_view s) {
    Sep();
    AppendJsonString(out_, s);
    return *this;
  }
  JsonWriter& Int(int64_t v) {
    Sep();
    AppendNumber(v);
    return *this;
  }
  JsonWriter& Uint(uint64_t v) {
    Sep();
    AppendNumber(v);
    return *this;
  }
  JsonWriter& Double(double d) {
    Sep();
    AppendJsonDouble(out_, d);
    return *this;
  }
  JsonWriter& Bool(bool b) {
    Sep();
    out_->append(b ? "true" : "false");
    return *this;
  }
  JsonWriter& Null() {
    Sep();
    out_->append("null");
    return *this;
  }
  // Already-serialised JSON (e.g. a nested document).
  JsonWriter& Raw(std::string_view json) {
    Sep();
    out_->append(json);
    return *this;
  }

  // A member name written in the source: trusted to need no escaping (all of ours are ASCII
  // identifiers), so it is copied as is - the output records' hot path writes millions.
  template <size_t N>
  JsonWriter& Key(const char (&k)[N]) {
    // One append of `,"k":` (the literal is known after inlining, so the copy is constant-sized).
    char buf[N + 3];
    buf[0] = ',';
    buf[1] = '"';
    std::memcpy(buf + 2, k, N - 1);
    buf[N + 1] = '"';
    buf[N + 2] = ':';
    const bool first = first_;
    out_->append(buf + (first ? 1 : 0), first ? N + 2 : N + 3);
    first_ = true;
    return *this;
  }

  template <size_t N, typename T>
  JsonWriter& Field(const char (&k)[N], T v) {
    Key(k);
    return Put(v);
  }
  template <typename T>
  JsonWriter& Field(std::string_view k, T v) {
    Key(k);
    return Put(v);
  }

 private:
  void Sep() {
    if (!first_) out_->push_back(',');
    first_ = false;
  }
  JsonWriter& Put(std::string_view v) { return String(v); }
  JsonWriter& Put(const char* v) { return String(v); }
  JsonWriter& Put(const std::string& v) { return String(v); }
  JsonWriter& Put(int64_t v) { return Int(v); }
  JsonWriter& Put(int v) { return Int(v); }
  JsonWriter& Put(uint64_t v) { return Uint(v); }
  JsonWriter& Put(double v) { return Double(v); }
  JsonWriter& Put(bool v) { return Bool(v); }
  static bool IsPlainName(std::string_view k) {
    for (char c : k) {
      if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\' ||
          static_cast<unsigned char>(c) >= 0x80)
        return false;
    }
    return true;
  }
  template <typename T>
  void AppendNumber(T v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out_->append(buf, static_cast<size_t>(r.ptr - buf));
  }
  std::string* out_;
  bool first_ = true;
};

}  // namespace spanpipe
