"""Full-handshake latency against ADDRESS:443: COUNT new connections one after another (after
WARMUP unmeasured ones) of KIND (tls12: TLS 1.2 with session IDs; tls13: TLS 1.3), each timed
from connect() to the end of the HTTP response, by which time a client holds its session in
both versions (TLS 1.3's NewSessionTicket comes before the response). Prints one line:
"latency_ms KIND p50 p99 n"."""

import statistics
import sys
import time

from tls_client import TLS12, TLS13, client_context, fetch

address, kind, count, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
context = client_context(TLS12, tickets=False) if kind == "tls12" else client_context(TLS13)

latencies = []
for i in range(warmup + count):
    started = time.perf_counter()
    if fetch(address, context)[1]:
        raise SystemExit("a connection resumed: not a full handshake")
    elapsed = time.perf_counter() - started
    if i >= warmup:
        latencies.append(elapsed * 1000)
latencies.sort()
p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
print(f"latency_ms {kind} {statistics.median(latencies):.3f} {p99:.3f} {len(latencies)}", flush=True)
