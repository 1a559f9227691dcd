#include "webhooks/signature.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json.hpp>

#include "protocol/frames.h"

namespace parley::webhooks {

std::string DeliveryId(int64_t webhook_id, int64_t seq) {
  return std::to_string(webhook_id) + "-" + std::to_string(seq);
}

std::string DeliveryBody(int64_t webhook_id, const Message& entry) {
  boost::json::object o{{"webhook_id", std::to_string(webhook_id)},
                        {"delivery_id", DeliveryId(webhook_id, entry.seq)},
                        {"entry", protocol::ToJson(entry)}};
  return boost::json::serialize(o);
}

std::string Signature(std::string_view secret, std::string_view timestamp, std::string_view body) {
  std::string signed_text;
  signed_text.reserve(timestamp.size() + 1 + body.size());
  signed_text.append(timestamp).append(".").append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), mac, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[mac[i] >> 4]);
    out.push_back(kHex[mac[i] & 0xF]);
  }
  return out;
}

}  // namespace parley::webhooks
