#!/usr/bin/env python3
"""summarize.py DIR [--peer socketio|uws]: DIR/<peer>.json + DIR/parley.json -> Markdown (stdout).

One table with the ratio Parley/peer per figure, the find-max steps of each
side, and a generator-bound mark on every run and step whose generator was
the limit (its send lag p99 over 10 ms, or it used over 90% of its cores):
such a run's latency and throughput measure the generator as much as the
server. Without --peer, the one peer JSON found in DIR is used.
"""
import argparse
import json
import os
import sys

PEERS = {"socketio": "Socket.IO peer", "uws": "uWebSockets peer"}
# The generator-bound rule (bench/README.md, "Reading a run").
BOUND_LAG_P99_MS = 10.0
BOUND_CPU_PCT = 90.0
# A bound run also says when the generator spent this share of the window
# waiting for a CPU: the machine, not the generator's own work, held it back.
BOUND_WAIT_SHARE = 0.2

ROWS = [
    ("max sustained msgs/s (offered, p99<50ms, 0 lost)", "max_sustained_per_s"),
    ("offered msgs/s", "offered_per_s"),
    ("delivered msgs/s", "delivered_per_s"),
    ("latency p50 ms", "latency_ms.p50"),
    ("latency p90 ms", "latency_ms.p90"),
    ("latency p99 ms", "latency_ms.p99"),
    ("latency p99.9 ms", "latency_ms.p999"),
    ("latency max ms", "latency_ms.max"),
    ("`sent` ack p99 ms", "ack_latency_ms.p99"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("reordered", "reordered"),
    ("errors", "errors"),
    ("connections", "connections"),
    ("handshakes/s", "connect.handshakes_per_s"),
    ("handshake p99 ms", "connect.handshake_ms.p99"),
    ("server CPU ms per handshake (incl. hello)", "server_cpu_ms_per_handshake"),
    ("server RSS kB/connection", "connect.server_rss_kb_per_connection"),
    ("still open after hold", "connect.still_open_after_hold"),
    ("reconnect: time to all resumed s", "reconnect.resume_s"),
    ("reconnect: resume p99 ms", "reconnect.resume_ms.p99"),
    ("reconnect: messages missed", "reconnect.missed"),
    ("history page p50 ms", "history_ms.p50"),
    ("history page p99 ms", "history_ms.p99"),
    ("server CPU µs per delivered msg", "server_cpu_us_per_delivery"),
    ("server CPU s (measured window)", "server_cpu_s"),
    ("server RSS kB (end)", "server_rss_kb"),
    ("generator CPU s (measured window)", "client_cpu_s"),
    ("generator CPU % of its cores", "client_cpu_pct"),
    ("generator CPU µs per delivered msg", "client_cpu_us_per_delivery"),
    ("generator waited for a CPU s", "client_runqueue_wait_s"),
    ("generator send lag p99 ms", "send_lag_ms.p99"),
    ("generator-bound", "generator_bound"),
]


def get(doc, path):
    cur = doc
    for k in path.split("."):
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    return cur


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:,.0f}"
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def bound_reasons(run):
    """Why the generator limited this run (a step, or a document's shown step); [] when it did not.

    None when the run does not say (a JSON from a generator that did not
    record its CPU share, or a run without steps)."""
    lag = get(run, "send_lag_ms.p99")
    cpu = run.get("client_cpu_pct")
    if lag is None and cpu is None:
        return None
    reasons = []
    if lag is not None and lag > BOUND_LAG_P99_MS:
        reasons.append(f"send lag p99 {fmt(lag)} ms > {BOUND_LAG_P99_MS:g} ms")
    if cpu is not None and cpu > BOUND_CPU_PCT:
        reasons.append(f"generator CPU {fmt(cpu)}% of its cores > {BOUND_CPU_PCT:g}%")
    # Why it lagged, when it was not its own work: other processes held its CPU.
    wait, win = run.get("client_runqueue_wait_s"), run.get("window_s")
    if reasons and wait is not None and win and wait > BOUND_WAIT_SHARE * win:
        reasons.append(f"it waited {fmt(wait)} s of the {fmt(win)} s window for a CPU (other load on its cores)")
    return reasons


def per_delivery_us(cpu_s, run):
    win, rate = run.get("window_s"), run.get("delivered_per_s")
    if cpu_s is None or not win or not rate:
        return None
    return cpu_s * 1e6 / (rate * win)


def derive(run):
    """Adds the figures computed from a run's own fields (a document or one step)."""
    run["server_cpu_us_per_delivery"] = per_delivery_us(run.get("server_cpu_s"), run)
    run["client_cpu_us_per_delivery"] = per_delivery_us(run.get("client_cpu_s"), run)
    reasons = bound_reasons(run)
    run["generator_bound"] = None if reasons is None else bool(reasons)
    run["generator_bound_why"] = reasons or []


def load(d, name):
    p = os.path.join(d, name + ".json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        doc = json.load(f)
    if "steps" in doc:
        derive(doc)
        for s in doc["steps"]:
            derive(s)
    cpu, ok = get(doc, "connect.server_cpu_s"), get(doc, "connect.ok")
    if cpu and ok:
        doc["server_cpu_ms_per_handshake"] = cpu * 1e3 / ok
    return doc


def pick_peer(d, peer):
    if peer:
        return peer
    found = [p for p in PEERS if os.path.exists(os.path.join(d, p + ".json"))]
    if len(found) > 1:
        sys.exit(f"summarize.py: {d} holds {' and '.join(p + '.json' for p in found)}; say which with --peer")
    return found[0] if found else "socketio"


def summarize(d, peer):
    out = []
    emit = out.append
    peer = pick_peer(d, peer)
    peer_doc, par = load(d, peer), load(d, "parley")
    if peer_doc is None and par is None:
        sys.exit(f"summarize.py: neither {peer}.json nor parley.json in {d}")
    doc = par or peer_doc
    workload = doc.get("workload", "?")
    emit(f"# {workload}: Parley vs the {PEERS.get(peer, peer)} (`{peer}`)\n")
    params = doc.get("params", {})
    emit("params: " + ", ".join(f"{k}={v}" for k, v in params.items()) + "\n")
    m = doc.get("machine", {})
    emit(f"machine: {m.get('label', '')}; cpus online {m.get('cpus_online')}; kernel {m.get('kernel')}\n")

    sides = ((peer, peer_doc), ("parley", par))
    for name, run in sides:
        if run and run.get("generator_bound"):
            emit(f"**generator-bound ({name})**: {'; '.join(run['generator_bound_why'])}. This run's latency "
                 "and throughput measure the generator as much as the server; compare server CPU per "
                 "delivery at the same offered rate instead.\n")
    if workload == "fanout":
        emit("fanout: one generator core reads every delivery, so its latency and `--find-max` figures are "
             "the generator's; the server figure to compare is server CPU µs per delivered msg, at one fixed "
             "offered rate.\n")
    if peer_doc and par:
        a, b = peer_doc.get("offered_per_s"), par.get("offered_per_s")
        if a and b and abs(a - b) > 1e-9 * max(a, b):
            emit(f"note: the two runs shown were offered different rates ({fmt(a)} and {fmt(b)} msgs/s); "
                 "per-delivery CPU figures are not taken at the same load.\n")

    emit(f"| figure | {peer} | parley | parley/{peer} |")
    emit("|---|---:|---:|---:|")
    for label, path in ROWS:
        a = get(peer_doc, path) if peer_doc else None
        b = get(par, path) if par else None
        if a is None and b is None:
            continue
        ratio = "-"
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
        if numeric and a != 0:
            ratio = f"{b / a:.2f}"
        emit(f"| {label} | {fmt(a)} | {fmt(b)} | {ratio} |")
    for name, run in sides:
        if run and run.get("steps") and len(run["steps"]) > 1:
            emit(f"\n{name} find-max steps:\n")
            emit("| offered/s | delivered/s | p99 ms | lost | errors | held | generator CPU % | send lag p99 ms "
                 "| generator-bound |")
            emit("|---:|---:|---:|---:|---:|---|---:|---:|---|")
            for s in run["steps"]:
                emit(f"| {fmt(s['offered_per_s'])} | {fmt(s['delivered_per_s'])} | {fmt(s['latency_ms']['p99'])} | "
                     f"{s['lost']} | {s['errors']} | {s['held']} | {fmt(s.get('client_cpu_pct'))} | "
                     f"{fmt(get(s, 'send_lag_ms.p99'))} | {fmt(s.get('generator_bound'))} |")
        if run and run.get("saturated"):
            emit(f"\n{name}: no step held (saturated at the lowest offered rate).")
        if run and run.get("fatal"):
            emit(f"\n{name}: FATAL {run['fatal']}")
        if run and (run.get("error_codes") or run.get("setup_errors")):
            emit(f"\n{name} errors: {json.dumps(run.get('error_codes'))} {json.dumps(run.get('setup_errors'))}")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description="DIR/<peer>.json + DIR/parley.json -> summary.md on stdout")
    ap.add_argument("dir")
    ap.add_argument("--peer", choices=sorted(PEERS))
    args = ap.parse_args()
    sys.stdout.write(summarize(args.dir, args.peer))


if __name__ == "__main__":
    main()
