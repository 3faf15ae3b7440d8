"""What sync mode costs a client: full-handshake latency (connect to the end of the response)
with replication-mode = async and = sync, two lab nodes with real Corosync, TLS 1.2 with
session IDs and TLS 1.3 with stateful tickets (the sessions sync mode waits for). The modes
alternate run by run; prints the medians over runs of each run's p50 and p99, the
difference, and the server's own measure of the wait (sync_wait_us / sync_held). Not a test.
    FAILOVER_BUILD_DIR=build/release python3 bench/sync_cost.py [--runs 5] [--count 400]
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab"))
from lab import PYTHON, TOOLS, VIP4, Lab  # noqa: E402

VIP = VIP4.split("/")[0]
KINDS = ("tls12", "tls13")


def measure(mode, count):
    """{kind: (p50, p99)} for one lab run in `mode`, and the active's sync counters."""
    settings = f"replication-mode = {mode}\ntls-session-tickets = no\n"
    with Lab(nodes=2, clients=1) as lab:
        n1, _ = lab.start_active_and_standby(settings)
        results = {}
        for kind in KINDS:
            out = lab.exec(lab.clients[0], PYTHON, str(TOOLS / "handshake_latency.py"), VIP, kind, str(count), "20",
                           timeout=300).stdout.split()
            results[kind] = (float(out[2]), float(out[3]))
        return results, lab.status(n1)["replication"]["sync"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--count", type=int, default=400)
    args = parser.parse_args()
    figures = {(mode, kind): ([], []) for mode in ("async", "sync") for kind in KINDS}
    waits = []  # per sync run: the mean time a handshake waited for its confirmation, ms
    for run in range(args.runs):
        for mode in ("async", "sync"):
            results, sync = measure(mode, args.count)
            if mode == "sync":
                waits.append(sync["wait_us"] / max(1, sync["held"]) / 1000)
            for kind, (p50, p99) in results.items():
                figures[(mode, kind)][0].append(p50)
                figures[(mode, kind)][1].append(p99)
            print(f"run {run + 1} {mode}: " + ", ".join(f"{k} p50 {v[0]:.3f} p99 {v[1]:.3f} ms"
                                                        for k, v in results.items()) + f"; sync counters {sync}",
                  flush=True)
    print("\nkind   mode   p50 ms  p99 ms   (medians over runs)")
    for kind in KINDS:
        for mode in ("async", "sync"):
            p50s, p99s = figures[(mode, kind)]
            print(f"{kind}  {mode:5}  {statistics.median(p50s):6.3f}  {statistics.median(p99s):6.3f}")
        added50 = statistics.median(figures[("sync", kind)][0]) - statistics.median(figures[("async", kind)][0])
        added99 = statistics.median(figures[("sync", kind)][1]) - statistics.median(figures[("async", kind)][1])
        print(f"{kind}  added by sync: p50 {added50:+.3f} ms, p99 {added99:+.3f} ms")
    print(f"server side: a held handshake waited {statistics.median(waits):.3f} ms on average "
          f"(median over runs; the client-side difference is this plus noise)")


if __name__ == "__main__":
    main()
