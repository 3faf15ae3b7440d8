"""Continuous TLS load for the switchover tests: opens connections to ADDRESS:443 one after
another (10 ms apart), cycling through TLS 1.2 new, TLS 1.2 resumed, TLS 1.3 new, TLS 1.3
resumed, each with one HTTP request. Prints "running" at start and "progress ok=N failed=F"
every 20 connections; on "stop" (stdin), or after MAX_SECONDS, prints
"done ok=N failed=F reasons=..." and exits. Each failure is also printed as it happens:
"failed KIND [resumed] after T s: ERROR"."""

import collections
import select
import ssl
import sys
import time

from tls_client import TLS12, TLS13, client_context, fetch

address, max_seconds = sys.argv[1], float(sys.argv[2])
contexts = {"tls12": client_context(TLS12), "tls13": client_context(TLS13)}
sessions = {}
plan = [("tls12", False), ("tls12", True), ("tls13", False), ("tls13", True)]
ok = failed = 0
reasons = collections.Counter()
started = time.monotonic()
deadline = started + max_seconds
print("running", flush=True)
step = 0
while time.monotonic() < deadline:
    if select.select([sys.stdin], [], [], 0.01)[0] and sys.stdin.readline().strip() == "stop":
        break
    kind, resume = plan[step % len(plan)]
    step += 1
    try:
        sessions[kind] = fetch(address, contexts[kind], sessions.get(kind) if resume else None)[0]
        ok += 1
    except (OSError, ssl.SSLError) as error:
        failed += 1
        reasons[type(error).__name__] += 1
        print(f"failed {kind}{' resumed' if resume else ''} after {time.monotonic() - started:.3f} s: "
              f"{type(error).__name__}: {error}", flush=True)
    if (ok + failed) % 20 == 0:
        print(f"progress ok={ok} failed={failed}", flush=True)
print(f"done ok={ok} failed={failed} reasons={dict(reasons)}", flush=True)
