#pragma once
// push::Options: the settings of Web Push (PROTOCOL.md §8), with their
// defaults; the settings table (config/config.cc) maps push.* onto them. In
// its own header so the configuration sees them without the sender's
// dependencies.
#include <string>

namespace parley::push {

struct Options {
  // The VAPID `sub` claim (RFC 8292): how a push service reaches the
  // operator. A mailto: or https: URL.
  std::string vapid_subject = "mailto:admin@localhost";
  // Endpoints on loopback, private, link-local... addresses: refused unless
  // on (tests, a push service inside the network).
  bool allow_private_addresses = false;
  // The TTL header: how long a push service keeps an undelivered message.
  int ttl_s = 86400;
  // Subscriptions one user may hold (browsers, devices).
  int max_subscriptions_per_user = 20;
  // The sender's worker threads, each doing one POST at a time.
  int threads = 4;
  // The whole exchange with a push service: connect, TLS, request, answer.
  int timeout_ms = 10000;
  // Committed entries waiting for the sender; beyond, new ones are dropped
  // (counted) rather than grow memory or slow the commit path.
  int queue_max = 10000;
  // Extra trust anchors (PEM) for https endpoints: a test's private CA.
  std::string ca_file;
};

}  // namespace parley::push
