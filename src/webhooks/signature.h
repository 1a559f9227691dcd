#pragma once
// What a webhook receiver sees of a delivery (PROTOCOL.md §8): the body, the
// delivery id and the signature. Pure functions, shared by the delivery and
// the tests that play the receiver.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/model.h"

namespace parley::webhooks {

// Stable per (webhook, seq), so a receiver can drop a retried delivery it
// already has.
std::string DeliveryId(int64_t webhook_id, int64_t seq);

// `{"webhook_id","delivery_id","entry": Message}`, the entry serialized as
// history serves it.
std::string DeliveryBody(int64_t webhook_id, const Message& entry);

// "sha256=" and the hex HMAC-SHA256 of `timestamp + "." + body` keyed with
// `secret`: the X-Parley-Signature header.
std::string Signature(std::string_view secret, std::string_view timestamp, std::string_view body);

}  // namespace parley::webhooks
