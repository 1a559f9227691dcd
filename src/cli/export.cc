// `parley export`: the logged-in user's data (GET /v1/me/export, a JSON
// document the server streams) written to stdout, for `parley export >
// me.json`. In its own file: the rest of the CLI does not depend on it.
#include <iostream>

#include <boost/json.hpp>

#include "cli/api.h"
#include "cli/commands.h"

namespace parley::cli {

int CmdExport(Api& api) {
  boost::json::value doc = api.Call("GET", "/v1/me/export", std::nullopt, "exporting your data");
  // The answer parsed, so what is written is one whole document, never a
  // cut one (a broken stream fails above).
  if (!doc.is_object() || !doc.as_object().contains("account")) {
    throw CliError(kExitRejected, "exporting your data: the server's answer is not a Parley export");
  }
  std::cout << boost::json::serialize(doc) << "\n" << std::flush;
  if (!std::cout) throw CliError(kExitRejected, "exporting your data: cannot write to stdout");
  return kExitOk;
}

}  // namespace parley::cli
