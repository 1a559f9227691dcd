// HttpAnswers: an HTTP request's commit answer reaches the worker waiting
// for it, and nothing else does.
#include "gateway/http_answers.h"

#include <gtest/gtest.h>

#include <thread>

#include "protocol/frame.h"

namespace parley::gateway {
namespace {

using namespace std::chrono_literals;

fanout::Event AnswerTo(uint64_t id, uint32_t io_thread, std::string frame) {
  return fanout::Event::ToSession(log::Origin{1, io_thread, id, 0}, protocol::MakeFrame(std::move(frame)));
}

TEST(HttpAnswers, TheWaiterGetsItsOwnAnswer) {
  HttpAnswers answers;
  const uint64_t first = answers.Expect();
  const uint64_t second = answers.Expect();
  EXPECT_NE(first, second);
  EXPECT_GE(first, uint64_t{1} << 63) << "apart from the sessions' ids";
  std::thread committer([&] {
    std::this_thread::sleep_for(20ms);
    fanout::EventBatch batch;
    batch.push_back(AnswerTo(second, kHttpIoThread, R"({"type":"sent"})"));
    batch.push_back(AnswerTo(first, 0, R"({"type":"for a connection"})"));  // a session's, not ours
    batch.push_back(AnswerTo(first, kHttpIoThread, R"({"type":"error"})"));
    batch.push_back(fanout::Event::ToConversation(ConversationId(1), protocol::MakeFrame("{}")));
    answers.Take(batch);
  });
  EXPECT_EQ(answers.Wait(first, 5s), R"({"type":"error"})");
  EXPECT_EQ(answers.Wait(second, 5s), R"({"type":"sent"})");
  committer.join();
}

TEST(HttpAnswers, NoAnswerInTimeIsNulloptAndTheIdIsForgotten) {
  HttpAnswers answers;
  const uint64_t id = answers.Expect();
  EXPECT_EQ(answers.Wait(id, 10ms), std::nullopt);
  // A late answer finds nobody waiting and is dropped.
  fanout::EventBatch late;
  late.push_back(AnswerTo(id, kHttpIoThread, R"({"type":"sent"})"));
  answers.Take(late);
  EXPECT_EQ(answers.Wait(id, 10ms), std::nullopt);
}

}  // namespace
}  // namespace parley::gateway
