// The OpenSSL side of TlsOptions (see tls.h and tls_context.h).
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <boost/asio/ip/address.hpp>

#include "client/tls.h"
#include "client/tls_context.h"

namespace parley::client {

namespace ssl = boost::asio::ssl;

Result<void> CheckTlsOptions(const TlsOptions& options) {
  auto context = detail::MakeClientContext(options);
  if (!context) return context.error();
  return Ok();
}

namespace detail {

Result<std::shared_ptr<ssl::context>> MakeClientContext(const TlsOptions& options) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  context->set_verify_mode(ssl::verify_peer, ec);
  // The system store is looked up lazily (a hashed directory), so a machine
  // without one fails at the handshake, naming the certificate it could
  // not check, rather than here.
  if (!ec) context->set_default_verify_paths(ec);
  if (ec) return MakeError(Errc::kInternal, "TLS setup: " + ec.message());
  if (!options.ca_file.empty()) {
    const std::string& file = options.ca_file;
    if (std::FILE* f = std::fopen(file.c_str(), "r")) {
      std::fclose(f);
    } else {
      return MakeError(Errc::kBadRequest, "cannot read the CA file '" + file + "': " + std::strerror(errno));
    }
    context->load_verify_file(file, ec);
    if (ec) {
      return MakeError(Errc::kBadRequest,
                       "the CA file '" + file + "' holds no PEM certificate (" + ec.message() + ")");
    }
  }
  return context;
}

Result<void> PrepareSsl(SSL* ssl, const std::string& host) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (!ec) {
    // An address is checked against the certificate's IP entries and is
    // never sent as SNI (RFC 6066 allows names only).
    if (X509_VERIFY_PARAM_set1_ip_asc(param, address.to_string().c_str()) != 1) {
      return MakeError(Errc::kInternal, "TLS setup: cannot check the address " + host);
    }
    return Ok();
  }
  if (SSL_set1_host(ssl, host.c_str()) != 1 || SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) {
    return MakeError(Errc::kInternal, "TLS setup: cannot check the host name " + host);
  }
  return Ok();
}

std::string DescribeHandshakeError(const boost::beast::error_code& ec, SSL* ssl) {
  long verify = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (verify != X509_V_OK) {
    return std::string(kUntrustedCertificate) + " (" + X509_verify_cert_error_string(verify) + ")";
  }
  return "TLS handshake: " + ec.message();
}

}  // namespace detail
}  // namespace parley::client
