#include "loadgen/rate_search.h"

#include <algorithm>

namespace parley::loadgen {

RateSearch::RateSearch(double start, double precision, int max_steps, double min_rate)
    : current_(start), precision_(precision), max_steps_(max_steps), min_rate_(min_rate) {
  if (current_ < min_rate_) current_ = min_rate_;
}

void RateSearch::Report(bool passed) {
  if (done_) return;
  ++steps_;
  if (passed) {
    lo_ = lo_ ? std::max(*lo_, current_) : current_;
  } else {
    hi_ = hi_ ? std::min(*hi_, current_) : current_;
  }
  if (lo_ && hi_) {
    if (*hi_ <= *lo_ * (1.0 + precision_)) {
      done_ = true;
      return;
    }
    current_ = (*lo_ + *hi_) / 2.0;
  } else if (lo_) {
    current_ = *lo_ * 2.0;
  } else {
    current_ = *hi_ / 2.0;
    if (current_ < min_rate_) {
      done_ = true;
      return;
    }
  }
  if (steps_ >= max_steps_) done_ = true;
}

bool RunHeld(const RunVerdictInput& in, double p99_bound_ms) {
  if (in.delivered <= 0) return false;
  if (in.lost != 0 || in.duplicated != 0 || in.reordered != 0 || in.errors != 0) return false;
  if (!(in.p99_ms < p99_bound_ms)) return false;
  // The generator must have offered what it claims (within 5%).
  if (in.offered_per_s > 0 && in.achieved_send_per_s < 0.95 * in.offered_per_s) return false;
  return true;
}

}  // namespace parley::loadgen
