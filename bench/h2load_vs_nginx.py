"""HTTP/2 requests per second, and per server-CPU-second, for failoverd and nginx (`http2`,
one worker each, the same certificate, cipher list and session settings) in the same run, in
the realistic configuration: failoverd active on n1 of a two-node lab with replication on and
n2 a standby in sync; nginx in n1's namespace on the VIP, port 8443. Not a test: prints a
table of medians over RUNS runs, the two servers alternating.

Workloads, from the client namespace:
  streams 10      h2load -c 1 -m 10: one connection, 10 concurrent streams
  streams 100     h2load -c 10 -m 10: ten connections, 100 concurrent streams
  new conns       one connection after another, each a full handshake and one GET
  resumed conns   the same, each resuming the previous connection's TLS 1.3 session
(h2load never resumes a session nor reopens a connection in a timed run, so the connection
workloads use tests/lab/tools/h2_connections.py; failoverd's own counters confirm the mix.)
Server CPU counts every thread of failoverd (replication included) and nginx's master and
worker; Corosync's CPU on n1 is reported beside.

    FAILOVER_BUILD_DIR=build/release python3 bench/h2load_vs_nginx.py [--runs 5] [--seconds 5]
Needs: apt-get install nginx-light nghttp2-client
"""

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab"))
from lab import PYTHON, TOOLS, Lab  # noqa: E402
from nginx_tls import VIP, cpu_seconds, start_nginx  # noqa: E402

HOST = "a.example"
NGINX_PORT = 8443
PATH = "/page.html"
BODY = "<!doctype html><title>failoverd</title><p>" + "x" * 1000 + "</p>\n"  # about 1 KB
WORKLOADS = ("streams 10", "streams 100", "new conns", "resumed conns")


def h2load(lab, port, clients, streams, seconds):
    out = lab.exec(lab.clients[0], "h2load", "-c", str(clients), "-m", str(streams), "-D", str(seconds),
                   "--warm-up-time", "1", f"https://{VIP}:{port}{PATH}", timeout=seconds + 60).stdout
    finished = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", out)
    counts = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", out)
    ok = re.search(r"status codes: (\d+) 2xx", out)
    if (not finished or not counts or not ok or int(counts.group(3)) != 0 or ok.group(1) != counts.group(2)
            or int(counts.group(2)) == 0):
        raise RuntimeError(f"h2load: {out[-800:]}")
    # Every answer carried the whole file: h2load counts a response without its body as a success.
    data = re.search(r"traffic: .*\((\d+)\) data", out)
    if not data or int(data.group(1)) < int(counts.group(2)) * len(BODY):
        raise RuntimeError(f"h2load: less data than {counts.group(2)} bodies: {out[-800:]}")
    return int(counts.group(2)), float(finished.group(1))


def connections(lab, port, mode, seconds):
    result = lab.exec(lab.clients[0], PYTHON, str(TOOLS / "h2_connections.py"), str(lab.certs["ca"][0]), HOST, VIP,
                      str(port), PATH, mode, str(seconds), timeout=seconds + 60)
    out = result.stdout + result.stderr
    match = re.search(r"connections=(\d+) resumed=(\d+) failed=(\d+) seconds=([\d.]+)", out)
    if not match or int(match.group(3)) != 0:
        raise RuntimeError(f"h2_connections.py: {out}")
    done, resumed = int(match.group(1)), int(match.group(2))
    if resumed != (done - 1 if mode == "resumed" else 0):  # the first of a resumed series is full
        raise RuntimeError(f"{mode}: {resumed} of {done} connections resumed")
    return done, float(match.group(4))


def measure(lab, workload, port, pids, seconds):
    """(requests/s, requests per server-CPU-second) of one workload against one server."""
    before = cpu_seconds(pids)
    started = time.monotonic()
    if workload == "streams 10":
        count, elapsed = h2load(lab, port, 1, 10, seconds)
    elif workload == "streams 100":
        count, elapsed = h2load(lab, port, 10, 10, seconds)
    else:
        count, elapsed = connections(lab, port, workload.split()[0], seconds)
    cpu = cpu_seconds(pids) - before
    if workload.startswith("streams"):
        # h2load's warm-up second is in the CPU time but not in its count: scale to the whole run.
        cpu *= elapsed / (time.monotonic() - started)
    return count / elapsed, count / max(cpu, 1e-9)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    with Lab(nodes=2, clients=1) as lab:
        lab.prepare_failoverd()
        (lab.docroot / PATH.lstrip("/")).write_text(BODY)
        n1, n2 = lab.start_active_and_standby()
        n1.failoverd.expect(r"\[vip\] taken and announced", timeout=20)
        servers = {"failoverd": (443, lab.failoverd_pids(n1)), "nginx": (NGINX_PORT, start_nginx(
            lab, n1, "a-rsa", NGINX_PORT, PATH, http2=True, directives="http2_max_concurrent_streams 100;"))}
        results = {(w, name): [] for w in WORKLOADS for name in servers}
        corosync = []
        for run in range(args.runs):
            for workload in WORKLOADS:
                for name, (port, pids) in servers.items():
                    corosync_before = cpu_seconds([n1.corosync.pid])
                    results[(workload, name)].append(measure(lab, workload, port, pids, args.seconds))
                    if name == "failoverd":
                        corosync.append((cpu_seconds([n1.corosync.pid]) - corosync_before) / args.seconds)
            print(f"run {run + 1}: " + "; ".join(f"{w} {n} {r[-1][0]:.0f}/s {r[-1][1]:.0f}/CPU s"
                                                 for (w, n), r in results.items()), flush=True)
        status = lab.status(n1)
        print(f"\nfailoverd's counters: handshakes {status['handshakes']}, connections {status['service']['connections']},"
              f" replication {status['replication']['mode']}, n2 in sync: {lab.status(n2)['in_sync']}")
        print(f"\n{'workload':14} | {'failoverd/s':>11} {'nginx/s':>9} {'ratio':>5} | "
              f"{'failoverd/CPU s':>15} {'nginx/CPU s':>11} {'ratio':>5}   (medians of {args.runs} runs)")
        for workload in WORKLOADS:
            ours = [statistics.median(x) for x in zip(*results[(workload, "failoverd")])]
            theirs = [statistics.median(x) for x in zip(*results[(workload, "nginx")])]
            print(f"{workload:14} | {ours[0]:11.0f} {theirs[0]:9.0f} {ours[0] / theirs[0]:5.2f} | "
                  f"{ours[1]:15.0f} {theirs[1]:11.0f} {ours[1] / theirs[1]:5.2f}")
        print(f"Corosync on n1 while failoverd was measured: {100 * statistics.median(corosync):.1f} % of a CPU (median)")


if __name__ == "__main__":
    main()
