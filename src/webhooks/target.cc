#include "webhooks/target.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <memory>
#include <string>

#include "client/outbound.h"

namespace parley::webhooks {

Result<void> CheckTargetUrl(std::string_view url, bool allow_private_addresses) {
  PARLEY_ASSIGN_OR_RETURN(client::OutboundUrl target, client::ParseOutboundUrl(url));
  if (allow_private_addresses) return Ok();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(target.host.c_str(), nullptr, &hints, &found); rc != 0) {
    return MakeError(Errc::kBadRequest,
                     "url: cannot resolve host '" + target.host + "': " + gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned(found, freeaddrinfo);
  for (const addrinfo* a = found; a; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* bytes =
        a->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr);
    if (!inet_ntop(a->ai_family, bytes, text, sizeof text) || client::IsPrivateAddress(text)) {
      return MakeError(Errc::kBadRequest, "url: host '" + target.host +
                                              "' has a private or loopback address; webhooks may not target "
                                              "one unless webhooks.allow_private_addresses is on");
    }
  }
  return Ok();
}

}  // namespace parley::webhooks
