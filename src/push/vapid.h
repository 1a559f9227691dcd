#pragma once
// The server's VAPID identity (RFC 8292): one P-256 key pair for every node,
// made by the first node to start and kept in the store (so a cluster shares
// it and a restart keeps it: browsers subscribed with its public key).
#include <memory>
#include <string>

#include "common/result.h"
#include "push/web_push_crypto.h"
#include "store/store.h"

namespace parley::push {

struct Vapid {
  std::shared_ptr<const EcKey> key;
  std::string public_key;  // base64url of the uncompressed point: GET /v1/push/vapid
  std::string subject;     // the `sub` claim
};

// Reads the kept key, or makes one and keeps it when none is (the store
// keeps the first of racing nodes; every node then reads that one). Blocks.
Result<Vapid> LoadOrCreateVapid(store::Store& store, const std::string& subject);

}  // namespace parley::push
