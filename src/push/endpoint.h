#pragma once
// Which push endpoints Parley POSTs to (PROTOCOL.md §8): https URLs of push
// services on public addresses. http, and private or loopback addresses,
// only when push.allow_private_addresses is on (tests, a push service inside
// the network). Checked when a subscription is made, on what the URL says;
// the outbound request checks the addresses its host resolves to again at
// every delivery, so DNS cannot slip a private address in later.
#include <string_view>

#include "common/result.h"

namespace parley::push {

// kBadRequest saying what is wrong, else Ok.
Result<void> CheckEndpoint(std::string_view endpoint, bool allow_private_addresses);

}  // namespace parley::push
