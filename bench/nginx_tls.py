"""nginx beside failoverd in the lab, for the benchmarks that compare the two: TLS settings
matched to failoverd's (the same TLS 1.2 suites, ECDHE with AEAD only, groups, protocol
versions, session lifetime, a shared session cache and tickets), one worker, in the active's
namespace on the VIP; and the CPU time of a set of processes (every thread counted)."""

import os
from pathlib import Path

from lab import VIP4, busywait

VIP = VIP4.split("/")[0]
TICKS = os.sysconf("SC_CLK_TCK")
CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
           "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")


# nginx's shared session cache: its default size here, and how many sessions a megabyte holds
# (nginx's documentation: about 4,000).
SESSION_CACHE_MB = 64
SESSIONS_PER_MB = 4000


def tls_directives(chain, key, tickets=True, cache_mb=SESSION_CACHE_MB):
    """The server block's TLS directives for this certificate chain and key; a shared session
    cache of cache_mb megabytes."""
    return f"""
    ssl_certificate {chain};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers {CIPHERS};
    ssl_prefer_server_ciphers on;
    ssl_ecdh_curve X25519:prime256v1;
    ssl_session_cache shared:SSL:{cache_mb}m;
    ssl_session_timeout 5m;
    ssl_session_tickets {"on" if tickets else "off"};
"""


def cpu_seconds(pids):
    """User and system CPU time of these processes, all their threads, so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def start_nginx(lab, host, cert, port, probe_path, http2=False, tickets=True, directives="",
                cache_mb=SESSION_CACHE_MB):
    """nginx (one worker) on VIP:port in host's namespace, serving the lab's document root with
    lab.certs[cert]; returns its master's and worker's PIDs once it answers probe_path."""
    directory = host.dir / f"nginx-{port}"
    directory.mkdir()
    chain, key = lab.certs[cert]
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
    listen {VIP}:{port} ssl{" http2" if http2 else ""};
    {tls_directives(chain, key, tickets, cache_mb)}
    # A connection is never ended for its number of requests (1,000 by default): the load
    # tools do not reconnect in a timed run, and failoverd sets no such limit.
    keepalive_requests 10000000;
    root {lab.docroot};
    # failoverd serves its files from memory; nginx keeps its open files' descriptors.
    open_file_cache max=1000 inactive=60s;
    {directives}
  }}
}}
""")
    master = lab.spawn(host, ["nginx", "-c", str(conf), "-p", str(directory)])
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children")
    busywait(lambda: children.read_text().split() and lab.exec(
        lab.clients[0], "curl", "-sk", "-o", "/dev/null", f"https://{VIP}:{port}{probe_path}",
        check=False).returncode == 0, 10, "nginx serving")
    return [master.pid, int(children.read_text().split()[0])]
