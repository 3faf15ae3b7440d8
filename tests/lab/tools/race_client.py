"""Clients racing a crash of the active: THREADS threads open new TLS connections to
ADDRESS:443 back to back (half TLS 1.2 with session IDs, half TLS 1.3), each a full handshake
and one HTTP request, and keep the sessions of their last KEEP completed connections. A
session counts as held only once the client has it complete: for TLS 1.2 when the handshake
is done (the server's Finished verified), for TLS 1.3 once the response is read (the
NewSessionTicket comes before it).

Prints "running", then "progress N" every 25 completed connections. Commands on stdin:
    stop     the threads finish their connection (5 s bound each) and stop;
             answers "stopped held=N failed=F"
    resume   one connection per held session, offering it; answers
             "resumed R of N failed F lost=KIND:INDEX,..." (the sessions that did not resume)
Runs for at most MAX_SECONDS."""

import collections
import socket
import ssl
import sys
import threading
import time

address, threads_wanted, keep, max_seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
REQUEST = b"GET / HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"


def context(version):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = version
    if version == ssl.TLSVersion.TLSv1_2:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


CONTEXTS = {"tls12": context(ssl.TLSVersion.TLSv1_2), "tls13": context(ssl.TLSVersion.TLSv1_3)}


def connect(kind, session=None, on_complete=lambda session: None):
    """One connection and one request; returns (session, reused) or raises. on_complete gets
    the session as soon as the client holds it complete."""
    with socket.create_connection((address, 443), timeout=5) as raw:
        with CONTEXTS[kind].wrap_socket(raw, server_hostname="a.example", session=session) as tls:
            if kind == "tls12":
                on_complete(tls.session)
            tls.sendall(REQUEST)
            response = b""
            while chunk := tls.recv(65536):
                response += chunk
            if not response.startswith(b"HTTP/1.1 200"):
                raise OSError(f"bad response {response[:40]!r}")
            if kind == "tls13":
                on_complete(tls.session)
            return tls.session, tls.session_reused


stopping = threading.Event()
lock = threading.Lock()
held = {}  # thread index -> deque of (kind, session)
counts = collections.Counter()


def race(index):
    kind = "tls12" if index % 2 == 0 else "tls13"
    recent = held.setdefault(index, collections.deque(maxlen=keep))
    while not stopping.is_set():
        try:
            connect(kind, on_complete=lambda session: recent.append((kind, session)))
        except (OSError, ssl.SSLError):
            with lock:
                counts["failed"] += 1
            continue
        with lock:
            counts["completed"] += 1
            if counts["completed"] % 25 == 0:
                print(f"progress {counts['completed']}", flush=True)


threads = [threading.Thread(target=race, args=(i,), daemon=True) for i in range(threads_wanted)]
for thread in threads:
    thread.start()
timer = threading.Timer(max_seconds, stopping.set)
timer.daemon = True
timer.start()
print("running", flush=True)
for line in sys.stdin:
    command = line.strip()
    if command == "stop":
        stopping.set()
        for thread in threads:
            thread.join(10)
        sessions = [s for recent in held.values() for s in recent]
        print(f"stopped held={len(sessions)} failed={counts['failed']}", flush=True)
    elif command == "resume":
        resumed = failed = 0
        lost = []
        for index, (kind, session) in enumerate(sessions):
            try:
                reused = connect(kind, session)[1]
            except (OSError, ssl.SSLError):
                reused = False
                failed += 1
            resumed += reused
            if not reused:
                lost.append(f"{kind}:{index}")
        print(f"resumed {resumed} of {len(sessions)} failed {failed} lost={','.join(lost)}", flush=True)
        break
