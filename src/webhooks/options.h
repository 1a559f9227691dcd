#pragma once
// webhooks::Options: how outgoing webhooks (PROTOCOL.md §8) are delivered,
// with their defaults. The settings table (config/config.cc, section
// `webhooks`) maps the user's settings onto these fields. In its own header
// so the configuration sees it without the delivery's dependencies.
#include <cstdint>
#include <string>

namespace parley::webhooks {

struct Options {
  // Whether a webhook may target a loopback, private, link-local, ...
  // address: refused at creation and again at every delivery unless on.
  bool allow_private_addresses = false;
  int workers = 4;                 // threads POSTing, shared by every webhook
  int timeout_ms = 10'000;         // one delivery, connect to answer
  int max_response_bytes = 65536;  // of an answer's body; the rest is cut
  // Retries: the n-th waits a random time between half and all of
  // retry_initial_ms * 2^(n-1), at most retry_max_ms.
  int retry_initial_ms = 4'000;
  int retry_max_ms = 3'600'000;
  int scan_interval_ms = 1'000;  // the scan that resumes deliveries without a nudge
  // How long a node's claim on a webhook lasts unrenewed, beyond timeout_ms
  // (a claim always covers the POST in flight).
  int lease_ms = 30'000;
  int batch = 50;       // entries one turn of a worker delivers to one webhook
  std::string ca_file;  // extra trust anchors (PEM) for https targets
};

}  // namespace parley::webhooks
