#pragma once
// What a run measured, its JSON document and its short table; /proc readers.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "loadgen/histogram.h"
#include "loadgen/options.h"

namespace parley::loadgen {

struct StepResult {
  double rate_per_sender = 0;
  double offered_per_s = 0;        // scheduled sends per second, all senders
  double achieved_send_per_s = 0;  // sends scheduled inside the window / window
  double delivered_per_s = 0;      // deliveries of messages scheduled inside the window / window
  double window_s = 0;
  int64_t sent = 0;       // whole step, warm-up included
  int64_t delivered = 0;  // deliveries (receiver x message), whole step
  int64_t expected = 0;   // deliveries due, whole step
  int64_t lost = 0, duplicated = 0, reordered = 0;
  int64_t seq_duplicates = 0, seq_gaps = 0, stale = 0;
  int64_t acked = 0, errors = 0;
  std::map<std::string, int64_t> error_codes;
  Histogram latency, ack_latency, send_lag, history;
  // The generator's own cost over the measured window: its CPU time, the
  // wall time it was taken over, the cores it may use (its threads, at most
  // its CPU affinity) and how long its threads waited for a CPU (run queue;
  // nullopt without /proc schedstat). With send_lag these say whether the
  // generator, not the server, was the limit (bench/README.md).
  double client_cpu_s = 0;
  double client_wall_s = 0;
  int client_cores = 1;
  std::optional<double> client_runqueue_wait_s;
  std::optional<double> server_cpu_s;
  std::optional<int64_t> server_rss_kb;
  bool held = false;
};

struct ConnectResult {
  int attempted = 0, ok = 0, failed = 0;
  double seconds = 0;  // first attempt to last welcome
  double handshakes_per_s = 0;
  Histogram handshake;  // per connection, microseconds
  std::optional<int64_t> server_rss_before_kb, server_rss_after_kb;
  double client_cpu_s = 0;
  std::optional<double> server_cpu_s;
  int still_open = 0;  // after the hold
};

struct ReconnectResult {
  bool done = false;
  int dropped = 0, resumed = 0;
  double resume_s = 0;  // drop to the last connection ready again
  Histogram resume;     // per connection, microseconds
};

// One --report-every line: the server and the generator over the last
// interval of a run ("so far" figures since the run started).
struct IntervalReport {
  double t_s = 0;  // seconds since the run's first scheduled send
  std::optional<int64_t> server_rss_kb;
  std::optional<int> server_fds;
  std::optional<double> server_cpu_pct;  // of one core, over the interval
  double client_cpu_pct = 0;
  int connections = 0;  // ready now (generator side)
  int64_t sent = 0, delivered = 0;
  Histogram latency;        // deliveries in the interval
  int64_t lost_so_far = 0;  // counters skipped by receivers and not (yet) filled
  int64_t duplicated_so_far = 0;
  int64_t churned = 0;  // connections dropped in the interval
  int64_t reconnects_failed_so_far = 0;
  int64_t errors_so_far = 0;
};

// Churn over a whole run (--churn).
struct ChurnResult {
  int64_t dropped = 0, clean_closes = 0, resumed = 0, failed = 0;
};

// The CSV header of interval reports and one row.
std::string IntervalCsvHeader();
std::string IntervalCsvRow(const IntervalReport& r);

struct BenchResult {
  double setup_s = 0;
  ConnectResult connect;
  std::vector<StepResult> steps;
  std::optional<size_t> best;  // index into steps (find-max: highest that held)
  ReconnectResult reconnect;
  ChurnResult churn;
  std::vector<IntervalReport> intervals;
  std::map<std::string, int64_t> errors;  // setup/connection errors by kind
  std::string fatal;
};

// The JSON document (BENCH.md: one per run).
std::string ToJsonText(const Options& o, const BenchResult& r);
// A short human table.
std::string HumanTable(const Options& o, const BenchResult& r);

// /proc readers; nullopt when the process is gone.
std::optional<double> ProcCpuSeconds(int pid);        // utime + stime
std::optional<int64_t> ProcRssKb(int pid);            // VmRSS
std::optional<int> ProcOpenFds(int pid);              // entries of /proc/PID/fd
std::optional<std::string> ProcCpusAllowed(int pid);  // Cpus_allowed_list
double SelfCpuSeconds();
// Seconds this process's threads have waited on a run queue for a CPU
// (/proc/self/task/*/schedstat); nullopt when the kernel does not say.
std::optional<double> SelfRunqueueWaitSeconds();
// CPUs this process may run on (its affinity mask).
int SelfCpusAllowed();
// CPU time as a percentage of `cores` cores busy for `wall_s`; 0 when no time passed.
double CpuSharePct(double cpu_s, double wall_s, int cores);

}  // namespace parley::loadgen
