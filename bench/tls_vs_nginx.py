"""Full and resumed TLS handshakes per second, and per server-CPU-second, for failoverd's TLS
server (tls-tool, one worker) and nginx (one worker) with the same certificate, cipher list
and session settings, on the same machine in the same run, measured with openssl s_time
(-new / -reuse; TLS 1.2 and 1.3; RSA-2048 and ECDSA P-256); then 50 KB GET throughput with
wrk. Medians of RUNS runs. Not a test: prints a table.

    FAILOVER_BUILD_DIR=build/release python3 bench/tls_vs_nginx.py [--runs 3] [--seconds 3]
Needs: apt-get install nginx-light wrk
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab"))
from nginx_tls import tls_directives  # noqa: E402
from tlsenv import TlsEnv  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Nginx:
    def __init__(self, env, cert):
        self.dir = env.dir / f"nginx-{cert}"
        self.dir.mkdir()
        self.port = free_port()
        chain, key = env.certs[cert]
        conf = self.dir / "nginx.conf"
        conf.write_text(f"""
user root;
worker_processes 1;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  server {{
    listen 127.0.0.1:{self.port} ssl;
    {tls_directives(chain, key)}
    root {env.docroot};
    keepalive_requests 100000;
  }}
}}
""")
        self.process = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(self.dir)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:  # bounded wait for the worker process and the socket
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
            if children and subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}"],
                                           input=b"", capture_output=True, timeout=5).returncode == 0:
                self.worker = int(children[0])
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {(self.dir / 'error.log').read_text()}")

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


def s_time(port, version, mode, seconds):
    out = subprocess.run(["openssl", "s_time", "-connect", f"127.0.0.1:{port}", f"-{mode}",
                          f"-{version}", "-time", str(seconds), "-www", "/index.html"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    match = re.search(r"(\d+) connections in ([\d.]+)s", out)
    if not match:
        raise RuntimeError(f"s_time printed no result: {out[-500:]}")
    return int(match.group(1)), float(match.group(2))


def measure(port, pid, version, mode, seconds):
    cpu_before = cpu_seconds(pid)
    count, elapsed = s_time(port, version, mode, seconds)
    cpu = cpu_seconds(pid) - cpu_before
    return count / elapsed, count / max(cpu, 1e-9)


def wrk(port, seconds):
    out = subprocess.run(["wrk", "-t1", "-c16", f"-d{seconds}s", f"https://127.0.0.1:{port}/file50k.bin"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise RuntimeError(f"wrk printed no result: {out[-500:]}")
    return float(match.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3)
    args = parser.parse_args()
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install {'nginx-light' if tool == 'nginx' else tool}")
    env = TlsEnv()
    try:
        print(f"medians of {args.runs} runs of {args.seconds} s; 'per CPU s' = handshakes per "
              "second of the server process's CPU time")
        print(f"{'cert':6} {'TLS':4} {'mode':5} | {'failoverd/s':>11} {'nginx/s':>9} {'ratio':>5} | "
              f"{'failoverd/CPU s':>15} {'nginx/CPU s':>11} {'ratio':>5}")
        for cert, label in (("a-rsa", "RSA"), ("a-ec", "ECDSA")):
            ours = env.server(certs=(cert,), workers=1)
            nginx = Nginx(env, cert)
            try:
                for version in ("tls1_2", "tls1_3"):
                    for mode in ("new", "reuse"):
                        results = {"ours": [], "nginx": []}
                        for _ in range(args.runs):  # interleaved, so drift hits both alike
                            results["ours"].append(measure(ours.port, ours.process.pid, version, mode, args.seconds))
                            results["nginx"].append(measure(nginx.port, nginx.worker, version, mode, args.seconds))
                        med = {k: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v))
                               for k, v in results.items()}
                        print(f"{label:6} {version[3:].replace('_', '.'):4} {mode:5} | {med['ours'][0]:11.0f} "
                              f"{med['nginx'][0]:9.0f} {med['ours'][0] / med['nginx'][0]:5.2f} | "
                              f"{med['ours'][1]:15.0f} {med['nginx'][1]:11.0f} {med['ours'][1] / med['nginx'][1]:5.2f}",
                              flush=True)
                stats = ours.stats()
                print(f"       failoverd counters: full12={stats['full12']} full13={stats['full13']} "
                      f"resumed12_id={stats['resumed12_id']} resumed12_ticket={stats['resumed12_ticket']} "
                      f"resumed13_ticket={stats['resumed13_ticket']}")
                if cert == "a-ec":
                    gets = {"ours": [], "nginx": []}
                    for _ in range(args.runs):
                        gets["ours"].append(wrk(ours.port, args.seconds))
                        gets["nginx"].append(wrk(nginx.port, args.seconds))
                    a, b = statistics.median(gets["ours"]), statistics.median(gets["nginx"])
                    print(f"wrk 50 KB GET, keep-alive, 16 connections: failoverd {a:.0f}/s, nginx {b:.0f}/s, "
                          f"ratio {a / b:.2f}")
            finally:
                nginx.stop()
                ours.stop()
    finally:
        env.close()


if __name__ == "__main__":
    main()
