// AccountExport over a real SQLite store, with pages and pieces small
// enough that every stage spans several of them: the pieces join into one
// valid document with every own text entry in order, and the export slot
// is held exactly while an export runs.
#include "chat/account_export.h"

#include <unistd.h>

#include <filesystem>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "store/sqlite/sqlite_store.h"

namespace parley::chat {
namespace {
namespace json = boost::json;

class AccountExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("parley-export-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    store_ = std::move(store::sqlite::Open({.path = (dir_ / "t.db").string()})).value();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  User NewUser(const std::string& name) { return store_->CreateUser(name, "", "h", 1).value(); }
  void Send(ConversationId conv, UserId sender, const std::string& body) {
    store::NewMessage m{conv, sender, "c" + std::to_string(++n_), body, MessageId(n_), 100 + n_};
    auto r = store_->CommitBatch(std::span<const store::NewMessage>(&m, 1));
    ASSERT_TRUE(r && (*r)[0]) << "commit";
  }
  // Every piece until the end, joined.
  std::string Drain(AccountExport& e, int* pieces = nullptr) {
    std::string doc;
    for (int i = 0; i < 100000; ++i) {
      auto piece = e.Next();
      EXPECT_TRUE(piece) << piece.error().message;
      if (!piece || piece->empty()) break;
      doc += *piece;
      if (pieces) ++*pieces;
    }
    return doc;
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  int64_t n_ = 0;
};

TEST_F(AccountExportTest, PiecesMakeOneDocumentWithEveryOwnMessageInOrder) {
  User ann = NewUser("ann"), bob = NewUser("bob"), cat = NewUser("cat"), dan = NewUser("dan");
  UserId others[] = {bob.id, cat.id, dan.id};
  ConversationId g = store_->CreateGroup("team \"one\"", ann.id, others, 1).value();
  ConversationId dm = store_->GetOrCreateDm(ann.id, bob.id, 2).value();
  UserId cat_only[] = {cat.id};
  ConversationId hidden = store_->CreateGroup("not ann's", bob.id, cat_only, 3).value();
  for (int i = 0; i < 7; ++i) {
    Send(g, ann.id, "ann " + std::to_string(i));
    Send(g, bob.id, "bob " + std::to_string(i));
  }
  Send(dm, ann.id, "dm \xc3\xa9");
  Send(hidden, bob.id, "secret");
  ASSERT_TRUE(store_->SetReadSeq(g, ann.id, 14));  // bob's last

  ExportSlots slots;
  auto slot = slots.Take(ann.id);
  ASSERT_TRUE(slot);
  AccountExport e(*store_, ann, std::move(slot), 999, /*page=*/2, /*piece_bytes=*/1);
  int pieces = 0;
  std::string text = Drain(e, &pieces);
  EXPECT_GT(pieces, 10) << "a piece per page";
  EXPECT_EQ(e.Next().value(), "") << "the end stays the end";

  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  ASSERT_FALSE(ec) << text;
  EXPECT_EQ(doc.at("exported_at"), 999);
  EXPECT_EQ(doc.at("account").at("username"), "ann");
  const json::array& convs = doc.at("conversations").as_array();
  ASSERT_EQ(convs.size(), 2u);
  for (const auto& c : convs) {
    if (c.at("id") == json::value(g.ToString())) {
      EXPECT_EQ(c.at("title"), "team \"one\"");
      EXPECT_EQ(c.at("members").as_array().size(), 4u) << "members paged two at a time";
      EXPECT_EQ(c.at("read_seq"), 14);
    } else {
      EXPECT_EQ(c.at("kind"), "dm");
      EXPECT_TRUE(c.at("title").is_null());
    }
  }
  std::vector<std::string> bodies;
  for (const auto& m : doc.at("messages").as_array()) {
    EXPECT_EQ(m.at("sender"), json::value(ann.id.ToString()));
    if (m.at("conv") == json::value(g.ToString())) bodies.emplace_back(m.at("body").as_string());
  }
  EXPECT_EQ(bodies,
            (std::vector<std::string>{"ann 0", "ann 1", "ann 2", "ann 3", "ann 4", "ann 5", "ann 6"}));
  EXPECT_EQ(doc.at("messages").as_array().size(), 8u);
  EXPECT_EQ(text.find("secret"), std::string::npos);
  EXPECT_EQ(text.find("not ann's"), std::string::npos);
  EXPECT_EQ(doc.at("read_markers").as_array().size(), 2u);
}

// A user's messages stay theirs after they leave: a group they left (and
// one they were banned from) is listed among the former conversations,
// without its members, and their messages in it are exported.
TEST_F(AccountExportTest, MessagesInConversationsTheUserLeftAreExported) {
  User ann = NewUser("ann"), bob = NewUser("bob");
  UserId with_ann[] = {ann.id};
  ConversationId left = store_->CreateGroup("left", bob.id, with_ann, 1).value();
  ConversationId banned = store_->CreateGroup("banned", bob.id, with_ann, 2).value();
  ConversationId current = store_->CreateGroup("current", bob.id, with_ann, 3).value();
  for (int i = 0; i < 5; ++i) Send(left, ann.id, "left " + std::to_string(i));
  Send(left, bob.id, "bob in left");
  Send(banned, ann.id, "banned 0");
  Send(current, ann.id, "current 0");
  ASSERT_TRUE(store_->RemoveMember(left, ann.id));
  ASSERT_TRUE(store_->Ban(banned, ann.id, bob.id, 10));

  ExportSlots slots;
  AccountExport e(*store_, ann, slots.Take(ann.id), 5, /*page=*/2, /*piece_bytes=*/1);
  std::string text = Drain(e);
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  ASSERT_FALSE(ec) << text;
  ASSERT_EQ(doc.at("conversations").as_array().size(), 1u);
  const json::array& former = doc.at("former_conversations").as_array();
  ASSERT_EQ(former.size(), 2u);
  EXPECT_EQ(former[0].at("id"), json::value(left.ToString()));
  EXPECT_EQ(former[0].at("title"), "left");
  EXPECT_EQ(former[0].at("last_seq"), 6);
  EXPECT_FALSE(former[0].as_object().contains("members"));
  EXPECT_EQ(former[1].at("id"), json::value(banned.ToString()));
  std::vector<std::string> bodies;
  for (const auto& m : doc.at("messages").as_array()) bodies.emplace_back(m.at("body").as_string());
  EXPECT_EQ(bodies, (std::vector<std::string>{"current 0", "left 0", "left 1", "left 2", "left 3", "left 4",
                                              "banned 0"}));
  EXPECT_EQ(text.find("bob in left"), std::string::npos);
  EXPECT_EQ(doc.at("read_markers").as_array().size(), 1u) << "markers of current conversations only";
}

TEST_F(AccountExportTest, AUserWithNothingGetsAnEmptyDocument) {
  User ann = NewUser("ann");
  ExportSlots slots;
  AccountExport e(*store_, ann, slots.Take(ann.id), 5);
  json::value doc = json::parse(Drain(e));
  EXPECT_TRUE(doc.at("conversations").as_array().empty());
  EXPECT_TRUE(doc.at("former_conversations").as_array().empty());
  EXPECT_TRUE(doc.at("messages").as_array().empty());
  EXPECT_TRUE(doc.at("read_markers").as_array().empty());
}

TEST_F(AccountExportTest, OneRunningExportPerUser) {
  User ann = NewUser("ann"), bob = NewUser("bob");
  ExportSlots slots;
  auto running = std::make_unique<AccountExport>(*store_, ann, slots.Take(ann.id), 5);
  EXPECT_FALSE(slots.Take(ann.id)) << "a second export of ann while one runs";
  EXPECT_TRUE(slots.Take(bob.id)) << "bob is not held up (and his slot goes back at once)";
  EXPECT_TRUE(slots.Take(bob.id));
  // Abandoned (the client went away): the slot comes back.
  running.reset();
  auto again = slots.Take(ann.id);
  ASSERT_TRUE(again);
  // Finished: the slot comes back with the end, before the export is gone.
  AccountExport done(*store_, ann, std::move(again), 5);
  (void)Drain(done);
  EXPECT_TRUE(slots.Take(ann.id));
}

}  // namespace
}  // namespace parley::chat
