"""Clients racing a crash of the active: THREADS threads open new TLS connections to
ADDRESS:443 back to back (half TLS 1.2 with session IDs, half TLS 1.3), each a full handshake
and one HTTP request, and keep the sessions of their last KEEP completed connections. A
session counts as held only once the client has it complete: for TLS 1.2 when the handshake
is done (the server's Finished verified), for TLS 1.3 once the response is read (the
NewSessionTicket comes before it).

Prints "running", then "progress N" every 5 completed connections. Commands on stdin:
    stop     the threads finish their connection (5 s bound each) and stop;
             answers "stopped held=N failed=F"
    resume   one connection per held session, offering it; answers
             "resumed R of N failed F lost=KIND:INDEX,..." (the sessions that did not resume)
Runs for at most MAX_SECONDS."""

import collections
import ssl
import sys
import threading

from tls_client import TLS12, TLS13, client_context, fetch

address, threads_wanted, keep, max_seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
CONTEXTS = {"tls12": client_context(TLS12, tickets=False), "tls13": client_context(TLS13)}


stopping = threading.Event()
lock = threading.Lock()
held = {}  # thread index -> deque of (kind, session)
counts = collections.Counter()


def race(index):
    kind = "tls12" if index % 2 == 0 else "tls13"
    recent = held.setdefault(index, collections.deque(maxlen=keep))
    while not stopping.is_set():
        try:
            fetch(address, CONTEXTS[kind], on_session=lambda session: recent.append((kind, session)))
        except (OSError, ssl.SSLError):
            with lock:
                counts["failed"] += 1
            continue
        with lock:
            counts["completed"] += 1
            if counts["completed"] % 5 == 0:
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
                reused = fetch(address, CONTEXTS[kind], session)[1]
            except (OSError, ssl.SSLError):
                reused = False
                failed += 1
            resumed += reused
            if not reused:
                lost.append(f"{kind}:{index}")
        print(f"resumed {resumed} of {len(sessions)} failed {failed} lost={','.join(lost)}", flush=True)
        break
