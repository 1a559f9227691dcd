// The store's promises for PROTOCOL.md §5 (edits, deletes, reactions,
// replies, mentions as entries of one seq stream), one case per rule, run
// for every backend with the rest of StoreContract.
#include <gmock/gmock.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "store/recent_entries.h"
#include "store_contract.h"

namespace parley::store::contract {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<Reaction> R(std::initializer_list<Reaction> list) { return list; }

}  // namespace

// A refused entry stores nothing and uses no seq: the conversation's
// last_seq is where it was.
#define EXPECT_REFUSED(expr, errc, conv, viewer)                                    \
  do {                                                                              \
    const int64_t refused_before = store_->GetConversation(conv, viewer)->last_seq; \
    EXPECT_ERRC(expr, errc);                                                        \
    EXPECT_EQ(store_->GetConversation(conv, viewer)->last_seq, refused_before);     \
  } while (0)

void ExpectSchemaTwoMessagesServedAsEntries(Store& store) {
  const ConversationId conv(1);
  const UserId alice(1), bob(2);
  Result<std::vector<Message>> history = store.History(conv, std::nullopt, std::nullopt, 10, bob);
  ASSERT_OK(history);
  ASSERT_EQ(history->size(), 2u);
  for (const Message& m : *history) {
    EXPECT_EQ(m.kind, EntryKind::kText);
    EXPECT_EQ(m.state_seq, m.seq);
    EXPECT_FALSE(m.deleted);
    EXPECT_EQ(m.edited_ts, std::nullopt);
  }
  EXPECT_EQ((*history)[0].body, "old one");
  EXPECT_EQ(store.GetConversation(conv, bob)->unread_count, 2);

  NewMessage edit{conv, alice, "e1", "old one, fixed", MessageId(103), 12};
  edit.kind = EntryKind::kEdit;
  edit.target = 1;
  NewMessage del{conv, alice, "d1", "", MessageId(104), 13};
  del.kind = EntryKind::kDelete;
  del.target = 2;
  const NewMessage batch[] = {edit, del};
  auto committed = store.CommitBatch(batch);
  ASSERT_OK(committed);
  ASSERT_OK((*committed)[0]);
  ASSERT_OK((*committed)[1]);
  EXPECT_EQ(store.History(conv, 2, std::nullopt, 1, bob)->at(0).body, "old one, fixed");
  EXPECT_EQ(store.GetConversation(conv, bob)->unread_count, 1);
}

TEST_P(StoreContract, TextEntryIsServedFoldedWithNothingChanged) {
  UserId a = NewUser("alice");
  ConversationId g = NewGroup(a, {});
  const int64_t seq = Send(g, a, "t1", "hello");
  Message m = EntryAt(g, seq, a);
  EXPECT_EQ(m.kind, EntryKind::kText);
  EXPECT_EQ(m.body, "hello");
  EXPECT_EQ(m.state_seq, seq);
  EXPECT_FALSE(m.deleted);
  EXPECT_EQ(m.edited_ts, std::nullopt);
  EXPECT_EQ(m.reply_to, std::nullopt);
  EXPECT_THAT(m.reactions, IsEmpty());
  EXPECT_THAT(m.mentions, IsEmpty());
}

TEST_P(StoreContract, EditReplacesTheBodyAndIsItselfAnEntry) {
  UserId a = NewUser("alice");
  ConversationId g = NewGroup(a, {});
  const int64_t seq = Send(g, a, "t1", "helo");
  NewMessage edit = Edit(g, a, "e1", seq, "hello");
  Result<Committed> done = Commit(edit);
  ASSERT_OK(done);
  EXPECT_EQ(done->message.seq, seq + 1);
  EXPECT_EQ(done->message.kind, EntryKind::kEdit);
  EXPECT_EQ(done->message.target, seq);

  Message folded = EntryAt(g, seq);
  EXPECT_EQ(folded.body, "hello");
  EXPECT_EQ(folded.edited_ts, std::optional<TimeMs>(edit.ts));
  EXPECT_EQ(folded.state_seq, seq + 1);
  Message change = EntryAt(g, seq + 1);
  EXPECT_EQ(change.kind, EntryKind::kEdit);
  EXPECT_EQ(change.target, seq);
  EXPECT_EQ(change.body, "hello");
  EXPECT_EQ(change.client_msg_id, "e1");
}

TEST_P(StoreContract, EditOfSomeoneElsesEntryIsForbidden) {
  UserId a = NewUser("alice");
  UserId b = NewUser("bob");
  ConversationId g = NewGroup(a, {b});
  const int64_t seq = Send(g, a, "t1", "mine");
  EXPECT_REFUSED(Commit(Edit(g, b, "e1", seq, "yours")), Errc::kForbidden, g, a);
  EXPECT_EQ(EntryAt(g, seq).body, "mine");
}

TEST_P(StoreContract, OwnerMayNotEditSomeoneElsesEntry) {
  UserId a = NewUser("alice");
  UserId b = NewUser("bob");
  ConversationId g = NewGroup(a, {b});
  const int64_t seq = Send(g, b, "t1", "bob's");
  EXPECT_REFUSED(Commit(Edit(g, a, "e1", seq, "owner's")), Errc::kForbidden, g, a);
}

TEST_P(StoreContract, TargetThatIsNotATextEntryOfTheConversationIsNotFound) {
  UserId a = NewUser("alice");
  ConversationId g = NewGroup(a, {});
  ConversationId other = NewGroup(a, {});
  const int64_t text = Send(g, a, "t1", "x");
  ASSERT_OK(Commit(Edit(g, a, "e1", text, "y")));
  const int64_t edit_seq = text + 1;
  // Only `other` has a seq 3 and 4.
  Send(other, a, "o1");
  Send(other, a, "o2");
  const int64_t only_in_other = Send(other, a, "o3");
  ASSERT_EQ(only_in_other, 3);

  EXPECT_REFUSED(Commit(Edit(g, a, "e2", edit_seq, "z")), Errc::kNotFound, g, a);  // a change entry
  EXPECT_REFUSED(Commit(Delete(g, a, "d1", edit_seq)), Errc::kNotFound, g, a);
  EXPECT_REFUSED(Commit(React(g, a, "r1", edit_seq, "👍")), Errc::kNotFound, g, a);
  EXPECT_REFUSED(Commit(Edit(g, a, "e3", only_in_other, "z")), Errc::kNotFound, g,
                 a);                                                      // another conversation
  EXPECT_REFUSED(Commit(Delete(g, a, "d2", 99)), Errc::kNotFound, g, a);  // no such seq
  NewMessage reply = Text(g, a, "t2", "re");
  reply.reply_to = edit_seq;
  EXPECT_REFUSED(Commit(reply), Errc::kNotFound, g, a);
  reply.reply_to = only_in_other;
  EXPECT_REFUSED(Commit(reply), Errc::kNotFound, g, a);
}

TEST_P(StoreContract, ReplyNamesATextEntryEvenADeletedOne) {
  UserId a = NewUser("alice");
  UserId b = NewUser("bob");
  ConversationId g = NewGroup(a, {b});
  const int64_t first = Send(g, a, "t1", "question");
  NewMessage reply = Text(g, b, "t2", "answer");
  reply.reply_to = first;
  Result<Committed> done = Commit(reply);
  ASSERT_OK(done);
  EXPECT_EQ(done->message.reply_to, std::optional<int64_t>(first));
  EXPECT_EQ(EntryAt(g, done->message.seq).reply_to, std::optional<int64_t>(first));

  ASSERT_OK(Commit(Delete(g, a, "d1", first)));
  NewMessage late = Text(g, b, "t3", "too late");
  late.reply_to = first;
  Result<Committed> late_done = Commit(late);
  ASSERT_OK(late_done);
  EXPECT_EQ(EntryAt(g, late_done->message.seq).reply_to, std::optional<int64_t>(first));
}

TEST_P(StoreContract, DeleteErasesBodyMentionsReactionsAndEditsFromTheStore) {
  UserId a = NewUser("alice");
  UserId b = NewUser("bob");
  ConversationId g = NewGroup(a, {b});
  NewMessage text = Text(g, a, "t1", "secret @bob");
  text.mention_names = {"bob"};
  Result<Committed> sent = Commit(text);
  ASSERT_OK(sent);
  const int64_t seq = sent->message.seq;
  NewMessage edit = Edit(g, a, "e1", seq, "still secret @bob");
  edit.mention_names = {"bob"};
  ASSERT_OK(Commit(edit));
  ASSERT_OK(Commit(React(g, b, "r1", seq, "👍")));
  EXPECT_EQ(store_->GetConversation(g, b)->mentions_unread, 0) << "b's reaction moved b's marker";

  Result<Committed> deleted = Commit(Delete(g, a, "d1", seq));
  ASSERT_OK(deleted);
  EXPECT_EQ(deleted->message.kind, EntryKind::kDelete);
  EXPECT_EQ(deleted->message.body, "");

  Message folded = EntryAt(g, seq, b);
  EXPECT_TRUE(folded.deleted);
  EXPECT_EQ(folded.body, "");
  EXPECT_THAT(folded.reactions, IsEmpty());
  EXPECT_THAT(folded.mentions, IsEmpty());
  EXPECT_EQ(folded.state_seq, deleted->message.seq);
  EXPECT_EQ(folded.sender, a);
  EXPECT_EQ(folded.ts, text.ts);
  EXPECT_EQ(EntryAt(g, seq + 1).body, "") << "the edit's body is erased too";
  // Erased, not hidden: the same after a restart.
  if (GetParam().reopen) {
    Reopen();
    EXPECT_EQ(EntryAt(g, seq + 1).body, "");
    EXPECT_EQ(EntryAt(g, seq).body, "");
  }
}

TEST_P(StoreContract, DeleteIsForTheSenderTheOwnerAndAdmins) {
  UserId owner = NewUser("owner");
  UserId admin = NewUser("admin");
  UserId m1 = NewUser("member1");
  UserId m2 = NewUser("member2");
  ConversationId g = NewGroup(owner, {m1, m2});
  ASSERT_OK(store_->AddMember(g, admin, Role::kAdmin));
  const int64_t s1 = Send(g, m1, "t1");
  const int64_t s2 = Send(g, m1, "t2");
  const int64_t s3 = Send(g, m1, "t3");
  EXPECT_REFUSED(Commit(Delete(g, m2, "d1", s1)), Errc::kForbidden, g, owner);
  ASSERT_OK(Commit(Delete(g, owner, "d2", s1)));
  ASSERT_OK(Commit(Delete(g, admin, "d3", s2)));
  ASSERT_OK(Commit(Delete(g, m1, "d4", s3)));
  EXPECT_TRUE(EntryAt(g, s1).deleted);
  EXPECT_TRUE(EntryAt(g, s2).deleted);
  EXPECT_TRUE(EntryAt(g, s3).deleted);
}

TEST_P(StoreContract, DeletingADeletedEntryAgainIsStoredAndChangesNothing) {
  UserId a = NewUser("alice");
  ConversationId g = NewGroup(a, {});
  const int64_t seq = Send(g, a, "t1");
  Result<Committed> first = Commit(Delete(g, a, "d1", seq));
  ASSERT_OK(first);
  Result<Committed> again = Commit(Delete(g, a, "d2", seq));
  ASSERT_OK(again);
  EXPECT_EQ(again->message.seq, first->message.seq + 1);
  Message folded = EntryAt(g, seq);
  EXPECT_TRUE(folded.deleted);
  EXPECT_EQ(folded.state_seq, first->message.seq);
}

TEST_P(StoreContract, EditingOrReactingToADeletedEntryIsBadRequest) {
  UserId a = NewUser("alice");
  UserId b = NewUser("bob");
  ConversationId g = NewGroup(a, {b});
  const int64_t seq = Send(g, a, "t1");
  ASSERT_OK(Commit(Delete(g, a, "d1", seq)));
  EXPECT_REFUSED(Commit(Edit(g, a, "e1", seq, "back")), Errc::kBadRequest, g, a);
  EXPECT_REFUSED(Commit(React(g, b, "r1", seq, "👍")), Errc::kBadRequest, g, a);
  EXPECT_REFUSED(Commit(React(g, b, "r2", seq, "👍", ReactionOp::kRemove)), Errc::kBadRequest, g, a);
}

TEST_P(StoreContract, ReactionsCountInFirstAddedOrderWithMePerReader) {
  UserId a = NewUser("alice");
  UserId b = NewUser("bob");
  ConversationId g = NewGroup(a, {b});
  const int64_t seq = Send(g, a, "t1");
  ASSERT_OK(Commit(React(g, a, "r1", seq, "👍")));
  ASSERT_OK(Commit(React(g, b, "r2", seq, "❤️")));
  ASSERT_OK(Commit(React(g, b, "r3", seq, "👍")));
  EXPECT_EQ(EntryAt(g, seq, a).reactions, R({{"👍", 2, true}, {"❤️", 1, false}}));
  EXPECT_EQ(EntryAt(g, seq, b).reactions, R({{"👍", 2, true}, {"❤️", 1, true}}));
  EXPECT_EQ(EntryAt(g, seq).reactions, R({{"👍", 2, false}, {"❤️", 1, false}}));

  // 👍 never falls to 0 here, so it stays first.
  ASSERT_OK(Commit(React(g, a, "r4", seq, "👍", ReactionOp::kRemove)));
  EXPECT_EQ(EntryAt(g, seq, a).reactions, R({{"👍", 1, false}, {"❤️", 1, false}}));
  // Now it does: it leaves the list, and comes back last.
  ASSERT_OK(Commit(React(g, b, "r5", seq, "👍", ReactionOp::kRemove)));
  EXPECT_EQ(EntryAt(g, seq, a).reactions, R({{"❤️", 1, false}}));
  Result<Committed> back = Commit(React(g, a, "r6", seq, "👍"));
  ASSERT_OK(back);
  EXPECT_EQ(back->message.kind, EntryKind::kReaction);
  EXPECT_EQ(back->message.emoji, "👍");
  EXPECT_EQ(back->message.op, ReactionOp::kAdd);
  EXPECT_EQ(back->message.body, "");
  Message folded = EntryAt(g, seq, a);
  EXPECT_EQ(folded.reactions, R({{"❤️", 1, false}, {"👍", 1, true}}));
  EXPECT_EQ(folded.state_seq, back->message.seq);
  Message change = EntryAt(g, back->message.seq);
  EXPECT_EQ(change.kind, EntryKind::kReaction);
  EXPECT_EQ(change.target, seq);
  EXPECT_EQ(change.emoji, "👍");
  EXPECT_EQ(change.op, ReactionOp::kAdd);
}

TEST_P(StoreContract, RepeatedAddAndRemoveOfAbsentMoveOnlyTheStateSeq) {
  UserId a = NewUser("alice");
  ConversationId g = NewGroup(a, {});
  const int64_t seq = Send(g, a, "t1");
  ASSERT_OK(Commit(React(g, a, "r1", seq, "👍")));
  Result<Committed> twice = Commit(React(g, a, "r2", seq, "👍"));
  ASSERT_OK(twice);
  Message folded = EntryAt(g, seq, a);
  EXPECT_EQ(folded.reactions, R({{"👍", 1, true}}));
  EXPECT_EQ(folded.state_seq, twice->message.seq);
  Result<Committed> absent = Commit(React(g, a, "r3", seq, "🎉", ReactionOp::kRemove));
  ASSERT_OK(absent);
  folded = EntryAt(g, seq, a);
  EXPECT_EQ(folded.reactions, R({{"👍", 1, true}}));
  EXPECT_EQ(folded.state_seq, absent->message.seq);
}

TEST_P(StoreContract, AUserHoldsAtMostTwentyDistinctEmojiOnOneEntry) {
  UserId a = NewUser("alice");
  UserId b = NewUser("bob");
  ConversationId g = NewGroup(a, {b});
  const int64_t seq = Send(g, a, "t1");
  std::vector<NewMessage> twenty;
  for (int i = 0; i < 20; ++i)
    twenty.push_back(React(g, a, "r" + std::to_string(i), seq, "e" + std::to_string(i)));
  auto batch = store_->CommitBatch(twenty);
  ASSERT_OK(batch);
  for (const auto& outcome : *batch) ASSERT_OK(outcome);
  EXPECT_REFUSED(Commit(React(g, a, "r20", seq, "e20")), Errc::kBadRequest, g, a);
  EXPECT_TRUE(Commit(React(g, a, "r21", seq, "e3")).ok()) << "one already held is not a 21st";
  EXPECT_TRUE(Commit(React(g, b, "r22", seq, "e20")).ok()) << "the limit is per user";
  ASSERT_OK(Commit(React(g, a, "r23", seq, "e0", ReactionOp::kRemove)));
  ASSERT_OK(Commit(React(g, a, "r24", seq, "e20")));
  EXPECT_EQ(EntryAt(g, seq, a).reactions.size(), 20u);
}

TEST_P(StoreContract, EmojiOfNoneOrOverThirtyTwoBytesIsBadRequest) {
  UserId a = NewUser("alice");
  ConversationId g = NewGroup(a, {});
  const int64_t seq = Send(g, a, "t1");
  EXPECT_REFUSED(Commit(React(g, a, "r1", seq, std::string(33, 'x'))), Errc::kBadRequest, g, a);
  EXPECT_REFUSED(Commit(React(g, a, "r2", seq, "")), Errc::kBadRequest, g, a);
  ASSERT_OK(Commit(React(g, a, "r3", seq, std::string(32, 'x'))));
}

TEST_P(StoreContract, ClientMsgIdIsExactlyOnceAcrossKinds) {
  UserId a = NewUser("alice");
  ConversationId g = NewGroup(a, {});
  const int64_t seq = Send(g, a, "same", "original");
  Result<Committed> edit = Commit(Edit(g, a, "same", seq, "changed"));
  ASSERT_OK(edit);
  EXPECT_TRUE(edit->duplicate);
  EXPECT_EQ(edit->message.seq, seq);
  EXPECT_EQ(edit->message.kind, EntryKind::kText);
  ASSERT_OK(Commit(React(g, a, "r1", seq, "👍")));
  Result<Committed> text = Commit(Text(g, a, "r1", "a text with a used id"));
  ASSERT_OK(text);
  EXPECT_TRUE(text->duplicate);
  EXPECT_EQ(text->message.kind, EntryKind::kReaction);
  EXPECT_EQ(text->message.seq, seq + 1);
  EXPECT_EQ(EntryAt(g, seq).body, "original");
  EXPECT_EQ(store_->GetConversation(g, a)->last_seq, seq + 1);
}

TEST_P(StoreContract, ChangesInOneBatchSeeEachOtherAndRefusalsUseNoSeq) {
  UserId a = NewUser("alice");
  UserId b = NewUser("bob");
  ConversationId g = NewGroup(a, {b});
  const int64_t base = Send(g, a, "t0");
  // The text entry this batch makes gets base + 1.
  std::vector<NewMessage> batch = {
      Text(g, a, "t1", "draft"),           Edit(g, b, "e0", base + 1, "not bob's"),  // refused: forbidden
      Edit(g, a, "e1", base + 1, "final"), React(g, b, "r1", base + 1, "👍"),        Delete(g, a, "d1", base),
      Edit(g, a, "e2", base, "too late"),  // refused: deleted
  };
  auto result = store_->CommitBatch(batch);
  ASSERT_OK(result);
  ASSERT_EQ(result->size(), batch.size());
  EXPECT_EQ((*result)[0]->message.seq, base + 1);
  EXPECT_ERRC((*result)[1], Errc::kForbidden);
  EXPECT_EQ((*result)[2]->message.seq, base + 2);
  EXPECT_EQ((*result)[3]->message.seq, base + 3);
  EXPECT_EQ((*result)[4]->message.seq, base + 4);
  EXPECT_ERRC((*result)[5], Errc::kBadRequest);

  Message made = EntryAt(g, base + 1, b);
  EXPECT_EQ(made.body, "final");
  EXPECT_EQ(made.reactions, R({{"👍", 1, true}}));
  EXPECT_EQ(made.state_seq, base + 3);
  EXPECT_TRUE(EntryAt(g, base).deleted);
  Result<std::vector<Message>> all = store_->History(g, std::nullopt, std::nullopt, 50, a);
  ASSERT_OK(all);
  EXPECT_EQ(all->size(), 5u) << "every entry, changes included";
}

TEST_P(StoreContract, UnreadCountsOthersUndeletedTextEntriesOnly) {
  UserId a = NewUser("alice");
  UserId b = NewUser("bob");
  ConversationId g = NewGroup(a, {b});
  const int64_t s1 = Send(g, a, "t1");
  Send(g, a, "t2");
  const int64_t s3 = Send(g, a, "t3");
  EXPECT_EQ(store_->GetConversation(g, b)->unread_count, 3);
  ASSERT_OK(Commit(Edit(g, a, "e1", s1, "x")));
  ASSERT_OK(Commit(React(g, a, "r1", s1, "👍")));
  Result<Conversation> seen = store_->GetConversation(g, b);
  EXPECT_EQ(seen->unread_count, 3) << "change entries never count";
  EXPECT_EQ(seen->last_seq, 5);
  ASSERT_OK(Commit(Delete(g, a, "d1", s3)));
  EXPECT_EQ(store_->GetConversation(g, b)->unread_count, 2) << "a deleted entry does not count";
  Send(g, b, "own");
  EXPECT_EQ(store_->GetConversation(g, a)->unread_count, 1) << "only b's own text counts for a";
  EXPECT_EQ(store_->GetConversation(g, a)->read_seq, 6) << "a's delete moved a's marker";
  Result<std::vector<Conversation>> listed = store_->ListConversations(b);
  ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].unread_count, 0) << "b's send moved b's marker past everything";
}

TEST_P(StoreContract, AnyEntryMovesItsSendersReadSeq) {
  UserId a = NewUser("alice");
  UserId b = NewUser("bob");
  ConversationId g = NewGroup(a, {b});
  const int64_t s1 = Send(g, a, "t1");
  Send(g, a, "t2");
  Result<Committed> reaction = Commit(React(g, b, "r1", s1, "👍"));
  ASSERT_OK(reaction);
  Result<Conversation> seen = store_->GetConversation(g, b);
  EXPECT_EQ(seen->read_seq, reaction->message.seq);
  EXPECT_EQ(seen->unread_count, 0);
}

TEST_P(StoreContract, MentionsAreMembersNamedAtCommitTime) {
  UserId a = NewUser("alice");
  UserId b = NewUser("bob");
  UserId c = NewUser("carol");
  NewUser("dave");  // exists, not a member
  ConversationId g = NewGroup(a, {b, c});
  NewMessage text = Text(g, a, "t1", "@carol @dave @nobody @bob @alice @carol");
  text.mention_names = {"carol", "dave", "nobody", "bob", "alice", "carol"};
  Result<Committed> sent = Commit(text);
  ASSERT_OK(sent);
  EXPECT_EQ(sent->message.mentions, (std::vector<UserId>{c, b, a}));
  const int64_t seq = sent->message.seq;
  EXPECT_EQ(EntryAt(g, seq).mentions, (std::vector<UserId>{c, b, a}));
  EXPECT_EQ(store_->GetConversation(g, b)->mentions_unread, 1);
  EXPECT_EQ(store_->GetConversation(g, c)->mentions_unread, 1);
  EXPECT_EQ(store_->GetConversation(g, a)->mentions_unread, 0) << "the sender's own entry never counts";

  // An edit recomputes them from its body and the members now.
  ASSERT_OK(store_->RemoveMember(g, c));
  NewMessage edit = Edit(g, a, "e1", seq, "@carol only");
  edit.mention_names = {"carol"};
  ASSERT_OK(Commit(edit));
  EXPECT_THAT(EntryAt(g, seq).mentions, IsEmpty());
  EXPECT_EQ(store_->GetConversation(g, b)->mentions_unread, 0);
  NewMessage again = Edit(g, a, "e2", seq, "@bob again");
  again.mention_names = {"bob"};
  ASSERT_OK(Commit(again));
  EXPECT_EQ(EntryAt(g, seq).mentions, (std::vector<UserId>{b}));
  Result<std::vector<Conversation>> listed = store_->ListConversations(b);
  ASSERT_OK(listed);
  EXPECT_EQ((*listed)[0].mentions_unread, 1);
  EXPECT_EQ((*listed)[0].unread_count, 1);

  ASSERT_OK(Commit(Delete(g, a, "d1", seq)));
  EXPECT_EQ(store_->GetConversation(g, b)->mentions_unread, 0) << "a deleted entry mentions nobody";
}

TEST_P(StoreContract, MentionsAreReadWithTheMarker) {
  UserId a = NewUser("alice");
  UserId b = NewUser("bob");
  ConversationId g = NewGroup(a, {b});
  NewMessage text = Text(g, a, "t1", "@bob");
  text.mention_names = {"bob"};
  ASSERT_OK(Commit(text));
  Send(g, a, "t2");
  EXPECT_EQ(store_->GetConversation(g, b)->mentions_unread, 1);
  ASSERT_OK(store_->SetReadSeq(g, b, 1));
  Result<Conversation> seen = store_->GetConversation(g, b);
  EXPECT_EQ(seen->mentions_unread, 0);
  EXPECT_EQ(seen->unread_count, 1);
}

TEST_P(StoreContract, AtMostFiftyMentions) {
  UserId a = NewUser("alice");
  ConversationId g = NewGroup(a, {});
  NewMessage text = Text(g, a, "t1", "many");
  std::vector<UserId> expected;
  for (int i = 0; i < 55; ++i) {
    const std::string name = "user" + std::to_string(i);
    UserId u = NewUser(name);
    ASSERT_OK(store_->AddMember(g, u, Role::kMember));
    text.mention_names.push_back(name);
    if (i < 50) expected.push_back(u);
  }
  Result<Committed> sent = Commit(text);
  ASSERT_OK(sent);
  EXPECT_EQ(sent->message.mentions, expected);
  EXPECT_EQ(EntryAt(g, sent->message.seq).mentions, expected);
}

// What a cache of the newest entries serves (store/recent_entries.h) is
// the fold of the entries as CommitBatch returned them: for a random stream
// of texts (replies, mentions, attachments), edits, deletes (by the sender
// and by an admin) and reactions, FoldWindow of every tail of the stream
// equals this backend's History for random ranges and viewers. A backend
// that folds differently, or a CommitBatch that returns less than folding
// needs (an edit's mentions), fails here.
TEST_P(StoreContract, HistoryEqualsTheFoldOfTheCommittedEntries) {
  const UserId a = NewUser("fa"), b = NewUser("fb"), c = NewUser("fc");
  const ConversationId g = NewGroup(a, {b, c});
  ASSERT_OK(store_->SetRole(g, b, Role::kAdmin));
  const std::vector<UserId> users{a, b, c};
  const std::vector<std::string> names{"fa", "fb", "fc"};
  for (size_t i = 0; i < users.size(); ++i) {
    ASSERT_OK(store_->CreateUpload(UploadRecord{UploadId(int64_t(9100 + i)), users[i], "f.png", "image/png",
                                                10, std::string(64, char('a' + i)), now_++}));
  }
  const std::vector<std::string> emoji{"👍", "🎉", "x"};

  std::mt19937 rng(20261207);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  std::vector<Message> committed;  // every new entry, in seq order
  std::vector<int64_t> texts;      // seqs of text entries
  std::map<int64_t, UserId> sender_of;
  for (int i = 0; committed.size() < 150 && i < 1000; ++i) {
    const std::string id = "r" + std::to_string(i);
    const size_t who = pick(users.size());
    const UserId u = users[who];
    NewMessage m;
    const size_t kind = texts.empty() ? 0 : pick(10);
    if (kind < 4) {
      m = Text(g, u, id, "text " + std::to_string(i) + " @" + names[pick(3)]);
      m.mention_names = {names[pick(3)]};
      if (pick(3) == 0 && !texts.empty()) m.reply_to = texts[pick(texts.size())];
      if (pick(4) == 0) m.attachments = {UploadId(int64_t(9100 + who))};
    } else {
      const int64_t target = texts[pick(texts.size())];
      if (kind < 6) {
        m = Edit(g, sender_of[target], id, target, "edit " + std::to_string(i) + " @" + names[pick(3)]);
        m.mention_names = {names[pick(3)]};
      } else if (kind < 7) {
        m = Delete(g, pick(2) == 0 ? sender_of[target] : b, id, target);
      } else {
        m = React(g, u, id, target, emoji[pick(emoji.size())],
                  pick(3) == 0 ? ReactionOp::kRemove : ReactionOp::kAdd);
      }
    }
    Result<Committed> r = Commit(m);
    if (!r.ok()) continue;  // refused by a rule of §5 (an edit of a deleted entry, ...): no seq used
    ASSERT_FALSE(r->duplicate);
    ASSERT_EQ(r->message.seq, int64_t(committed.size()) + 1);
    if (r->message.kind == EntryKind::kText) {
      texts.push_back(r->message.seq);
      sender_of[r->message.seq] = r->message.sender;
    }
    committed.push_back(r->message);
  }
  ASSERT_EQ(committed.size(), 150u);
  const int64_t last = int64_t(committed.size());
  size_t deletes = 0, edits = 0, reactions = 0;
  for (const Message& m : committed) {
    deletes += m.kind == EntryKind::kDelete;
    edits += m.kind == EntryKind::kEdit;
    reactions += m.kind == EntryKind::kReaction;
  }
  EXPECT_GT(deletes, 5u);
  EXPECT_GT(edits, 10u);
  EXPECT_GT(reactions, 20u);

  const std::vector<UserId> viewers{a, b, c, UserId()};
  for (int round = 0; round < 300; ++round) {
    const int64_t lo = 1 + int64_t(pick(size_t(last)));
    const int64_t after = lo - 1 + int64_t(pick(size_t(last - lo + 1)));
    const int64_t upto = after + 1 + int64_t(pick(size_t(last - after)));
    const int limit = 1 + int(pick(60));
    const UserId viewer = viewers[pick(viewers.size())];
    std::span<const Message> window(committed.begin() + (lo - 1), committed.end());
    auto folded = FoldWindow(window, after, upto, last, limit, viewer);
    ASSERT_TRUE(folded.has_value()) << "window " << lo << ".." << last << " after " << after;
    auto history = store_->History(g, upto + 1, after, limit, viewer);
    ASSERT_OK(history);
    ASSERT_EQ(*folded, *history) << "window from " << lo << ", after " << after << ", upto " << upto
                                 << ", limit " << limit << ", viewer " << viewer.value;
  }
  // A window that starts after `after` + 1, or ends before the store's
  // last_seq, serves nothing.
  std::span<const Message> tail(committed.begin() + 10, committed.end());
  EXPECT_FALSE(FoldWindow(tail, 9, last, last, 50, a).has_value());
  EXPECT_TRUE(FoldWindow(tail, 10, last, last, 50, a).has_value());
  // One that ends before the store's last_seq may miss a change to an
  // entry of the range, however early the range ends.
  std::span<const Message> head(committed.begin(), committed.end() - 1);
  EXPECT_FALSE(FoldWindow(head, 0, last, last, 50, a).has_value());
  EXPECT_FALSE(FoldWindow(head, 0, 10, last, 50, a).has_value());
  EXPECT_TRUE(FoldWindow(head, 0, 10, last - 1, 50, a).has_value());
}

}  // namespace parley::store::contract
