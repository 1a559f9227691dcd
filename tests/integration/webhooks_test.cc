// Outgoing webhooks (PROTOCOL.md §8) end to end: the real parleyd POSTing to
// a real local receiver (webhook_receiver.h). Signatures are recomputed here
// with OpenSSL; order, at-least-once, 410, a hanging receiver, a huge
// answer, the URL rules, who may manage webhooks, and a SIGKILL of the
// server during delivery.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <map>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "server_fixture.h"
#include "webhook_receiver.h"

namespace parley::testing {
namespace {

std::string HmacHex(const std::string& key, const std::string& text) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[mac[i] >> 4]);
    out.push_back(kHex[mac[i] & 0xF]);
  }
  return out;
}

// The entry's seq of a delivery (0 when the body is not one).
int64_t SeqOf(const WebhookReceiver::Request& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec || !v.is_object()) return 0;
  const json::value* entry = v.as_object().if_contains("entry");
  if (!entry || !entry->is_object()) return 0;
  return GetInt(entry->as_object(), "seq").value_or(0);
}

// How many distinct seqs the receiver holds.
size_t DistinctSeqs(const std::vector<WebhookReceiver::Request>& rs) {
  std::set<int64_t> seqs;
  for (const auto& r : rs) seqs.insert(SeqOf(r));
  return seqs.size();
}

// The seqs in the order they were first received.
std::vector<int64_t> FirstSeen(const std::vector<WebhookReceiver::Request>& rs) {
  std::vector<int64_t> out;
  std::set<int64_t> seen;
  for (const auto& r : rs) {
    if (seen.insert(SeqOf(r)).second) out.push_back(SeqOf(r));
  }
  return out;
}

class WebhooksTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    return {"--webhooks.allow_private_addresses",
            "true",
            "--webhooks.retry_initial_ms",
            "100",
            "--webhooks.timeout_ms",
            "1500",
            "--webhooks.scan_interval_ms",
            "200",
            "--limits.send_rate_per_s",
            "100000",
            "--limits.send_burst",
            "100000"};
  }

  // Adds a webhook to `conv` as `s`; its JSON (id, url, secret) or an empty
  // object (failure recorded).
  json::object AddHook(const Session& s, const std::string& conv, const std::string& url) {
    auto r = Post("/v1/conversations/" + conv + "/webhooks", {{"url", url}}, s.access_token);
    EXPECT_EQ(r.status, 201) << r.Describe();
    if (r.status != 201) return {};
    return r.Object().at("webhook").as_object();
  }
};

TEST_F(WebhooksTest, DeliversEveryEntrySignedInOrder) {
  WebhookReceiver receiver;
  Session a = NewUser("wh");
  std::string g = CreateGroup(a, "hooks", {});
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  SendMessage(*ws, g, "before the webhook");  // not delivered: the webhook starts at the head
  json::object hook = AddHook(a, g, receiver.Url());
  ASSERT_FALSE(hook.empty());
  const std::string secret = GetString(hook, "secret");
  const std::string id = GetString(hook, "id");
  EXPECT_EQ(secret.size(), 43u);  // 32 random bytes, base64url
  auto sent = SendMany(*ws, g, 5, "signed");
  // An edit and a reaction are entries too, delivered as the log holds them.
  json::object edit =
      Ask(*ws, 900, {{"type", "edit"}, {"conv", g}, {"seq", 2}, {"body", "edited"}, {"client_msg_id", "e1"}});
  ASSERT_TRUE(FieldIs(edit, "type", "sent")) << Dump(edit);

  ASSERT_TRUE(receiver.WaitFor([](const auto& rs) { return DistinctSeqs(rs) >= 6; }, 15s))
      << receiver.Requests().size() << " requests\n"
      << server().LogTail();
  auto requests = receiver.Requests();
  EXPECT_EQ(FirstSeen(requests), (std::vector<int64_t>{2, 3, 4, 5, 6, 7}));
  for (const auto& r : requests) {
    const std::string& ts = r.headers.at("x-parley-timestamp");
    EXPECT_EQ(r.headers.at("x-parley-signature"), "sha256=" + HmacHex(secret, ts + "." + r.body));
    EXPECT_LT(std::abs(NowMs() - std::stoll(ts)), 60'000);
    json::object body = json::parse(r.body).as_object();
    EXPECT_EQ(GetString(body, "webhook_id"), id);
    EXPECT_EQ(GetString(body, "delivery_id"), r.headers.at("x-parley-delivery"));
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
    const json::object& entry = body.at("entry").as_object();
    EXPECT_EQ(GetString(entry, "conv"), g);
  }
  // A forged signature would not match: the secret is the key.
  EXPECT_NE(requests[0].headers.at("x-parley-signature"),
            "sha256=" +
                HmacHex(secret + "x", requests[0].headers.at("x-parley-timestamp") + "." + requests[0].body));
  json::object last = json::parse(requests.back().body).as_object();
  EXPECT_EQ(GetString(last.at("entry").as_object(), "kind"), "edit");

  // Listed without the secret; no failure.
  auto listed = Get("/v1/conversations/" + g + "/webhooks", a.access_token);
  ASSERT_EQ(listed.status, 200) << listed.Describe();
  const json::array& hooks = listed.Object().at("webhooks").as_array();
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_EQ(GetString(hooks[0], "id"), id);
  EXPECT_EQ(GetString(hooks[0], "url"), receiver.Url());
  EXPECT_TRUE(hooks[0].as_object().at("failing_since").is_null());
  EXPECT_FALSE(hooks[0].as_object().contains("secret"));
  auto metrics = http().Get("/metrics");
  EXPECT_NE(metrics.body.find("parley_webhook_deliveries_total"), std::string::npos);
  EXPECT_NE(metrics.body.find("parley_webhook_lag_seconds_count"), std::string::npos);

  // Deleted: nothing more arrives.
  EXPECT_EQ(Delete("/v1/conversations/" + g + "/webhooks/" + id, a.access_token).status, 204);
  EXPECT_EQ(Delete("/v1/conversations/" + g + "/webhooks/" + id, a.access_token).status, 404);
  const size_t before = receiver.Requests().size();
  SendMessage(*ws, g, "after the delete");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(receiver.Requests().size(), before);
}

TEST_F(WebhooksTest, RetriesUntil2xxAndKeepsOrder) {
  std::atomic<int> failures_left{3};
  WebhookReceiver receiver([&](const WebhookReceiver::Request&) {
    WebhookReceiver::Reply reply;
    if (failures_left.fetch_sub(1) > 0) reply.status = 500;
    return reply;
  });
  Session a = NewUser("wr");
  std::string g = CreateGroup(a, "retry", {});
  json::object hook = AddHook(a, g, receiver.Url());
  ASSERT_FALSE(hook.empty());
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  SendMany(*ws, g, 4, "retry");

  // While it fails, the list says since when.
  ASSERT_TRUE(receiver.WaitFor([](const auto& rs) { return rs.size() >= 2; }, 10s));
  auto listed = Get("/v1/conversations/" + g + "/webhooks", a.access_token);
  ASSERT_EQ(listed.status, 200);

  ASSERT_TRUE(receiver.WaitFor([](const auto& rs) { return DistinctSeqs(rs) >= 4 && rs.size() >= 7; }, 20s))
      << server().LogTail();
  auto requests = receiver.Requests();
  // seq 1 three times (500, 500, 500), then 1..4 once each: the next entry
  // waited for the previous one's 2xx.
  std::vector<int64_t> seqs;
  for (const auto& r : requests) seqs.push_back(SeqOf(r));
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 1, 1, 1, 2, 3, 4}));
  std::set<std::string> delivery_ids;
  for (size_t i = 0; i < 4; ++i) delivery_ids.insert(requests[i].headers.at("x-parley-delivery"));
  EXPECT_EQ(delivery_ids.size(), 1u) << "a retry keeps its delivery id";
  auto after = Get("/v1/conversations/" + g + "/webhooks", a.access_token);
  EXPECT_TRUE(after.Object().at("webhooks").as_array()[0].as_object().at("failing_since").is_null());
}

TEST_F(WebhooksTest, FailingSinceShowsWhileTheReceiverFails) {
  WebhookReceiver receiver(
      [](const WebhookReceiver::Request&) { return WebhookReceiver::Reply{.status = 503}; });
  Session a = NewUser("wf");
  std::string g = CreateGroup(a, "failing", {});
  ASSERT_FALSE(AddHook(a, g, receiver.Url()).empty());
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  const int64_t t0 = NowMs();
  SendMessage(*ws, g, "fails");
  ASSERT_TRUE(receiver.WaitFor([](const auto& rs) { return rs.size() >= 2; }, 10s));
  auto listed = Get("/v1/conversations/" + g + "/webhooks", a.access_token);
  const json::value& since = listed.Object().at("webhooks").as_array()[0].as_object().at("failing_since");
  ASSERT_TRUE(since.is_int64()) << listed.Describe();
  EXPECT_GE(since.as_int64(), t0);
}

TEST_F(WebhooksTest, A410DeletesTheWebhook) {
  WebhookReceiver receiver(
      [](const WebhookReceiver::Request&) { return WebhookReceiver::Reply{.status = 410}; });
  Session a = NewUser("wg");
  std::string g = CreateGroup(a, "gone", {});
  ASSERT_FALSE(AddHook(a, g, receiver.Url()).empty());
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  SendMessage(*ws, g, "gone");
  ASSERT_TRUE(receiver.WaitFor([](const auto& rs) { return !rs.empty(); }, 10s));
  auto deadline = std::chrono::steady_clock::now() + 5s;
  size_t left = 1;
  while (std::chrono::steady_clock::now() < deadline) {
    left =
        Get("/v1/conversations/" + g + "/webhooks", a.access_token).Object().at("webhooks").as_array().size();
    if (left == 0) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(left, 0u);
  SendMessage(*ws, g, "after 410");
  std::this_thread::sleep_for(700ms);
  EXPECT_EQ(receiver.Requests().size(), 1u);
}

TEST_F(WebhooksTest, AHangingReceiverDelaysNeitherChatNorOtherWebhooks) {
  WebhookReceiver hanging(
      [](const WebhookReceiver::Request&) { return WebhookReceiver::Reply{.hang = true}; });
  WebhookReceiver healthy;
  Session a = NewUser("wh");
  std::string slow = CreateGroup(a, "slow", {});
  std::string fast = CreateGroup(a, "fast", {});
  ASSERT_FALSE(AddHook(a, slow, hanging.Url()).empty());
  ASSERT_FALSE(AddHook(a, fast, healthy.Url()).empty());
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  SendMany(*ws, slow, 5, "stuck");
  ASSERT_TRUE(hanging.WaitFor([](const auto& rs) { return !rs.empty(); }, 10s));
  // The chat answers at once while the receiver hangs...
  auto t0 = std::chrono::steady_clock::now();
  auto answers = SendMany(*ws, fast, 20, "quick");
  auto took = std::chrono::steady_clock::now() - t0;
  for (const auto& a : answers) EXPECT_TRUE(FieldIs(a, "type", "sent")) << Dump(a);
  EXPECT_LT(took, 1s);
  // ...and the other webhook gets its entries well within the hang's timeout.
  ASSERT_TRUE(healthy.WaitFor([](const auto& rs) { return DistinctSeqs(rs) >= 20; }, 1400ms))
      << healthy.Requests().size() << " of 20 within the hanging receiver's timeout";
}

TEST_F(WebhooksTest, AHugeAnswerIsCutAndCountsByItsStatus) {
  WebhookReceiver huge([](const WebhookReceiver::Request&) {
    return WebhookReceiver::Reply{.status = 200, .body_bytes = 64u << 20};
  });
  Session a = NewUser("wb");
  std::string g = CreateGroup(a, "huge", {});
  ASSERT_FALSE(AddHook(a, g, huge.Url()).empty());
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  SendMany(*ws, g, 3, "big");
  ASSERT_TRUE(huge.WaitFor([](const auto& rs) { return DistinctSeqs(rs) >= 3; }, 10s)) << server().LogTail();
  EXPECT_EQ(huge.Requests().size(), 3u) << "each answered 200 once; no retry";
}

TEST_F(WebhooksTest, OnlyTheOwnerAndAdminsManageWebhooks) {
  Session owner = NewUser("wo");
  Session member = NewUser("wm");
  Session outsider = NewUser("wx");
  std::string g = CreateGroup(owner, "roles", {member.username});
  const std::string path = "/v1/conversations/" + g + "/webhooks";
  EXPECT_EQ(Post(path, {{"url", "http://127.0.0.1:9/h"}}, member.access_token).status, 403);
  EXPECT_EQ(Get(path, member.access_token).status, 403);
  EXPECT_EQ(Post(path, {{"url", "http://127.0.0.1:9/h"}}, outsider.access_token).status, 403);
  EXPECT_EQ(
      Post("/v1/conversations/999999/webhooks", {{"url", "http://127.0.0.1:9/h"}}, owner.access_token).status,
      404);
  json::object hook = AddHook(owner, g, "http://127.0.0.1:9/h");
  ASSERT_FALSE(hook.empty());
  EXPECT_EQ(Delete(path + "/" + GetString(hook, "id"), member.access_token).status, 403);
  // An admin may.
  auto ws = Open(owner);
  ASSERT_TRUE(ws);
  json::object promoted =
      Ask(*ws, 1, {{"type", "set_role"}, {"conv", g}, {"username", member.username}, {"role", "admin"}});
  ASSERT_TRUE(FieldIs(promoted, "type", "ok")) << Dump(promoted);
  EXPECT_EQ(Get(path, member.access_token).status, 200);
  EXPECT_EQ(Delete(path + "/" + GetString(hook, "id"), member.access_token).status, 204);
  // Bad urls.
  for (const char* bad : {"ftp://127.0.0.1/x", "http://u:p@127.0.0.1/x", "not a url", "http:///x"}) {
    auto r = Post(path, {{"url", bad}}, owner.access_token);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.Describe();
  }
  EXPECT_EQ(Post(path, {{"url", "https://127.0.0.1/" + std::string(3000, 'a')}}, owner.access_token).status,
            400);
  EXPECT_EQ(Post(path, json::object{}, owner.access_token).status, 400);
}

TEST_F(WebhooksTest, AtMostTheConfiguredNumberPerConversation) {
  Session a = NewUser("wn");
  std::string g = CreateGroup(a, "many", {});
  const std::string path = "/v1/conversations/" + g + "/webhooks";
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(Post(path, {{"url", "http://127.0.0.1:9/" + std::to_string(i)}}, a.access_token).status, 201);
  auto r = Post(path, {{"url", "http://127.0.0.1:9/11"}}, a.access_token);
  EXPECT_EQ(r.status, 400) << r.Describe();
}

// The default: private and loopback targets refused at creation.
class WebhooksPrivateTest : public ServerTest {};

TEST_F(WebhooksPrivateTest, LoopbackAndPrivateTargetsAreRefused) {
  Session a = NewUser("wp");
  std::string g = CreateGroup(a, "private", {});
  const std::string path = "/v1/conversations/" + g + "/webhooks";
  for (const char* url : {"http://127.0.0.1:8080/h", "http://localhost:8080/h", "http://10.0.0.1/h",
                          "http://[::1]/h", "http://169.254.169.254/latest/meta-data"}) {
    auto r = Post(path, {{"url", url}}, a.access_token);
    EXPECT_EQ(r.status, 400) << url << ": " << r.Describe();
    EXPECT_NE(r.body.find("private"), std::string::npos) << r.body;
  }
  EXPECT_EQ(Post(path, {{"url", "ftp://example.com/"}}, a.access_token).status, 400);
}

// SIGKILL during delivery, then a restart on the same data: every entry is
// delivered, in order; only the one in flight may come twice.
class WebhooksCrashTest : public WebhooksTest {};

TEST_F(WebhooksCrashTest, SigkillDuringDeliveryLosesAndReordersNothing) {
  // A slow receiver, so the kill lands in the middle of the stream.
  WebhookReceiver receiver([](const WebhookReceiver::Request&) {
    return WebhookReceiver::Reply{.delay = std::chrono::milliseconds(20)};
  });
  Session a = NewUser("wk");
  std::string g = CreateGroup(a, "crash", {});
  ASSERT_FALSE(AddHook(a, g, receiver.Url()).empty());
  auto ws = Open(a);
  ASSERT_TRUE(ws);
  constexpr int kEntries = 150;
  auto answers = SendMany(*ws, g, kEntries, "k");
  for (const auto& x : answers) ASSERT_TRUE(FieldIs(x, "type", "sent")) << Dump(x);
  ASSERT_TRUE(receiver.WaitFor([](const auto& rs) { return DistinctSeqs(rs) >= 30; }, 15s));
  server().Kill();
  ws.reset();
  const size_t at_kill = DistinctSeqs(receiver.Requests());
  ASSERT_LT(at_kill, static_cast<size_t>(kEntries)) << "the kill came too late to test anything";
  ASSERT_TRUE(server().Restart()) << server().error() << server().LogTail();
  Reconnect();

  ASSERT_TRUE(receiver.WaitFor([](const auto& rs) { return DistinctSeqs(rs) >= kEntries; }, 30s))
      << DistinctSeqs(receiver.Requests()) << " of " << kEntries << "\n"
      << server().LogTail();
  auto requests = receiver.Requests();
  // In order: each request is either the next seq or a repeat of the last one.
  int64_t last = 0;
  int repeats = 0;
  for (const auto& r : requests) {
    const int64_t seq = SeqOf(r);
    if (seq == last) {
      ++repeats;
      continue;
    }
    ASSERT_EQ(seq, last + 1) << "after seq " << last;
    last = seq;
  }
  EXPECT_EQ(last, kEntries);
  EXPECT_LE(repeats, 1) << "only the delivery in flight at the kill may come twice";
}

}  // namespace
}  // namespace parley::testing
