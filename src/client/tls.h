#pragma once
// TlsOptions: how parley_client reaches a server over TLS (https://, wss://).
//
// The server's certificate is always verified: against the system trust
// store plus, when given, a PEM file of extra anchors (a private CA), and
// against the host name (or IP address) the client connected to. There is
// no switch to skip verification, on purpose. OpenSSL stays in the .cc files.
#include <string>
#include <string_view>

#include "common/result.h"

namespace parley::client {

struct TlsOptions {
  // A PEM file of certificates trusted in addition to the system store;
  // empty for the system store alone.
  std::string ca_file;
};

// The start of a transport error's text when the server's certificate
// failed verification (untrusted issuer, wrong name, expired), so a caller
// can add advice such as which option names a private CA.
inline constexpr std::string_view kUntrustedCertificate = "the server's certificate is not trusted";

// Checks that `options` can be used (the CA file exists and holds at least
// one certificate), so a bad file is reported before any connection.
Result<void> CheckTlsOptions(const TlsOptions& options);

}  // namespace parley::client
