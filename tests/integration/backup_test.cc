// `parleyd backup` / `parleyd restore` (docs/operations.md, "Backup and
// restore"): a backup taken while rooms are busy holds every message
// acknowledged before it began, in order, once; a server started on the
// restored copy serves them, its users log in with their passwords and old
// access tokens still verify (the secret came along). Restore refuses what
// it must: a non-empty directory, a damaged file, a foreign file.
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace parley::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Command {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs parleyd with `args` (already shell-safe: temp paths and fixed words).
Command RunParleyd(const std::string& args) {
  Command c;
  std::string line = ParleydBinary() + " " + args + " 2>&1";
  std::FILE* pipe = popen(line.c_str(), "r");
  if (pipe == nullptr) return c;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) c.output.append(buf, n);
  int status = pclose(pipe);
  c.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return c;
}

// A fresh path in a temp folder removed with the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "parley-backup-XXXXXX").string();
    if (char* dir = mkdtemp(pattern.data())) path_ = dir;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct Ack {
  int64_t seq = 0;
  std::string id;
  int64_t ts = 0;
  Clock::time_point received;
};

// One busy room: a sender thread keeps up to 64 sends in flight, a reader
// thread records each `sent` answer with the time it arrived. Lives in one
// test; Stop joins both threads.
class Room {
 public:
  Room(std::unique_ptr<WsClient> ws, std::string conv, std::string prefix)
      : ws_(std::move(ws)), conv_(std::move(conv)), prefix_(std::move(prefix)) {
    sender_ = std::thread([this] { SendLoop(); });
    reader_ = std::thread([this] { ReadLoop(); });
  }
  ~Room() { Stop(); }

  void Stop() {
    stop_ = true;
    if (sender_.joinable()) sender_.join();
    if (reader_.joinable()) reader_.join();
  }
  int acked() const { return acked_count_; }
  const std::string& conv() const { return conv_; }
  // client_msg_id -> ack; call after Stop.
  const std::map<std::string, Ack>& acks() const { return acks_; }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  void SendLoop() {
    for (int i = 0; !stop_; ++i) {
      while (!stop_ && sent_ - acked_count_ >= 64) std::this_thread::sleep_for(1ms);
      if (stop_) break;
      if (!ws_->SendJson({{"id", i + 1},
                          {"type", "send"},
                          {"conv", conv_},
                          {"client_msg_id", prefix_ + "-" + std::to_string(i)},
                          {"body", prefix_ + " body " + std::to_string(i)}})) {
        break;
      }
      ++sent_;
    }
  }
  void ReadLoop() {
    // Keeps reading after stop until the answers in flight are in.
    auto quiet_since = Clock::now();
    while (!stop_ || (acked_count_ < sent_ && Clock::now() - quiet_since < 5s)) {
      auto f = ws_->Receive(100ms);
      if (!f) continue;
      quiet_since = Clock::now();
      auto re = GetInt(*f, "re");
      if (!re) continue;  // the room's own message events
      if (!FieldIs(*f, "type", "sent")) {
        errors_.push_back(Dump(*f));
      } else {
        acks_[prefix_ + "-" + std::to_string(*re - 1)] = Ack{
            GetInt(*f, "seq").value_or(0), GetString(*f, "id"), GetInt(*f, "ts").value_or(0), Clock::now()};
      }
      ++acked_count_;
    }
  }

  std::unique_ptr<WsClient> ws_;
  std::string conv_;
  std::string prefix_;
  std::atomic<bool> stop_{false};
  std::atomic<int> sent_{0};
  std::atomic<int> acked_count_{0};
  std::map<std::string, Ack> acks_;  // reader thread only until Stop
  std::vector<std::string> errors_;  // reader thread only until Stop
  std::thread sender_;
  std::thread reader_;
};

class BackupTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    return {"--limits.send_rate_per_s", "100000", "--limits.send_burst", "100000"};
  }

  // A new user's group holding `n` messages; the conversation id.
  std::string GroupWithMessages(const Session& owner, int n) {
    std::string g = CreateGroup(owner, "t", {});
    auto ws = Open(owner);
    if (g.empty() || !ws) return "";
    SendMany(*ws, g, n, "m");
    return g;
  }

  // Restores `file` into a fresh data dir, starts a second parleyd there,
  // stops the first, and points the fixture's helpers at the second.
  void ServeRestoredCopy(const std::string& file) {
    auto restored = std::make_unique<ParleydProcess>(ExtraFlags());
    Command restore = RunParleyd("restore --from " + file + " --data-dir " + restored->data_dir());
    ASSERT_EQ(restore.exit_code, 0) << restore.output;
    ASSERT_TRUE(restored->Start()) << restored->error() << restored->LogTail();
    server().Stop();
    std::swap(server_, restored);
    Reconnect();
  }

  // Waits until every room has at least `n` answers (or 30 s passed).
  static bool WaitAcked(const std::vector<std::unique_ptr<Room>>& rooms, int n) {
    auto deadline = Clock::now() + 30s;
    for (const auto& room : rooms) {
      while (room->acked() < n && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
      if (room->acked() < n) return false;
    }
    return true;
  }
};

TEST_F(BackupTest, BackupUnderLoadRestoresEveryAcknowledgedMessage) {
  TempDir tmp;
  Session a = NewUser("bk");
  Session b = NewUser("bk");
  Session c = NewUser("bk");
  std::vector<std::string> convs = {CreateGroup(a, "room one", {b.username}),
                                    CreateGroup(b, "room two", {c.username}), Dm(c, a.username)};
  const std::vector<const Session*> senders = {&a, &b, &c};
  std::vector<std::unique_ptr<Room>> rooms;
  for (size_t i = 0; i < convs.size(); ++i) {
    ASSERT_FALSE(convs[i].empty());
    auto ws = Open(*senders[i]);
    ASSERT_TRUE(ws);
    rooms.push_back(std::make_unique<Room>(std::move(ws), convs[i], "r" + std::to_string(i)));
  }
  ASSERT_TRUE(WaitAcked(rooms, 150)) << "the rooms never got busy";

  // Counted first: each of these answers arrived before backup_began.
  std::vector<int> acked_at_start;
  for (const auto& room : rooms) acked_at_start.push_back(room->acked());
  const auto backup_began = Clock::now();
  const std::string file = tmp / "parley.backup";
  Command backup = RunParleyd("backup --data-dir " + server().data_dir() + " --to " + file);
  ASSERT_EQ(backup.exit_code, 0) << backup.output;
  EXPECT_NE(backup.output.find("wrote " + file), std::string::npos) << backup.output;
  // The traffic went on through the backup and after it: writers were not stopped.
  for (size_t i = 0; i < rooms.size(); ++i) {
    auto deadline = Clock::now() + 10s;
    while (rooms[i]->acked() < acked_at_start[i] + 100 && Clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
    EXPECT_GE(rooms[i]->acked(), acked_at_start[i] + 100) << "room " << i << " stalled during the backup";
  }
  for (auto& room : rooms) room->Stop();

  // The restored copy, served by a second parleyd.
  ASSERT_NO_FATAL_FAILURE(ServeRestoredCopy(file));

  // Users log in with their passwords; tokens issued by the first server
  // verify on the copy (the token secret was backed up).
  EXPECT_EQ(Get("/v1/me", a.access_token).status, 200);
  std::vector<Session> relogged;
  for (const Session* s : senders) {
    auto login = client::Login(http(), s->username, kPassword);
    ASSERT_TRUE(login.ok()) << s->username << ": " << login.error().message;
    relogged.push_back(*login);
  }

  size_t checked = 0;
  for (size_t i = 0; i < rooms.size(); ++i) {
    SCOPED_TRACE("room " + std::to_string(i));
    EXPECT_TRUE(rooms[i]->errors().empty()) << rooms[i]->errors().front();
    auto all = AllMessages(relogged[i], rooms[i]->conv());
    std::map<std::string, json::object> by_cmid;
    for (size_t k = 0; k < all.size(); ++k) {
      EXPECT_EQ(GetInt(all[k], "seq"), static_cast<int64_t>(k + 1)) << "gap or disorder at " << k;
      const std::string cmid = GetString(all[k], "client_msg_id");
      EXPECT_TRUE(by_cmid.emplace(cmid, all[k].as_object()).second) << cmid << " stored twice";
    }
    size_t before = 0;
    for (const auto& [cmid, ack] : rooms[i]->acks()) {
      if (ack.received >= backup_began) continue;  // may or may not be in the copy
      ++before;
      auto it = by_cmid.find(cmid);
      ASSERT_NE(it, by_cmid.end()) << "acknowledged before the backup, missing from it: " << cmid;
      EXPECT_EQ(GetInt(it->second, "seq"), ack.seq) << cmid;
      EXPECT_EQ(GetString(it->second, "id"), ack.id) << cmid;
      EXPECT_EQ(GetInt(it->second, "ts"), ack.ts) << cmid;
    }
    EXPECT_GE(before, static_cast<size_t>(acked_at_start[i]) - rooms[i]->errors().size());
    checked += before;
  }
  std::cerr << "checked " << checked << " messages acknowledged before the backup; backup: " << backup.output;
}

TEST_F(BackupTest, RestoreRefusesNonEmptyDirDamagedAndForeignFiles) {
  TempDir tmp;
  Session a = NewUser("bk");
  ASSERT_FALSE(GroupWithMessages(a, 20).empty());
  const std::string file = tmp / "good.backup";
  ASSERT_EQ(RunParleyd("backup --data-dir " + server().data_dir() + " --to " + file).exit_code, 0);

  Command again = RunParleyd("backup --data-dir " + server().data_dir() + " --to " + file);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.output.find("already exists"), std::string::npos) << again.output;
  Command not_data = RunParleyd("backup --data-dir " + tmp / "" + " --to " + tmp / "x.backup");
  EXPECT_EQ(not_data.exit_code, 1);
  EXPECT_NE(not_data.output.find("holds no parley.db"), std::string::npos) << not_data.output;

  // Into a directory that holds anything: refused, and left alone.
  fs::create_directories(tmp / "busy");
  std::ofstream(tmp / "busy/keep") << "mine";
  Command busy = RunParleyd("restore --from " + file + " --data-dir " + tmp / "busy");
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_NE(busy.output.find("is not an empty directory"), std::string::npos) << busy.output;
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp / "busy"), fs::directory_iterator()), 1);

  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_GT(bytes.size(), 2000u);
  auto write = [&](const std::string& name, const std::string& content) {
    std::ofstream(tmp / name, std::ios::binary) << content;
    return tmp / name;
  };
  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x20;  // a bit in the database
  std::string manifest_changed = bytes;
  manifest_changed[bytes.find("\"size\":") + 7] ^= 0x01;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {write("flipped", flipped), "is damaged (checksum mismatch)"},
      {write("manifest", manifest_changed), "is damaged (checksum mismatch)"},
      {write("truncated", bytes.substr(0, bytes.size() - 100)), "is damaged"},
      {write("foreign", std::string("SQLite format 3") + bytes), "is not a Parley backup"},
      {write("empty", ""), "is not a Parley backup"},
      {tmp / "missing", "cannot open"},
  };
  for (const auto& [path, expected] : bad) {
    SCOPED_TRACE(path);
    const std::string target = tmp / ("out-" + fs::path(path).filename().string());
    Command r = RunParleyd("restore --from " + path + " --data-dir " + target);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(target)) << "a refused restore left " << target << " behind";
  }

  // The good file still restores, into a missing directory and into an empty one.
  fs::create_directories(tmp / "empty-dir");
  for (const std::string& target : {tmp / "new-dir", tmp / "empty-dir"}) {
    Command ok = RunParleyd("restore --from " + file + " --data-dir " + target);
    EXPECT_EQ(ok.exit_code, 0) << ok.output;
    EXPECT_TRUE(fs::exists(target + "/parley.db"));
    EXPECT_TRUE(fs::exists(target + "/jwt.secret"));
    EXPECT_EQ(fs::status(target + "/jwt.secret").permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
  }
}

TEST_F(BackupTest, StoppedNodeBacksUpAndStillStarts) {
  TempDir tmp;
  Session a = NewUser("bk");
  std::string g = GroupWithMessages(a, 5);
  ASSERT_FALSE(g.empty());
  server().Stop();
  // Reading a stopped node's WAL database creates its -wal and -shm (handed
  // to the database's owner); the node starts on them again.
  Command backup = RunParleyd("backup --data-dir " + server().data_dir() + " --to " + tmp / "stopped.backup");
  ASSERT_EQ(backup.exit_code, 0) << backup.output;
  ASSERT_TRUE(server().Restart()) << server().error() << server().LogTail();
  Reconnect();
  EXPECT_EQ(AllMessages(a, g).size(), 5u);
  ASSERT_NO_FATAL_FAILURE(ServeRestoredCopy(tmp / "stopped.backup"));
  EXPECT_EQ(AllMessages(a, g).size(), 5u);
}

}  // namespace
}  // namespace parley::testing
