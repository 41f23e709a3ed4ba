#include "serve/mixture_quantile.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace spanpipe::serve {
namespace {

// The 0-based rank of the sketch's q-quantile among n values.
double RankOf(double q, double n) {
  return std::floor(q * (n - 1));
}

// A row's values made usable: within [min, max] and non-decreasing (sketch percentiles may stray
// by their relative error), and not negative (no duration is; the buckets below rely on it).
void Knots(const RowQuantiles& r, double* y) {
  const double lo = std::max(0.0, r.at[0]), hi = std::max(lo, r.at[5]);
  y[0] = lo;
  for (int j = 1; j < 6; ++j) y[j] = std::clamp(r.at[j], y[j - 1], hi);
  y[5] = hi;
}

// Where the count of durations up to x changes: from x on its slope (requests per ms) changes by
// `slope`, and `mass` requests sit at x itself.
struct Event {
  double x, slope, mass;
};

void AddRow(const RowQuantiles& r, std::vector<Event>* events) {
  const double n = std::max(1.0, std::round(r.requests));
  double y[6];
  Knots(r, y);
  double last_rank = -1, last_value = y[0];
  for (int j = 0; j < 6; ++j) {
    const double rank = j == 5 ? n - 1 : RankOf(kKnotQuantiles[j], n);
    if (rank <= last_rank) continue;  // a rank stated twice: its first value
    const double between = rank - last_rank - 1;
    if (between > 0) {
      if (y[j] > last_value) {
        const double s = between / (y[j] - last_value);
        events->push_back({last_value, s, 0});
        events->push_back({y[j], -s, 0});
      } else {
        events->push_back({y[j], 0, between});
      }
    }
    events->push_back({y[j], 0, 1});
    last_rank = rank;
    last_value = y[j];
  }
}

// Positive doubles order as their bit patterns: buckets of equal bit width are log-spaced.
uint64_t Bits(double x) {
  uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

// The sweep over sorted events [begin, end), from a state where `cum` durations are at or below x
// and the count grows by `slope` per ms; `stop` bounds the linear part after the last event. The
// first point with more than `rank` durations at or below it, or NaN if not reached before stop.
double Sweep(const Event* begin, const Event* end, double cum, double slope, double x, double stop,
             double rank, double eps) {
  for (const Event* e = begin;;) {
    const double next = e < end ? e->x : stop;
    const double reached = cum + slope * (next - x);
    if (reached > rank + eps && slope > 0) return std::clamp(x + (rank - cum) / slope, x, next);
    if (e == end) return NAN;
    cum = reached;
    x = next;
    for (; e < end && e->x == x; ++e) {
      cum += e->mass;
      slope += e->slope;
    }
    if (cum > rank + eps) return x;
  }
}

}  // namespace

double MixtureQuantile(const std::vector<RowQuantiles>& rows, double q, size_t sort_below) {
  q = std::clamp(q, 0.0, 1.0);
  const RowQuantiles* only = nullptr;
  size_t with_requests = 0;
  double total = 0;
  for (const RowQuantiles& r : rows) {
    if (!(r.requests > 0)) continue;
    ++with_requests;
    only = &r;
    total += std::max(1.0, std::round(r.requests));
  }
  if (with_requests == 0) return 0;
  if (with_requests == 1)
    for (int j = 0; j < 6; ++j)
      if (q == kKnotQuantiles[j]) return only->at[j];  // one row: exactly what it states

  std::vector<Event> events;
  events.reserve(rows.size() * 11);  // a row makes at most 16 points; most make 1 to 11
  for (const RowQuantiles& r : rows)
    if (r.requests > 0) AddRow(r, &events);
  auto by_x = [](const Event& a, const Event& b) { return a.x < b.x; };
  // Counts are whole numbers summed in doubles; the spread parts add rounding, which eps absorbs.
  const double rank = q * (total - 1), eps = 1e-9 * total;
  double lo = INFINITY, hi = 0;
  for (const Event& e : events) lo = std::min(lo, e.x), hi = std::max(hi, e.x);
  if (events.size() < sort_below || !(hi > lo)) {
    std::sort(events.begin(), events.end(), by_x);
    double v =
        Sweep(events.data(), events.data() + events.size(), 0, 0, events.front().x, hi, rank, eps);
    return std::isnan(v) ? hi : v;  // not reached: rounding; the largest duration
  }

  // Many rows (a day's summary: ~40 k events): no full sort. Events go into log-spaced buckets
  // by x; per bucket the sums of masses, slope changes and slope change x position give the count
  // at or below any x between buckets, cum(x) = M + S x - SX over the buckets before x. The
  // bucket where the count passes the rank is sorted and swept alone.
  const uint64_t b_lo = Bits(lo), range = Bits(hi) - b_lo;
  const size_t want = std::max<size_t>(events.size() / 8, 64);
  int shift = 0;
  while ((range >> shift) >= want) ++shift;
  const size_t nb = static_cast<size_t>(range >> shift) + 1;
  struct Bucket {
    double m = 0, s = 0, sx = 0, min_x = INFINITY;
  };
  std::vector<Bucket> buckets(nb);
  auto bucket_of = [&](double x) { return static_cast<size_t>((Bits(x) - b_lo) >> shift); };
  for (const Event& e : events) {
    Bucket& b = buckets[bucket_of(e.x)];
    b.m += e.mass, b.s += e.slope, b.sx += e.slope * e.x, b.min_x = std::min(b.min_x, e.x);
  }
  double m = 0, s = 0, sx = 0;  // sums over the buckets before i
  for (size_t i = 0; i < nb; ++i) {
    const Bucket& b = buckets[i];
    if (b.min_x == INFINITY) continue;
    size_t j = i + 1;
    while (j < nb && buckets[j].min_x == INFINITY) ++j;
    const double stop = j < nb ? buckets[j].min_x : hi;
    const double m2 = m + b.m, s2 = s + b.s, sx2 = sx + b.sx;
    if (j == nb || m2 + s2 * stop - sx2 > rank + eps) {
      std::vector<Event> in;
      for (const Event& e : events)
        if (bucket_of(e.x) == i) in.push_back(e);
      std::sort(in.begin(), in.end(), by_x);
      double v = Sweep(in.data(), in.data() + in.size(), m + s * b.min_x - sx, s, b.min_x, stop,
                       rank, eps);
      if (!std::isnan(v)) return v;
      if (j == nb) return hi;  // not reached: rounding; the largest duration
    }
    m = m2, s = s2, sx = sx2;
  }
  return hi;
}

double MixtureQuantile(const std::vector<RowQuantiles>& rows, double q) {
  return MixtureQuantile(rows, q, 64);
}

}  // namespace spanpipe::serve
