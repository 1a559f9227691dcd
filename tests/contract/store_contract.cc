#include "store_contract.h"

#include <gmock/gmock.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <vector>

namespace parley::store::contract {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// Seqs of a history answer, for compact assertions.
std::vector<int64_t> Seqs(const std::vector<Message>& messages) {
  std::vector<int64_t> out;
  for (const Message& m : messages) out.push_back(m.seq);
  return out;
}

std::vector<int64_t> Range(int64_t from, int64_t to) {  // inclusive
  std::vector<int64_t> out;
  for (int64_t i = from; i <= to; ++i) out.push_back(i);
  return out;
}

std::vector<int64_t> Ids(const std::vector<UserId>& ids) {
  std::vector<int64_t> out;
  for (UserId id : ids) out.push_back(id.value);
  return out;
}

std::vector<int64_t> MemberIds(const std::vector<Member>& members) {
  std::vector<int64_t> out;
  for (const Member& m : members) out.push_back(m.id.value);
  return out;
}

}  // namespace

void StoreContract::SetUp() {
  store_ = GetParam().make();
  ASSERT_NE(store_, nullptr) << "backend " << GetParam().name << " did not open a store";
}

void StoreContract::Reopen() {
  store_.reset();
  store_ = GetParam().reopen();
  ASSERT_NE(store_, nullptr) << "backend " << GetParam().name << " did not reopen";
}

UserId StoreContract::NewUser(const std::string& username) {
  Result<User> user = store_->CreateUser(username, "", "hash-" + username, now_++);
  if (!user.ok()) {
    ADD_FAILURE() << "CreateUser(" << username << "): " << user.error().message;
    return UserId();
  }
  return user->id;
}

ConversationId StoreContract::NewGroup(UserId owner, std::initializer_list<UserId> members,
                                       const std::string& title) {
  std::vector<UserId> list(members);
  Result<ConversationId> id = store_->CreateGroup(title, owner, list, now_++);
  if (!id.ok()) {
    ADD_FAILURE() << "CreateGroup: " << id.error().message;
    return ConversationId();
  }
  return *id;
}

int64_t StoreContract::Send(ConversationId conv, UserId sender, const std::string& client_msg_id,
                            const std::string& body) {
  NewMessage m{conv, sender, client_msg_id, body, MessageId(next_message_id_++), now_++};
  auto result = store_->CommitBatch(std::span<const NewMessage>(&m, 1));
  if (!result.ok()) {
    ADD_FAILURE() << "CommitBatch: " << result.error().message;
    return 0;
  }
  if (result->size() != 1 || !(*result)[0].ok()) {
    ADD_FAILURE() << "CommitBatch entry failed";
    return 0;
  }
  return (*result)[0]->message.seq;
}

NewMessage StoreContract::Text(ConversationId conv, UserId sender, const std::string& client_msg_id,
                               const std::string& body) {
  return NewMessage{conv, sender, client_msg_id, body, MessageId(next_message_id_++), now_++};
}

NewMessage StoreContract::Edit(ConversationId conv, UserId sender, const std::string& client_msg_id,
                               int64_t target, const std::string& body) {
  NewMessage m = Text(conv, sender, client_msg_id, body);
  m.kind = EntryKind::kEdit;
  m.target = target;
  return m;
}

NewMessage StoreContract::Delete(ConversationId conv, UserId sender, const std::string& client_msg_id,
                                 int64_t target) {
  NewMessage m = Text(conv, sender, client_msg_id, "");
  m.kind = EntryKind::kDelete;
  m.target = target;
  return m;
}

NewMessage StoreContract::React(ConversationId conv, UserId sender, const std::string& client_msg_id,
                                int64_t target, const std::string& emoji, ReactionOp op) {
  NewMessage m = Text(conv, sender, client_msg_id, "");
  m.kind = EntryKind::kReaction;
  m.target = target;
  m.emoji = emoji;
  m.op = op;
  return m;
}

Result<Committed> StoreContract::Commit(const NewMessage& m) {
  auto result = store_->CommitBatch(std::span<const NewMessage>(&m, 1));
  if (!result.ok()) {
    ADD_FAILURE() << "CommitBatch: " << result.error().message;
    return result.error();
  }
  if (result->size() != 1) {
    ADD_FAILURE() << "CommitBatch answered " << result->size() << " outcomes for one entry";
    return MakeError(Errc::kInternal, "wrong outcome count");
  }
  return std::move((*result)[0]);
}

Message StoreContract::EntryAt(ConversationId conv, int64_t seq, UserId viewer) {
  Result<std::vector<Message>> page = store_->History(conv, seq + 1, seq - 1, 1, viewer);
  if (!page.ok()) {
    ADD_FAILURE() << "History: " << page.error().message;
    return Message();
  }
  if (page->size() != 1) return Message();
  return page->front();
}

// --- users ------------------------------------------------------------------------

TEST_P(StoreContract, CreateUserAndFindByNameAndId) {
  Result<User> alice = store_->CreateUser("alice", "Alice A.", "hash-a", 42);
  ASSERT_OK(alice);
  EXPECT_TRUE(alice->id.valid());
  EXPECT_EQ(alice->username, "alice");
  EXPECT_EQ(alice->display_name, "Alice A.");
  EXPECT_FALSE(alice->last_seen.has_value());

  Result<User> bob = store_->CreateUser("bob", "", "hash-b", 43);
  ASSERT_OK(bob);
  EXPECT_TRUE(bob->id.valid());
  EXPECT_NE(bob->id, alice->id);
  EXPECT_EQ(bob->display_name, "bob") << "display name defaults to the username";

  Result<UserRecord> by_name = store_->FindUserByName("alice");
  ASSERT_OK(by_name);
  EXPECT_EQ(by_name->user.id, alice->id);
  EXPECT_EQ(by_name->user.display_name, "Alice A.");
  EXPECT_EQ(by_name->password_hash, "hash-a");

  Result<User> by_id = store_->FindUserById(bob->id);
  ASSERT_OK(by_id);
  EXPECT_EQ(by_id->username, "bob");
  EXPECT_EQ(by_id->display_name, "bob");
}

TEST_P(StoreContract, CreateUserRejectsTakenUsername) {
  ASSERT_OK(store_->CreateUser("alice", "", "h1", 1));
  EXPECT_ERRC(store_->CreateUser("alice", "Other", "h2", 2), Errc::kConflict);
  // The first one is untouched and other names still work.
  Result<UserRecord> alice = store_->FindUserByName("alice");
  ASSERT_OK(alice);
  EXPECT_EQ(alice->password_hash, "h1");
  ASSERT_OK(store_->CreateUser("alice2", "", "h3", 3));
}

TEST_P(StoreContract, FindUnknownUserIsNotFound) {
  EXPECT_ERRC(store_->FindUserByName("nobody"), Errc::kNotFound);
  EXPECT_ERRC(store_->FindUserById(UserId(987654)), Errc::kNotFound);
}

TEST_P(StoreContract, FindUsersByIdsSkipsUnknown) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  NewUser("c");
  std::vector<UserId> ids = {b, UserId(999999), a};
  Result<std::vector<User>> users = store_->FindUsersByIds(ids);
  ASSERT_OK(users);
  std::vector<std::string> names;
  for (const User& u : *users) names.push_back(u.username);
  EXPECT_THAT(names, UnorderedElementsAre("a", "b"));

  Result<std::vector<User>> none = store_->FindUsersByIds({});
  ASSERT_OK(none);
  EXPECT_THAT(*none, IsEmpty());
}

TEST_P(StoreContract, SetLastSeenManyWritesEachAndSkipsTheUnknown) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  UserId c = NewUser("c");
  ASSERT_OK(store_->SetLastSeen(c, 5));
  const Store::LastSeen seen[] = {{a, 111}, {UserId(987654321), 222}, {b, 333}, {a, 444}};
  ASSERT_OK(store_->SetLastSeenMany(seen));
  ASSERT_OK(store_->SetLastSeenMany({}));
  Result<std::vector<User>> users = store_->FindUsersByIds(std::vector<UserId>{a, b, c});
  ASSERT_OK(users);
  std::map<UserId, std::optional<TimeMs>> last_seen;
  for (const User& u : *users) last_seen[u.id] = u.last_seen;
  EXPECT_EQ(last_seen[a], std::optional<TimeMs>(444));  // the later of a user's two
  EXPECT_EQ(last_seen[b], std::optional<TimeMs>(333));
  EXPECT_EQ(last_seen[c], std::optional<TimeMs>(5));  // not named: unchanged
}

TEST_P(StoreContract, SetLastSeenIsVisible) {
  UserId a = NewUser("a");
  ASSERT_OK(store_->SetLastSeen(a, 123456));
  Result<User> user = store_->FindUserById(a);
  ASSERT_OK(user);
  ASSERT_TRUE(user->last_seen.has_value());
  EXPECT_EQ(*user->last_seen, 123456);
  Result<UserRecord> record = store_->FindUserByName("a");
  ASSERT_OK(record);
  EXPECT_EQ(record->user.last_seen, std::optional<TimeMs>(123456));
}

// --- refresh tokens -------------------------------------------------------------

TEST_P(StoreContract, RefreshTokenIsValidExactlyOnce) {
  UserId a = NewUser("a");
  ASSERT_OK(store_->PutRefreshToken("tok-hash", a, 2000, "fam"));
  Result<RefreshGrant> taken = store_->TakeRefreshToken("tok-hash", 1000);
  ASSERT_OK(taken);
  EXPECT_EQ(taken->user, a);
  EXPECT_EQ(taken->family, "fam");
  EXPECT_ERRC(store_->TakeRefreshToken("tok-hash", 1000), Errc::kUnauthorized);
  EXPECT_ERRC(store_->TakeRefreshToken("never-stored", 1000), Errc::kUnauthorized);
}

TEST_P(StoreContract, ExpiredRefreshTokenIsRefused) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ASSERT_OK(store_->PutRefreshToken("expired", a, 1000, "f1"));
  ASSERT_OK(store_->PutRefreshToken("at-limit", a, 1000, "f2"));
  ASSERT_OK(store_->PutRefreshToken("fresh", b, 1000, "f3"));
  EXPECT_ERRC(store_->TakeRefreshToken("expired", 1001), Errc::kUnauthorized);
  // A token whose expiry is `now` has expired.
  EXPECT_ERRC(store_->TakeRefreshToken("at-limit", 1000), Errc::kUnauthorized);
  Result<RefreshGrant> fresh = store_->TakeRefreshToken("fresh", 999);
  ASSERT_OK(fresh);
  EXPECT_EQ(fresh->user, b);
}

TEST_P(StoreContract, RefreshTokenNeedsAFamily) {
  UserId a = NewUser("a");
  EXPECT_ERRC(store_->PutRefreshToken("t", a, 1000, ""), Errc::kBadRequest);
}

TEST_P(StoreContract, ReplayingARotatedTokenRevokesItsWholeFamily) {
  UserId a = NewUser("a");
  // A login's token, rotated twice; another login's family beside it.
  ASSERT_OK(store_->PutRefreshToken("r1", a, 10'000, "r1"));
  ASSERT_OK(store_->TakeRefreshToken("r1", 100));
  ASSERT_OK(store_->PutRefreshToken("r2", a, 10'000, "r1"));
  ASSERT_OK(store_->TakeRefreshToken("r2", 100));
  ASSERT_OK(store_->PutRefreshToken("r3", a, 10'000, "r1"));
  ASSERT_OK(store_->PutRefreshToken("other", a, 10'000, "other"));

  // The thief replays r1: refused, and the newest token of the family (the
  // victim's r3) is revoked with it.
  Result<RefreshGrant> replay = store_->TakeRefreshToken("r1", 200);
  EXPECT_ERRC(replay, Errc::kUnauthorized);
  EXPECT_ERRC(store_->TakeRefreshToken("r3", 200), Errc::kUnauthorized);
  EXPECT_ERRC(store_->TakeRefreshToken("r2", 200), Errc::kUnauthorized);
  // The other login is untouched.
  Result<RefreshGrant> other = store_->TakeRefreshToken("other", 200);
  ASSERT_OK(other);
  EXPECT_EQ(other->family, "other");
}

TEST_P(StoreContract, RevokingAFamilyLeavesTheOthers) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ASSERT_OK(store_->PutRefreshToken("a1", a, 10'000, "fa"));
  ASSERT_OK(store_->TakeRefreshToken("a1", 100));
  ASSERT_OK(store_->PutRefreshToken("a2", a, 10'000, "fa"));
  ASSERT_OK(store_->PutRefreshToken("a-other", a, 10'000, "fa-other"));
  ASSERT_OK(store_->PutRefreshToken("b1", b, 10'000, "fb"));

  // Revoking by any token of the family, used or not.
  Result<bool> revoked = store_->RevokeRefreshFamily("a1");
  ASSERT_OK(revoked);
  EXPECT_TRUE(*revoked);
  EXPECT_ERRC(store_->TakeRefreshToken("a2", 200), Errc::kUnauthorized);
  Result<bool> again = store_->RevokeRefreshFamily("a2");
  ASSERT_OK(again);
  EXPECT_FALSE(*again) << "the family is gone";
  Result<bool> unknown = store_->RevokeRefreshFamily("never-stored");
  ASSERT_OK(unknown);
  EXPECT_FALSE(*unknown);
  ASSERT_OK(store_->TakeRefreshToken("a-other", 200));
  ASSERT_OK(store_->TakeRefreshToken("b1", 200));
}

TEST_P(StoreContract, SetPasswordBumpsTheEpochAndRevokesRefreshTokens) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  Result<AuthState> before = store_->GetAuthState(a);
  ASSERT_OK(before);
  EXPECT_EQ(before->token_epoch, 0);
  EXPECT_FALSE(before->deleted);
  ASSERT_OK(store_->PutRefreshToken("a1", a, 10'000, "f1"));
  ASSERT_OK(store_->PutRefreshToken("a2", a, 10'000, "f2"));
  ASSERT_OK(store_->PutRefreshToken("b1", b, 10'000, "f3"));

  Result<int64_t> epoch = store_->SetPassword(a, "new-hash");
  ASSERT_OK(epoch);
  EXPECT_EQ(*epoch, 1);
  Result<UserRecord> rec = store_->FindUserByName("a");
  ASSERT_OK(rec);
  EXPECT_EQ(rec->password_hash, "new-hash");
  EXPECT_EQ(rec->token_epoch, 1);
  EXPECT_FALSE(rec->deleted);
  Result<AuthState> after = store_->GetAuthState(a);
  ASSERT_OK(after);
  EXPECT_EQ(after->token_epoch, 1);
  // Every family of the user is revoked; another user's token is not.
  EXPECT_ERRC(store_->TakeRefreshToken("a1", 100), Errc::kUnauthorized);
  EXPECT_ERRC(store_->TakeRefreshToken("a2", 100), Errc::kUnauthorized);
  ASSERT_OK(store_->TakeRefreshToken("b1", 100));
  Result<int64_t> second = store_->SetPassword(a, "newer-hash");
  ASSERT_OK(second);
  EXPECT_EQ(*second, 2);
  EXPECT_ERRC(store_->SetPassword(UserId(999'999), "h"), Errc::kNotFound);
  EXPECT_ERRC(store_->GetAuthState(UserId(999'999)), Errc::kNotFound);
}

TEST_P(StoreContract, DeletedUserIsATombstoneThatKeepsItsName) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ConversationId g = NewGroup(a, {b}, "kept");
  Send(g, a, "m1", "before deletion");
  ASSERT_OK(store_->PutRefreshToken("a1", a, 10'000, "f1"));
  ASSERT_OK(store_->PutRefreshToken("a2", a, 10'000, "f2"));
  ASSERT_OK(store_->PutRefreshToken("b1", b, 10'000, "f3"));

  Result<int64_t> epoch = store_->DeleteUser(a, now_);
  ASSERT_OK(epoch);
  EXPECT_EQ(*epoch, 1);
  Result<AuthState> state = store_->GetAuthState(a);
  ASSERT_OK(state);
  EXPECT_TRUE(state->deleted);
  EXPECT_EQ(state->token_epoch, 1);
  Result<UserRecord> rec = store_->FindUserByName("a");
  ASSERT_OK(rec);
  EXPECT_TRUE(rec->deleted);
  EXPECT_NE(rec->password_hash, "hash-a") << "no password may verify any more";
  EXPECT_EQ(rec->user.display_name, "a");
  EXPECT_ERRC(store_->TakeRefreshToken("a1", 100), Errc::kUnauthorized);
  EXPECT_ERRC(store_->TakeRefreshToken("a2", 100), Errc::kUnauthorized);
  // The name stays taken: nobody can register it and pass for them.
  EXPECT_ERRC(store_->CreateUser("a", "", "hash-x", now_), Errc::kConflict);
  // Deleting twice, or a deleted user's password: not found.
  EXPECT_ERRC(store_->DeleteUser(a, now_), Errc::kNotFound);
  EXPECT_ERRC(store_->SetPassword(a, "h"), Errc::kNotFound);
  EXPECT_ERRC(store_->DeleteUser(UserId(999'999), now_), Errc::kNotFound);
  // Messages stay; others are untouched.
  Result<std::vector<Message>> history = store_->History(g, std::nullopt, std::nullopt, 10, UserId());
  ASSERT_OK(history);
  EXPECT_EQ(history->size(), 1u);
  Result<UserRecord> other = store_->FindUserByName("b");
  ASSERT_OK(other);
  EXPECT_FALSE(other->deleted);
  ASSERT_OK(store_->TakeRefreshToken("b1", 100));
}

TEST_P(StoreContract, ConcurrentTakeOfOneTokenSucceedsOnce) {
  UserId a = NewUser("a");
  ASSERT_OK(store_->PutRefreshToken("contended", a, 5000, "contended"));
  std::atomic<int> successes{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      if (store_->TakeRefreshToken("contended", 100).ok()) ++successes;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(successes.load(), 1);
}

// --- conversations and members --------------------------------------------------

TEST_P(StoreContract, DmIsIdempotentInBothOrders) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  UserId c = NewUser("c");
  Result<ConversationId> ab = store_->GetOrCreateDm(a, b, now_);
  ASSERT_OK(ab);
  EXPECT_TRUE(ab->valid());
  Result<ConversationId> ba = store_->GetOrCreateDm(b, a, now_ + 1);
  ASSERT_OK(ba);
  EXPECT_EQ(*ab, *ba);
  Result<ConversationId> ab_again = store_->GetOrCreateDm(a, b, now_ + 2);
  ASSERT_OK(ab_again);
  EXPECT_EQ(*ab, *ab_again);
  Result<ConversationId> ac = store_->GetOrCreateDm(c, a, now_);
  ASSERT_OK(ac);
  EXPECT_NE(*ab, *ac);

  Result<Conversation> dm = store_->GetConversation(*ab, a);
  ASSERT_OK(dm);
  EXPECT_EQ(dm->kind, ConversationKind::kDm);
  EXPECT_FALSE(dm->title.has_value());
  EXPECT_EQ(dm->member_count, 2);
  ASSERT_EQ(dm->members.size(), 2u);
  for (const Member& m : dm->members) EXPECT_EQ(m.role, Role::kMember);
  EXPECT_THAT(MemberIds(dm->members), UnorderedElementsAre(a.value, b.value));

  Result<std::vector<Conversation>> of_a = store_->ListConversations(a);
  ASSERT_OK(of_a);
  EXPECT_EQ(of_a->size(), 2u) << "one DM with b, one with c";
}

// Heads are ListConversations without members and counts: same
// conversations, same order, same heads.
TEST_P(StoreContract, ConversationHeadsAreTheListWithoutMembersOrCounts) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  UserId c = NewUser("c");
  Result<ConversationId> dm = store_->GetOrCreateDm(a, b, now_);
  ASSERT_OK(dm);
  Result<ConversationId> group = store_->CreateGroup("Team", c, std::vector<UserId>{a, b}, now_);
  ASSERT_OK(group);
  ASSERT_OK(Commit(Text(*dm, b, "m1")));
  ASSERT_OK(Commit(Text(*dm, b, "m2")));
  ASSERT_OK(Commit(Text(*group, c, "m3")));
  ASSERT_OK(store_->SetReadSeq(*dm, a, 1));
  ASSERT_OK(store_->SetNotifyLevel(*group, a, NotifyLevel::kMentions));

  Result<std::vector<Conversation>> full = store_->ListConversations(a);
  Result<std::vector<Conversation>> heads = store_->ListConversationHeads(a);
  ASSERT_OK(full);
  ASSERT_OK(heads);
  ASSERT_EQ(heads->size(), 2u);
  ASSERT_EQ(heads->size(), full->size());
  for (size_t i = 0; i < heads->size(); ++i) {
    const Conversation& h = (*heads)[i];
    const Conversation& f = (*full)[i];
    EXPECT_EQ(h.id, f.id) << "same order";
    EXPECT_EQ(h.kind, f.kind);
    EXPECT_EQ(h.title, f.title);
    EXPECT_EQ(h.topic, f.topic);
    EXPECT_EQ(h.last_seq, f.last_seq);
    EXPECT_EQ(h.member_count, f.member_count);
    EXPECT_EQ(h.read_seq, f.read_seq);
    EXPECT_EQ(h.notify, f.notify);
    EXPECT_THAT(h.members, IsEmpty());
    EXPECT_EQ(h.unread_count, 0);
  }
  // The group's entry is the newest: it comes first.
  EXPECT_EQ((*heads)[0].id, *group);
  EXPECT_EQ((*heads)[0].notify, NotifyLevel::kMentions);
  EXPECT_EQ((*heads)[1].last_seq, 2);
  EXPECT_EQ((*heads)[1].read_seq, 1);
  EXPECT_EQ((*full)[1].unread_count, 1) << "the full list counts; heads do not";
  Result<std::vector<Conversation>> none = store_->ListConversationHeads(NewUser("d"));
  ASSERT_OK(none);
  EXPECT_THAT(*none, IsEmpty());
}

TEST_P(StoreContract, ConcurrentGetOrCreateDmYieldsOneConversation) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  constexpr int kThreads = 6;
  std::vector<int64_t> ids(kThreads, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      Result<ConversationId> id =
          i % 2 == 0 ? store_->GetOrCreateDm(a, b, 1) : store_->GetOrCreateDm(b, a, 1);
      if (id.ok()) ids[i] = id->value;
    });
  }
  for (auto& t : threads) t.join();
  for (int64_t id : ids) {
    EXPECT_GT(id, 0);
    EXPECT_EQ(id, ids[0]);
  }
  Result<std::vector<Conversation>> of_a = store_->ListConversations(a);
  ASSERT_OK(of_a);
  EXPECT_EQ(of_a->size(), 1u);
}

TEST_P(StoreContract, CreateGroupIgnoresDuplicatesAndOwner) {
  UserId owner = NewUser("owner");
  UserId b = NewUser("b");
  UserId c = NewUser("c");
  std::vector<UserId> members = {c, b, owner, b, c};
  Result<ConversationId> id = store_->CreateGroup("Team", owner, members, now_);
  ASSERT_OK(id);
  EXPECT_TRUE(id->valid());

  Result<Conversation> conv = store_->GetConversation(*id, owner);
  ASSERT_OK(conv);
  EXPECT_EQ(conv->kind, ConversationKind::kGroup);
  EXPECT_EQ(conv->title, std::optional<std::string>("Team"));
  EXPECT_EQ(conv->member_count, 3);
  EXPECT_EQ(conv->last_seq, 0);
  EXPECT_EQ(conv->read_seq, 0);
  std::vector<int64_t> sorted = {owner.value, b.value, c.value};
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(MemberIds(conv->members), sorted) << "members ordered by user id";
  for (const Member& m : conv->members) {
    EXPECT_EQ(m.role, m.id == owner ? Role::kOwner : Role::kMember) << m.username;
    EXPECT_FALSE(m.username.empty());
  }
}

TEST_P(StoreContract, GroupWithOnlyTheOwner) {
  UserId owner = NewUser("owner");
  ConversationId g = NewGroup(owner, {});
  Result<Conversation> conv = store_->GetConversation(g, owner);
  ASSERT_OK(conv);
  EXPECT_EQ(conv->member_count, 1);
  ASSERT_EQ(conv->members.size(), 1u);
  EXPECT_EQ(conv->members[0].username, "owner");
  EXPECT_EQ(conv->members[0].role, Role::kOwner);
}

TEST_P(StoreContract, GetConversationForNonMemberAndUnknown) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  UserId outsider = NewUser("outsider");
  ConversationId g = NewGroup(a, {b});
  Send(g, a, "m1");
  Send(g, b, "m2");
  Result<Conversation> seen_by_a = store_->GetConversation(g, a);
  ASSERT_OK(seen_by_a);
  EXPECT_EQ(seen_by_a->last_seq, 2);
  EXPECT_EQ(seen_by_a->read_seq, 1);
  EXPECT_EQ(seen_by_a->unread(), 1);
  Result<Conversation> seen_by_outsider = store_->GetConversation(g, outsider);
  ASSERT_OK(seen_by_outsider);
  EXPECT_EQ(seen_by_outsider->read_seq, 0);
  EXPECT_EQ(seen_by_outsider->last_seq, 2);
  EXPECT_ERRC(store_->GetConversation(ConversationId(424242), a), Errc::kNotFound);
}

TEST_P(StoreContract, InlineMembersAreTheFirstHundredById) {
  UserId owner = NewUser("owner");
  std::vector<UserId> members;
  for (int i = 0; i < 105; ++i) members.push_back(NewUser("u" + std::to_string(i)));
  Result<ConversationId> g = store_->CreateGroup("big", owner, members, now_);
  ASSERT_OK(g);
  Result<Conversation> conv = store_->GetConversation(*g, owner);
  ASSERT_OK(conv);
  EXPECT_EQ(conv->member_count, 106);
  ASSERT_EQ(conv->members.size(), static_cast<size_t>(kInlineMembers));
  std::vector<int64_t> all = Ids(members);
  all.push_back(owner.value);
  std::sort(all.begin(), all.end());
  all.resize(kInlineMembers);
  EXPECT_EQ(MemberIds(conv->members), all);

  Result<std::vector<Conversation>> listed = store_->ListConversations(owner);
  ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].member_count, 106);
  EXPECT_EQ(MemberIds((*listed)[0].members), all);
}

TEST_P(StoreContract, RolesAreReported) {
  UserId owner = NewUser("owner");
  UserId m = NewUser("m");
  UserId admin = NewUser("admin");
  UserId outsider = NewUser("outsider");
  ConversationId g = NewGroup(owner, {m});
  ASSERT_OK(store_->AddMember(g, admin, Role::kAdmin));

  Result<std::optional<Role>> role = store_->GetRole(g, owner);
  ASSERT_OK(role);
  EXPECT_EQ(*role, std::optional<Role>(Role::kOwner));
  role = store_->GetRole(g, m);
  ASSERT_OK(role);
  EXPECT_EQ(*role, std::optional<Role>(Role::kMember));
  role = store_->GetRole(g, admin);
  ASSERT_OK(role);
  EXPECT_EQ(*role, std::optional<Role>(Role::kAdmin));
  role = store_->GetRole(g, outsider);
  ASSERT_OK(role);
  EXPECT_EQ(*role, std::nullopt);
  EXPECT_ERRC(store_->GetRole(ConversationId(777777), owner), Errc::kNotFound);
}

// GetMembership: the role and the conversation's last_seq, in one read.
TEST_P(StoreContract, MembershipReadsTheRoleAndTheLastSeq) {
  UserId owner = NewUser("owner");
  UserId outsider = NewUser("outsider");
  ConversationId g = NewGroup(owner, {});
  Result<Store::Membership> m = store_->GetMembership(g, owner);
  ASSERT_OK(m);
  EXPECT_EQ(m->role, std::optional<Role>(Role::kOwner));
  EXPECT_EQ(m->last_seq, 0);
  Send(g, owner, "a");
  Send(g, owner, "b");
  m = store_->GetMembership(g, outsider);
  ASSERT_OK(m);
  EXPECT_EQ(m->role, std::nullopt);
  EXPECT_EQ(m->last_seq, 2) << "read whether or not the user is a member";
  m = store_->GetMembership(g, owner);
  ASSERT_OK(m);
  EXPECT_EQ(m->last_seq, 2);
  EXPECT_ERRC(store_->GetMembership(ConversationId(777777), owner), Errc::kNotFound);
}

TEST_P(StoreContract, AddExistingMemberIsANoOp) {
  UserId owner = NewUser("owner");
  UserId b = NewUser("b");
  ConversationId g = NewGroup(owner, {b});
  ASSERT_OK(store_->AddMember(g, b, Role::kAdmin));
  ASSERT_OK(store_->AddMember(g, owner, Role::kMember));
  Result<Conversation> conv = store_->GetConversation(g, owner);
  ASSERT_OK(conv);
  EXPECT_EQ(conv->member_count, 2);
  Result<std::optional<Role>> role_b = store_->GetRole(g, b);
  ASSERT_OK(role_b);
  EXPECT_EQ(*role_b, std::optional<Role>(Role::kMember)) << "role unchanged";
  Result<std::optional<Role>> role_owner = store_->GetRole(g, owner);
  ASSERT_OK(role_owner);
  EXPECT_EQ(*role_owner, std::optional<Role>(Role::kOwner));
}

TEST_P(StoreContract, AddMemberMakesTheConversationVisible) {
  UserId owner = NewUser("owner");
  UserId c = NewUser("c");
  ConversationId g = NewGroup(owner, {});
  ASSERT_OK(store_->AddMember(g, c, Role::kMember));
  Result<Conversation> conv = store_->GetConversation(g, c);
  ASSERT_OK(conv);
  EXPECT_EQ(conv->member_count, 2);
  Result<std::vector<Conversation>> of_c = store_->ListConversations(c);
  ASSERT_OK(of_c);
  ASSERT_EQ(of_c->size(), 1u);
  EXPECT_EQ((*of_c)[0].id, g);
}

TEST_P(StoreContract, RemoveMember) {
  UserId owner = NewUser("owner");
  UserId b = NewUser("b");
  UserId outsider = NewUser("outsider");
  ConversationId g = NewGroup(owner, {b});

  Result<bool> removed = store_->RemoveMember(g, b);
  ASSERT_OK(removed);
  EXPECT_TRUE(*removed);
  removed = store_->RemoveMember(g, b);
  ASSERT_OK(removed);
  EXPECT_FALSE(*removed) << "no longer a member";
  removed = store_->RemoveMember(g, outsider);
  ASSERT_OK(removed);
  EXPECT_FALSE(*removed);

  Result<Conversation> conv = store_->GetConversation(g, owner);
  ASSERT_OK(conv);
  EXPECT_EQ(conv->member_count, 1);
  EXPECT_THAT(MemberIds(conv->members), ElementsAre(owner.value));
  Result<std::optional<Role>> role = store_->GetRole(g, b);
  ASSERT_OK(role);
  EXPECT_EQ(*role, std::nullopt);
  Result<std::vector<Conversation>> of_b = store_->ListConversations(b);
  ASSERT_OK(of_b);
  EXPECT_THAT(*of_b, IsEmpty());
}

TEST_P(StoreContract, ListMembersPagesById) {
  UserId owner = NewUser("owner");
  std::vector<UserId> others;
  for (int i = 0; i < 6; ++i) others.push_back(NewUser("m" + std::to_string(i)));
  Result<ConversationId> g = store_->CreateGroup("g", owner, others, now_);
  ASSERT_OK(g);
  std::vector<int64_t> expected = Ids(others);
  expected.push_back(owner.value);
  std::sort(expected.begin(), expected.end());

  std::vector<int64_t> seen;
  UserId after;
  int pages = 0;
  for (;;) {
    Result<std::vector<Member>> page = store_->ListMembers(*g, after, 3);
    ASSERT_OK(page);
    ASSERT_LE(page->size(), 3u);
    if (page->empty()) break;
    ++pages;
    for (const Member& m : *page) {
      seen.push_back(m.id.value);
      Result<User> user = store_->FindUserById(m.id);
      ASSERT_OK(user);
      EXPECT_EQ(m.username, user->username);
      EXPECT_EQ(m.role, m.id == owner ? Role::kOwner : Role::kMember);
    }
    after = page->back().id;
    ASSERT_LT(pages, 10) << "paging does not advance";
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, expected);

  Result<std::vector<Member>> tail = store_->ListMembers(*g, UserId(expected[4]), 100);
  ASSERT_OK(tail);
  EXPECT_THAT(MemberIds(*tail), ElementsAre(expected[5], expected[6]));
}

TEST_P(StoreContract, SharingAConversationAnswersOnlyForTheAskedUsers) {
  UserId me = NewUser("me");
  UserId dm_friend = NewUser("dm_friend");
  UserId big_1 = NewUser("big_1");
  UserId big_2 = NewUser("big_2");
  UserId former = NewUser("former");
  UserId stranger = NewUser("stranger");
  ASSERT_OK(store_->GetOrCreateDm(me, dm_friend, now_));
  ConversationId big = NewGroup(big_1, {me, big_2, former});
  NewGroup(stranger, {big_1});
  ASSERT_OK(store_->RemoveMember(big, former));

  const UserId asked[] = {stranger, big_2, me, dm_friend, former, big_2, UserId(999999)};
  Result<std::vector<UserId>> sharing = store_->SharingAConversation(me, asked);
  ASSERT_OK(sharing);
  EXPECT_THAT(Ids(*sharing), UnorderedElementsAre(big_2.value, dm_friend.value))
      << "not the stranger, not me, not who left, no duplicates, nothing unknown";
  sharing = store_->SharingAConversation(me, std::span<const UserId>());
  ASSERT_OK(sharing);
  EXPECT_THAT(*sharing, IsEmpty());
}

TEST_P(StoreContract, PresenceContactsRespectGroupLimitAndDms) {
  UserId me = NewUser("me");
  UserId dm_friend = NewUser("dm_friend");
  UserId small_1 = NewUser("small_1");
  UserId small_2 = NewUser("small_2");
  UserId big_1 = NewUser("big_1");
  UserId big_2 = NewUser("big_2");
  UserId big_3 = NewUser("big_3");
  UserId stranger = NewUser("stranger");
  ASSERT_OK(store_->GetOrCreateDm(me, dm_friend, now_));
  ASSERT_OK(store_->GetOrCreateDm(me, small_1, now_));  // also in the small group: no duplicate
  NewGroup(me, {small_1, small_2});                     // 3 members
  NewGroup(big_1, {me, big_2, big_3, small_1});         // 5 members
  NewGroup(stranger, {big_1});                          // not mine
  ASSERT_OK(store_->GetOrCreateDm(stranger, dm_friend, now_));

  Result<std::vector<UserId>> contacts = store_->PresenceContacts(me, 3);
  ASSERT_OK(contacts);
  EXPECT_THAT(Ids(*contacts), UnorderedElementsAre(dm_friend.value, small_1.value, small_2.value));

  contacts = store_->PresenceContacts(me, 5);
  ASSERT_OK(contacts);
  EXPECT_THAT(Ids(*contacts), UnorderedElementsAre(dm_friend.value, small_1.value, small_2.value, big_1.value,
                                                   big_2.value, big_3.value));

  contacts = store_->PresenceContacts(me, 0);
  ASSERT_OK(contacts);
  EXPECT_THAT(Ids(*contacts), UnorderedElementsAre(dm_friend.value, small_1.value))
      << "DMs count whatever the limit";

  contacts = store_->PresenceContacts(NewUser("loner"), 100);
  ASSERT_OK(contacts);
  EXPECT_THAT(*contacts, IsEmpty());
}

TEST_P(StoreContract, ListConversationsNewestActivityFirst) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ConversationId g1 = NewGroup(a, {b}, "one");
  ConversationId g2 = NewGroup(a, {b}, "two");
  ConversationId g3 = NewGroup(b, {a}, "three");
  NewGroup(b, {}, "not a's");

  Result<std::vector<Conversation>> list = store_->ListConversations(a);
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].id, g3);
  EXPECT_EQ((*list)[1].id, g2);
  EXPECT_EQ((*list)[2].id, g1);

  // A message in the oldest moves it to the front.
  Send(g1, b, "x1");
  Send(g1, b, "x2");
  list = store_->ListConversations(a);
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].id, g1);
  EXPECT_EQ((*list)[1].id, g3);
  EXPECT_EQ((*list)[2].id, g2);
  const Conversation& first = (*list)[0];
  EXPECT_EQ(first.title, std::optional<std::string>("one"));
  EXPECT_EQ(first.last_seq, 2);
  EXPECT_EQ(first.read_seq, 0) << "a has read nothing";
  EXPECT_EQ(first.member_count, 2);
  EXPECT_EQ(first.members.size(), 2u);
  for (const Member& m : first.members) EXPECT_EQ(m.role, m.id == a ? Role::kOwner : Role::kMember);

  Result<std::vector<Conversation>> of_b = store_->ListConversations(b);
  ASSERT_OK(of_b);
  ASSERT_EQ(of_b->size(), 4u);
  EXPECT_EQ((*of_b)[0].id, g1);
  EXPECT_EQ((*of_b)[0].read_seq, 2) << "b sent both";
}

// --- messages ------------------------------------------------------------------------

TEST_P(StoreContract, CommitBatchAssignsGaplessSeqsPerConversation) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ConversationId g1 = NewGroup(a, {b});
  ConversationId g2 = NewGroup(b, {a});
  std::vector<NewMessage> batch = {
      {g1, a, "c1", "g1 first", MessageId(11), 100},  {g2, b, "c2", "g2 first", MessageId(12), 101},
      {g1, b, "c3", "g1 second", MessageId(13), 102}, {g2, a, "c4", "g2 second", MessageId(14), 103},
      {g1, a, "c5", "g1 third", MessageId(15), 104},
  };
  auto result = store_->CommitBatch(batch);
  ASSERT_OK(result);
  ASSERT_EQ(result->size(), batch.size());
  std::vector<int64_t> seqs;
  for (size_t i = 0; i < batch.size(); ++i) {
    ASSERT_OK((*result)[i]);
    const Committed& c = *(*result)[i];
    EXPECT_FALSE(c.duplicate);
    EXPECT_EQ(c.message.conv, batch[i].conv);
    EXPECT_EQ(c.message.id, batch[i].id);
    EXPECT_EQ(c.message.sender, batch[i].sender);
    EXPECT_EQ(c.message.body, batch[i].body);
    EXPECT_EQ(c.message.ts, batch[i].ts);
    EXPECT_EQ(c.message.client_msg_id, batch[i].client_msg_id);
    seqs.push_back(c.message.seq);
  }
  EXPECT_THAT(seqs, ElementsAre(1, 1, 2, 2, 3));

  // The next batch continues where this one ended.
  std::vector<NewMessage> next = {{g2, b, "c6", "g2 third", MessageId(16), 105},
                                  {g1, b, "c7", "g1 fourth", MessageId(17), 106}};
  auto result2 = store_->CommitBatch(next);
  ASSERT_OK(result2);
  ASSERT_EQ(result2->size(), 2u);
  ASSERT_OK((*result2)[0]);
  ASSERT_OK((*result2)[1]);
  EXPECT_EQ((*result2)[0]->message.seq, 3);
  EXPECT_EQ((*result2)[1]->message.seq, 4);

  Result<Conversation> c1 = store_->GetConversation(g1, a);
  ASSERT_OK(c1);
  EXPECT_EQ(c1->last_seq, 4);
  Result<Conversation> c2 = store_->GetConversation(g2, a);
  ASSERT_OK(c2);
  EXPECT_EQ(c2->last_seq, 3);

  Result<std::vector<Message>> h1 = store_->History(g1, std::nullopt, std::nullopt, 50, UserId());
  ASSERT_OK(h1);
  EXPECT_THAT(Seqs(*h1), ElementsAre(1, 2, 3, 4));
  ASSERT_EQ(h1->size(), 4u);
  const Message& m = (*h1)[1];
  EXPECT_EQ(m.conv, g1);
  EXPECT_EQ(m.id, MessageId(13));
  EXPECT_EQ(m.sender, b);
  EXPECT_EQ(m.body, "g1 second");
  EXPECT_EQ(m.ts, 102);
  EXPECT_EQ(m.client_msg_id, "c3");
}

TEST_P(StoreContract, CommitBatchOfNothing) {
  auto result = store_->CommitBatch({});
  ASSERT_OK(result);
  EXPECT_THAT(*result, IsEmpty());
}

TEST_P(StoreContract, CommitBatchDedupesWithinOneBatch) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ConversationId g = NewGroup(a, {b});
  std::vector<NewMessage> batch = {
      {g, a, "same", "original", MessageId(21), 200},
      {g, b, "same", "other sender, same id", MessageId(22), 201},
      {g, a, "same", "retry", MessageId(23), 202},
      {g, a, "next", "after", MessageId(24), 203},
  };
  auto result = store_->CommitBatch(batch);
  ASSERT_OK(result);
  ASSERT_EQ(result->size(), 4u);
  for (const auto& r : *result) ASSERT_OK(r);
  EXPECT_FALSE((*result)[0]->duplicate);
  EXPECT_FALSE((*result)[1]->duplicate) << "dedupe is per sender";
  EXPECT_TRUE((*result)[2]->duplicate);
  EXPECT_FALSE((*result)[3]->duplicate);
  const Message& dup = (*result)[2]->message;
  EXPECT_EQ(dup.seq, 1);
  EXPECT_EQ(dup.id, MessageId(21)) << "the original's id";
  EXPECT_EQ(dup.ts, 200) << "the original's ts";
  EXPECT_EQ(dup.body, "original");
  EXPECT_EQ(dup.conv, g);
  EXPECT_EQ(dup.sender, a);
  EXPECT_EQ((*result)[1]->message.seq, 2);
  EXPECT_EQ((*result)[3]->message.seq, 3) << "a duplicate uses no seq";

  Result<std::vector<Message>> history = store_->History(g, std::nullopt, std::nullopt, 50, UserId());
  ASSERT_OK(history);
  EXPECT_THAT(Seqs(*history), ElementsAre(1, 2, 3));
}

TEST_P(StoreContract, CommitBatchDedupesAcrossBatches) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ConversationId g = NewGroup(a, {b});
  ConversationId other = NewGroup(a, {b});
  std::vector<NewMessage> first = {{g, a, "cmid-1", "hello", MessageId(31), 300}};
  auto r1 = store_->CommitBatch(first);
  ASSERT_OK(r1);
  ASSERT_OK((*r1)[0]);
  Send(g, b, "b-1");

  // The retry arrives later, even aimed at another conversation: the stored
  // message wins.
  std::vector<NewMessage> retry = {{g, a, "cmid-1", "hello again", MessageId(32), 400},
                                   {other, a, "cmid-1", "elsewhere", MessageId(33), 401}};
  auto r2 = store_->CommitBatch(retry);
  ASSERT_OK(r2);
  ASSERT_EQ(r2->size(), 2u);
  for (const auto& r : *r2) {
    ASSERT_OK(r);
    EXPECT_TRUE(r->duplicate);
    EXPECT_EQ(r->message.conv, g);
    EXPECT_EQ(r->message.seq, 1);
    EXPECT_EQ(r->message.id, MessageId(31));
    EXPECT_EQ(r->message.ts, 300);
    EXPECT_EQ(r->message.body, "hello");
  }
  Result<Conversation> conv = store_->GetConversation(g, a);
  ASSERT_OK(conv);
  EXPECT_EQ(conv->last_seq, 2);
  Result<Conversation> untouched = store_->GetConversation(other, a);
  ASSERT_OK(untouched);
  EXPECT_EQ(untouched->last_seq, 0);
}

TEST_P(StoreContract, CommitBatchRejectsPerEntryWithoutUsingSeqs) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  UserId outsider = NewUser("outsider");
  ConversationId g = NewGroup(a, {b});
  std::vector<NewMessage> batch = {
      {g, a, "ok-1", "one", MessageId(41), 500},
      {g, outsider, "nope", "not a member", MessageId(42), 501},
      {ConversationId(123456789), a, "lost", "no such conv", MessageId(43), 502},
      {g, b, "ok-2", "two", MessageId(44), 503},
  };
  auto result = store_->CommitBatch(batch);
  ASSERT_OK(result);  // per-entry errors do not fail the batch
  ASSERT_EQ(result->size(), 4u);
  ASSERT_OK((*result)[0]);
  EXPECT_EQ((*result)[0]->message.seq, 1);
  EXPECT_ERRC((*result)[1], Errc::kForbidden);
  EXPECT_ERRC((*result)[2], Errc::kNotFound);
  ASSERT_OK((*result)[3]);
  EXPECT_EQ((*result)[3]->message.seq, 2);

  // A rejected entry is not stored: its client_msg_id is still free.
  ASSERT_OK(store_->AddMember(g, outsider, Role::kMember));
  EXPECT_EQ(Send(g, outsider, "nope"), 3);
  Result<std::vector<Message>> history = store_->History(g, std::nullopt, std::nullopt, 50, UserId());
  ASSERT_OK(history);
  EXPECT_THAT(Seqs(*history), ElementsAre(1, 2, 3));
}

TEST_P(StoreContract, RemovedMemberCannotSend) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ConversationId g = NewGroup(a, {b});
  ASSERT_OK(store_->RemoveMember(g, b));
  std::vector<NewMessage> batch = {{g, b, "late", "hi", MessageId(51), 600}};
  auto result = store_->CommitBatch(batch);
  ASSERT_OK(result);
  ASSERT_EQ(result->size(), 1u);
  EXPECT_ERRC((*result)[0], Errc::kForbidden);
}

TEST_P(StoreContract, CommitBatchMovesTheSendersReadSeq) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ConversationId g = NewGroup(a, {b});
  Send(g, a, "a1");
  Send(g, a, "a2");
  Send(g, b, "b1");
  Result<Conversation> for_a = store_->GetConversation(g, a);
  ASSERT_OK(for_a);
  EXPECT_EQ(for_a->last_seq, 3);
  EXPECT_EQ(for_a->read_seq, 2);
  EXPECT_EQ(for_a->unread(), 1);
  Result<Conversation> for_b = store_->GetConversation(g, b);
  ASSERT_OK(for_b);
  EXPECT_EQ(for_b->read_seq, 3);
  EXPECT_EQ(for_b->unread(), 0);

  // Within one batch, the sender's marker ends on their last message.
  std::vector<NewMessage> batch = {{g, a, "a3", "x", MessageId(61), 700},
                                   {g, b, "b2", "y", MessageId(62), 701},
                                   {g, a, "a4", "z", MessageId(63), 702}};
  ASSERT_OK(store_->CommitBatch(batch));
  for_a = store_->GetConversation(g, a);
  ASSERT_OK(for_a);
  EXPECT_EQ(for_a->read_seq, 6);
  for_b = store_->GetConversation(g, b);
  ASSERT_OK(for_b);
  EXPECT_EQ(for_b->read_seq, 5);
}

TEST_P(StoreContract, HistoryPagingModes) {
  UserId a = NewUser("a");
  ConversationId g = NewGroup(a, {});
  std::vector<NewMessage> batch;
  for (int i = 1; i <= 10; ++i) {
    batch.push_back(
        {g, a, "h" + std::to_string(i), "body " + std::to_string(i), MessageId(1000 + i), 800 + i});
  }
  ASSERT_OK(store_->CommitBatch(batch));
  auto history = [&](std::optional<int64_t> before, std::optional<int64_t> after, int limit) {
    Result<std::vector<Message>> r = store_->History(g, before, after, limit, UserId());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? Seqs(*r) : std::vector<int64_t>{-1};
  };
  // Neither bound: the newest, ascending.
  EXPECT_THAT(history(std::nullopt, std::nullopt, 3), ElementsAre(8, 9, 10));
  EXPECT_EQ(history(std::nullopt, std::nullopt, 50), Range(1, 10));
  // Before only: just below `before`.
  EXPECT_THAT(history(5, std::nullopt, 3), ElementsAre(2, 3, 4));
  EXPECT_THAT(history(3, std::nullopt, 5), ElementsAre(1, 2));
  EXPECT_THAT(history(1, std::nullopt, 5), IsEmpty());
  EXPECT_THAT(history(100, std::nullopt, 2), ElementsAre(9, 10));
  // After only: after+1 .. after+limit.
  EXPECT_THAT(history(std::nullopt, 2, 3), ElementsAre(3, 4, 5));
  EXPECT_THAT(history(std::nullopt, 7, 5), ElementsAre(8, 9, 10));
  EXPECT_THAT(history(std::nullopt, 10, 5), IsEmpty());
  EXPECT_THAT(history(std::nullopt, 0, 2), ElementsAre(1, 2));
  // Both: the first `limit` above `after` and below `before`.
  EXPECT_THAT(history(9, 2, 3), ElementsAre(3, 4, 5));
  EXPECT_THAT(history(5, 2, 10), ElementsAre(3, 4));
  EXPECT_THAT(history(4, 3, 10), IsEmpty());

  Result<std::vector<Message>> full = store_->History(g, 6, 4, 1, UserId());
  ASSERT_OK(full);
  ASSERT_EQ(full->size(), 1u);
  EXPECT_EQ((*full)[0].seq, 5);
  EXPECT_EQ((*full)[0].id, MessageId(1005));
  EXPECT_EQ((*full)[0].body, "body 5");
  EXPECT_EQ((*full)[0].ts, 805);
  EXPECT_EQ((*full)[0].client_msg_id, "h5");
  EXPECT_EQ((*full)[0].sender, a);
  EXPECT_EQ((*full)[0].conv, g);

  // An empty conversation has no history.
  ConversationId empty = NewGroup(a, {});
  Result<std::vector<Message>> none = store_->History(empty, std::nullopt, std::nullopt, 10, UserId());
  ASSERT_OK(none);
  EXPECT_THAT(*none, IsEmpty());
}

TEST_P(StoreContract, HistoryLimitIsCappedAt500) {
  UserId a = NewUser("a");
  ConversationId g = NewGroup(a, {});
  std::vector<NewMessage> batch;
  for (int i = 1; i <= 620; ++i) batch.push_back({g, a, "c" + std::to_string(i), "b", MessageId(i), i});
  auto committed = store_->CommitBatch(batch);
  ASSERT_OK(committed);
  ASSERT_OK(committed->back());
  EXPECT_EQ(committed->back()->message.seq, 620);

  Result<std::vector<Message>> newest = store_->History(g, std::nullopt, std::nullopt, 10000, UserId());
  ASSERT_OK(newest);
  EXPECT_EQ(Seqs(*newest), Range(121, 620));
  Result<std::vector<Message>> after = store_->History(g, std::nullopt, 0, 501, UserId());
  ASSERT_OK(after);
  EXPECT_EQ(Seqs(*after), Range(1, 500));
  Result<std::vector<Message>> before = store_->History(g, 600, std::nullopt, 1000, UserId());
  ASSERT_OK(before);
  EXPECT_EQ(Seqs(*before), Range(100, 599));
  Result<std::vector<Message>> tiny = store_->History(g, std::nullopt, std::nullopt, 0, UserId());
  ASSERT_OK(tiny);
  EXPECT_LE(tiny->size(), 1u) << "a limit below 1 is raised to 1";
}

TEST_P(StoreContract, SetReadSeqClampsAndNeverMovesBack) {
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  UserId outsider = NewUser("outsider");
  ConversationId g = NewGroup(a, {b});
  for (int i = 0; i < 5; ++i) Send(g, a, "m" + std::to_string(i));

  Result<int64_t> marker = store_->SetReadSeq(g, b, 3);
  ASSERT_OK(marker);
  EXPECT_EQ(*marker, 3);
  marker = store_->SetReadSeq(g, b, 2);
  ASSERT_OK(marker);
  EXPECT_EQ(*marker, 3) << "never back";
  marker = store_->SetReadSeq(g, b, 99);
  ASSERT_OK(marker);
  EXPECT_EQ(*marker, 5) << "clamped to last_seq";
  Result<Conversation> conv = store_->GetConversation(g, b);
  ASSERT_OK(conv);
  EXPECT_EQ(conv->read_seq, 5);
  EXPECT_EQ(conv->unread(), 0);

  Send(g, a, "m5");
  marker = store_->SetReadSeq(g, b, 0);
  ASSERT_OK(marker);
  EXPECT_EQ(*marker, 5);

  EXPECT_ERRC(store_->SetReadSeq(g, outsider, 1), Errc::kForbidden);
  EXPECT_ERRC(store_->SetReadSeq(ConversationId(55555), b, 1), Errc::kNotFound);
}

TEST_P(StoreContract, PingAnswers) { ASSERT_OK(store_->Ping()); }

// --- durability and concurrency -------------------------------------------------------

TEST_P(StoreContract, DataSurvivesReopening) {
  if (!GetParam().reopen) GTEST_SKIP() << "backend cannot reopen its storage";
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  ASSERT_OK(store_->SetLastSeen(b, 4242));
  ConversationId g = NewGroup(a, {b}, "durable");
  Result<ConversationId> dm = store_->GetOrCreateDm(a, b, now_);
  ASSERT_OK(dm);
  Send(g, a, "d1", "first");
  Send(g, b, "d2", "second");
  ASSERT_OK(store_->SetReadSeq(g, a, 2));
  ASSERT_OK(store_->PutRefreshToken("survivor", a, 10'000, "survivor-family"));
  ASSERT_OK(store_->SetPassword(b, "hash-b"));

  Reopen();

  Result<UserRecord> rec = store_->FindUserByName("b");
  ASSERT_OK(rec);
  EXPECT_EQ(rec->user.id, b);
  EXPECT_EQ(rec->password_hash, "hash-b");
  EXPECT_EQ(rec->user.last_seen, std::optional<TimeMs>(4242));
  Result<Conversation> conv = store_->GetConversation(g, a);
  ASSERT_OK(conv);
  EXPECT_EQ(conv->title, std::optional<std::string>("durable"));
  EXPECT_EQ(conv->last_seq, 2);
  EXPECT_EQ(conv->read_seq, 2);
  EXPECT_EQ(conv->member_count, 2);
  Result<std::vector<Message>> history = store_->History(g, std::nullopt, std::nullopt, 10, UserId());
  ASSERT_OK(history);
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].body, "first");
  EXPECT_EQ((*history)[1].body, "second");
  Result<ConversationId> dm_again = store_->GetOrCreateDm(b, a, now_);
  ASSERT_OK(dm_again);
  EXPECT_EQ(*dm_again, *dm);
  Result<RefreshGrant> token = store_->TakeRefreshToken("survivor", 5000);
  ASSERT_OK(token);
  EXPECT_EQ(token->user, a);
  EXPECT_EQ(token->family, "survivor-family");
  Result<AuthState> b_state = store_->GetAuthState(b);
  ASSERT_OK(b_state);
  EXPECT_EQ(b_state->token_epoch, 1);

  // Seqs and dedupe continue across the restart.
  std::vector<NewMessage> batch = {{g, a, "d1", "retry after restart", MessageId(90), 1},
                                   {g, a, "d3", "third", MessageId(91), 2}};
  auto result = store_->CommitBatch(batch);
  ASSERT_OK(result);
  ASSERT_OK((*result)[0]);
  EXPECT_TRUE((*result)[0]->duplicate);
  EXPECT_EQ((*result)[0]->message.seq, 1);
  ASSERT_OK((*result)[1]);
  EXPECT_EQ((*result)[1]->message.seq, 3);
  EXPECT_ERRC(store_->CreateUser("a", "", "x", 1), Errc::kConflict);
}

TEST_P(StoreContract, ConcurrentCommitBatchesYieldGaplessSeqs) {
  constexpr int kThreads = 4;
  constexpr int kBatches = 40;
  constexpr int kPerBatch = 10;
  UserId a = NewUser("a");
  UserId b = NewUser("b");
  // Two conversations per thread, so batches mix conversations.
  std::vector<ConversationId> convs;
  for (int i = 0; i < kThreads * 2; ++i) convs.push_back(NewGroup(a, {b}));

  std::atomic<int> failures{0};
  std::atomic<bool> writing{true};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < kBatches; ++n) {
        std::vector<NewMessage> batch;
        for (int k = 0; k < kPerBatch; ++k) {
          ConversationId conv = convs[2 * t + k % 2];
          UserId sender = k % 3 == 0 ? b : a;
          std::string cmid = "t" + std::to_string(t) + "-" + std::to_string(n) + "-" + std::to_string(k);
          batch.push_back({conv, sender, cmid, "x", MessageId(1 + t * 100000 + n * 100 + k), n});
        }
        auto result = store_->CommitBatch(batch);
        if (!result.ok()) {
          ++failures;
          continue;
        }
        for (const auto& r : *result) {
          if (!r.ok() || r->duplicate) ++failures;
        }
      }
    });
  }
  // A reader runs alongside: reads never see a torn batch (a seq beyond last_seq).
  std::atomic<int> torn{0};
  std::thread reader([&] {
    while (writing.load()) {
      for (ConversationId conv : convs) {
        Result<Conversation> c = store_->GetConversation(conv, a);
        Result<std::vector<Message>> h = store_->History(conv, std::nullopt, std::nullopt, 5, UserId());
        if (!c.ok() || !h.ok()) {
          ++torn;
          continue;
        }
        for (size_t i = 1; i < h->size(); ++i) {
          if ((*h)[i].seq != (*h)[i - 1].seq + 1) ++torn;
        }
      }
    }
  });
  for (auto& t : threads) t.join();
  writing = false;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(torn.load(), 0);

  const int64_t per_conv = kBatches * kPerBatch / 2;
  for (ConversationId conv : convs) {
    Result<std::vector<Message>> all = store_->History(conv, std::nullopt, 0, 500, UserId());
    ASSERT_OK(all);
    EXPECT_EQ(Seqs(*all), Range(1, per_conv)) << "conversation " << conv.value;
    Result<Conversation> c = store_->GetConversation(conv, a);
    ASSERT_OK(c);
    EXPECT_EQ(c->last_seq, per_conv);
  }
}

TEST_P(StoreContract, ConcurrentRetriesOfOneMessageStoreItOnce) {
  UserId a = NewUser("a");
  ConversationId g = NewGroup(a, {});
  constexpr int kThreads = 4;
  std::atomic<int> originals{0};
  std::atomic<int> duplicates{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<NewMessage> batch = {{g, a, "once", "x", MessageId(500 + t), t}};
      auto result = store_->CommitBatch(batch);
      if (!result.ok() || !(*result)[0].ok()) return;
      ((*result)[0]->duplicate ? duplicates : originals)++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(originals.load(), 1);
  EXPECT_EQ(duplicates.load(), kThreads - 1);
  Result<Conversation> conv = store_->GetConversation(g, a);
  ASSERT_OK(conv);
  EXPECT_EQ(conv->last_seq, 1);
}

}  // namespace parley::store::contract

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreContract);
