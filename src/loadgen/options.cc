#include "loadgen/options.h"

#include <arpa/inet.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <sstream>

namespace parley::loadgen {

const char* DialectName(Dialect d) { return d == Dialect::kParley ? "parley" : "socketio"; }

const char* WorkloadName(Workload w) {
  switch (w) {
    case Workload::kRooms:
      return "rooms";
    case Workload::kFanout:
      return "fanout";
    case Workload::kDm:
      return "dm";
    case Workload::kConnect:
      return "connect";
    case Workload::kReconnect:
      return "reconnect";
    case Workload::kHistory:
      return "history";
    case Workload::kSearch:
      return "search";
  }
  return "?";
}

Shape ShapeOf(const Options& o) {
  Shape s;
  switch (o.workload) {
    case Workload::kRooms:
    case Workload::kReconnect:
    case Workload::kHistory:
      s.groups = o.groups > 0 ? o.groups : 1000;
      s.members = o.members > 0 ? o.members : 10;
      s.senders = o.senders > 0 ? std::min(o.senders, s.members) : s.members;
      break;
    case Workload::kFanout:
      s.groups = o.groups > 0 ? o.groups : 1;
      s.members = o.members > 0 ? o.members : 5000;
      s.senders = o.senders > 0 ? std::min(o.senders, s.members) : 1;
      break;
    case Workload::kDm:
      s.groups = o.groups > 0 ? o.groups : 1000;
      s.members = 2;
      s.senders = o.senders > 0 ? std::min(o.senders, 2) : 2;
      break;
    case Workload::kConnect:
      s.groups = o.connections > 0 ? o.connections : 50000;
      s.members = 1;
      s.senders = 0;
      break;
    case Workload::kSearch:
      // Each group's first member stores its share of the messages; every
      // member searches.
      s.groups = o.groups > 0 ? o.groups : 10;
      s.members = o.members > 0 ? o.members : 2;
      s.senders = 1;
      break;
  }
  return s;
}

std::optional<std::vector<std::string>> ParseIpRange(const std::string& text) {
  std::vector<std::string> out;
  auto to_u32 = [](const std::string& s) -> std::optional<uint32_t> {
    in_addr a{};
    if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
    return ntohl(a.s_addr);
  };
  auto from_u32 = [](uint32_t v) {
    in_addr a{};
    a.s_addr = htonl(v);
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, buf, sizeof(buf));
    return std::string(buf);
  };
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.empty()) continue;
    auto dash = part.find('-');
    if (dash == std::string::npos) {
      if (!to_u32(part)) return std::nullopt;
      out.push_back(part);
      continue;
    }
    auto lo = to_u32(part.substr(0, dash));
    auto hi = to_u32(part.substr(dash + 1));
    if (!lo || !hi || *hi < *lo || *hi - *lo > 65535) return std::nullopt;
    for (uint32_t v = *lo; v <= *hi; ++v) out.push_back(from_u32(v));
  }
  if (out.empty()) return std::nullopt;
  return out;
}

bool ParseTarget(const std::string& url, std::string* host, uint16_t* port) {
  std::string rest;
  for (const char* scheme : {"ws://", "http://"}) {
    if (url.rfind(scheme, 0) == 0) rest = url.substr(std::string(scheme).size());
  }
  if (rest.empty()) return false;
  auto slash = rest.find('/');
  if (slash != std::string::npos) rest = rest.substr(0, slash);
  auto colon = rest.rfind(':');
  if (colon == std::string::npos) return false;
  *host = rest.substr(0, colon);
  unsigned p = 0;
  auto ps = rest.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), p);
  if (ec != std::errc() || ptr != ps.data() + ps.size() || p == 0 || p > 65535 || host->empty()) return false;
  *port = static_cast<uint16_t>(p);
  return true;
}

std::optional<Options> ParseOptions(int argc, char** argv, std::string* message, int* exit_code) {
  Options o;
  CLI::App app{"parley-bench: open-loop load generator for Parley and its peers (see BENCH.md)"};
  std::string dialect = "parley", workload = "rooms", source_ips;
  app.add_option("--target", o.target, "ws://HOST:PORT of the server");
  app.add_option("--dialect", dialect, "parley | socketio")->check(CLI::IsMember({"parley", "socketio"}));
  app.add_option("--workload", workload, "rooms | fanout | dm | connect | reconnect | history | search")
      ->check(CLI::IsMember({"rooms", "fanout", "dm", "connect", "reconnect", "history", "search"}));
  app.add_option("--groups", o.groups, "groups (dm: pairs)");
  app.add_option("--members", o.members, "members per group");
  app.add_option("--senders", o.senders, "senders per group (default: all; fanout: 1)");
  app.add_option("--rate", o.rate, "messages per second per sender (find-max: the first step)");
  app.add_option("--duration", o.duration_s, "measured seconds per run");
  app.add_option("--warmup", o.warmup_s, "seconds of sending before measuring");
  app.add_option("--drain", o.drain_s, "most seconds to wait for stragglers after a run");
  app.add_option("--connections", o.connections, "connections (connect workload)");
  app.add_option("--body-bytes", o.body_bytes, "message body size");
  app.add_option("--threads", o.threads, "generator threads (one io_context each)");
  app.add_option("--source-ips", source_ips, "client addresses, e.g. 127.0.0.2-127.0.0.9");
  app.add_flag("--find-max", o.find_max, "step the rate up to the highest one that holds");
  app.add_option("--max-steps", o.max_steps, "most runs of --find-max");
  app.add_option("--p99-bound-ms", o.p99_bound_ms, "p99 bound of a run that holds");
  app.add_option("--history-rate", o.history_rate, "history pages per second (history workload)");
  app.add_option("--max-connecting", o.max_connecting, "handshakes in flight");
  app.add_option("--json", o.json_out, "write the JSON result here");
  app.add_option("--server-pid", o.server_pid, "server pid: read its CPU and RSS from /proc");
  app.add_option("--issuer", o.issuer, "iss of the tokens parley-bench signs");
  app.add_option("--issuer-key", o.issuer_key, "PEM EC P-256 private key of the outside issuer");
  app.add_option("--write-issuer-pubkey", o.write_issuer_pubkey,
                 "write the issuer public key (PEM) here; without --target: write it (and, with "
                 "--issuer-key naming a missing file, a new private key there) and exit");
  app.add_option("--label", o.label, "free text copied into the JSON (e.g. the cpu split)");
  app.add_option("--churn", o.churn_per_s,
                 "connections dropped and resumed per second during a run (half clean closes, half "
                 "abrupt); failed connections are reconnected too");
  app.add_option("--report-every", o.report_every_s,
                 "seconds between interval reports (server RSS/fds/CPU, connections, latency p50/p99 of "
                 "the interval, lost/duplicated so far); 0: none");
  app.add_option("--report-csv", o.report_csv, "append the interval reports to this CSV file");
  app.add_option("--messages", o.search_messages,
                 "search workload: messages to store before searching (0: search what an earlier run with "
                 "the same --run-id stored)");
  app.add_option("--queries", o.search_queries, "search workload: searches to time");
  app.add_option(
      "--run-id", o.run_id,
      "names the run's users ([a-z0-9], 2-12 characters), so a later run reuses them and what they "
      "stored: the search workload searches it, and rooms, fanout and history "
      "sends into the groups an earlier run made, with their history");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream out, err;
    *exit_code = app.exit(e, out, err);
    *message = out.str() + err.str();
    return std::nullopt;
  }
  o.dialect = dialect == "socketio" ? Dialect::kSocketio : Dialect::kParley;
  for (Workload w : {Workload::kRooms, Workload::kFanout, Workload::kDm, Workload::kConnect,
                     Workload::kReconnect, Workload::kHistory, Workload::kSearch}) {
    if (workload == WorkloadName(w)) o.workload = w;
  }
  *exit_code = 2;
  if (!source_ips.empty()) {
    auto ips = ParseIpRange(source_ips);
    if (!ips) {
      *message = "bad --source-ips: " + source_ips + "\n";
      return std::nullopt;
    }
    o.source_ips = *ips;
  }
  if (o.target.empty()) {
    if (!o.write_issuer_pubkey.empty()) return o;  // key-writing mode
    *message = "--target is required\n";
    return std::nullopt;
  }
  if (!ParseTarget(o.target, &o.host, &o.port)) {
    *message = "bad --target (want ws://HOST:PORT): " + o.target + "\n";
    return std::nullopt;
  }
  if (o.rate <= 0 || o.duration_s <= 0 || o.threads < 1 || o.body_bytes < 1 || o.warmup_s < 0) {
    *message = "--rate, --duration, --threads and --body-bytes must be positive\n";
    return std::nullopt;
  }
  if (o.churn_per_s < 0 || o.report_every_s < 0) {
    *message = "--churn and --report-every must not be negative\n";
    return std::nullopt;
  }
  if (o.churn_per_s > 0 && (o.dialect != Dialect::kParley || o.workload == Workload::kConnect ||
                            o.workload == Workload::kReconnect || o.find_max)) {
    *message = "--churn needs the parley dialect and a rooms, fanout, dm or history run without --find-max\n";
    return std::nullopt;
  }
  if (!o.report_csv.empty() && o.report_every_s <= 0) {
    *message = "--report-csv needs --report-every\n";
    return std::nullopt;
  }
  const bool id_ok =
      o.run_id.empty() ||
      (o.run_id.size() >= 2 && o.run_id.size() <= 12 &&
       o.run_id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") == std::string::npos);
  if (o.workload == Workload::kSearch) {
    if (o.dialect != Dialect::kParley || o.search_messages < 0 || o.search_queries < 1 || !id_ok ||
        (o.search_messages == 0 && o.run_id.empty()) || o.find_max || o.churn_per_s > 0) {
      *message =
          "search: needs the parley dialect, --queries >= 1, --messages >= 0 (0 only with the --run-id of "
          "an earlier run), a --run-id of 2-12 [a-z0-9], and no --find-max or --churn\n";
      return std::nullopt;
    }
  }
  if (!id_ok || (!o.run_id.empty() && o.dialect != Dialect::kParley)) {
    *message = "--run-id: 2-12 characters of [a-z0-9], with the parley dialect\n";
    return std::nullopt;
  }
  if (o.body_bytes < 40) o.body_bytes = 40;  // the stamp itself needs ~40 bytes
  *exit_code = 0;
  return o;
}

}  // namespace parley::loadgen
