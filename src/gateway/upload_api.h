#pragma once
// The HTTP side of uploads (PROTOCOL.md §6) as plain functions of a
// request, like the rest of http_api.h: no sockets, so every rule of
// serving is tested without a listener. Internal to the gateway.
#include <optional>
#include <string_view>

#include <boost/url/url_view.hpp>

#include "chat/service.h"
#include "gateway/http_api.h"

namespace parley::gateway {

// GET or HEAD /v1/uploads/{id} with the bearer token of `viewer`: the bytes
// (a Range gives 206, one past the end 416), typed by the rules of §6,
// always with nosniff; 404 when `viewer` may not read it. Blocking.
ApiResponse ServeUploadToUser(chat::Service& service, const ApiRequest& request, UserId viewer,
                              std::string_view id);

// The same with a signed url (`exp` and `sig` in the query): 403 for a
// tampered or expired one. nullopt when the query carries no signature:
// then the call needs a token like any other. Blocking.
std::optional<ApiResponse> ServeUploadToUrl(chat::Service& service, const ApiRequest& request,
                                            boost::urls::url_view url, std::string_view id);

}  // namespace parley::gateway
