#include "fanout/local_fanout.h"

namespace parley::fanout {
namespace {

// Owns nothing but the sink pointer, set once at start-up; Publish runs on
// any thread and hands the batch over without copying it.
class LocalFanOut final : public FanOut {
 public:
  void SetSink(DeliverySink* sink) override { sink_ = sink; }
  void Publish(EventBatch batch) override {
    if (sink_ && !batch.empty()) sink_->Deliver(std::make_shared<const EventBatch>(std::move(batch)));
  }

 private:
  DeliverySink* sink_ = nullptr;
};

}  // namespace

std::unique_ptr<FanOut> CreateLocal() { return std::make_unique<LocalFanOut>(); }

}  // namespace parley::fanout
