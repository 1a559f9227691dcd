#pragma once
// Histogram: an HDR-style log-linear histogram of non-negative integers
// (microseconds here). Values below 256 are kept exactly; above, each power
// of two is split into 128 buckets, so a reported value is within 1/256 of
// the true one (relative). Fixed memory (~36 KB), no allocation on Record.
#include <cstdint>
#include <vector>

namespace parley::loadgen {

class Histogram {
 public:
  static constexpr int kSubBits = 7;  // 128 sub-buckets per power of two
  static constexpr int64_t kSub = int64_t{1} << kSubBits;
  static constexpr int kMaxBits = 42;  // values clamp at 2^42 - 1
  static constexpr int64_t kMaxValue = (int64_t{1} << kMaxBits) - 1;

  Histogram();

  void Record(int64_t value);
  void Merge(const Histogram& other);
  void Reset();

  int64_t count() const { return count_; }
  int64_t min() const { return count_ ? min_ : 0; }
  int64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  // The value at percentile p (0..100): the representative value of the
  // bucket holding the ceil(p% * count)-th smallest sample, never above max().
  int64_t Percentile(double p) const;

  // Bucket arithmetic, exposed for tests.
  static int IndexOf(int64_t value);
  static int64_t LowestOf(int index);
  static int64_t HighestOf(int index);

 private:
  std::vector<int64_t> counts_;
  int64_t count_ = 0;
  int64_t sum_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
};

}  // namespace parley::loadgen
