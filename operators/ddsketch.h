// DDSketch (Masson, Rim, Lee, VLDB 2019): log-bucketed histogram whose quantiles have a relative
// error of at most `relative_accuracy`, and whose merge (bucket addition) is exact, so per-minute,
// per-partition sketches add up to the same sketch as the union of their values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace spanpipe {

class DDSketch {
 public:
  // Values at or below this go to the zero bucket (durations of 0 ms, clock noise).
  static constexpr double kMinIndexable = 1e-9;
  // Bucket count bound; beyond it the lowest buckets collapse into one (only the low quantiles of a
  // range spanning more than ~e^40 at 0.5% accuracy lose their guarantee).
  static constexpr size_t kMaxBuckets = 4096;

  explicit DDSketch(double relative_accuracy = 0.005);

  void Add(double value, uint64_t count = 1);
  // A value with its bucket index for sketches of one accuracy: a caller adding one value to
  // several sketches (a span's 1m, 1h and 1d rows) takes its logarithm once.
  struct Indexed {
    double value;
    double alpha;
    int32_t index;  // meaningful only when value > kMinIndexable
  };
  Indexed Index(double value) const;
  // Add(v.value), using v.index when v was indexed for this sketch's accuracy.
  void Add(const Indexed& v);
  // Empty again, as newly constructed with the same accuracy, keeping the bucket buffer.
  void Clear() {
    zero_count_ = count_ = 0;
    offset_ = 0;
    counts_.clear();
  }
  // Exact when both share the accuracy; otherwise re-adds `other`'s bucket values (approximate).
  void Merge(const DDSketch& other);
  // Value at rank floor(q * (count - 1)) of the sorted input, within relative_accuracy. 0 if empty.
  double Quantile(double q) const;
  // Quantile(qs[i]) for each of n ascending qs, in one pass over the buckets.
  void Quantiles(const double* qs, size_t n, double* out) const;

  uint64_t count() const { return count_; }
  double relative_accuracy() const { return alpha_; }
  bool empty() const { return count_ == 0; }
  // Heap bytes held (its buckets), for the bounded caches that keep sketches.
  size_t MemoryBytes() const { return counts_.capacity() * sizeof(uint64_t); }

  // Compact binary form: accuracy, zero count, then (index gap, count) for non-empty buckets only.
  void EncodeTo(std::string* out) const;
  bool DecodeFrom(std::string_view* in);

 private:
  int32_t IndexOf(double value) const;
  void AddAt(int32_t index, uint64_t count);
  double ValueOf(int32_t index) const;
  void Reserve(int32_t index);  // grows counts_ so `index` fits, collapsing if over kMaxBuckets

  double alpha_;
  double gamma_;
  double inv_log_gamma_;
  uint64_t zero_count_ = 0;
  uint64_t count_ = 0;
  int32_t offset_ = 0;            // index of counts_[0]
  std::vector<uint64_t> counts_;  // dense over [offset_, offset_ + size)
};

}  // namespace spanpipe
