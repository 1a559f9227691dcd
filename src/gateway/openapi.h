#pragma once
// The OpenAPI 3.1 description of the HTTP API, served at GET
// /v1/openapi.json. Written by hand in openapi.json beside this header and
// embedded at build time (CMake copies it into a generated openapi.cc), so
// each call's bodies and answers are described in words a reader can
// review; openapi_test fails when a route of HttpApi::Routes() is missing
// from it or it describes a route that does not exist.
#include <string_view>

namespace parley::gateway {

// The document, as JSON text.
std::string_view OpenApiDocument();

}  // namespace parley::gateway
