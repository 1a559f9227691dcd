#include "loadgen/results.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace parley::loadgen {
namespace json = boost::json;

namespace {

double Ms(int64_t us) { return static_cast<double>(us) / 1000.0; }

std::string fmt_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

json::object LatencyJson(const Histogram& h) {
  json::object o;
  o["count"] = h.count();
  o["p50"] = Ms(h.Percentile(50));
  o["p90"] = Ms(h.Percentile(90));
  o["p99"] = Ms(h.Percentile(99));
  o["p999"] = Ms(h.Percentile(99.9));
  o["max"] = Ms(h.max());
  o["mean"] = h.mean() / 1000.0;
  return o;
}

json::object StepJson(const Options& o, const StepResult& s) {
  json::object j;
  j["rate_per_sender"] = s.rate_per_sender;
  j["offered_per_s"] = s.offered_per_s;
  j["achieved_send_per_s"] = s.achieved_send_per_s;
  j["delivered_per_s"] = s.delivered_per_s;
  j["window_s"] = s.window_s;
  j["sent"] = s.sent;
  j["delivered"] = s.delivered;
  j["expected_deliveries"] = s.expected;
  j["lost"] = s.lost;
  j["duplicated"] = s.duplicated;
  j["reordered"] = s.reordered;
  j["errors"] = s.errors;
  json::object codes;
  for (const auto& [k, v] : s.error_codes) codes[k] = v;
  j["error_codes"] = std::move(codes);
  j["latency_ms"] = LatencyJson(s.latency);
  if (o.dialect == Dialect::kParley) {
    j["ack_latency_ms"] = LatencyJson(s.ack_latency);
    j["acked"] = s.acked;
    j["seq_duplicates_ignored"] = s.seq_duplicates;
    j["seq_gaps"] = s.seq_gaps;
  }
  j["send_lag_ms"] = LatencyJson(s.send_lag);
  if (s.history.count() > 0) j["history_ms"] = LatencyJson(s.history);
  j["stale_ignored"] = s.stale;
  j["client_cpu_s"] = s.client_cpu_s;
  j["client_cores"] = s.client_cores;
  j["client_cpu_pct"] = CpuSharePct(s.client_cpu_s, s.client_wall_s, s.client_cores);
  if (s.client_runqueue_wait_s) j["client_runqueue_wait_s"] = *s.client_runqueue_wait_s;
  if (s.server_cpu_s) j["server_cpu_s"] = *s.server_cpu_s;
  if (s.server_rss_kb) j["server_rss_kb"] = *s.server_rss_kb;
  j["held"] = s.held;
  return j;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::optional<std::string> StatusField(int pid, const std::string& name) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  if (!f) return std::nullopt;
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(name + ":", 0) == 0) {
      auto v = line.substr(name.size() + 1);
      auto b = v.find_first_not_of(" \t");
      return b == std::string::npos ? "" : v.substr(b);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<double> ProcCpuSeconds(int pid) {
  std::string s = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (s.empty()) return std::nullopt;
  auto rp = s.rfind(')');
  if (rp == std::string::npos) return std::nullopt;
  std::istringstream in(s.substr(rp + 2));
  std::string field;
  // fields after ")": state(3) ... utime is field 14, stime 15 (1-based overall)
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15; ++i) {
    if (!(in >> field)) return std::nullopt;
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  return static_cast<double>(utime + stime) / hz;
}

std::optional<int64_t> ProcRssKb(int pid) {
  auto v = StatusField(pid, "VmRSS");
  if (!v) return std::nullopt;
  return std::stoll(*v);
}

std::optional<int> ProcOpenFds(int pid) {
  std::error_code ec;
  int n = 0;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end;
       !ec && it != end; it.increment(ec))
    ++n;
  if (ec) return std::nullopt;
  return n;
}

std::string IntervalCsvHeader() {
  return "t_s,server_rss_kb,server_fds,server_cpu_pct,client_cpu_pct,connections,sent,delivered,"
         "latency_p50_ms,latency_p99_ms,latency_max_ms,lost_so_far,duplicated_so_far,churned,"
         "reconnects_failed_so_far,errors_so_far\n";
}

std::string IntervalCsvRow(const IntervalReport& r) {
  char buf[512];
  auto opt = [](auto v) { return v ? std::to_string(*v) : std::string(); };
  std::string cpu = r.server_cpu_pct ? fmt_double(*r.server_cpu_pct) : std::string();
  std::snprintf(buf, sizeof(buf), "%.1f,%s,%s,%s,%.1f,%d,%lld,%lld,%.3f,%.3f,%.3f,%lld,%lld,%lld,%lld,%lld\n",
                r.t_s, opt(r.server_rss_kb).c_str(), opt(r.server_fds).c_str(), cpu.c_str(), r.client_cpu_pct,
                r.connections, static_cast<long long>(r.sent), static_cast<long long>(r.delivered),
                Ms(r.latency.Percentile(50)), Ms(r.latency.Percentile(99)), Ms(r.latency.max()),
                static_cast<long long>(r.lost_so_far), static_cast<long long>(r.duplicated_so_far),
                static_cast<long long>(r.churned), static_cast<long long>(r.reconnects_failed_so_far),
                static_cast<long long>(r.errors_so_far));
  return buf;
}

std::optional<std::string> ProcCpusAllowed(int pid) { return StatusField(pid, "Cpus_allowed_list"); }

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](timeval t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

std::optional<double> SelfRunqueueWaitSeconds() {
  // Each thread's schedstat: "<ns on a cpu> <ns waiting on a run queue> <timeslices>".
  std::error_code ec;
  int64_t wait_ns = 0;
  bool any = false;
  for (std::filesystem::directory_iterator it("/proc/self/task", ec), end; !ec && it != end;
       it.increment(ec)) {
    std::ifstream f(it->path() / "schedstat");
    int64_t run_ns = 0, waited_ns = 0;
    if (f >> run_ns >> waited_ns) {
      wait_ns += waited_ns;
      any = true;
    }
  }
  if (ec || !any) return std::nullopt;
  return static_cast<double>(wait_ns) / 1e9;
}

int SelfCpusAllowed() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0)
    return static_cast<int>(std::thread::hardware_concurrency());
  return CPU_COUNT(&set);
}

double CpuSharePct(double cpu_s, double wall_s, int cores) {
  if (wall_s <= 0 || cores <= 0) return 0;
  return 100.0 * cpu_s / (wall_s * cores);
}

std::string ToJsonText(const Options& o, const BenchResult& r) {
  Shape shape = ShapeOf(o);
  json::object doc;
  doc["workload"] = WorkloadName(o.workload);
  doc["dialect"] = DialectName(o.dialect);
  doc["target"] = o.target;
  json::object p;
  p["groups"] = shape.groups;
  p["members"] = shape.members;
  p["senders_per_group"] = shape.senders;
  p["rate_per_sender"] = o.rate;
  p["duration_s"] = o.duration_s;
  p["warmup_s"] = o.warmup_s;
  p["body_bytes"] = o.body_bytes;
  p["threads"] = o.threads;
  p["find_max"] = o.find_max;
  p["p99_bound_ms"] = o.p99_bound_ms;
  if (o.churn_per_s > 0) p["churn_per_s"] = o.churn_per_s;
  if (o.report_every_s > 0) p["report_every_s"] = o.report_every_s;
  if (o.workload == Workload::kHistory) p["history_rate"] = o.history_rate;
  json::array ips;
  for (const auto& ip : o.source_ips) ips.push_back(json::value(ip));
  p["source_ips"] = std::move(ips);
  doc["params"] = std::move(p);
  json::object machine;
  machine["cpus_online"] = static_cast<int64_t>(std::thread::hardware_concurrency());
  if (auto a = ProcCpusAllowed(static_cast<int>(getpid()))) machine["client_cpus_allowed"] = *a;
  if (o.server_pid > 0) {
    if (auto a = ProcCpusAllowed(o.server_pid)) machine["server_cpus_allowed"] = *a;
  }
  utsname u{};
  if (uname(&u) == 0) machine["kernel"] = std::string(u.release);
  if (!o.label.empty()) machine["label"] = o.label;
  doc["machine"] = std::move(machine);
  if (o.server_pid > 0) doc["server_pid"] = o.server_pid;
  doc["setup_s"] = r.setup_s;

  json::object c;
  c["attempted"] = r.connect.attempted;
  c["ok"] = r.connect.ok;
  c["failed"] = r.connect.failed;
  c["seconds"] = r.connect.seconds;
  c["handshakes_per_s"] = r.connect.handshakes_per_s;
  c["handshake_ms"] = LatencyJson(r.connect.handshake);
  if (r.connect.server_rss_before_kb) c["server_rss_before_kb"] = *r.connect.server_rss_before_kb;
  if (r.connect.server_rss_after_kb) c["server_rss_after_kb"] = *r.connect.server_rss_after_kb;
  if (r.connect.server_rss_before_kb && r.connect.server_rss_after_kb && r.connect.ok > 0) {
    c["server_rss_kb_per_connection"] =
        static_cast<double>(*r.connect.server_rss_after_kb - *r.connect.server_rss_before_kb) / r.connect.ok;
  }
  c["client_cpu_s"] = r.connect.client_cpu_s;
  if (r.connect.server_cpu_s) c["server_cpu_s"] = *r.connect.server_cpu_s;
  if (o.workload == Workload::kConnect) c["still_open_after_hold"] = r.connect.still_open;
  doc["connect"] = std::move(c);
  doc["connections"] = r.connect.ok;

  int64_t errors = 0;
  json::object errs;
  for (const auto& [k, v] : r.errors) {
    errs[k] = v;
    errors += v;
  }
  doc["setup_errors"] = std::move(errs);

  if (!r.steps.empty()) {
    json::array steps;
    for (const auto& s : r.steps) steps.push_back(StepJson(o, s));
    doc["steps"] = std::move(steps);
    size_t shown = r.best ? *r.best : 0;
    const StepResult& s = r.steps[shown];
    json::object fig = StepJson(o, s);
    for (auto& kv : fig) doc[kv.key()] = kv.value();
    doc["errors"] = s.errors + errors;
    if (o.find_max) {
      if (r.best) {
        doc["max_sustained_per_s"] = s.offered_per_s;
      } else {
        doc["max_sustained_per_s"] = nullptr;
        doc["saturated"] = true;
      }
      doc["delivered_per_s_at_max"] = s.delivered_per_s;
    }
  } else {
    doc["errors"] = errors;
    doc["client_cpu_s"] = r.connect.client_cpu_s;
    if (r.connect.server_cpu_s) doc["server_cpu_s"] = *r.connect.server_cpu_s;
    if (r.connect.server_rss_after_kb) doc["server_rss_kb"] = *r.connect.server_rss_after_kb;
  }
  if (r.reconnect.done) {
    json::object rc;
    rc["dropped"] = r.reconnect.dropped;
    rc["resumed"] = r.reconnect.resumed;
    rc["resume_s"] = r.reconnect.resume_s;
    rc["resume_ms"] = LatencyJson(r.reconnect.resume);
    rc["missed"] = r.steps.empty() ? 0 : r.steps[0].lost;
    doc["reconnect"] = std::move(rc);
  }
  if (o.churn_per_s > 0) {
    json::object ch;
    ch["per_s"] = o.churn_per_s;
    ch["dropped"] = r.churn.dropped;
    ch["clean_closes"] = r.churn.clean_closes;
    ch["resumed"] = r.churn.resumed;
    ch["reconnects_failed"] = r.churn.failed;
    doc["churn"] = std::move(ch);
  }
  if (!r.intervals.empty()) {
    json::array rows;
    for (const auto& iv : r.intervals) {
      json::object j;
      j["t_s"] = iv.t_s;
      if (iv.server_rss_kb) j["server_rss_kb"] = *iv.server_rss_kb;
      if (iv.server_fds) j["server_fds"] = *iv.server_fds;
      if (iv.server_cpu_pct) j["server_cpu_pct"] = *iv.server_cpu_pct;
      j["client_cpu_pct"] = iv.client_cpu_pct;
      j["connections"] = iv.connections;
      j["sent"] = iv.sent;
      j["delivered"] = iv.delivered;
      j["latency_ms"] = LatencyJson(iv.latency);
      j["lost_so_far"] = iv.lost_so_far;
      j["duplicated_so_far"] = iv.duplicated_so_far;
      j["churned"] = iv.churned;
      j["reconnects_failed_so_far"] = iv.reconnects_failed_so_far;
      j["errors_so_far"] = iv.errors_so_far;
      rows.push_back(std::move(j));
    }
    doc["intervals"] = std::move(rows);
  }
  if (!r.fatal.empty()) doc["fatal"] = r.fatal;
  return json::serialize(doc) + "\n";
}

std::string HumanTable(const Options& o, const BenchResult& r) {
  std::ostringstream out;
  char line[512];
  out << "parley-bench " << WorkloadName(o.workload) << " / " << DialectName(o.dialect) << " -> " << o.target
      << "\n";
  std::snprintf(line, sizeof(line), "connect: %d ok, %d failed, %.2f s, %.0f handshakes/s", r.connect.ok,
                r.connect.failed, r.connect.seconds, r.connect.handshakes_per_s);
  out << line;
  if (r.connect.server_rss_before_kb && r.connect.server_rss_after_kb && r.connect.ok > 0) {
    std::snprintf(
        line, sizeof(line), ", server RSS %+.2f kB/conn",
        static_cast<double>(*r.connect.server_rss_after_kb - *r.connect.server_rss_before_kb) / r.connect.ok);
    out << line;
  }
  out << "\n";
  if (!r.steps.empty()) {
    out << "  rate/snd  offered/s  delivered/s    p50ms    p99ms  p99.9ms    maxms  ack99ms   lost  dup  ooo "
           " err  "
           "cli_cpu  cli_cpu%  lag99ms  srv_cpu held\n";
    for (size_t i = 0; i < r.steps.size(); ++i) {
      const auto& s = r.steps[i];
      std::snprintf(line, sizeof(line),
                    "%10.2f %10.0f %12.0f %8.2f %8.2f %8.2f %8.2f %8.2f %6lld %4lld %4lld %4lld %8.2f %9.1f "
                    "%8.2f %8.2f %s%s\n",
                    s.rate_per_sender, s.offered_per_s, s.delivered_per_s, Ms(s.latency.Percentile(50)),
                    Ms(s.latency.Percentile(99)), Ms(s.latency.Percentile(99.9)), Ms(s.latency.max()),
                    Ms(s.ack_latency.Percentile(99)), static_cast<long long>(s.lost),
                    static_cast<long long>(s.duplicated), static_cast<long long>(s.reordered),
                    static_cast<long long>(s.errors), s.client_cpu_s,
                    CpuSharePct(s.client_cpu_s, s.client_wall_s, s.client_cores),
                    Ms(s.send_lag.Percentile(99)), s.server_cpu_s.value_or(-1), s.held ? "yes" : "no",
                    r.best && *r.best == i ? " <- best" : "");
      out << line;
      if (s.history.count() > 0) {
        std::snprintf(line, sizeof(line), "    history page: n=%lld p50 %.2f ms p99 %.2f ms\n",
                      static_cast<long long>(s.history.count()), Ms(s.history.Percentile(50)),
                      Ms(s.history.Percentile(99)));
        out << line;
      }
    }
    if (o.find_max) {
      if (r.best) {
        out << "max_sustained_per_s: " << r.steps[*r.best].offered_per_s << "\n";
      } else {
        out << "max_sustained_per_s: none held (saturated at the lowest step)\n";
      }
    }
  }
  if (r.reconnect.done) {
    std::snprintf(line, sizeof(line), "reconnect: %d dropped, %d resumed in %.2f s, missed %lld\n",
                  r.reconnect.dropped, r.reconnect.resumed, r.reconnect.resume_s,
                  static_cast<long long>(r.steps.empty() ? 0 : r.steps[0].lost));
    out << line;
  }
  if (o.churn_per_s > 0) {
    std::snprintf(line, sizeof(line),
                  "churn: %lld dropped (%lld clean closes), %lld resumed, %lld reconnects failed\n",
                  static_cast<long long>(r.churn.dropped), static_cast<long long>(r.churn.clean_closes),
                  static_cast<long long>(r.churn.resumed), static_cast<long long>(r.churn.failed));
    out << line;
  }
  for (const auto& [k, v] : r.errors) out << "error: " << k << " x" << v << "\n";
  if (!r.fatal.empty()) out << "fatal: " << r.fatal << "\n";
  return out.str();
}

}  // namespace parley::loadgen
