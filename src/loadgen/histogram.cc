#include "loadgen/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace parley::loadgen {
namespace {
constexpr int kBuckets = static_cast<int>((Histogram::kMaxBits - Histogram::kSubBits + 1) * Histogram::kSub);
}  // namespace

Histogram::Histogram() : counts_(kBuckets, 0) {}

int Histogram::IndexOf(int64_t value) {
  if (value < 0) value = 0;
  if (value > kMaxValue) value = kMaxValue;
  if (value < 2 * kSub) return static_cast<int>(value);
  int msb = 63 - std::countl_zero(static_cast<uint64_t>(value));
  int shift = msb - kSubBits;    // >= 1
  int64_t sub = value >> shift;  // [kSub, 2*kSub)
  return static_cast<int>(shift * kSub + sub);
}

int64_t Histogram::LowestOf(int index) {
  if (index < 2 * kSub) return index;
  int shift = static_cast<int>(index / kSub) - 1;
  int64_t sub = index - shift * kSub;
  return sub << shift;
}

int64_t Histogram::HighestOf(int index) {
  if (index < 2 * kSub) return index;
  int shift = static_cast<int>(index / kSub) - 1;
  int64_t sub = index - shift * kSub;
  return ((sub + 1) << shift) - 1;
}

void Histogram::Record(int64_t value) {
  if (value < 0) value = 0;
  if (value > kMaxValue) value = kMaxValue;
  counts_[IndexOf(value)]++;
  if (count_ == 0 || value < min_) min_ = value;
  if (value > max_) max_ = value;
  count_++;
  sum_ += value;
}

void Histogram::Merge(const Histogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  if (count_ == 0 || other.min_ < min_) min_ = other.min_;
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

void Histogram::Reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = sum_ = min_ = max_ = 0;
}

int64_t Histogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  int64_t rank = static_cast<int64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<int64_t>(rank, 1, count_);
  int64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      int idx = static_cast<int>(i);
      int64_t mid = LowestOf(idx) + (HighestOf(idx) - LowestOf(idx)) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace parley::loadgen
