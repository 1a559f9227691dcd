// The pure parts of webhook delivery: the signature a receiver checks, the
// body and delivery id, the retry schedule and the creation-time URL check.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "webhooks/dispatcher.h"
#include "webhooks/signature.h"
#include "webhooks/target.h"

namespace parley::webhooks {
namespace {

TEST(WebhookSignature, IsHmacSha256OfTimestampDotBody) {
  // Computed apart: printf '1.x' | openssl dgst -sha256 -hmac key
  EXPECT_EQ(Signature("key", "1", "x"),
            "sha256=fc4913c41a7bf793267e2a384f3261c9436ec2cd097bd745e7b0d99113f510ec");
  EXPECT_NE(Signature("key", "1", "x"), Signature("key", "2", "x"));
  EXPECT_NE(Signature("key", "1", "x"), Signature("kez", "1", "x"));
}

TEST(WebhookBody, CarriesTheWebhookTheDeliveryAndTheEntry) {
  Message m;
  m.conv = ConversationId(7);
  m.seq = 42;
  m.body = "hello";
  m.sender = UserId(3);
  const std::string body = DeliveryBody(5, m);
  boost::json::object o = boost::json::parse(body).as_object();
  EXPECT_EQ(o.at("webhook_id").as_string(), "5");
  EXPECT_EQ(o.at("delivery_id").as_string(), DeliveryId(5, 42));
  EXPECT_EQ(o.at("entry").as_object().at("seq").as_int64(), 42);
  EXPECT_EQ(o.at("entry").as_object().at("body").as_string(), "hello");
  EXPECT_EQ(DeliveryId(5, 42), DeliveryId(5, 42));  // stable across retries
  EXPECT_NE(DeliveryId(5, 42), DeliveryId(5, 43));
  EXPECT_NE(DeliveryId(5, 42), DeliveryId(6, 42));
}

TEST(WebhookRetry, FirstWithinTheInitialDelayThenDoublingUpToTheCap) {
  Options o;
  o.retry_initial_ms = 4000;
  o.retry_max_ms = 3'600'000;
  for (uint64_t r : {uint64_t{0}, uint64_t{1}, uint64_t{12345}, ~uint64_t{0}}) {
    const TimeMs first = RetryDelayMs(1, o, r);
    EXPECT_GE(first, 2000);
    EXPECT_LE(first, 4000);  // first retry within 5 s
    const TimeMs third = RetryDelayMs(3, o, r);
    EXPECT_GE(third, 8000);
    EXPECT_LE(third, 16000);
    const TimeMs late = RetryDelayMs(60, o, r);
    EXPECT_GE(late, 1'800'000);
    EXPECT_LE(late, 3'600'000);  // at most an hour apart
  }
  EXPECT_NE(RetryDelayMs(2, o, 1), RetryDelayMs(2, o, 777));  // jitter
}

TEST(WebhookTarget, RefusesWhatIsNotAPublicHttpUrl) {
  EXPECT_FALSE(CheckTargetUrl("ftp://example.com/x", false).ok());
  EXPECT_FALSE(CheckTargetUrl("http://user:pw@example.com/x", false).ok());
  EXPECT_FALSE(CheckTargetUrl("http:///x", false).ok());
  EXPECT_FALSE(CheckTargetUrl("https://example.com/" + std::string(3000, 'a'), false).ok());
  for (const char* url : {"http://127.0.0.1:9/x", "http://localhost:9/x", "http://10.1.2.3/", "http://[::1]/",
                          "http://169.254.169.254/latest"}) {
    Result<void> r = CheckTargetUrl(url, false);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.error().code, Errc::kBadRequest);
    EXPECT_NE(r.error().message.find("private"), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(CheckTargetUrl("http://127.0.0.1:9/x", true).ok());
  EXPECT_TRUE(CheckTargetUrl("http://8.8.8.8/hook", false).ok());  // a literal needs no resolver
}

}  // namespace
}  // namespace parley::webhooks
