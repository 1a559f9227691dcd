#pragma once
// Options of parley-bench, and their parsing (pure: no I/O but --help text).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace parley::loadgen {

enum class Dialect { kParley, kSocketio };
enum class Workload { kRooms, kFanout, kDm, kConnect, kReconnect, kHistory, kSearch };

const char* DialectName(Dialect d);
const char* WorkloadName(Workload w);

struct Options {
  std::string target;  // ws://host:port or http://host:port
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  Dialect dialect = Dialect::kParley;
  Workload workload = Workload::kRooms;
  int groups = 0;  // 0: the workload's default
  int members = 0;
  int senders = 0;    // per group; 0: the workload's default
  double rate = 1.0;  // messages per second per sender
  double duration_s = 10;
  double warmup_s = 2;
  double drain_s = 3;   // most time allowed after a step for stragglers
  int connections = 0;  // connect workload
  int body_bytes = 64;
  int threads = 1;
  std::vector<std::string> source_ips;
  bool find_max = false;
  int max_steps = 8;
  double p99_bound_ms = 50.0;
  double history_rate = 50.0;  // history pages per second (history workload)
  int max_connecting = 256;    // handshakes in flight
  std::string json_out;
  int server_pid = 0;
  std::string issuer = "parley-bench";
  std::string issuer_key;  // PEM private key; empty: generate one
  std::string write_issuer_pubkey;
  std::string label;  // free text copied into the JSON (e.g. the cpu split)
  // Churn (rooms/history/dm/fanout): connections dropped per second, all
  // threads together, each reconnecting at once with hello.last_seq and
  // retrying its unanswered sends; every other one closes cleanly (close
  // frame), the rest abruptly. A connection that fails is retried too.
  double churn_per_s = 0;
  // Every this many seconds of a run, one line of figures for the last
  // interval (stderr, and a CSV row with --report-csv). 0: off.
  double report_every_s = 0;
  std::string report_csv;
  // Search workload (search_workload.h): messages to store first (0: none,
  // search what an earlier run with the same --run-id stored), searches to
  // time, and the run id that names the users (empty: a fresh one).
  int64_t search_messages = 100000;
  int search_queries = 2000;
  std::string run_id;
};

// The group shape a workload runs with.
struct Shape {
  int groups = 0;
  int members = 0;
  int senders = 0;  // per group
  int connections() const { return groups * members; }
};
Shape ShapeOf(const Options& o);

// Parses argv; on failure or --help, returns the text to print and sets *exit_code.
std::optional<Options> ParseOptions(int argc, char** argv, std::string* message, int* exit_code);

// "127.0.0.2-127.0.0.9" or "127.0.0.2,127.0.0.5": the addresses, in order.
std::optional<std::vector<std::string>> ParseIpRange(const std::string& text);
// "ws://h:p[/...]" or "http://h:p": host and port.
bool ParseTarget(const std::string& url, std::string* host, uint16_t* port);

}  // namespace parley::loadgen
