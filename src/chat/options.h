#pragma once
// chat::Options: the domain's limits and policies, with their defaults. The
// settings table (config/config.cc) maps the user's settings (limits.*,
// auth.refresh_ttl_s, auth.login_*, ...) onto these fields and takes its
// defaults from here, so each default is written once. In its own header so
// that the configuration sees the options without the service's
// dependencies.
#include <cstdint>
#include <string>
#include <vector>

#include "auth/login_throttle.h"
#include "push/options.h"

namespace parley::chat {

struct Options {
  int max_body_bytes = 4096;       // message body, bytes of UTF-8
  double send_rate_per_s = 50;     // per user, sustained
  int send_burst = 500;            // per user, token bucket size
  int resume_limit = 1000;         // messages replayed per conversation on hello
  int presence_group_limit = 200;  // groups up to this size share presence
  int typing_interval_ms = 3000;   // least time between two typing notices
  // How long the session of a connection that ended abruptly (no closing
  // handshake) stays registered, so that a client back within it flaps
  // nobody's presence (Service::Disconnect). 0: removed at once. The server
  // holds it to at most one heartbeat: offline within 2 heartbeats stays
  // true (PROTOCOL.md §3).
  int offline_grace_ms = 5000;
  int max_group_members = 10000;
  int refresh_ttl_s = 30 * 24 * 3600;
  // Failed logins counted per account and per client address (LoginThrottle).
  auth::ThrottleOptions login_throttle;
  // Peers whose X-Forwarded-For is believed (the gateway's load balancers).
  std::vector<std::string> trusted_proxies;
  // How long a user's token epoch and deleted flag are believed without
  // asking the store again: the most time another node takes to refuse the
  // access tokens of a user who changed their password or was deleted
  // elsewhere. Changes made through this node apply at once.
  int revocation_cache_ms = 5000;
  // Uploads (PROTOCOL.md §6): the largest accepted, and the age at which an
  // upload that no live entry attaches is collected.
  int64_t max_upload_bytes = 25 * 1024 * 1024;
  int64_t upload_collect_after_s = 24 * 3600;
  // Server administrators (PROTOCOL.md §7, setting admin.users): usernames,
  // compared after folding; the only users the /v1/admin calls answer.
  std::vector<std::string> admin_users;
  // Outgoing webhooks (PROTOCOL.md §8): at most this many per conversation
  // (setting webhooks.max_per_conversation).
  int max_webhooks_per_conversation = 10;
  // Web Push (PROTOCOL.md §8, settings push.*): what the service checks of
  // a subscription, and what the sender (push/) runs with.
  push::Options push;
};

}  // namespace parley::chat
