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
import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab"))
from nginx_tls import tls_directives  # noqa: E402
from lab import PYTHON, TOOLS, VIP4, Lab, busywait  # noqa: E402

VIP = VIP4.split("/")[0]
HOST = "a.example"
NGINX_PORT = 8443
PATH = "/page.html"
BODY = "<!doctype html><title>failoverd</title><p>" + "x" * 1000 + "</p>\n"  # about 1 KB
TICKS = os.sysconf("SC_CLK_TCK")
WORKLOADS = ("streams 10", "streams 100", "new conns", "resumed conns")


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def start_nginx(lab, host):
    directory = host.dir / "nginx"
    directory.mkdir()
    chain, key = lab.certs["a-rsa"]
    conf = directory / "nginx.conf"
    # As root: the lab's document root is private to it.
    conf.write_text(f"""
user root;
worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  {"".join(f"{kind}_temp_path {directory}; " for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))}
  server {{
    listen {VIP}:{NGINX_PORT} ssl http2;
    {tls_directives(chain, key)}
    http2_max_concurrent_streams 100;
    # nginx ends an HTTP/2 connection after keepalive_requests (1,000 by default), and h2load
    # does not reconnect in a timed run; failoverd sets no such limit.
    keepalive_requests 10000000;
    root {lab.docroot};
    # failoverd serves its files from memory; nginx keeps its open files' descriptors.
    open_file_cache max=1000 inactive=60s;
  }}
}}
""")
    master = lab.spawn(host, ["nginx", "-c", str(conf), "-p", str(directory)])
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children")
    busywait(lambda: children.read_text().split() and lab.exec(
        lab.clients[0], "curl", "-sk", "--http2", "-o", "/dev/null", f"https://{VIP}:{NGINX_PORT}{PATH}",
        check=False).returncode == 0, 10, "nginx serving")
    return [master.pid, int(children.read_text().split()[0])]


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
        servers = {"failoverd": (443, [n1.failoverd.process.pid]), "nginx": (NGINX_PORT, start_nginx(lab, n1))}
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
