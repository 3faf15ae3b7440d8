"""Continuous TLS load for the switchover tests: opens connections to ADDRESS:443 one after
another (10 ms apart), cycling through TLS 1.2 new, TLS 1.2 resumed, TLS 1.3 new, TLS 1.3
resumed, each with one HTTP request. Prints "running" at start and "progress ok=N failed=F"
every 20 connections; on "stop" (stdin), or after MAX_SECONDS, prints
"done ok=N failed=F reasons=..." and exits."""

import collections
import select
import socket
import ssl
import sys
import time

address, max_seconds = sys.argv[1], float(sys.argv[2])
REQUEST = b"GET / HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"


def context(version):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


contexts = {"tls12": context(ssl.TLSVersion.TLSv1_2), "tls13": context(ssl.TLSVersion.TLSv1_3)}
sessions = {}
plan = [("tls12", False), ("tls12", True), ("tls13", False), ("tls13", True)]
ok = failed = 0
reasons = collections.Counter()
deadline = time.monotonic() + max_seconds
print("running", flush=True)
step = 0
while time.monotonic() < deadline:
    if select.select([sys.stdin], [], [], 0.01)[0] and sys.stdin.readline().strip() == "stop":
        break
    kind, resume = plan[step % len(plan)]
    step += 1
    try:
        with socket.create_connection((address, 443), timeout=5) as raw:
            with contexts[kind].wrap_socket(raw, server_hostname="a.example",
                                            session=sessions.get(kind) if resume else None) as tls:
                tls.sendall(REQUEST)
                response = b""
                while chunk := tls.recv(65536):
                    response += chunk
                if not response.startswith(b"HTTP/1.1 200"):
                    raise OSError("bad response")
                sessions[kind] = tls.session
        ok += 1
    except (OSError, ssl.SSLError) as error:
        failed += 1
        reasons[type(error).__name__] += 1
    if (ok + failed) % 20 == 0:
        print(f"progress ok={ok} failed={failed}", flush=True)
print(f"done ok={ok} failed={failed} reasons={dict(reasons)}", flush=True)
