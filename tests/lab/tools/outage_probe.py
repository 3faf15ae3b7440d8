"""Client side of the outage benchmark: starts a TCP connection to ADDRESS PORT every
INTERVAL_MS (each attempt bounded by 2 s), for at most SECONDS. On "mark" (stdin) it notes
the moment of the failure; it prints "recovered <seconds after mark> <failed attempts>" at the
first successful connection completed after the mark, or "timeout".
With "watch" instead of "mark" (a planned switchover, where the old node keeps answering), it
goes on until "stop" and prints "gap <longest time in seconds between two successful
connections since watch> <failed attempts>"."""

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
watching = None
last_success = None
longest_gap = 0.0
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
        command = sys.stdin.readline().strip()
        if command == "mark":
            marked = time.monotonic()
            failed = 0
        elif command == "watch":
            watching = last_success = time.monotonic()
            failed = 0
        elif command == "stop":
            print(f"gap {longest_gap:.6f} {failed}", flush=True)
            sys.exit(0)
    for sock in writable:
        started = in_flight.pop(sock)
        ok = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        sock.close()
        if watching is not None:
            if ok:
                now = time.monotonic()
                longest_gap = max(longest_gap, now - last_success)
                last_success = now
            else:
                failed += 1
            continue
        if marked is not None and ok and started >= marked:
            print(f"recovered {time.monotonic() - marked:.6f} {failed}", flush=True)
            sys.exit(0)
        if marked is not None and not ok:
            failed += 1
    for sock, started in list(in_flight.items()):
        if time.monotonic() - started > ATTEMPT_BOUND:
            in_flight.pop(sock).close()
            failed += marked is not None or watching is not None
print("timeout", flush=True)
sys.exit(1)
