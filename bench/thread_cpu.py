"""CPU per full handshake, thread by thread, of the active's failoverd (the agent's event loop
and helper, the TLS service process's channel thread and worker), with Corosync's on both
nodes beside it: where the stateful path's cost goes. Two lab nodes, n1 active and n2 a
standby in sync, RSA-2048; `openssl s_time -new` from the client with CLIENTS processes at
once for SECONDS; the modes (failoverd's replication: sync, async, or no) alternate within
each of RUNS rounds, each mode in a lab of its own, so that the machine's slow phases hit
them alike. Prints, per mode, the medians over the rounds of: handshakes per second, µs of
CPU per handshake per thread and in all, each thread's sleeps and preemptions per handshake
(counts the machine's slow phases leave alone), Corosync's µs per handshake on n1 and n2,
sessions per replication message, and how long a held handshake waited (sync mode). With
--placement and --cache-sessions N, as bench/tls_vs_nginx.py's. Each lab serves one untimed run
first, to warm up. Not a test.

    FAILOVER_BUILD_DIR=build/release python3 bench/thread_cpu.py [--runs 3] [--seconds 8]
        [--modes sync,no] [--tls 1.2|1.3] [--clients N] [--session-tickets no|yes] [--placement]
        [--cache-sessions N]
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from nginx_tls import cpu_seconds  # noqa: E402
from tls_vs_nginx import OneCertificateLab, confine, s_time  # noqa: E402

CLOCK_TICKS = 100  # USER_HZ: /proc/<pid>/task/<tid>/stat counts CPU time in these


def thread_counts(pids):
    """{label: (utime + stime in ticks, voluntary and involuntary context switches)} of every
    thread of the processes: the agent (pids[0]) and its children (the TLS service process). A
    process's first thread is its main one; the others are numbered in the order of their ids.
    A voluntary switch is a sleep (each costs a wake-up later), an involuntary one a preemption:
    unlike CPU time, the machine's slow phases do not change their counts."""
    counts = {}
    for index, pid in enumerate(pids):
        process = "agent" if index == 0 else "TLS process"
        tasks = sorted(int(task.name) for task in Path(f"/proc/{pid}/task").iterdir())
        for number, tid in enumerate(tasks):
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()  # field n of proc(5) at n - 3
            switches = dict(line.split(":") for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines()
                            if line.endswith(tuple("0123456789")) and "ctxt_switches" in line)
            label = f"{process}: {'main thread' if tid == pid else f'thread {number}'}"
            counts[label] = (int(fields[11]) + int(fields[12]), int(switches["voluntary_ctxt_switches"]),
                             int(switches["nonvoluntary_ctxt_switches"]))
    return counts


def measure(mode, args):
    """One round of one mode, in a lab of its own: {figure: value}."""
    settings = f"tls-session-tickets = {args.session_tickets}\n" + (
        "replication = no\n" if mode == "no" else f"replication-mode = {mode}\n")
    if args.placement:
        settings += "agent-cpus = 0\ntls-cpus = 1\n"
    if args.cache_sessions is not None:
        settings += f"tls-cache-entries = {args.cache_sessions}\n"
    with OneCertificateLab("a-rsa", nodes=2, clients=1) as lab:
        lab.prepare_failoverd()
        n1, n2 = lab.start_active_and_standby(settings)
        n1.failoverd.expect(r"\[vip\] taken and announced", timeout=20)
        pids = lab.failoverd_pids(n1)
        if args.placement:
            confine([n1.corosync.pid, n2.corosync.pid, *lab.failoverd_pids(n2)], "0")
        corosyncs = [n1.corosync.pid, n2.corosync.pid]
        # An untimed run first, as tls_vs_nginx.handshakes() does, and for its reason.
        s_time(lab, 443, "tls1_" + args.tls[-1], "new", args.seconds, args.clients)
        before, corosync_before = thread_counts(pids), [cpu_seconds([pid]) for pid in corosyncs]
        count, elapsed = s_time(lab, 443, "tls1_" + args.tls[-1], "new", args.seconds, args.clients)
        after, corosync_after = thread_counts(pids), [cpu_seconds([pid]) for pid in corosyncs]
        status = lab.status(n1)
        replication = status["replication"]
        sync = replication["sync"]
    count = max(count, 1)
    per_handshake = 1e6 / CLOCK_TICKS / count
    figures = {"handshakes/s": count / elapsed, "sessions cached at the end": status["sessions_cached"]}
    spent = {label: [a - b for a, b in zip(after[label], before.get(label, (0, 0, 0)))] for label in after}
    for label, (ticks, sleeps, preemptions) in sorted(spent.items()):
        figures[f"{label} µs"] = ticks * per_handshake
        figures[f"{label} sleeps ÷100"] = 100 * sleeps / count
        figures[f"{label} preemptions ÷100"] = 100 * preemptions / count
    figures["failoverd in all µs"] = sum(ticks for ticks, _, _ in spent.values()) * per_handshake
    figures["records per message ÷100"] = 100 * replication["records_sent"] / max(replication["sent"], 1)
    for node, start, end in zip(("n1", "n2"), corosync_before, corosync_after):
        figures[f"Corosync {node} µs"] = (end - start) * 1e6 / max(count, 1)
    figures["held handshake's wait µs"] = sync["wait_us"] / sync["held"] if sync["held"] else 0.0
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--modes", default="sync,no", help="comma-separated: sync, async, no")
    parser.add_argument("--tls", choices=("1.2", "1.3"), default="1.2")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--session-tickets", choices=("yes", "no"), default="no")
    parser.add_argument("--placement", action="store_true",
                        help="as bench/tls_vs_nginx.py --placement: the cluster's work on CPU 0, the TLS service on 1")
    parser.add_argument("--cache-sessions", type=int,
                        help="failoverd's session caches sized to this many sessions (tls-cache-entries)")
    args = parser.parse_args()
    modes = args.modes.split(",")
    if not modes or any(mode not in ("sync", "async", "no") for mode in modes):
        sys.exit(f"--modes: a comma-separated list of sync, async and no, not '{args.modes}'")
    rounds = {mode: [] for mode in modes}
    for round_number in range(args.runs):
        for mode in modes:
            rounds[mode].append(measure(mode, args))
            print(f"round {round_number + 1}/{args.runs} {mode}: "
                  f"{rounds[mode][-1]['failoverd in all µs']:.0f} µs per handshake", flush=True)
    print(f"TLS {args.tls}, tickets {args.session_tickets}, {args.clients} client(s), medians of {args.runs} "
          f"rounds of {args.seconds} s{', placed on CPUs' if args.placement else ''}"
          f"{f', caches of {args.cache_sessions} sessions' if args.cache_sessions is not None else ''}; per full handshake: "
          "µs of CPU, and sleeps and preemptions in hundredths")
    labels = sorted({label for mode in modes for figures in rounds[mode] for label in figures})
    print(f"{'':44}" + "".join(f"{'replication ' + mode:>18}" for mode in modes))
    for label in labels:
        cells = [statistics.median(figures.get(label, 0.0) for figures in rounds[mode]) for mode in modes]
        print(f"{label:44}" + "".join(f"{cell:18.0f}" for cell in cells))


if __name__ == "__main__":
    main()
