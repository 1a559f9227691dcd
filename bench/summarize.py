#!/usr/bin/env python3
"""summarize.py DIR: DIR/socketio.json + DIR/parley.json -> Markdown table with ratios (Parley/peer)."""
import json
import os
import sys

d = sys.argv[1]


def load(name):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


sio, par = load("socketio.json"), load("parley.json")


def get(doc, path):
    cur = doc
    for k in path.split("."):
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    return cur


ROWS = [
    ("max sustained msgs/s (offered, p99<50ms, 0 lost)", "max_sustained_per_s", "higher"),
    ("offered msgs/s", "offered_per_s", ""),
    ("delivered msgs/s", "delivered_per_s", "higher"),
    ("latency p50 ms", "latency_ms.p50", "lower"),
    ("latency p90 ms", "latency_ms.p90", "lower"),
    ("latency p99 ms", "latency_ms.p99", "lower"),
    ("latency p99.9 ms", "latency_ms.p999", "lower"),
    ("latency max ms", "latency_ms.max", "lower"),
    ("`sent` ack p99 ms", "ack_latency_ms.p99", "lower"),
    ("lost", "lost", "lower"),
    ("duplicated", "duplicated", "lower"),
    ("reordered", "reordered", "lower"),
    ("errors", "errors", "lower"),
    ("connections", "connections", ""),
    ("handshakes/s", "connect.handshakes_per_s", "higher"),
    ("handshake p99 ms", "connect.handshake_ms.p99", "lower"),
    ("server RSS kB/connection", "connect.server_rss_kb_per_connection", "lower"),
    ("still open after hold", "connect.still_open_after_hold", ""),
    ("reconnect: time to all resumed s", "reconnect.resume_s", "lower"),
    ("reconnect: resume p99 ms", "reconnect.resume_ms.p99", "lower"),
    ("reconnect: messages missed", "reconnect.missed", "lower"),
    ("history page p50 ms", "history_ms.p50", "lower"),
    ("history page p99 ms", "history_ms.p99", "lower"),
    ("server CPU s (measured window)", "server_cpu_s", "lower"),
    ("client CPU s (measured window)", "client_cpu_s", "lower"),
    ("server RSS kB (end)", "server_rss_kb", "lower"),
    ("send lag p99 ms (generator health)", "send_lag_ms.p99", ""),
]


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:,.0f}"
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def derived(doc):
    if not doc:
        return
    cpu, win, rate = doc.get("server_cpu_s"), doc.get("window_s"), doc.get("delivered_per_s")
    if cpu and win and rate:
        doc["server_cpu_us_per_delivery"] = cpu * 1e6 / (rate * win)
    cpu = get(doc, "connect.server_cpu_s")
    ok = get(doc, "connect.ok")
    if cpu and ok:
        doc["server_cpu_ms_per_handshake"] = cpu * 1e3 / ok


derived(sio)
derived(par)
ROWS.insert(ROWS.index(("server CPU s (measured window)", "server_cpu_s", "lower")),
            ("server CPU µs per delivered msg", "server_cpu_us_per_delivery", "lower"))
ROWS.insert(ROWS.index(("server RSS kB/connection", "connect.server_rss_kb_per_connection", "lower")),
            ("server CPU ms per handshake (incl. hello)", "server_cpu_ms_per_handshake", "lower"))
doc = par or sio or {}
print(f"# {doc.get('workload', '?')}: Parley vs Socket.IO peer\n")
params = doc.get("params", {})
print("params: " + ", ".join(f"{k}={v}" for k, v in params.items()) + "\n")
m = doc.get("machine", {})
print(f"machine: {m.get('label', '')}; cpus online {m.get('cpus_online')}; kernel {m.get('kernel')}\n")
print("| figure | socketio | parley | parley/socketio |")
print("|---|---:|---:|---:|")
for label, path, _ in ROWS:
    a = get(sio, path) if sio else None
    b = get(par, path) if par else None
    if a is None and b is None:
        continue
    ratio = "-"
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and a != 0:
        ratio = f"{b / a:.2f}"
    print(f"| {label} | {fmt(a)} | {fmt(b)} | {ratio} |")
for name, doc in (("socketio", sio), ("parley", par)):
    if doc and doc.get("steps") and len(doc["steps"]) > 1:
        print(f"\n{name} find-max steps:\n")
        print("| offered/s | delivered/s | p99 ms | lost | errors | held |")
        print("|---:|---:|---:|---:|---:|---|")
        for s in doc["steps"]:
            print(f"| {fmt(s['offered_per_s'])} | {fmt(s['delivered_per_s'])} | {fmt(s['latency_ms']['p99'])} | "
                  f"{s['lost']} | {s['errors']} | {s['held']} |")
    if doc and doc.get("saturated"):
        print(f"\n{name}: no step held (saturated at the lowest offered rate).")
    if doc and doc.get("fatal"):
        print(f"\n{name}: FATAL {doc['fatal']}")
    if doc and (doc.get("error_codes") or doc.get("setup_errors")):
        print(f"\n{name} errors: {json.dumps(doc.get('error_codes'))} {json.dumps(doc.get('setup_errors'))}")
