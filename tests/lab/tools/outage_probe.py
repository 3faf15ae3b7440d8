"""Client side of the outage benchmark: starts a TCP connection to ADDRESS PORT every
INTERVAL_MS (each attempt bounded by 2 s), for at most SECONDS. On "mark" (stdin) it notes
the moment of the failure; it prints "recovered <seconds after mark> <failed attempts>" at the
first successful connection completed after the mark, or "timeout"."""

import errno
import select
import socket
import sys
import time

address, port, interval, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) / 1000, float(sys.argv[4])
ATTEMPT_BOUND = 2.0
family = socket.AF_INET6 if ":" in address else socket.AF_INET
print("started", flush=True)
deadline = time.monotonic() + seconds
marked = None
failed = 0
in_flight = {}  # socket -> start time
next_attempt = time.monotonic()
while time.monotonic() < deadline:
    now = time.monotonic()
    if now >= next_attempt:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        if sock.connect_ex((address, port)) in (0, errno.EINPROGRESS):
            in_flight[sock] = now
        else:
            sock.close()
            failed += marked is not None
        next_attempt = now + interval
    readable, writable, _ = select.select([sys.stdin], list(in_flight), [], max(0.0, next_attempt - time.monotonic()))
    if readable:
        if sys.stdin.readline().strip() == "mark":
            marked = time.monotonic()
            failed = 0
    for sock in writable:
        started = in_flight.pop(sock)
        ok = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        sock.close()
        if marked is not None and ok and started >= marked:
            print(f"recovered {time.monotonic() - marked:.6f} {failed}", flush=True)
            sys.exit(0)
        if marked is not None and not ok:
            failed += 1
    for sock, started in list(in_flight.items()):
        if time.monotonic() - started > ATTEMPT_BOUND:
            in_flight.pop(sock).close()
            failed += marked is not None
print("timeout", flush=True)
sys.exit(1)
