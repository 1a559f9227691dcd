#include "push/endpoint.h"

#include <string>

#include <boost/url/parse.hpp>

#include "client/outbound.h"

namespace parley::push {

Result<void> CheckEndpoint(std::string_view endpoint, bool allow_private_addresses) {
  if (endpoint.empty()) return MakeError(Errc::kBadRequest, "endpoint is required");
  auto url = client::ParseOutboundUrl(endpoint);
  if (!url) return MakeError(Errc::kBadRequest, "endpoint: " + url.error().message);
  if (!url->tls && !allow_private_addresses)
    return MakeError(Errc::kBadRequest, "endpoint must be an https URL");
  if (allow_private_addresses) return Ok();
  // An address literal is judged now; a name only when it is a loopback
  // name, since what it resolves to may change: the outbound request judges
  // every address at each delivery (and a refused one removes the
  // subscription).
  auto parsed = boost::urls::parse_absolute_uri(endpoint);
  const bool literal = parsed && (parsed->host_type() == boost::urls::host_type::ipv4 ||
                                  parsed->host_type() == boost::urls::host_type::ipv6);
  std::string host = url->host;
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const bool loopback_name = host == "localhost" || host.ends_with(".localhost");
  if (loopback_name || (literal && client::IsPrivateAddress(host)))
    return MakeError(Errc::kBadRequest, "endpoint is on a private or loopback address");
  return Ok();
}

}  // namespace parley::push
