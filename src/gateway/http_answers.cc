#include "gateway/http_answers.h"

namespace parley::gateway {

uint64_t HttpAnswers::Expect() {
  std::lock_guard lock(mu_);
  const uint64_t id = next_++;
  waiting_.emplace(id, std::nullopt);
  expected_.store(waiting_.size(), std::memory_order_release);
  return id;
}

std::optional<std::string> HttpAnswers::Wait(uint64_t id, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] {
    auto it = waiting_.find(id);
    return it == waiting_.end() || it->second.has_value();
  });
  std::optional<std::string> answer;
  if (auto it = waiting_.find(id); it != waiting_.end()) {
    answer = std::move(it->second);
    waiting_.erase(it);
  }
  expected_.store(waiting_.size(), std::memory_order_release);
  return answer;
}

void HttpAnswers::Take(const fanout::EventBatch& batch) {
  // Most batches carry no answer for an HTTP request: one load decides.
  if (expected_.load(std::memory_order_acquire) == 0) return;
  bool any = false;
  {
    std::lock_guard lock(mu_);
    for (const fanout::Event& e : batch) {
      if (e.target != fanout::Event::Target::kSession || e.origin.io_thread != kHttpIoThread || !e.frame)
        continue;
      auto it = waiting_.find(e.origin.session);
      if (it == waiting_.end() || it->second) continue;  // not ours, or answered already (a repeat)
      it->second = *e.frame;
      any = true;
    }
  }
  if (any) cv_.notify_all();
}

}  // namespace parley::gateway
