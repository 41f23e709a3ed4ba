#include "common/time_format.h"

#include <cstdio>
#include <cstdlib>

namespace spanpipe {

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

namespace {
void Put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

// Writes the text at out (room for kMaxRfc3339Chars); returns its end.
char* WriteBase(char* out, int64_t secs, int64_t frac, int frac_digits) {
  int64_t days = FloorDiv(secs, 86400);
  int64_t sod = secs - days * 86400;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char* buf = out;
  int n;
  if (y >= 0 && y <= 9999) {
    // Output records carry one per window or trace: digits by hand, not through printf.
    const auto hh = static_cast<unsigned>(sod / 3600), mm = static_cast<unsigned>(sod / 60 % 60),
               ss = static_cast<unsigned>(sod % 60);
    Put2(buf, static_cast<unsigned>(y / 100));
    Put2(buf + 2, static_cast<unsigned>(y % 100));
    buf[4] = '-';
    Put2(buf + 5, m);
    buf[7] = '-';
    Put2(buf + 8, d);
    buf[10] = 'T';
    Put2(buf + 11, hh);
    buf[13] = ':';
    Put2(buf + 14, mm);
    buf[16] = ':';
    Put2(buf + 17, ss);
    n = 19;
  } else {
    // Years out of 0..9999 come only from millisecond input: 11 characters at most.
    n = std::snprintf(buf, kMaxRfc3339Chars - 11, "%04lld-%02u-%02uT%02d:%02d:%02d",
                      static_cast<long long>(y), m, d, static_cast<int>(sod / 3600),
                      static_cast<int>(sod / 60 % 60), static_cast<int>(sod % 60));
  }
  if (frac_digits > 0) {
    buf[n++] = '.';
    auto f = static_cast<uint64_t>(frac);
    for (int i = frac_digits - 1; i >= 0; --i) {
      buf[n + i] = static_cast<char>('0' + f % 10);
      f /= 10;
    }
    n += frac_digits;
  }
  buf[n++] = 'Z';
  return buf + n;
}

std::string FormatBase(int64_t secs, int64_t frac, int frac_digits) {
  char buf[kMaxRfc3339Chars];
  return std::string(buf, static_cast<size_t>(WriteBase(buf, secs, frac, frac_digits) - buf));
}
}  // namespace

std::string FormatRfc3339Millis(int64_t unix_ms) {
  int64_t secs = FloorDiv(unix_ms, 1000);
  int64_t ms = unix_ms - secs * 1000;
  return FormatBase(secs, ms, ms ? 3 : 0);
}

char* WriteRfc3339Nanos(char* out, int64_t unix_ns) {
  int64_t secs = FloorDiv(unix_ns, 1000000000);
  int64_t ns = unix_ns - secs * 1000000000;
  if (ns == 0) return WriteBase(out, secs, 0, 0);
  if (ns % 1000000 == 0) return WriteBase(out, secs, ns / 1000000, 3);
  if (ns % 1000 == 0) return WriteBase(out, secs, ns / 1000, 6);
  return WriteBase(out, secs, ns, 9);
}

std::string FormatRfc3339Nanos(int64_t unix_ns) {
  char buf[kMaxRfc3339Chars];
  return std::string(buf, static_cast<size_t>(WriteRfc3339Nanos(buf, unix_ns) - buf));
}

bool ParseTimestampMillis(std::string_view t, int64_t* out) {
  if (t.empty()) return false;
  bool all_digits = true;
  for (size_t i = 0; i < t.size(); ++i) {
    if (!(t[i] >= '0' && t[i] <= '9') && !(i == 0 && t[i] == '-')) all_digits = false;
  }
  if (all_digits) {
    std::string s(t);
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (*end) return false;
    *out = (v > 100000000000LL || v < -100000000000LL) ? v : v * 1000;
    return true;
  }
  // YYYY-MM-DDTHH:MM:SS[.fff][Z|±hh:mm]
  auto num = [&](size_t pos, size_t len, int* v) {
    if (pos + len > t.size()) return false;
    int r = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (t[i] < '0' || t[i] > '9') return false;
      r = r * 10 + (t[i] - '0');
    }
    *v = r;
    return true;
  };
  int y, mo, d, h, mi, s;
  if (!num(0, 4, &y) || t.size() < 19 || t[4] != '-' || !num(5, 2, &mo) || t[7] != '-' ||
      !num(8, 2, &d) || (t[10] != 'T' && t[10] != 't' && t[10] != ' ') || !num(11, 2, &h) ||
      t[13] != ':' || !num(14, 2, &mi) || t[16] != ':' || !num(17, 2, &s))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return false;
  size_t p = 19;
  int64_t ms = 0;
  if (p < t.size() && t[p] == '.') {
    ++p;
    int digits = 0;
    while (p < t.size() && t[p] >= '0' && t[p] <= '9') {
      if (digits < 3) ms = ms * 10 + (t[p] - '0');
      ++digits;
      ++p;
    }
    if (digits == 0) return false;
    for (int k = digits; k < 3; ++k) ms *= 10;
  }
  int64_t offset_s = 0;
  if (p < t.size() && (t[p] == 'Z' || t[p] == 'z')) {
    ++p;
  } else if (p < t.size() && (t[p] == '+' || t[p] == '-')) {
    int oh, om;
    if (!num(p + 1, 2, &oh) || p + 3 >= t.size() || t[p + 3] != ':' || !num(p + 4, 2, &om))
      return false;
    offset_s = (oh * 3600 + om * 60) * (t[p] == '-' ? -1 : 1);
    p += 6;
  } else {
    return false;
  }
  if (p != t.size()) return false;
  int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  *out = ((days * 86400 + h * 3600 + mi * 60 + s) - offset_s) * 1000 + ms;
  return true;
}

}  // namespace spanpipe
