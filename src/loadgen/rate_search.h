#pragma once
// RateSearch: the step logic of --find-max. Starting at a rate, it doubles
// while runs pass, halves while they fail before any pass, then bisects
// between the highest pass and the lowest fail until they are within
// `precision` (relative) of each other or `max_steps` runs were made.
#include <optional>

namespace parley::loadgen {

class RateSearch {
 public:
  RateSearch(double start, double precision = 0.1, int max_steps = 10, double min_rate = 0.01);

  bool Done() const { return done_; }
  double Current() const { return current_; }
  // The outcome of a run at Current(); moves to the next rate (or finishes).
  void Report(bool passed);
  // The highest rate that passed, if any.
  std::optional<double> Best() const { return lo_; }
  std::optional<double> LowestFail() const { return hi_; }
  int steps() const { return steps_; }

 private:
  double current_;
  double precision_;
  int max_steps_;
  double min_rate_;
  int steps_ = 0;
  bool done_ = false;
  std::optional<double> lo_;  // highest pass
  std::optional<double> hi_;  // lowest fail
};

// Whether one run "held": p99 under the bound and nothing lost, duplicated
// or reordered, no errors, and the senders actually offered (nearly) the rate.
struct RunVerdictInput {
  double p99_ms = 0;
  long long lost = 0;
  long long duplicated = 0;
  long long reordered = 0;
  long long errors = 0;
  double offered_per_s = 0;
  double achieved_send_per_s = 0;
  long long delivered = 0;
};
bool RunHeld(const RunVerdictInput& in, double p99_bound_ms = 50.0);

}  // namespace parley::loadgen
