#include "loadgen/tracker.h"

#include <algorithm>

namespace parley::loadgen {

StreamTracker::Outcome StreamTracker::Receive(int64_t counter) {
  if (counter < 0) {
    counts_.duplicated++;
    return Outcome::kDuplicate;
  }
  if (counter == next_) {
    next_++;
    counts_.received++;
    return Outcome::kInOrder;
  }
  if (counter > next_) {
    missing_.emplace_back(next_, counter);
    next_ = counter + 1;
    counts_.received++;
    return Outcome::kAhead;
  }
  if (TakeMissing(counter)) {
    counts_.received++;
    counts_.reordered++;
    return Outcome::kLate;
  }
  counts_.duplicated++;
  return Outcome::kDuplicate;
}

bool StreamTracker::TakeMissing(int64_t counter) {
  for (size_t i = 0; i < missing_.size(); ++i) {
    auto [from, to] = missing_[i];
    if (counter < from || counter >= to) continue;
    if (to - from == 1) {
      missing_.erase(missing_.begin() + static_cast<long>(i));
    } else if (counter == from) {
      missing_[i].first++;
    } else if (counter == to - 1) {
      missing_[i].second--;
    } else {
      missing_[i].second = counter;
      missing_.insert(missing_.begin() + static_cast<long>(i) + 1, {counter + 1, to});
    }
    return true;
  }
  return false;
}

StreamCounts StreamTracker::Finish(int64_t sent) const {
  StreamCounts c = counts_;
  c.lost = std::max<int64_t>(0, sent - c.received);
  return c;
}

int64_t StreamTracker::missing() const {
  int64_t n = 0;
  for (const auto& [from, to] : missing_) n += to - from;
  return n;
}

void StreamTracker::Reset() {
  next_ = 0;
  missing_.clear();
  counts_ = {};
}

}  // namespace parley::loadgen
