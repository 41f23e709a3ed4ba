#include "operators/ddsketch.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/coding.h"

namespace spanpipe {

DDSketch::DDSketch(double relative_accuracy) {
  if (!(relative_accuracy > 0 && relative_accuracy < 1)) relative_accuracy = 0.005;
  alpha_ = relative_accuracy;
  gamma_ = (1 + alpha_) / (1 - alpha_);
  inv_log_gamma_ = 1.0 / std::log(gamma_);
}

int32_t DDSketch::IndexOf(double value) const {
  // Bucket i holds (gamma^(i-1), gamma^i].
  double idx = std::ceil(std::log(value) * inv_log_gamma_);
  idx = std::clamp(idx, -1e9, 1e9);
  return static_cast<int32_t>(idx);
}

double DDSketch::ValueOf(int32_t index) const {
  // The point of the bucket whose relative distance to both edges is alpha.
  return 2.0 * std::pow(gamma_, index) / (gamma_ + 1.0);
}

void DDSketch::Reserve(int32_t index) {
  if (counts_.empty()) {
    offset_ = index;
    counts_.assign(1, 0);
    return;
  }
  int64_t lo = std::min<int64_t>(offset_, index);
  int64_t hi = std::max<int64_t>(offset_ + static_cast<int64_t>(counts_.size()) - 1, index);
  if (lo == offset_ && hi == offset_ + static_cast<int64_t>(counts_.size()) - 1) return;
  if (hi - lo + 1 > static_cast<int64_t>(kMaxBuckets)) {
    // Collapse the lowest buckets into lo' = hi - kMaxBuckets + 1 (DDSketch's "collapsing lowest").
    int64_t new_lo = hi - static_cast<int64_t>(kMaxBuckets) + 1;
    std::vector<uint64_t> next(kMaxBuckets, 0);
    for (size_t i = 0; i < counts_.size(); ++i) {
      int64_t idx = std::max<int64_t>(offset_ + static_cast<int64_t>(i), new_lo);
      next[idx - new_lo] += counts_[i];
    }
    counts_ = std::move(next);
    offset_ = static_cast<int32_t>(new_lo);
    return;
  }
  std::vector<uint64_t> next(hi - lo + 1, 0);
  std::copy(counts_.begin(), counts_.end(), next.begin() + (offset_ - lo));
  counts_ = std::move(next);
  offset_ = static_cast<int32_t>(lo);
}

void DDSketch::Add(double value, uint64_t count) {
  if (count == 0 || std::isnan(value)) return;
  count_ += count;
  if (value <= kMinIndexable) {
    zero_count_ += count;
    return;
  }
  AddAt(IndexOf(value), count);
}

void DDSketch::AddAt(int32_t index, uint64_t count) {
  Reserve(index);
  // Reserve may have collapsed the low end: clamp into range.
  int64_t pos = std::max<int64_t>(static_cast<int64_t>(index) - offset_, 0);
  counts_[pos] += count;
}

DDSketch::Indexed DDSketch::Index(double value) const {
  return {value, alpha_, value > kMinIndexable ? IndexOf(value) : 0};
}

void DDSketch::Add(const Indexed& v) {
  if (v.alpha != alpha_ || !(v.value > kMinIndexable)) return Add(v.value);  // NaN, zero, other
  ++count_;
  AddAt(v.index, 1);
}

void DDSketch::Merge(const DDSketch& other) {
  if (other.count_ == 0) return;
  if (count_ == 0 && counts_.empty() && other.alpha_ == alpha_) {
    // Into an empty sketch (the first partial of a merged row): the same buckets as the general
    // path below builds, without growing the vector twice.
    count_ = other.count_;
    zero_count_ = other.zero_count_;
    if (!other.counts_.empty()) offset_ = other.offset_;
    counts_ = other.counts_;
    return;
  }
  if (other.alpha_ != alpha_) {
    if (other.zero_count_) Add(0, other.zero_count_);
    for (size_t i = 0; i < other.counts_.size(); ++i)
      if (other.counts_[i])
        Add(other.ValueOf(other.offset_ + static_cast<int32_t>(i)), other.counts_[i]);
    return;
  }
  count_ += other.count_;
  zero_count_ += other.zero_count_;
  if (other.counts_.empty()) return;
  Reserve(other.offset_);
  Reserve(other.offset_ + static_cast<int32_t>(other.counts_.size()) - 1);
  for (size_t i = 0; i < other.counts_.size(); ++i) {
    int64_t pos = std::max<int64_t>(other.offset_ + static_cast<int64_t>(i) - offset_, 0);
    counts_[pos] += other.counts_[i];
  }
}

double DDSketch::Quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  double rank = q * static_cast<double>(count_ - 1);
  uint64_t seen = zero_count_;
  if (static_cast<double>(seen) > rank) return 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (static_cast<double>(seen) > rank) return ValueOf(offset_ + static_cast<int32_t>(i));
  }
  return counts_.empty() ? 0 : ValueOf(offset_ + static_cast<int32_t>(counts_.size()) - 1);
}

void DDSketch::Quantiles(const double* qs, size_t n, double* out) const {
  if (count_ == 0 || n == 0) {
    std::fill(out, out + n, 0.0);
    return;
  }
  // Quantile q is in the first bucket where the values counted through it exceed its rank
  // r = q (count - 1), i.e. (counts being integers below 2^53, exact in a double) where they reach
  // floor(r) + 1: one integer comparison per bucket.
  auto threshold = [&](size_t j) -> uint64_t {
    const double r = std::clamp(qs[j], 0.0, 1.0) * static_cast<double>(count_ - 1);
    if (!(r >= 0) || r >= 0x1p64) return std::numeric_limits<uint64_t>::max();  // NaN: never
    return static_cast<uint64_t>(r) + 1;
  };
  size_t j = 0;
  uint64_t next = threshold(0);
  auto answer = [&](double v) {
    out[j] = v;
    next = ++j < n ? threshold(j) : std::numeric_limits<uint64_t>::max();
  };
  uint64_t seen = zero_count_;
  while (j < n && seen >= next) answer(0);
  for (size_t i = 0; i < counts_.size() && j < n; ++i) {
    seen += counts_[i];
    if (seen < next) continue;
    const double v = ValueOf(offset_ + static_cast<int32_t>(i));
    while (j < n && seen >= next) answer(v);
  }
  // Ranks past the last bucket (rounding): the last bucket, as Quantile answers.
  for (; j < n; ++j)
    out[j] = counts_.empty() ? 0 : ValueOf(offset_ + static_cast<int32_t>(counts_.size()) - 1);
}

void DDSketch::EncodeTo(std::string* out) const {
  PutDouble(out, alpha_);
  PutVarint64(out, zero_count_);
  size_t nonzero = 0;
  for (uint64_t c : counts_) nonzero += c != 0;
  PutVarint64(out, nonzero);
  // Buckets into room for their longest form, then trimmed: one resize instead of two appends
  // per bucket (a row's state and its partial are encoded at every checkpoint).
  const size_t at = out->size();
  out->resize(at + 20 * nonzero);
  char* p = out->data() + at;
  int64_t prev = 0;
  bool first = true;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (!counts_[i]) continue;
    int64_t idx = offset_ + static_cast<int64_t>(i);
    // First index zig-zagged (may be negative), then positive gaps.
    p = EncodeVarint64To(p, first ? ZigZag(idx) : static_cast<uint64_t>(idx - prev));
    p = EncodeVarint64To(p, counts_[i]);
    prev = idx;
    first = false;
  }
  out->resize(static_cast<size_t>(p - out->data()));
}

bool DDSketch::DecodeFrom(std::string_view* in) {
  double alpha;
  uint64_t zero, n;
  if (!GetDouble(in, &alpha) || !(alpha > 0 && alpha < 1)) return false;
  if (!GetVarint64(in, &zero) || !GetVarint64(in, &n)) return false;
  if (n > kMaxBuckets) return false;
  // Two passes over the buckets (bounds, then counts) into counts_ as it is: a sketch decoded
  // again and again (the merge's partials) keeps its buffer, and no list of pairs is built.
  std::string_view body = *in;
  int64_t idx = 0, first = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t raw, c;
    if (!GetVarint64(in, &raw) || !GetVarint64(in, &c)) return false;
    if (i == 0) {
      idx = first = UnZigZag(raw);
    } else {
      if (raw == 0 || raw > kMaxBuckets) return false;
      idx += static_cast<int64_t>(raw);
    }
    if (idx < -1000000000LL || idx > 1000000000LL) return false;
  }
  if (n > 0 && idx - first >= static_cast<int64_t>(kMaxBuckets)) return false;
  if (alpha != alpha_) *this = DDSketch(alpha);
  zero_count_ = zero;
  count_ = zero;
  offset_ = 0;
  counts_.clear();
  if (n == 0) return true;
  offset_ = static_cast<int32_t>(first);
  counts_.assign(static_cast<size_t>(idx - first + 1), 0);
  idx = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t raw = 0, c = 0;
    GetVarint64(&body, &raw);  // validated by the first pass
    GetVarint64(&body, &c);
    idx = i == 0 ? UnZigZag(raw) : idx + static_cast<int64_t>(raw);
    counts_[static_cast<size_t>(idx - offset_)] = c;
    count_ += c;
  }
  return true;
}

}  // namespace spanpipe
