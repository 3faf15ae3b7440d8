"""What Corosync costs at the totem token failoverd needs: without the lease, the token is how fast
a dead node or a cut link is noticed (about token + consensus), so it is kept short (200 ms);
with the lease, failures are decided by the lease and the token only bounds how long
replication waits for the ring to reform after one (docs/lease.md). For each token: three lab
nodes, failoverd with the lease on every node, and the CPU of each Corosync (all its threads,
/proc schedstat) over WINDOW seconds idle, then under load (four client threads doing full TLS
handshakes and one request each, back to back, whose sessions replicate through Corosync).
Prints per token the mean per Corosync in % of one core, with failoverd's beside it, and the
handshakes per second the load made, and how long a sync-mode handshake waited on average
for its session's confirmation. --seqno-unchanged N,... repeats each token with totem's
seqno_unchanged_const (Corosync's default is 30: token rotations without traffic before the
ring rests; while sessions trickle in, it never rests). Not a test.
    FAILOVER_BUILD_DIR=build/release python3 bench/corosync_cpu.py [--tokens 200,1000,3000] [--window 20]
        [--seqno-unchanged 30,5]  (default 5, as the lab and systemd/corosync.conf.example)
"""

import argparse
import itertools
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab"))
from lab import PYTHON, TOOLS, VIP4, Lab, Probe, busywait  # noqa: E402
from switchover_cpu import cpu_ns  # noqa: E402
from test_lease import lease_config  # noqa: E402

VIP = VIP4.split("/")[0]
LOAD_THREADS = 4


def cpu_percent(pids, seconds):
    """Each pid's CPU over the next `seconds`, in % of one core."""
    before = [cpu_ns(pid) for pid in pids]
    time.sleep(seconds)  # the measurement window, not a wait for an outcome
    return [(cpu_ns(pid) - b) / (seconds * 1e7) for pid, b in zip(pids, before)]


def measure(token, seqno_unchanged, window):
    with Lab(nodes=3, clients=1, token_ms=token, totem={"seqno_unchanged_const": seqno_unchanged}) as lab:
        for host, priority in zip(lab.nodes, (200, 150, 100)):
            lab.start_failoverd(host, priority=priority, extra=lease_config(lab, ""))
        busywait(lambda: len(lab.active_nodes()) == 1, 30, "one node active")
        corosyncs = [host.corosync.pid for host in lab.nodes]
        daemons = [pid for host in lab.nodes for pid in lab.failoverd_pids(host)]
        idle = cpu_percent(corosyncs + daemons, window)
        load = Probe(lab, lab.clients[0], [PYTHON, str(TOOLS / "race_client.py"), VIP, str(LOAD_THREADS), "1",
                                           str(window + 60)], "race-client")
        load.expect(r"^running$")
        started = time.monotonic()
        sync_before = lab.status(lab.nodes[0])["replication"]["sync"]
        loaded = cpu_percent(corosyncs + daemons, window)
        sync = lab.status(lab.nodes[0])["replication"]["sync"]
        held = sync["held"] - sync_before["held"]
        wait_ms = (sync["wait_us"] - sync_before["wait_us"]) / max(held, 1) / 1000
        load.send("stop")
        stopped = load.expect(r"^stopped held=\d+ failed=(\d+)", timeout=30)
        done = max((int(m.group(1)) for m in (re.match(r"^progress (\d+)$", line) for line in load.lines) if m),
                   default=0)
        rate = done / (time.monotonic() - started)
        load.stop()
        return idle[:3], idle[3:], loaded[:3], loaded[3:], rate, int(stopped.group(1)), wait_ms


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", default="200,1000,3000")
    parser.add_argument("--window", type=float, default=20)
    parser.add_argument("--seqno-unchanged", default="5")
    args = parser.parse_args()
    print(f"Corosync's CPU per node, % of one core (mean of 3; failoverd's beside it), over {args.window:.0f} s")
    seqnos = [int(n) for n in args.seqno_unchanged.split(",")]
    for token, seqno in itertools.product((int(t) for t in args.tokens.split(",")), seqnos):
        idle_c, idle_f, load_c, load_f, rate, failed, wait_ms = measure(token, seqno, args.window)
        print(f"  token {token:5} ms, seqno_unchanged_const {seqno:2}: idle corosync "
              f"{statistics.mean(idle_c):5.1f} % (failoverd {statistics.mean(idle_f):4.1f} %)   "
              f"under load corosync {statistics.mean(load_c):5.1f} % (failoverd {statistics.mean(load_f):4.1f} %, "
              f"{rate:.0f} handshakes/s, {failed} failed, sync wait {wait_ms:.2f} ms)", flush=True)


if __name__ == "__main__":
    main()
