"""Client side of the outage benchmark: every INTERVAL_MS it opens a TCP connection to ADDRESS
PORT, sends a TLS ClientHello and waits for the first byte of the server's answer (a TLS
handshake record), each attempt bounded by BOUND_MS; for at most SECONDS. An attempt counts
only once a TLS server process has answered it: a connection that the kernel of a frozen or
dying node accepts, but no process answers, is a failed attempt (a TCP connect alone would
count it as served).
On "mark [T]" (stdin) it notes the moment of the failure (now, or T on CLOCK_MONOTONIC) and prints "recovered <seconds from the
mark to the answer of the first attempt started after it that was answered> <failed attempts
since the mark>", or "timeout". With "watch" instead (a planned switchover, where the old node
keeps answering) it goes on until "stop" and prints "gap <longest time in seconds between two
answers since watch> <failed attempts>"."""

import selectors
import socket
import ssl
import sys
import time

address, port = sys.argv[1], int(sys.argv[2])
interval, bound, seconds = float(sys.argv[3]) / 1000, float(sys.argv[4]) / 1000, float(sys.argv[5])
HANDSHAKE_RECORD = 0x16


def client_hello():
    """One ClientHello, sent by every attempt: the server's answer is all an attempt waits for."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


HELLO = client_hello()
family = socket.AF_INET6 if ":" in address else socket.AF_INET
selector = selectors.DefaultSelector()
selector.register(sys.stdin, selectors.EVENT_READ, "command")
print("started", flush=True)
deadline = time.monotonic() + seconds
marked = watching = last_answer = None
longest_gap = 0.0
failed = 0
attempts = {}  # socket -> start time
next_attempt = time.monotonic()


def finish(sock, answered):
    """Closes an attempt; returns its start time."""
    global failed
    started = attempts.pop(sock)
    selector.unregister(sock)
    sock.close()
    if not answered and (marked is not None and started >= marked or watching is not None):
        failed += 1
    return started


while time.monotonic() < deadline:
    now = time.monotonic()
    if now >= next_attempt:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        attempts[sock] = now
        selector.register(sock, selectors.EVENT_WRITE, "connecting")
        try:
            sock.connect((address, port))
        except BlockingIOError:
            pass
        except OSError:
            finish(sock, answered=False)
        next_attempt = now + interval
    for key, _events in selector.select(max(0.0, next_attempt - time.monotonic())):
        if key.data == "command":
            command = sys.stdin.readline().strip()
            if command.startswith("mark"):
                marked, failed = float(command.split()[1]) if " " in command else time.monotonic(), 0
            elif command == "watch":
                watching = last_answer = time.monotonic()
                failed = 0
            elif command == "stop":
                print(f"gap {longest_gap:.6f} {failed}", flush=True)
                sys.exit(0)
            continue
        sock = key.fileobj
        if sock not in attempts:
            continue
        if key.data == "connecting":
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                finish(sock, answered=False)
                continue
            try:
                sock.send(HELLO)
            except OSError:
                finish(sock, answered=False)
                continue
            selector.modify(sock, selectors.EVENT_READ, "hello sent")
            continue
        try:
            answer = sock.recv(1)
        except OSError:
            answer = b""
        answered = answer[:1] == bytes([HANDSHAKE_RECORD])
        started = finish(sock, answered)
        if not answered:
            continue
        now = time.monotonic()
        if watching is not None:
            longest_gap = max(longest_gap, now - last_answer)
            last_answer = now
        elif marked is not None and started >= marked:
            print(f"recovered {now - marked:.6f} {failed}", flush=True)
            sys.exit(0)
    for sock, started in list(attempts.items()):
        if time.monotonic() - started > bound:
            finish(sock, answered=False)
print("timeout", flush=True)
sys.exit(1)
