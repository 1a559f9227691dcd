// The OpenAPI description (openapi.json, served at GET /v1/openapi.json)
// and the route table must describe the same calls: a route the document
// lacks, or a documented route the server does not have, fails here.
#include "gateway/openapi.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <set>
#include <string>

#include <boost/json.hpp>

#include "gateway/http_api.h"

namespace parley::gateway {
namespace {

namespace json = boost::json;

// "METHOD /path/{}/..." with every parameter's name dropped, so a route's
// "{conv}" and the document's "{id}" compare equal.
std::string Key(std::string method, const std::string& path) {
  std::transform(method.begin(), method.end(), method.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  std::string out = method + " ";
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '{') {
      i = path.find('}', i);
      out += "{}";
      continue;
    }
    out += path[i];
  }
  return out;
}

const std::set<std::string> kMethods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"};

json::object Document() {
  json::value v = json::parse(OpenApiDocument());
  return v.as_object();
}

TEST(OpenApi, IsOpenApi31) {
  json::object doc = Document();
  EXPECT_EQ(doc.at("openapi").as_string(), "3.1.0");
  EXPECT_TRUE(doc.at("info").as_object().contains("title"));
  EXPECT_TRUE(doc.at("paths").is_object());
}

TEST(OpenApi, DescribesEveryRouteAndNoOther) {
  std::set<std::string> routes;
  for (const RouteInfo& r : HttpApi::Routes()) routes.insert(Key(r.method, r.path));
  std::set<std::string> described;
  const json::object doc = Document();
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, operation] : item.as_object()) {
      if (kMethods.contains(std::string(method)))
        described.insert(Key(std::string(method), std::string(path)));
    }
  }
  for (const std::string& r : routes)
    EXPECT_TRUE(described.contains(r)) << r << " is a route the document lacks";
  for (const std::string& d : described)
    EXPECT_TRUE(routes.contains(d)) << d << " is described but is no route";
  EXPECT_GE(routes.size(), 30u);  // the table was read at all
}

// Every operation says what it answers, and names its path parameters.
TEST(OpenApi, EveryOperationHasAnswersAndItsParameters) {
  const json::object doc = Document();
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    const std::string p(path);
    for (const auto& [method, value] : item.as_object()) {
      if (!kMethods.contains(std::string(method))) continue;
      const json::object& operation = value.as_object();
      SCOPED_TRACE(std::string(method) + " " + p);
      ASSERT_TRUE(operation.contains("responses"));
      EXPECT_FALSE(operation.at("responses").as_object().empty());
      std::set<std::string> in_path;
      for (size_t i = p.find('{'); i != std::string::npos; i = p.find('{', i + 1)) {
        in_path.insert(p.substr(i + 1, p.find('}', i) - i - 1));
      }
      std::set<std::string> declared;
      if (const json::value* params = operation.if_contains("parameters")) {
        for (const json::value& param : params->as_array()) {
          if (param.at("in").as_string() == "path")
            declared.insert(std::string(param.at("name").as_string()));
        }
      }
      EXPECT_EQ(in_path, declared);
    }
  }
}

// Every "$ref" names a schema the document holds.
TEST(OpenApi, EveryReferenceResolves) {
  json::object doc = Document();
  const json::object& schemas = doc.at("components").at("schemas").as_object();
  int refs = 0;
  std::function<void(const json::value&)> walk = [&](const json::value& v) {
    if (v.is_array()) {
      for (const json::value& item : v.as_array()) walk(item);
    } else if (v.is_object()) {
      for (const auto& [key, child] : v.as_object()) {
        if (key == "$ref") {
          ++refs;
          const std::string ref(child.as_string());
          const std::string prefix = "#/components/schemas/";
          ASSERT_EQ(ref.rfind(prefix, 0), 0u) << ref;
          EXPECT_TRUE(schemas.contains(ref.substr(prefix.size()))) << ref;
        } else {
          walk(child);
        }
      }
    }
  };
  walk(doc);
  EXPECT_GT(refs, 20);
}

}  // namespace
}  // namespace parley::gateway
