#pragma once
// StreamTracker: what one receiver saw of one sender's numbered messages
// (counters 0, 1, 2, ...). Each receiver keeps one per sender it listens to
// and so checks loss, duplicates and order itself.
#include <cstdint>
#include <utility>
#include <vector>

namespace parley::loadgen {

struct StreamCounts {
  int64_t received = 0;    // distinct counters received
  int64_t duplicated = 0;  // a counter received again
  int64_t reordered = 0;   // a counter received after a higher one
  int64_t lost = 0;        // counters sent but never received (after Finish)
  StreamCounts& operator+=(const StreamCounts& o) {
    received += o.received;
    duplicated += o.duplicated;
    reordered += o.reordered;
    lost += o.lost;
    return *this;
  }
};

class StreamTracker {
 public:
  enum class Outcome { kInOrder, kAhead, kLate, kDuplicate };

  Outcome Receive(int64_t counter);
  // Counts, with `sent` the number of messages the sender sent (0..sent-1):
  // lost = sent - distinct received.
  StreamCounts Finish(int64_t sent) const;
  const StreamCounts& counts() const { return counts_; }
  int64_t next() const { return next_; }
  // Counters below next() not received (yet): lost so far unless they still
  // arrive late.
  int64_t missing() const;
  void Reset();

 private:
  bool TakeMissing(int64_t counter);
  int64_t next_ = 0;                                  // lowest counter above everything seen
  std::vector<std::pair<int64_t, int64_t>> missing_;  // [from, to) below next_, not seen yet
  StreamCounts counts_;
};

}  // namespace parley::loadgen
