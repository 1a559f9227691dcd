#pragma once
// Certificates made by a test for a TLS parleyd: what the suites that talk
// to the server over https:// and wss:// verify it with.
#include <filesystem>
#include <string>

namespace parley::testing {

// A certificate and its private key, as PEM files.
struct CertFiles {
  std::string cert;
  std::string key;
};

// A self-signed certificate for IP 127.0.0.1 (P-256, valid for an hour,
// CA:TRUE so it can be its own trust anchor), written as DIR/NAME.crt and
// DIR/NAME.key.
CertFiles MakeSelfSigned(const std::filesystem::path& dir, const std::string& name);

}  // namespace parley::testing
