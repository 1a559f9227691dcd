// The store's promises for search (PROTOCOL.md §6): whole words, phrases
// and prefixes; only conversations the viewer is a member of now; newest
// first; paging; edits found by their new text only; deleted entries never
// found. Run for every backend with the rest of StoreContract.
#include <gmock/gmock.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "store_contract_search.h"

namespace parley::store::contract {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

}  // namespace

TEST_P(SearchContract, FindsEveryWordCaseInsensitively) {
  Send(group_, alice_, "c1", "The quick brown fox");
  Send(group_, bob_, "c2", "the lazy dog");
  Send(group_, alice_, "c3", "Quick thinking, Fox!");
  EXPECT_THAT(Found(bob_, "quick"), ElementsAre("Quick thinking, Fox!", "The quick brown fox"));
  EXPECT_THAT(Found(bob_, "QUICK brown"), ElementsAre("The quick brown fox"));
  EXPECT_THAT(Found(alice_, "fox THE"), ElementsAre("The quick brown fox"));
  EXPECT_THAT(Found(bob_, "cat"), IsEmpty());
  // Whole words: a part of a word is not a word.
  EXPECT_THAT(Found(bob_, "qui"), IsEmpty());
  EXPECT_THAT(Found(bob_, "thinkin"), IsEmpty());
}

TEST_P(SearchContract, FindsPhrasesInOrder) {
  Send(group_, alice_, "c1", "meet at the red door");
  Send(group_, alice_, "c2", "the door is red");
  EXPECT_THAT(Found(bob_, "\"red door\""), ElementsAre("meet at the red door"));
  EXPECT_THAT(Found(bob_, "\"door red\""), IsEmpty());
  EXPECT_THAT(Found(bob_, "door red"), ElementsAre("the door is red", "meet at the red door"));
  // Words joined by punctuation are a phrase, in the body and in q.
  Send(group_, alice_, "c3", "state-of-the-art parsing");
  EXPECT_THAT(Found(bob_, "state-of-the-art"), ElementsAre("state-of-the-art parsing"));
  EXPECT_THAT(Found(bob_, "\"of the art\""), ElementsAre("state-of-the-art parsing"));
}

TEST_P(SearchContract, FindsPrefixes) {
  Send(group_, alice_, "c1", "deploying tonight");
  Send(group_, alice_, "c2", "the deploy failed");
  Send(group_, alice_, "c3", "redeploy");
  EXPECT_THAT(Found(bob_, "deploy*"), ElementsAre("the deploy failed", "deploying tonight"));
  EXPECT_THAT(Found(bob_, "DEPLOYI*"), ElementsAre("deploying tonight"));
  EXPECT_THAT(Found(bob_, "\"the dep\"*"), ElementsAre("the deploy failed"));
  EXPECT_THAT(Found(bob_, "deploy"), ElementsAre("the deploy failed"));
}

TEST_P(SearchContract, EngineSyntaxInTheQueryIsText) {
  Send(group_, alice_, "c1", "cats NEAR dogs OR mice");
  Send(group_, alice_, "c2", "cats and dogs");
  Send(group_, alice_, "c3", "key:value (parens) ^caret -minus");
  EXPECT_THAT(Found(bob_, "cats NEAR dogs"), ElementsAre("cats NEAR dogs OR mice"));
  EXPECT_THAT(Found(bob_, "cats OR mice"), ElementsAre("cats NEAR dogs OR mice"));
  EXPECT_THAT(Found(bob_, "NEAR(cats dogs)"), IsEmpty());  // the phrase "near cats" is not there
  EXPECT_THAT(Found(bob_, "key:value"), ElementsAre("key:value (parens) ^caret -minus"));
  EXPECT_THAT(Found(bob_, "(parens) ^caret -minus"), ElementsAre("key:value (parens) ^caret -minus"));
  EXPECT_THAT(Found(bob_, "-cats"), ElementsAre("cats and dogs", "cats NEAR dogs OR mice"));
  EXPECT_THAT(Found(bob_, "ca*ts"), IsEmpty());  // a star inside a word is text: "ca ts"
  EXPECT_THAT(Found(bob_, "\"cats\" \"and\" 'dogs'"), ElementsAre("cats and dogs"));
}

TEST_P(SearchContract, OnlyConversationsTheViewerIsAMemberOfNow) {
  Send(group_, alice_, "c1", "secret plans");
  Send(other_, carol_, "c2", "other secret");
  EXPECT_THAT(Found(bob_, "secret"), ElementsAre("secret plans"));
  EXPECT_THAT(Found(carol_, "secret"), ElementsAre("other secret"));
  EXPECT_THAT(Found(carol_, "secret", group_), IsEmpty());
  // A member who leaves no longer finds the group's messages; one who joins
  // finds its older ones.
  ASSERT_OK(store_->RemoveMember(group_, bob_));
  EXPECT_THAT(Found(bob_, "secret"), IsEmpty());
  ASSERT_OK(store_->AddMember(group_, carol_, Role::kMember));
  EXPECT_THAT(Found(carol_, "secret"), ElementsAre("other secret", "secret plans"));
  EXPECT_THAT(Found(carol_, "secret", group_), ElementsAre("secret plans"));
  EXPECT_THAT(Found(carol_, "secret", other_), ElementsAre("other secret"));
}

TEST_P(SearchContract, NewestFirstByTs) {
  // Committed out of ts order: the answer follows ts, not seq.
  const std::vector<std::pair<std::string, TimeMs>> order = {
      {"c1", 5'000}, {"c2", 1'000}, {"c3", 9'000}, {"c4", 3'000}};
  for (const auto& [cmid, ts] : order) {
    NewMessage m = Text(group_, alice_, cmid, "report " + cmid);
    m.ts = now_ + ts;
    ASSERT_OK(Commit(m));
  }
  NewMessage elsewhere = Text(other_, carol_, "c5", "report c5");
  elsewhere.ts = now_ + 7'000;
  ASSERT_OK(Commit(elsewhere));
  ASSERT_OK(store_->AddMember(other_, alice_, Role::kMember));
  EXPECT_THAT(Found(alice_, "report"),
              ElementsAre("report c3", "report c5", "report c1", "report c4", "report c2"));
}

TEST_P(SearchContract, PagesWithNextCoverEveryResultOnce) {
  std::vector<std::string> sent;
  for (int i = 0; i < 7; ++i) {
    NewMessage m = Text(group_, alice_, "c" + std::to_string(i), "page item " + std::to_string(i));
    // Two share each millisecond: ties must not be lost or doubled.
    m.ts = now_ + 1'000 + i / 2;
    ASSERT_OK(Commit(m));
    sent.push_back(m.body);
  }
  Send(group_, alice_, "noise", "unrelated");
  std::vector<std::string> seen;
  std::vector<TimeMs> times;
  std::string cursor;
  int pages = 0;
  for (;;) {
    Result<SearchPage> page = Find(bob_, "item", std::nullopt, 3, cursor);
    ASSERT_OK(page);
    ++pages;
    ASSERT_LE(page->results.size(), 3u);
    for (const Message& m : page->results) {
      seen.push_back(m.body);
      times.push_back(m.ts);
    }
    if (!page->next) break;
    EXPECT_EQ(page->results.size(), 3u) << "only the last page may be short";
    cursor = *page->next;
    ASSERT_LT(pages, 10) << "paging does not end";
  }
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, UnorderedElementsAre(sent[0], sent[1], sent[2], sent[3], sent[4], sent[5], sent[6]));
  EXPECT_TRUE(std::is_sorted(times.rbegin(), times.rend())) << "not newest first";
  // A page that ends exactly at the last result says so.
  Result<SearchPage> all = Find(bob_, "item", std::nullopt, 7);
  ASSERT_OK(all);
  EXPECT_EQ(all->results.size(), 7u);
  EXPECT_EQ(all->next, std::nullopt);
}

TEST_P(SearchContract, RefusesACursorItDidNotMake) {
  Send(group_, alice_, "c1", "anything");
  for (std::string bad : {"x", "-1", "1.2.3.4", "12abc", " 5", "9999999999999999999999"}) {
    SCOPED_TRACE(bad);
    EXPECT_ERRC(Find(bob_, "anything", std::nullopt, 20, bad), Errc::kBadRequest);
  }
}

TEST_P(SearchContract, EditedEntryIsFoundByItsNewTextOnly) {
  const int64_t seq = Send(group_, alice_, "c1", "meeting at noon");
  ASSERT_OK(Commit(Edit(group_, alice_, "e1", seq, "meeting at three")));
  EXPECT_THAT(Found(bob_, "noon"), IsEmpty());
  Result<SearchPage> page = Find(bob_, "three");
  ASSERT_OK(page);
  ASSERT_EQ(page->results.size(), 1u);
  const Message& m = page->results[0];
  EXPECT_EQ(m.seq, seq);
  EXPECT_EQ(m.kind, EntryKind::kText);
  EXPECT_EQ(m.body, "meeting at three");
  EXPECT_NE(m.edited_ts, std::nullopt);
  // The edit entry itself is not a text entry: found once, as its target.
  EXPECT_THAT(Found(bob_, "meeting"), ElementsAre("meeting at three"));
  // Edited again, and in the batch that sends it.
  ASSERT_OK(Commit(Edit(group_, alice_, "e2", seq, "meeting at four")));
  EXPECT_THAT(Found(bob_, "three"), IsEmpty());
  EXPECT_THAT(Found(bob_, "four"), ElementsAre("meeting at four"));
  const int64_t next = seq + 3;
  const NewMessage batch[] = {Text(group_, alice_, "c2", "draft words"),
                              Edit(group_, alice_, "e3", next, "final words")};
  auto committed = store_->CommitBatch(batch);
  ASSERT_OK(committed);
  ASSERT_OK((*committed)[0]);
  ASSERT_EQ((*committed)[0]->message.seq, next);
  ASSERT_OK((*committed)[1]);
  EXPECT_THAT(Found(bob_, "draft"), IsEmpty());
  EXPECT_THAT(Found(bob_, "words"), ElementsAre("final words"));
}

TEST_P(SearchContract, DeletedEntryIsNeverFound) {
  const int64_t keep = Send(group_, alice_, "c1", "lunch is ready");
  const int64_t gone = Send(group_, alice_, "c2", "lunch is cancelled");
  ASSERT_OK(Commit(Delete(group_, alice_, "d1", gone)));
  EXPECT_THAT(Found(bob_, "lunch"), ElementsAre("lunch is ready"));
  EXPECT_THAT(Found(bob_, "cancelled"), IsEmpty());
  // Edited, then deleted: neither text is found.
  ASSERT_OK(Commit(Edit(group_, alice_, "e1", keep, "lunch moved")));
  ASSERT_OK(Commit(Delete(group_, alice_, "d2", keep)));
  EXPECT_THAT(Found(bob_, "lunch"), IsEmpty());
  EXPECT_THAT(Found(bob_, "moved"), IsEmpty());
  // Sent and deleted in one batch.
  const int64_t next = store_->GetConversation(group_, alice_)->last_seq + 1;
  const NewMessage batch[] = {Text(group_, alice_, "c3", "fleeting words"),
                              Delete(group_, alice_, "d3", next)};
  auto committed = store_->CommitBatch(batch);
  ASSERT_OK(committed);
  ASSERT_OK((*committed)[1]);
  EXPECT_THAT(Found(bob_, "fleeting"), IsEmpty());
}

TEST_P(SearchContract, RefusedAndDuplicateEntriesAreIndexedOnce) {
  Send(group_, alice_, "c1", "unique words here");
  // The same client_msg_id again stores nothing new.
  ASSERT_OK(Commit(Text(group_, alice_, "c1", "unique words here")));
  // A non-member's message is refused, and not indexed.
  EXPECT_ERRC(Commit(Text(group_, carol_, "c9", "unique intruder")), Errc::kForbidden);
  EXPECT_THAT(Found(bob_, "unique"), ElementsAre("unique words here"));
}

TEST_P(SearchContract, ResultsAreFoldedForTheViewer) {
  const int64_t seq = Send(group_, alice_, "c1", "vote on this");
  ASSERT_OK(Commit(React(group_, bob_, "r1", seq, "👍")));
  ASSERT_OK(Commit(React(group_, alice_, "r2", seq, "👍")));
  ASSERT_OK(Commit(React(group_, alice_, "r3", seq, "🎉")));
  for (UserId viewer : {alice_, bob_}) {
    Result<SearchPage> page = Find(viewer, "vote");
    ASSERT_OK(page);
    ASSERT_EQ(page->results.size(), 1u);
    const Message& m = page->results[0];
    EXPECT_EQ(m.conv, group_);
    EXPECT_EQ(m.seq, seq);
    EXPECT_EQ(m.sender, alice_);
    EXPECT_EQ(m.client_msg_id, "c1");
    EXPECT_EQ(m.state_seq, seq + 3);
    const bool is_alice = viewer == alice_;
    EXPECT_THAT(m.reactions, ElementsAre(Reaction{"👍", 2, true}, Reaction{"🎉", 1, is_alice}));
  }
}

TEST_P(SearchContract, IndexSurvivesARestart) {
  if (!GetParam().reopen) GTEST_SKIP() << "backend cannot reopen";
  const int64_t seq = Send(group_, alice_, "c1", "durable words");
  Send(group_, alice_, "c2", "durable too");
  ASSERT_OK(Commit(Delete(group_, alice_, "d1", seq + 1)));
  Reopen();
  EXPECT_THAT(Found(bob_, "durable"), ElementsAre("durable words"));
  // Writes after the restart keep it in step.
  ASSERT_OK(Commit(Edit(group_, alice_, "e1", seq, "lasting words")));
  EXPECT_THAT(Found(bob_, "durable"), IsEmpty());
  EXPECT_THAT(Found(bob_, "lasting"), ElementsAre("lasting words"));
}

// A result is served folded like history (§6): with its attachments, in
// the order sent, and none once deleted (it is then not found at all).
TEST_P(SearchContract, ResultsCarryTheirAttachments) {
  ASSERT_OK(store_->CreateUpload(
      UploadRecord{UploadId(61), alice_, "plan.pdf", "application/pdf", 30, std::string(64, 'c'), 100}));
  ASSERT_OK(store_->CreateUpload(
      UploadRecord{UploadId(62), alice_, "map.png", "image/png", 40, std::string(64, 'd'), 100}));
  NewMessage with = Text(group_, alice_, "with-files", "the travel plan");
  with.attachments = {UploadId(62), UploadId(61)};
  ASSERT_OK(Commit(with));
  ASSERT_OK(Commit(Text(group_, alice_, "without", "another plan")));
  Result<SearchPage> page = Find(bob_, "plan");
  ASSERT_OK(page);
  ASSERT_EQ(page->results.size(), 2u);
  EXPECT_TRUE(page->results[0].attachments.empty());
  const std::vector<Attachment> want = {Attachment{UploadId(62), "map.png", "image/png", 40},
                                        Attachment{UploadId(61), "plan.pdf", "application/pdf", 30}};
  EXPECT_EQ(page->results[1].attachments, want);
}

}  // namespace parley::store::contract
