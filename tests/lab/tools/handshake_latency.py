"""Full-handshake latency against ADDRESS:443: COUNT new connections one after another (after
WARMUP unmeasured ones) of KIND (tls12: TLS 1.2 with session IDs; tls13: TLS 1.3), each timed
from connect() to the first byte of the HTTP response, which is when a client holds its
session in both versions (TLS 1.3's NewSessionTicket comes before the response). Prints one
line: "latency_ms KIND p50 p99 n"."""

import socket
import ssl
import statistics
import sys
import time

address, kind, count, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
REQUEST = b"GET / HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"

context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
version = ssl.TLSVersion.TLSv1_2 if kind == "tls12" else ssl.TLSVersion.TLSv1_3
context.minimum_version = context.maximum_version = version
context.options |= ssl.OP_NO_TICKET if kind == "tls12" else 0

latencies = []
for i in range(warmup + count):
    started = time.perf_counter()
    with socket.create_connection((address, 443), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="a.example") as tls:
            tls.sendall(REQUEST)
            if not tls.recv(1):
                raise SystemExit("no response")
            elapsed = time.perf_counter() - started
            if tls.session_reused:
                raise SystemExit("a connection resumed: not a full handshake")
    if i >= warmup:
        latencies.append(elapsed * 1000)
latencies.sort()
p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
print(f"latency_ms {kind} {statistics.median(latencies):.3f} {p99:.3f} {len(latencies)}", flush=True)
