"""Client side of the takeover and outage benchmarks. Starts a new non-blocking TCP connection
to ADDRESS PORT every INTERVAL_MS (bounded by MAX_SECONDS and a cap on attempts in flight),
and reports the first connection answered by EXPECT:
    started <t>            once running
    first <t> <attempts>   the monotonic time the first EXPECT answer arrived
    timeout                if none within MAX_SECONDS
Times are CLOCK_MONOTONIC seconds, comparable across the lab's namespaces."""

import errno
import select
import socket
import sys
import time

address, port, expect = sys.argv[1], int(sys.argv[2]), sys.argv[3]
max_seconds, interval = float(sys.argv[4]), float(sys.argv[5]) / 1000
MAX_IN_FLIGHT = 256
family = socket.AF_INET6 if ":" in address else socket.AF_INET

start = time.monotonic()
deadline = start + max_seconds
print(f"started {start:.6f}", flush=True)
in_flight = {}  # socket -> "connecting" | "reading"
attempts = 0
next_attempt = start
while time.monotonic() < deadline:
    now = time.monotonic()
    if now >= next_attempt and len(in_flight) < MAX_IN_FLIGHT:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        result = sock.connect_ex((address, port))
        if result in (0, errno.EINPROGRESS):
            in_flight[sock] = "connecting"
            attempts += 1
        else:
            sock.close()
        next_attempt = now + interval
    writers = [s for s, state in in_flight.items() if state == "connecting"]
    readers = [s for s, state in in_flight.items() if state == "reading"]
    timeout = max(0.0, min(next_attempt, deadline) - time.monotonic())
    readable, writable, _ = select.select(readers, writers, [], timeout)
    for sock in writable:
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            in_flight[sock] = "reading"
        else:
            in_flight.pop(sock)
            sock.close()
    for sock in readable:
        try:
            reply = sock.recv(64).decode().strip()
        except OSError:
            reply = ""
        in_flight.pop(sock)
        sock.close()
        if reply == expect:
            print(f"first {time.monotonic():.6f} {attempts}", flush=True)
            sys.exit(0)
print("timeout", flush=True)
sys.exit(1)
