#pragma once
// Internal to parley_client (http_client.cc and ws_client.cc): the OpenSSL
// side of TlsOptions. Not for use outside src/client; it pulls in Asio's ssl.
#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/error.hpp>

#include "client/tls.h"

namespace parley::client::detail {

// A client context that verifies peers against the system store plus
// `options.ca_file`. An Error naming the file when it cannot be loaded.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientContext(const TlsOptions& options);

// What a failed handshake on `ssl` means, for messages: a verification
// failure starts with kUntrustedCertificate and says why (OpenSSL's reason:
// "self-signed certificate", "hostname mismatch", ...).
std::string DescribeHandshakeError(const boost::beast::error_code& ec, SSL* ssl);

// Before the handshake on `ssl`: sends `host` as SNI (when it is a name,
// not an address) and has OpenSSL check the certificate against it.
Result<void> PrepareSsl(SSL* ssl, const std::string& host);

}  // namespace parley::client::detail
