"""What a client sees when the active's failoverd dies or freezes, with the VIP guard: a TLS
probe (a full handshake and a GET, 250 ms bound) every 10 ms from c1, whose neighbour entry is
left to its kernel, and an ARP/NS sampler every 50 ms counting rounds answered by two MACs.
    kill:    kill -9 of the active's failoverd (Corosync left running)
    sigstop: the active's failoverd frozen for 2 s, then SIGCONT
Per run: the outage (from the failure to the first probe that succeeded after the last one
that failed), refused and failed probes, two-MAC rounds, and the moment the killed node's
last answer was seen. Medians over the runs. Not a test.
    FAILOVER_BUILD_DIR=build/release python3 bench/dead_daemon.py [--runs 7] [--bound 50]
"""

import argparse
import os
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab"))
import lab as lab_module  # noqa: E402
from lab import VIP4, Lab, busywait  # noqa: E402
from test_guard import last_answer_from, sample, samples_of  # noqa: E402

VIP = VIP4.split("/")[0]


def one_run(mode, bound, extra=""):
    lab_module.GUARD_BOUND_MS = bound
    with Lab(nodes=2, clients=1) as lab:
        c1 = lab.clients[0]
        n1, n2 = lab.nodes
        lab.start_failoverd(n1, priority=200, extra=extra)
        busywait(lambda: lab.active_nodes() == ["n1"], 20, "n1 active")
        lab.start_failoverd(n2, priority=100, extra=extra)
        probes = lab.spawn_probe(c1, "tls_probe_loop.py", VIP, "10", "250", "9")
        probes.expect(r"^started$")
        sampler = sample(lab, c1, seconds=8.5)
        sampler.expect(r"^sampling$")
        time.sleep(1.0)
        # Whichever node is active now: a guard that fired during the set-up moved the VIP.
        active = lab.node(lab.active_nodes()[0])
        standby = n2 if active is n1 else n1
        fired = sum(lab.status(h)["guard"]["fired"] for h in lab.nodes)
        failed_at = time.monotonic()
        if mode == "kill":
            active.failoverd.process.send_signal(signal.SIGKILL)
        else:
            active.failoverd.process.send_signal(signal.SIGSTOP)
            time.sleep(2.0)
            active.failoverd.process.send_signal(signal.SIGCONT)
        probes.expect(r"^done$", timeout=30)
        rows, (_count, arp_two, nd_two) = samples_of(sampler, timeout=30)
        results = [(float(t), outcome) for t, outcome in
                   (line.split()[1:] for line in probes.lines if line.startswith("probe "))]
        after = [(t, o) for t, o in results if t >= failed_at]
        bad = [t for t, o in after if o != "ok"]
        recovered = next((t for t, o in after if o == "ok" and (not bad or t > max(bad))), None)
        outage = (recovered - failed_at) * 1000 if recovered and bad else 0.0
        if os.environ.get("FAILOVER_BENCH_DEBUG") and outage > 1000:
            print(f"outage {outage:.0f} ms; {standby.name} said:\n{standby.failoverd.drain_output(12)}", file=sys.stderr)
            print("\n".join(l for l in probes.lines if not l.endswith(" ok"))[:3000], file=sys.stderr)
        last = last_answer_from(rows, active.mac)
        silent_after = (last - failed_at) * 1000 if last and last > failed_at else 0.0
        return outage, sum(o == "refused" for _t, o in after), len(bad), arp_two + nd_two, silent_after, fired


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--bound", type=int, default=50, help="guard-bound-ms")
    parser.add_argument("--extra", default="", help="configuration lines for both nodes, e.g. 'announce-repeat-ms = 1100'")
    parser.add_argument("--modes", default="kill,sigstop")
    args = parser.parse_args()
    print(f"client view of a dead or frozen active, guard-bound-ms {args.bound}, {args.runs} runs each")
    extra = args.extra.replace("\\n", "\n") + ("\n" if args.extra else "")
    for mode in args.modes.split(","):
        runs = [one_run(mode, args.bound, extra) for _ in range(args.runs)]
        column = lambda i: [r[i] for r in runs]  # noqa: E731
        print(f"  {mode:8}: outage median {statistics.median(column(0)):7.1f} ms (runs {' '.join(f'{x:.0f}' for x in column(0))}); "
              f"refused total {sum(column(1))}; failed probes median {statistics.median(column(2))}; "
              f"two-MAC rounds total {sum(column(3))}; last answer from the failed node median "
              f"{statistics.median(column(4)):.0f} ms after the failure; guard fired before the failure "
              f"(a stalled loop) in {sum(1 for x in column(5) if x)} runs", flush=True)


if __name__ == "__main__":
    main()
