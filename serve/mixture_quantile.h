// Percentiles of several rollup rows. A record carries its window's duration percentiles, not its
// sketch, so a point made of several rows (all models of an hour, a day of minutes) cannot merge
// sketches. The request-weighted mean of the rows' p95s is no p95 of the whole: rows of one or two
// requests each have p50 = p95, and their mean sits near the average (the dashboard's p50 and p95
// lines met). Instead each row is rebuilt as the durations it stands for, and the quantile of all
// of them is taken as the sketch takes it (the value at rank floor(q (n - 1)), 0-based).
//
// A row of n requests states its durations at ranks 0 (min), floor(q (n - 1)) for q = .5, .9,
// .95, .99, and n - 1 (max): one request at each of those values, and the requests ranked between
// two of them spread evenly between their values. A row of up to three requests is thus exact, a
// large row is linear between its percentiles, and one row gives its own percentiles back.
#pragma once

#include <cstddef>
#include <vector>

namespace spanpipe::serve {

// The quantiles a rollup record states, and the durations at them.
inline constexpr double kKnotQuantiles[6] = {0.0, 0.5, 0.9, 0.95, 0.99, 1.0};

struct RowQuantiles {
  double requests = 0;  // a whole number
  double at[6] = {};    // min, p50, p90, p95, p99, max
};

// The q-quantile (0 <= q <= 1) of the durations `rows` stand for; 0 when they hold no request.
double MixtureQuantile(const std::vector<RowQuantiles>& rows, double q);
// The same, sorting all the rows' points when there are fewer than sort_below of them (else only
// the part where the answer lies). Both ways give the same answer; tests compare them.
double MixtureQuantile(const std::vector<RowQuantiles>& rows, double q, size_t sort_below);

}  // namespace spanpipe::serve
