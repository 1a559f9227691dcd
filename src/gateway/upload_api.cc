#include "gateway/upload_api.h"

#include <algorithm>
#include <memory>

#include <boost/json.hpp>
#include <boost/url.hpp>
#include <prometheus/counter.h>

#include "metrics/metrics.h"
#include "protocol/frames.h"
#include "uploads/serving.h"

namespace parley::gateway {
namespace json = boost::json;

namespace {

// What one call of a download's stream reads: bounded, so a download costs
// the server one piece at a time whatever its size.
constexpr size_t kPieceBytes = 256 * 1024;

// Every answer of an upload route says nosniff, errors included: a browser
// must never guess a type for anything served from here.
ApiResponse Nosniff(ApiResponse r) {
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

ApiResponse Serve(chat::Service& service, const ApiRequest& request, Result<store::UploadRecord> found) {
  if (!found) return Nosniff(ErrorResponse(found.error()));
  auto upload = std::make_shared<const store::UploadRecord>(std::move(found).value());
  const uploads::ServedType served = uploads::ServeAs(upload->content_type);
  const uploads::RangeRequest range = uploads::ParseRange(request.range, upload->size);
  ApiResponse r;
  r.headers = {
      {"Accept-Ranges", "bytes"},
      {"Content-Disposition", uploads::ContentDisposition(served.attachment, upload->name)},
      // Should a browser open it as a document anyway: no scripts, no
      // requests, no origin.
      {"Content-Security-Policy", "default-src 'none'; sandbox"},
      {"ETag", "\"" + upload->sha256 + "\""},
  };
  if (range.kind == uploads::RangeRequest::Kind::kUnsatisfiable) {
    r.status = 416;
    r.body = json::serialize(
        protocol::ErrorBody(MakeError(Errc::kBadRequest, "the range starts past the end of the upload (" +
                                                             std::to_string(upload->size) + " bytes)")));
    r.headers.emplace_back("Content-Range", "bytes */" + std::to_string(upload->size));
    return Nosniff(std::move(r));
  }
  int64_t first = 0;
  int64_t last = upload->size - 1;
  if (range.kind == uploads::RangeRequest::Kind::kPartial) {
    first = range.first;
    last = range.last;
    r.status = 206;
    r.headers.emplace_back("Content-Range", "bytes " + std::to_string(first) + "-" + std::to_string(last) +
                                                "/" + std::to_string(upload->size));
  }
  r.content_type = served.content_type;
  r.content_length = last - first + 1;
  auto cursor = std::make_shared<int64_t>(first);
  const int64_t end = last + 1;
  r.stream = [&service, upload, cursor, end]() -> Result<std::string> {
    if (*cursor >= end) return std::string();
    const auto want =
        static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(kPieceBytes), end - *cursor));
    Result<std::string> bytes = service.ReadUpload(*upload, *cursor, want);
    if (!bytes.ok()) return bytes;
    if (bytes->empty()) {
      return MakeError(Errc::kInternal, "upload " + upload->id.ToString() + " is shorter than its size");
    }
    *cursor += static_cast<int64_t>(bytes->size());
    return bytes;
  };
  return Nosniff(std::move(r));
}

Result<UploadId> UploadParam(std::string_view id) {
  auto parsed = UploadId::Parse(id);
  if (!parsed) return MakeError(Errc::kNotFound, "no such upload");
  return *parsed;
}

std::optional<std::string> Query(boost::urls::url_view url, std::string_view key) {
  auto it = url.params().find(key);
  if (it == url.params().end() || !(*it).has_value) return std::nullopt;
  return std::string((*it).value);
}

}  // namespace

ApiResponse ServeUploadToUser(chat::Service& service, const ApiRequest& request, UserId viewer,
                              std::string_view id) {
  Result<UploadId> upload = UploadParam(id);
  if (!upload.ok()) return Nosniff(ErrorResponse(upload.error()));
  return Serve(service, request, service.UploadForUser(viewer, *upload));
}

std::optional<ApiResponse> ServeUploadToUrl(chat::Service& service, const ApiRequest& request,
                                            boost::urls::url_view url, std::string_view id) {
  std::optional<std::string> sig = Query(url, "sig");
  std::optional<std::string> exp = Query(url, "exp");
  if (!sig && !exp) return std::nullopt;
  Result<UploadId> upload = UploadParam(id);
  // A signature over something that is not an upload id is a tampered url.
  if (!upload.ok()) return Nosniff(ErrorResponse(MakeError(Errc::kForbidden, "bad signed url")));
  return Serve(service, request, service.UploadForUrl(*upload, exp.value_or(""), sig.value_or("")));
}

// ---- POST /v1/uploads ----------------------------------------------------------------

bool HttpApi::IsUpload(std::string_view method, std::string_view target) {
  if (method != "POST") return false;
  auto url = boost::urls::parse_origin_form(target);
  return url && url->path() == "/v1/uploads";
}

HttpApi::UploadStart HttpApi::BeginUpload(const ApiRequest& request, std::optional<uint64_t> content_length) {
  metrics_.http_requests.Increment();
  auto refuse = [&](const Error& e) {
    metrics_.CountError(ErrcName(e.code));
    return UploadStart{nullptr, ErrorResponse(e)};
  };
  auto me = AuthenticatedCaller(service_, request);
  if (!me) return refuse(me.error());
  auto url = boost::urls::parse_origin_form(request.target);
  if (!url) return refuse(MakeError(Errc::kBadRequest, "bad request target"));
  std::optional<std::string> name = Query(*url, "name");
  if (!name) return refuse(MakeError(Errc::kBadRequest, "missing query parameter 'name'"));
  const int64_t limit = service_.options().max_upload_bytes;
  if (content_length && *content_length > static_cast<uint64_t>(limit)) {
    return refuse(MakeError(Errc::kTooLarge, "uploads are at most " + std::to_string(limit) + " bytes"));
  }
  if (content_length && *content_length == 0) {
    return refuse(MakeError(Errc::kBadRequest, "the upload is empty: send its bytes as the request body"));
  }
  auto sink = service_.BeginUpload(*me, *name, request.content_type);
  if (!sink) return refuse(sink.error());
  return UploadStart{std::move(sink).value(), {}};
}

ApiResponse HttpApi::FinishUpload(chat::UploadSink& sink) {
  auto upload = sink.Finish();
  if (!upload) return UploadFailed(upload.error());
  return {201,
          json::serialize(protocol::UploadBody(upload->id, upload->name, upload->content_type, upload->size,
                                               upload->sha256)),
          "application/json",
          {}};
}

ApiResponse HttpApi::UploadFailed(const Error& error) {
  metrics_.CountError(ErrcName(error.code));
  return ErrorResponse(error);
}

}  // namespace parley::gateway
