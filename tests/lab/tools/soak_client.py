"""Continuous load for the soak: new and resumed TLS connections to ADDRESS, one at a time
(each bounded by 5 s, as the lab's other clients: a new connection is held, not refused, while a planned switchover empties the old active), alternating the kinds tls12-ids, tls12-tickets and tls13, until "stop".
Half the connections are new (a full handshake and a GET; the session is kept once the client
holds it complete), half resume a kept session (as a browser would, the session a resumed
connection issues replaces the one it used). "mark LABEL" on stdin attributes what follows to
LABEL; it is read between connections and answered "marked LABEL" once the connection in flight
has ended, so a caller that waits for the answer before its fault never has that fault's
failures counted under the previous label. On "stop" it prints, per label:
    summary LABEL new N resumed R lost L refused F failed E
lost: a resumption answered with a full handshake (the session was not on the node);
refused: ECONNREFUSED; failed: any other error or timeout. Each refused or failed connection
is also reported as it happens: "error LABEL KIND new|resume <monotonic time> <error>".
Then "done"."""

import collections
import random
import select
import socket
import ssl
import sys
import time

from tls_client import TLS12, TLS13, client_context, fetch

address = sys.argv[1]
KINDS = ("tls12-ids", "tls12-tickets", "tls13")
POOL = 200  # sessions kept per kind
contexts = {"tls12-ids": client_context(TLS12, tickets=False), "tls12-tickets": client_context(TLS12),
            "tls13": client_context(TLS13)}
pools = {kind: [] for kind in KINDS}
counts = collections.defaultdict(collections.Counter)
label = "warm-up"
rng = random.Random(1)
turn = 0
print("started", flush=True)
while True:
    if select.select([sys.stdin], [], [], 0)[0]:
        command = sys.stdin.readline().split()
        if not command or command[0] == "stop":
            break
        if command[0] == "mark":
            label = command[1]
            print(f"marked {label}", flush=True)
    kind = KINDS[turn % len(KINDS)]
    resume = turn % 2 == 1 and pools[kind]
    turn += 1
    pool = pools[kind]
    index = rng.randrange(len(pool)) if resume else None
    started = time.monotonic()
    try:
        session, reused = fetch(address, contexts[kind], pool[index] if resume else None, timeout=5)
        if resume:
            counts[label]["resumed" if reused else "lost"] += 1
            pool[index] = session
        else:
            counts[label]["new"] += 1
            pool.append(session)
            del pool[:-POOL]
    except (OSError, ssl.SSLError) as error:
        counts[label]["refused" if isinstance(error, ConnectionRefusedError) else "failed"] += 1
        print(f"error {label} {kind} {'resume' if resume else 'new'} {started:.6f} {error!r}", flush=True)
        time.sleep(0.01)  # as a client retrying would, rather than a tight loop of errors
for name, count in counts.items():
    print(f"summary {name} new {count['new']} resumed {count['resumed']} lost {count['lost']} "
          f"refused {count['refused']} failed {count['failed']}", flush=True)
print("done", flush=True)
