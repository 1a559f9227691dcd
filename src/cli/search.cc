// `parley search QUERY [--conv CONV] [--limit N] [--json]`: GET /v1/search
// (PROTOCOL.md §6), newest first. Each result is shown as history shows a
// message, after the name of its conversation; with --json, one Message per
// line as history --json prints them.
#include <iostream>

#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "cli/api.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "cli/resolve.h"

namespace parley::cli {

int CmdSearch(Api& api, const SearchOptions& options) {
  if (options.limit < 1 || options.limit > 100) throw CliError(kExitUsage, "--limit must be 1..100");
  Directory dir(api);
  dir.Load();
  std::string target = "/v1/search?q=" + boost::urls::encode(options.query, boost::urls::unreserved_chars) +
                       "&limit=" + std::to_string(options.limit);
  if (options.conv) target += "&conv=" + ResolveConvId(dir, *options.conv).ToString();
  const std::string what = "searching for '" + options.query + "'";
  boost::json::value answer = api.Call("GET", target, std::nullopt, what);
  const boost::json::object* page = answer.if_object();
  const boost::json::value* results = page != nullptr ? page->if_contains("results") : nullptr;
  if (results == nullptr || !results->is_array()) {
    throw CliError(kExitRejected, what + ": the server's answer is not a Parley answer (no results)");
  }
  for (const boost::json::value& v : results->as_array()) {
    const Message m = Expect(protocol::ParseMessage(v), what);
    if (options.json) {
      std::cout << MessageJson(m, dir.Username(m.conv, m.sender)) << "\n";
      continue;
    }
    FoldedEntries held(api.me(), MentionsIn(dir, m.conv));
    held.Hold(m);
    std::cout << dir.Name(m.conv) << "  " << FormatEntry(m, StyleFor(dir, m.conv, held, /*long_form=*/true))
              << "\n";
  }
  if (!options.json) {
    if (results->as_array().empty()) std::cout << "(nothing found)\n";
    const boost::json::value* next = page->if_contains("next");
    if (next != nullptr && !next->is_null()) {
      std::cout << "(more results: narrow the search, or raise --limit up to 100)\n";
    }
  }
  return kExitOk;
}

}  // namespace parley::cli
