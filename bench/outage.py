"""Client-visible outage of the VIP when the active fails: a client in c1 starts a TCP
connection to the VIP every 10 ms; the outage is the time from the failure to the first
connection that was started after it and succeeded. Three nodes with failoverd (with two,
Corosync's two_node keeps both halves of a cut quorate, and the result depends on which half
holds the VIP for a moment); each run fails whichever node is active, and brings it back as a
standby before the next.
    switchover: failoverctl switchover (planned): the longest gap between two successful
           connections, and the failed attempts (there should be none)
    kill:  kill -9 of the active's failoverd (Corosync sees the process leave at once)
    links: the active's cluster link, then its service link, cut (seen after the totem token
           plus consensus: 1.2 x token)
    freeze: the active's failoverd SIGSTOPped for 2 s, then SIGCONT (Corosync never sees a
           frozen process leave: without the lease nobody takes over until it wakes)
With --lease every node runs the majority lease at its defaults (h 10 ms, L 60 ms, k 3;
docs/lease.md), so a failure is decided by the lease, not by Corosync's token.
Not a test: prints medians.
    FAILOVER_BUILD_DIR=build/release python3 bench/outage.py [--runs 11] [--token 200] [--lease]
        [--modes switchover,kill,links,freeze]
"""

import argparse
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab"))
from lab import PYTHON, TLS_PORT, TOOLS, VIP4, Lab, Probe, busywait  # noqa: E402

VIP = VIP4.split("/")[0]


FREEZE_SECONDS = 2.0


def lease_config(lab):
    voters = "".join(f"lease-voter = {h.name} {h.nodeid} {h.cluster_ip4}\n" for h in lab.nodes)
    return f"lease = yes\n{voters}"


def run_mode(mode, runs, token, lease):
    outages, failures = [], []
    with Lab(nodes=3, clients=1, token_ms=token) as lab:
        c1 = lab.clients[0]
        extra = lease_config(lab) if lease else ""
        for host, priority in zip(lab.nodes, (200, 150, 100)):
            lab.start_failoverd(host, priority=priority, extra=extra)
        # n1 normally; with a short lease a start-up stall on a loaded machine may hand it on.
        busywait(lambda: len(lab.active_nodes()) == 1, 20, "one node active")
        for _ in range(runs):
            busywait(lambda: len(lab.active_nodes()) == 1, 20, "one node active")
            active = lab.node(lab.active_nodes()[0])
            if mode == "switchover":
                probe = Probe(lab, c1, [PYTHON, str(TOOLS / "outage_probe.py"), VIP, str(TLS_PORT), "10", "60"],
                              "outage-probe")
                probe.expect(r"^started$")
                probe.send("watch")
                lab.failoverctl(active, "switchover")
                busywait(lambda: lab.status(active)["role"] == "standby" and len(lab.active_nodes()) == 1, 20,
                         "the switchover done, the old active a standby again")
                probe.send("stop")
                gap, failed = probe.expect(r"^gap (\S+) (\d+)$", timeout=30).groups()
                outages.append(float(gap) * 1000)
                failures.append(int(failed))
                lab.stop_all([probe.process])
                continue
            probe = Probe(lab, c1, [PYTHON, str(TOOLS / "outage_probe.py"), VIP, str(TLS_PORT), "10", "30"],
                          "outage-probe")
            probe.expect(r"^started$")
            for host in lab.nodes:
                if host.failoverd.process.poll() is None:
                    host.failoverd.skip()
            probe.send("mark")
            if mode == "kill":
                active.failoverd.process.send_signal(signal.SIGKILL)
                active.failoverd.process.wait(10)
            elif mode == "freeze":
                active.failoverd.process.send_signal(signal.SIGSTOP)
                time.sleep(FREEZE_SECONDS)  # the fault's own duration, not a wait for an outcome
                active.failoverd.process.send_signal(signal.SIGCONT)
            else:
                # The cluster link first: the survivor learns of the failure from Corosync alone
                # (cutting the service link first lets the node announce its lost VIP over the
                # cluster link, a faster and less honest case).
                lab.set_link(active, "clu0", up=False)
                lab.set_link(active, "svc0", up=False)
            seconds, failed = probe.expect(r"^recovered (\S+) (\d+)$", timeout=30).groups()
            outages.append(float(seconds) * 1000)
            failures.append(int(failed))
            lab.stop_all([probe.process])
            # Bring the failed node back as a standby, in sync, for the next run.
            if mode == "kill":
                lab.ip(active, "addr", "flush", "dev", "svc0", "scope", "global")
                lab.ip(active, "addr", "add", f"{active.service_ip4}/24", "dev", "svc0")
                lab.ip(active, "-6", "addr", "add", f"{active.service_ip6}/64", "dev", "svc0", "nodad")
                lab.start_failoverd(active, priority=100, extra=extra)  # back as a standby (no preemption)
            elif mode == "freeze":
                busywait(lambda: lab.status(active)["role"] in ("standby", "active"), 30, "the frozen node awake")
            else:
                # The cut node has seen the partition (its Corosync formed a ring of its own)
                # before its links come back: otherwise the cut is too short to be a failure.
                busywait(lambda: len(lab.status(active)["members"]) == 1, 30, "the cut node alone")
                lab.set_link(active, "svc0", up=True)
                lab.set_link(active, "clu0", up=True)
                try:
                    busywait(lambda: lab.status(active)["in_sync"] and lab.status(active)["quorate"]
                             and lab.status(active)["role"] == "standby", 30, "the cut node back in sync")
                except Exception:
                    for host in lab.nodes:
                        print(host.name, lab.failoverctl(host, "status").stdout, file=sys.stderr)
                    raise
            busywait(lambda: len(lab.active_nodes()) == 1, 20, "exactly one active")
    return outages, failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--token", type=int, default=200)
    parser.add_argument("--lease", action="store_true", help="every node runs the majority lease")
    parser.add_argument("--modes", default="switchover,kill,links,freeze")
    args = parser.parse_args()
    print(f"outage seen by a client probing every 10 ms ({args.runs} runs, totem token {args.token} ms, "
          f"lease {'on' if args.lease else 'off'})")
    for mode in args.modes.split(","):
        outages, failures = run_mode(mode, args.runs, args.token, args.lease)
        print(f"  {mode:10}: median {statistics.median(outages):7.1f} ms  min {min(outages):7.1f}  "
              f"max {max(outages):7.1f}  failed attempts median {statistics.median(failures)} total {sum(failures)}  "
              f"runs: {' '.join(f'{o:.0f}' for o in outages)}", flush=True)


if __name__ == "__main__":
    main()
