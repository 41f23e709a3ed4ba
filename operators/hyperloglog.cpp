#include "operators/hyperloglog.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/coding.h"
#include "operators/hash64.h"

namespace spanpipe {

namespace {
enum : uint8_t { kModeSet = 0, kModeSparseRegisters = 1, kModeDense = 2 };

// Ertl's sigma and tau series (Algorithm 6 of the paper); both converge in a few dozen steps.
double Sigma(double x) {
  if (x == 1.0) return std::numeric_limits<double>::infinity();
  double y = 1.0, z = x;
  for (;;) {
    x *= x;
    double z_old = z;
    z += x * y;
    y += y;
    if (z == z_old) return z;
  }
}
double Tau(double x) {
  if (x == 0.0 || x == 1.0) return 0.0;
  double y = 1.0, z = 1.0 - x;
  for (;;) {
    x = std::sqrt(x);
    double z_old = z;
    y *= 0.5;
    z -= (1.0 - x) * (1.0 - x) * y;
    if (z == z_old) return z / 3.0;
  }
}
}  // namespace

HyperLogLog::HyperLogLog(int precision) : p_(std::clamp(precision, 4, 18)) {}

void HyperLogLog::Add(std::string_view item) {
  AddHash(Hash64(item));
}

void HyperLogLog::AddHash(uint64_t hash) {
  if (!registers_.empty()) {
    AddToRegisters(hash);
    return;
  }
  // Sorted: a binary search instead of a scan of up to 64 hashes (a rollup span adds to six sets).
  const auto at = std::lower_bound(set_.begin(), set_.end(), hash);
  if (at != set_.end() && *at == hash) return;
  set_.insert(at, hash);
  if (set_.size() > kExactLimit) ToDense();
}

void HyperLogLog::AddToRegisters(uint64_t hash) {
  const uint64_t idx = hash >> (64 - p_);
  const uint64_t rest = hash << p_;
  // Rank = position of the first 1 bit in the remaining 64-p bits; all-zero gives 64-p+1.
  const int rank = rest == 0 ? 64 - p_ + 1 : std::countl_zero(rest) + 1;
  if (rank > registers_[idx]) Raise(idx, static_cast<uint8_t>(rank));
}

void HyperLogLog::ToDense() {
  ResetDense();
  for (uint64_t h : set_) AddToRegisters(h);
  set_.clear();
  set_.shrink_to_fit();
}

bool HyperLogLog::Merge(const HyperLogLog& other) {
  if (other.p_ != p_) return false;
  if (registers_.empty() && set_.empty() && !other.registers_.empty()) {
    // Dense into an empty sketch: the max of other's registers over zeros is other's registers.
    registers_ = other.registers_;
    hist_ = other.hist_;
    return true;
  }
  if (other.registers_.empty()) {
    for (uint64_t h : other.set_) AddHash(h);
    return true;
  }
  if (registers_.empty()) ToDense();
  for (size_t i = 0; i < registers_.size(); ++i)
    if (other.registers_[i] > registers_[i]) Raise(i, other.registers_[i]);
  return true;
}

uint64_t HyperLogLog::Estimate() const {
  if (registers_.empty()) return set_.size();
  const int q = 64 - p_;
  const double m = static_cast<double>(registers_.size());
  const std::vector<uint32_t>& hist = hist_;
  double z = m * Tau(1.0 - hist[q + 1] / m);
  for (int k = q; k >= 1; --k) z = 0.5 * (z + hist[k]);
  z += m * Sigma(hist[0] / m);
  const double alpha_inf = 1.0 / (2.0 * std::log(2.0));
  return static_cast<uint64_t>(std::llround(alpha_inf * m * m / z));
}

void HyperLogLog::EncodeTo(std::string* out) const {
  if (registers_.empty()) {
    out->push_back(static_cast<char>(kModeSet));
    out->push_back(static_cast<char>(p_));
    PutVarint64(out, set_.size());
    const size_t at = out->size();
    out->resize(at + 8 * set_.size());  // one resize, not an append per hash
    char* p = out->data() + at;
    for (uint64_t h : set_) p = EncodeFixed64BETo(p, h);
    return;
  }
  const size_t nonzero = registers_.size() - hist_[0];
  // A sparse entry costs ~2-3 bytes; the dense form costs 1 byte per register.
  if (nonzero * 3 < registers_.size()) {
    out->push_back(static_cast<char>(kModeSparseRegisters));
    out->push_back(static_cast<char>(p_));
    PutVarint64(out, nonzero);
    size_t prev = 0;
    // Eight registers at a time: in this form most words are all zero (2^p is a multiple of 8).
    for (size_t w = 0; w < registers_.size(); w += 8) {
      uint64_t word;
      std::memcpy(&word, registers_.data() + w, 8);
      if (word == 0) continue;
      for (size_t i = w; i < w + 8; ++i) {
        if (!registers_[i]) continue;
        PutVarint64(out, i - prev);
        out->push_back(static_cast<char>(registers_[i]));
        prev = i;
      }
    }
    return;
  }
  out->push_back(static_cast<char>(kModeDense));
  out->push_back(static_cast<char>(p_));
  out->append(reinterpret_cast<const char*>(registers_.data()), registers_.size());
}

bool HyperLogLog::DecodeFrom(std::string_view* in) {
  if (in->size() < 2) return false;
  const uint8_t mode = static_cast<uint8_t>((*in)[0]);
  const int p = static_cast<uint8_t>((*in)[1]);
  if (p < 4 || p > 18) return false;
  in->remove_prefix(2);
  // Reset in place (not a new object): a sketch decoded again and again keeps its buffers.
  p_ = p;
  set_.clear();
  registers_.clear();
  hist_.clear();
  const size_t m = size_t{1} << p;
  const int max_rank = 64 - p + 1;
  switch (mode) {
    case kModeSet: {
      uint64_t n;
      if (!GetVarint64(in, &n) || n > kExactLimit || n * 8 > in->size()) return false;
      set_.resize(n);
      for (uint64_t i = 0; i < n; ++i) GetFixed64BE(in, &set_[i]);
      // Encodings before the set was kept sorted hold it in insertion order.
      if (!std::is_sorted(set_.begin(), set_.end())) std::sort(set_.begin(), set_.end());
      set_.erase(std::unique(set_.begin(), set_.end()), set_.end());
      return true;
    }
    case kModeSparseRegisters: {
      uint64_t n;
      if (!GetVarint64(in, &n) || n > m) return false;
      ResetDense();
      uint64_t idx = 0;
      for (uint64_t i = 0; i < n; ++i) {
        uint64_t gap;
        if (!GetVarint64(in, &gap) || in->empty()) return false;
        idx += gap;
        const int r = static_cast<uint8_t>((*in)[0]);
        in->remove_prefix(1);
        if (idx >= m || r > max_rank) return false;
        // Raise keeps the histogram right even for a repeated index (a gap of 0 after the first).
        if (r > registers_[idx]) Raise(idx, static_cast<uint8_t>(r));
      }
      return true;
    }
    case kModeDense: {
      if (in->size() < m) return false;
      registers_.assign(in->data(), in->data() + m);
      in->remove_prefix(m);
      hist_.assign(static_cast<size_t>(max_rank + 1), 0);
      for (uint8_t r : registers_) {
        if (r > max_rank) return false;
        ++hist_[r];
      }
      return true;
    }
    default:
      return false;
  }
}

}  // namespace spanpipe
