#include "serve/mixture_quantile.h"

#include <algorithm>
#include <cmath>

namespace spanpipe::serve {
namespace {

// The 0-based rank of the sketch's q-quantile among n values.
double RankOf(double q, double n) {
  return std::floor(q * (n - 1));
}

// A row's values made usable: within [min, max] and non-decreasing (sketch percentiles may stray
// by their relative error).
void Knots(const RowQuantiles& r, double* y) {
  const double lo = r.at[0], hi = std::max(r.at[0], r.at[5]);
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

}  // namespace

double MixtureQuantile(const std::vector<RowQuantiles>& rows, double q) {
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
  events.reserve(rows.size() * 16);
  for (const RowQuantiles& r : rows)
    if (r.requests > 0) AddRow(r, &events);
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.x < b.x; });

  // The first x with more than `rank` durations at or below it. Counts are whole numbers summed in
  // doubles; the spread parts add rounding, which eps absorbs.
  const double rank = q * (total - 1), eps = 1e-9 * total;
  double cum = 0, slope = 0, x = events.front().x;
  for (size_t i = 0; i < events.size();) {
    const double next = events[i].x;
    const double reached = cum + slope * (next - x);
    if (reached > rank + eps && slope > 0) return std::clamp(x + (rank - cum) / slope, x, next);
    cum = reached;
    x = next;
    for (; i < events.size() && events[i].x == x; ++i) {
      cum += events[i].mass;
      slope += events[i].slope;
    }
    if (cum > rank + eps) return x;
  }
  return x;  // rounding: the largest duration
}

}  // namespace spanpipe::serve
