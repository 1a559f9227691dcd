#pragma once
// Whether a webhook may be created for a URL (PROTOCOL.md §8): what
// client::ParseOutboundUrl accepts, and a host whose addresses the policy
// allows. Checked once at creation; every delivery checks the addresses
// again (client::OutboundPost), since a name may resolve elsewhere later.
#include <string_view>

#include "common/result.h"

namespace parley::webhooks {

// kBadRequest saying what is wrong: not http(s), user info, no host, too
// long, a host that does not resolve, or one with a loopback, private,
// link-local, ... address while `allow_private_addresses` is off. Blocks
// while the name resolves.
Result<void> CheckTargetUrl(std::string_view url, bool allow_private_addresses);

}  // namespace parley::webhooks
