#!/usr/bin/env python3
"""Tests of bench/summarize.py (the generator-bound mark, the peer's name and
file) and of bench/compare's own argument checks. Run by ctest as
bench_summarize_test; needs only python3 and bash."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import summarize  # noqa: E402


def step(offered, lag_p99, cpu_pct, server_cpu_s=1.0, delivered_per_s=1000.0, window_s=10.0):
    s = {
        "offered_per_s": offered,
        "delivered_per_s": delivered_per_s,
        "window_s": window_s,
        "latency_ms": {"p50": 1.0, "p99": 4.0},
        "send_lag_ms": {"p99": lag_p99},
        "client_cpu_s": cpu_pct / 100.0 * window_s,
        "server_cpu_s": server_cpu_s,
        "lost": 0,
        "errors": 0,
        "held": True,
    }
    if cpu_pct is not None:
        s["client_cpu_pct"] = cpu_pct
    return s


def doc(workload, dialect, steps, best=0):
    d = {"workload": workload, "dialect": dialect, "params": {"groups": 1}, "machine": {"label": "test"},
         "steps": steps, "connections": 10, "connect": {"ok": 10}}
    d.update(steps[best])
    return d


class SummarizeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, d):
        with open(os.path.join(self.dir, name + ".json"), "w") as f:
            json.dump(d, f)

    def test_bound_by_send_lag_or_cpu_and_not_at_the_limits(self):
        self.assertEqual(summarize.bound_reasons(step(100, 10.0, 90.0)), [])
        lag = summarize.bound_reasons(step(100, 10.5, 20.0))
        self.assertEqual(len(lag), 1)
        self.assertIn("send lag p99 10.5 ms", lag[0])
        cpu = summarize.bound_reasons(step(100, 1.0, 95.0))
        self.assertEqual(len(cpu), 1)
        self.assertIn("95", cpu[0])
        self.assertEqual(len(summarize.bound_reasons(step(100, 50.0, 99.0))), 2)
        # A bound run says when other load held its CPU; an unbound one says nothing of it.
        starved = step(100, 30.0, 14.0)
        starved["client_runqueue_wait_s"] = 4.2
        why = summarize.bound_reasons(starved)
        self.assertEqual(len(why), 2)
        self.assertIn("waited 4.2 s of the 10.0 s window for a CPU", why[1])
        calm = step(100, 3.0, 14.0)
        calm["client_runqueue_wait_s"] = 4.2
        self.assertEqual(summarize.bound_reasons(calm), [])
        # A document that records neither figure is not judged.
        self.assertIsNone(summarize.bound_reasons({"latency_ms": {"p99": 3}}))

    def test_names_the_uws_peer_and_marks_the_bound_side(self):
        self.write("uws", doc("rooms", "socketio", [step(1000, 2.0, 40.0)]))
        self.write("parley", doc("rooms", "parley", [step(1000, 25.0, 50.0)]))
        md = summarize.summarize(self.dir, None)
        self.assertIn("Parley vs the uWebSockets peer (`uws`)", md)
        self.assertIn("| figure | uws | parley | parley/uws |", md)
        self.assertIn("**generator-bound (parley)**: send lag p99 25.0 ms", md)
        self.assertNotIn("generator-bound (uws)", md)
        self.assertIn("| generator-bound | no | yes | - |", md)

    def test_per_delivery_cpu_and_step_marks(self):
        steps = [step(1000, 1.0, 30.0, server_cpu_s=2.0, delivered_per_s=10000.0),
                 step(2000, 30.0, 97.0, server_cpu_s=4.0, delivered_per_s=20000.0)]
        self.write("socketio", doc("rooms", "socketio", steps))
        md = summarize.summarize(self.dir, "socketio")
        # 2 s of server CPU over 10 s x 10,000 deliveries/s: 20 µs each.
        self.assertIn("| server CPU µs per delivered msg | 20.0 | - | - |", md)
        self.assertIn("| 1,000 | 10,000 | 4 | 0 | 0 | True | 30.0 | 1 | no |", md)
        self.assertIn("| 2,000 | 20,000 | 4 | 0 | 0 | True | 97.0 | 30.0 | yes |", md)
        # The shown step (the first) was not bound, so no run-level mark.
        self.assertNotIn("**generator-bound", md)

    def test_fanout_note_and_unequal_rates(self):
        self.write("socketio", doc("fanout", "socketio", [step(20, 1.0, 50.0)]))
        self.write("parley", doc("fanout", "parley", [step(40, 1.0, 50.0)]))
        md = summarize.summarize(self.dir, "socketio")
        self.assertIn("server CPU µs per delivered msg, at one fixed offered rate", md)
        self.assertIn("offered different rates (20 and 40 msgs/s)", md)

    def test_two_peer_files_need_peer(self):
        self.write("socketio", doc("rooms", "socketio", [step(10, 1.0, 10.0)]))
        self.write("uws", doc("rooms", "socketio", [step(10, 1.0, 10.0)]))
        with self.assertRaises(SystemExit):
            summarize.summarize(self.dir, None)
        self.assertIn("(`uws`)", summarize.summarize(self.dir, "uws"))


class CompareArgsTest(unittest.TestCase):
    def run_compare(self, *args):
        return subprocess.run(["bash", os.path.join(HERE, "compare"), *args], capture_output=True, text=True,
                              env={**os.environ, "PARLEYD": "/nonexistent", "PARLEY_BENCH": "/nonexistent"})

    def test_unknown_peer_is_refused(self):
        r = self.run_compare("--out", "/tmp/unused", "--peer", "nginx")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown peer 'nginx' (socketio or uws)", r.stderr)

    def test_out_is_required_and_flags_compare_sets_are_refused(self):
        self.assertEqual(self.run_compare("--peer", "uws").returncode, 2)
        r = self.run_compare("--out", "/tmp/unused", "--peer", "uws", "--dialect", "parley")
        self.assertEqual(r.returncode, 2)
        self.assertIn("compare sets --dialect itself", r.stderr)


if __name__ == "__main__":
    unittest.main()
