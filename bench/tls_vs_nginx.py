"""Full and resumed TLS handshakes per second, and per server-CPU-second, for failoverd and
nginx (one worker each, the same certificate, cipher list and session settings) in the same
run, in the realistic configuration: failoverd active on n1 of a two-node lab with replication
on (sync mode, the default) and n2 a standby in sync; nginx in n1's namespace on the VIP, port
8443. openssl s_time from the client namespace (-new / -reuse; TLS 1.2 and 1.3; RSA-2048 and
ECDSA P-256, each served alone: with both, a TLS 1.3 client's signature algorithms pick
ECDSA); then 50 KB GETs with wrk. Not a test: prints a table of medians over RUNS runs (after an
untimed one of each server to warm up), the two servers alternating.

Server CPU counts every thread of the active's failoverd (the TLS worker, the loop that
replicates and confirms sessions) and nginx's master and worker; beside it, n1's Corosync and
n2's failoverd (the standby importing the sessions) in % of a CPU while failoverd was measured.
With --session-tickets no (both servers) every session is stateful: each full handshake's
session is replicated, and in sync mode its final flight waits for the standby's copy. With
--clients N, N s_time processes run at once (one, the default, is the worst case for
replication: each handshake is a batch of its own). --replication async or no sets
failoverd's replication (the standby is still started), to tell what replicating costs from
what the data path costs; --certs rsa or ecdsa runs one certificate only;
--realtime-priority sets the agent's (0: the default scheduler), to tell what running the
replication path on the agent's real-time loop costs the handshakes. --cache-sessions N sizes
both servers' session caches to about N sessions (failoverd's `tls-cache-entries`, nginx's
shared cache at its 4,000 sessions per megabyte, 1 MB at least): small enough that the warm-up
fills them, every run then measures a server in its steady state, where each new session
evicts the oldest, instead of caches still growing (the default, 100,000 and 64 MB, fills in
minutes). --placement puts the cluster's work on CPU 0 and the TLS service on CPU 1, as an
operator of a dedicated front end would (docs/configuration.md, "Placing the work on CPUs"):
n1's failoverd with `agent-cpus = 0` and `tls-cpus = 1`, both nodes' Corosync and n2's
failoverd (another machine's, in production) on CPU 0, and nginx on CPU 1.

    FAILOVER_BUILD_DIR=build/release python3 bench/tls_vs_nginx.py [--runs 5] [--seconds 3]
        [--session-tickets no] [--clients N] [--replication sync|async|no] [--certs rsa|ecdsa]
        [--realtime-priority N] [--placement] [--cache-sessions N]
Needs: apt-get install nginx-light wrk
"""

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab"))
from lab import Lab  # noqa: E402
from nginx_tls import SESSION_CACHE_MB, SESSIONS_PER_MB, VIP, cpu_seconds, start_nginx  # noqa: E402

NGINX_PORT = 8443
FILE_50K = "file50k.bin"
CERTS = (("a-rsa", "RSA"), ("a-ec", "ECDSA"))


class OneCertificateLab(Lab):
    """The lab with failoverd serving one certificate of the lab's (it configures both)."""

    def __init__(self, cert, **options):
        super().__init__(**options)
        self.cert = cert

    def failoverd_config(self, host, priority=100, extra=""):
        config = super().failoverd_config(host, priority, extra)
        chain, key = self.certs[self.cert]
        lines = [line for line in config.read_text().splitlines()
                 if not line.startswith(("tls-certificate ", "tls-key "))]
        config.write_text("\n".join(lines + [f"tls-certificate = {chain}", f"tls-key = {key}"]) + "\n")
        return config


def s_time(lab, port, version, mode, seconds, clients):
    """(connections, wall-clock seconds) of `clients` s_time processes run at once. Not
    s_time's own "connections in N s": that N is the client's user CPU time."""
    argv = ["openssl", "s_time", "-connect", f"{VIP}:{port}", f"-{mode}", f"-{version}", "-time", str(seconds),
            "-www", "/index.html"]
    started = time.monotonic()
    processes = [lab.spawn(lab.clients[0], argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(clients)]
    try:
        outputs = [process.communicate(timeout=seconds + 60)[0] for process in processes]
    except subprocess.TimeoutExpired:
        describe_stall(lab, port)
        for process in processes:
            process.kill()
            process.communicate()
        raise
    elapsed = time.monotonic() - started
    counts = [re.search(r"(\d+) connections in [\d.]+s;", out) for out in outputs]
    if not all(counts):
        raise RuntimeError(f"s_time printed no result: {[out[-300:] for out in outputs]}")
    return sum(int(match.group(1)) for match in counts), elapsed


def describe_stall(lab, port):
    """What the server side looked like when a client did not finish: the state of every
    thread of n1's failoverd, its TCP connections on the port, and (failoverd's port) its
    counters. Seen once (2026-12-03, sync mode, TLS 1.2 -reuse, 16 clients): an s_time that
    did not finish in 63 s, not reproduced in the 30 runs of that row after it."""
    n1 = lab.nodes[0]
    print(f"a client of port {port} did not finish; n1's failoverd threads (pid tid state wchan):", flush=True)
    for pid in lab.failoverd_pids(n1):
        for task in sorted(Path(f"/proc/{pid}/task").iterdir()):
            stat = (task / "stat").read_text()
            print(f"  {pid} {task.name} {stat[stat.rindex(')') + 2:].split()[0]} {(task / 'wchan').read_text()}")
    sockets = lab.exec(n1, "ss", "-tnoi", "sport", f"= :{port}", check=False).stdout
    print(f"n1's connections on port {port}:\n{sockets[-8000:]}", flush=True)
    if port == 443:
        status = lab.status(n1)
        print(f"failoverd: open_connections {status['open_connections']}, handshake_failures "
              f"{status['handshake_failures']}, sync {status['replication']['sync']}", flush=True)


def wrk(lab, port, seconds):
    out = lab.exec(lab.clients[0], "wrk", "-t1", "-c16", f"-d{seconds}s", f"https://{VIP}:{port}/{FILE_50K}",
                   timeout=seconds + 60).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match or "Non-2xx" in out:
        raise RuntimeError(f"wrk: {out[-500:]}")
    return float(match.group(1))


def confine(pids, cpus):
    """Every thread of each process onto `cpus`, as a unit's CPUAffinity= would."""
    for pid in pids:
        subprocess.run(["taskset", "--all-tasks", "--pid", "--cpu-list", cpus, str(pid)], check=True,
                       stdout=subprocess.DEVNULL)


def handshakes(lab, servers, label, version, mode, args):
    """Prints one row: both servers' handshakes per second and per CPU-second (medians, the
    servers interleaved so that drift hits both alike, after a run of each to warm up), and
    beside them what n1's Corosync and n2's failoverd used while failoverd was measured."""
    n1, n2 = lab.nodes[:2]
    beside_pids = ([n1.corosync.pid], lab.failoverd_pids(n2))
    results = {name: [] for name in servers}
    beside = []
    # One untimed run of each server first: first-use costs (OpenSSL's lazy set-up, the
    # standby's initial state transfer, the first pages of a session cache) are not what a
    # server in service spends per handshake, and failoverd, measured first, would bear them.
    for port, _pids in servers.values():
        s_time(lab, port, version, mode, args.seconds, args.clients)
    for _ in range(args.runs):
        for name, (port, pids) in servers.items():
            beside_before = [cpu_seconds(side) for side in beside_pids]
            before = cpu_seconds(pids)
            count, elapsed = s_time(lab, port, version, mode, args.seconds, args.clients)
            cpu = cpu_seconds(pids) - before
            results[name].append((count / elapsed, count / max(cpu, 1e-9)))
            if name == "failoverd":
                beside.append([100 * (cpu_seconds(side) - start) / elapsed
                               for side, start in zip(beside_pids, beside_before)])
    ours, theirs = ([statistics.median(x) for x in zip(*results[name])] for name in servers)
    side = [statistics.median(x) for x in zip(*beside)]
    print(f"{label:6} {version[3:].replace('_', '.'):4} {mode:5} | {ours[0]:11.0f} {theirs[0]:9.0f} "
          f"{ours[0] / theirs[0]:5.2f} | {ours[1]:15.0f} {theirs[1]:11.0f} {ours[1] / theirs[1]:5.2f} | "
          f"{side[0]:20.1f} {side[1]:11.1f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--session-tickets", choices=("yes", "no"), default="yes")
    parser.add_argument("--clients", type=int, default=1, help="s_time processes at once (default 1)")
    parser.add_argument("--replication", choices=("sync", "async", "no"), default="sync")
    parser.add_argument("--certs", choices=("rsa", "ecdsa", "both"), default="both")
    parser.add_argument("--realtime-priority", type=int,
                        help="the agent's realtime-priority (default: the daemon's; 0: the default scheduler)")
    parser.add_argument("--placement", action="store_true",
                        help="the cluster's work on CPU 0, the TLS service and nginx on CPU 1")
    parser.add_argument("--cache-sessions", type=int,
                        help="both servers' session caches sized to about this many sessions")
    args = parser.parse_args()
    settings = f"tls-session-tickets = {args.session_tickets}\n" + (
        "replication = no\n" if args.replication == "no" else f"replication-mode = {args.replication}\n")
    if args.realtime_priority is not None:
        settings += f"realtime-priority = {args.realtime_priority}\n"
    nginx_cache_mb = SESSION_CACHE_MB
    if args.cache_sessions is not None:
        settings += f"tls-cache-entries = {args.cache_sessions}\n"
        nginx_cache_mb = max(1, round(args.cache_sessions / SESSIONS_PER_MB))
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install {'nginx-light' if tool == 'nginx' else tool}")
    print(f"medians of {args.runs} runs of {args.seconds} s; 'per CPU s' = handshakes per second of the "
          "server's CPU time (every thread of failoverd's agent and TLS service process; nginx's master and worker)")
    print(f"{'cert':6} {'TLS':4} {'mode':5} | {'failoverd/s':>11} {'nginx/s':>9} {'ratio':>5} | "
          f"{'failoverd/CPU s':>15} {'nginx/CPU s':>11} {'ratio':>5} | {'% CPU: Corosync n1, failoverd n2':>32}")
    for cert, label in CERTS:
        if args.certs not in ("both", label.lower()):
            continue
        with OneCertificateLab(cert, nodes=2, clients=1) as lab:
            lab.prepare_failoverd()
            (lab.docroot / FILE_50K).write_bytes(bytes((i * 7 + 3) % 251 for i in range(50_000)))
            n1, n2 = lab.start_active_and_standby(
                settings + ("agent-cpus = 0\ntls-cpus = 1\n" if args.placement else ""))
            n1.failoverd.expect(r"\[vip\] taken and announced", timeout=20)
            servers = {"failoverd": (443, lab.failoverd_pids(n1)),
                       "nginx": (NGINX_PORT, start_nginx(lab, n1, cert, NGINX_PORT, "/index.html",
                                                              tickets=args.session_tickets == "yes",
                                                              cache_mb=nginx_cache_mb))}
            if args.placement:
                confine([n1.corosync.pid, n2.corosync.pid, *lab.failoverd_pids(n2)], "0")
                confine(servers["nginx"][1], "1")
            for version in ("tls1_2", "tls1_3"):
                for mode in ("new", "reuse"):
                    handshakes(lab, servers, label, version, mode, args)
            status, standby = lab.status(n1), lab.status(n2)
            replication = status["replication"]
            print(f"       failoverd's counters: handshakes {status['handshakes']}; replication {replication['mode']}: "
                  f"{replication['records_sent']} records in {replication['sent']} messages, sync {replication['sync']}; "
                  f"n2 applied {standby['replication']['records_applied']}, in sync: {standby['in_sync']}; "
                  f"sessions cached {status['sessions_cached']}")
            gets = {name: [] for name in servers}
            for _ in range(args.runs):
                for name, (port, _pids) in servers.items():
                    gets[name].append(wrk(lab, port, args.seconds))
            ours, theirs = statistics.median(gets["failoverd"]), statistics.median(gets["nginx"])
            print(f"       wrk 50 KB GET, keep-alive, 16 connections: failoverd {ours:.0f}/s, nginx {theirs:.0f}/s, "
                  f"ratio {ours / theirs:.2f}", flush=True)


if __name__ == "__main__":
    main()
