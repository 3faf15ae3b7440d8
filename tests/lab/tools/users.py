"""Emulated users for the reference experiment: RATE new users per second, for SECONDS. Each
user does a full handshake and one HTTP request, waits a random MIN..MAX seconds, reconnects
offering its session, waits again, and reconnects once more (three connections). As in the
reference system's evaluation, users speak TLS 1.2 with an RSA-authenticated key exchange;
half of them resume with session IDs, half with tickets. THREADS threads carry out the
connections; a scheduler starts each one when it is due.

Prints "running", then every second "t=SECONDS full=F resumed=R failed=X" (connections
completed in that second), and "done full=F resumed=R failed=X reasons={...}" at the end."""

import collections
import heapq
import itertools
import random
import ssl
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tls_client import TLS12, client_context, fetch

address = sys.argv[1]
rate, seconds = float(sys.argv[2]), float(sys.argv[3])
min_wait, max_wait = float(sys.argv[4]), float(sys.argv[5])
threads = int(sys.argv[6])
CONNECTIONS_PER_USER = 3
RSA_KEY_EXCHANGE = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"
CONTEXTS = [client_context(TLS12, tickets=False, ciphers=RSA_KEY_EXCHANGE),
            client_context(TLS12, ciphers=RSA_KEY_EXCHANGE)]
reasons = collections.Counter()
rng = random.Random(1)
lock = threading.Condition()
due = []  # heap of (when, sequence, user, step, session)
sequence = itertools.count()
counts = {"full": 0, "resumed": 0, "failed": 0}
stop = threading.Event()


def schedule(when, user, step, session):
    with lock:
        heapq.heappush(due, (when, next(sequence), user, step, session))
        lock.notify()


def visit(user, step, session):
    """One connection of one user; schedules its next one."""
    try:
        session, reused = fetch(address, CONTEXTS[user % 2], session)
        kind = "resumed" if reused else "full"
    except (OSError, ssl.SSLError) as error:
        kind = "failed"
        with lock:
            reasons[f"step {step}: {error}"[:80]] += 1
    with lock:
        counts[kind] += 1
    if step + 1 < CONNECTIONS_PER_USER:
        with lock:
            wait = rng.uniform(min_wait, max_wait)
        schedule(time.monotonic() + wait, user, step + 1, session)


def scheduler(pool, start):
    users = itertools.count()
    next_user = start
    while not stop.is_set():
        now = time.monotonic()
        while next_user <= now and next_user < start + seconds:
            schedule(next_user, next(users), 0, None)
            next_user += 1 / rate
        with lock:
            while due and due[0][0] <= now:
                _, _, user, step, session = heapq.heappop(due)
                pool.submit(visit, user, step, session)
            wake = min(due[0][0] if due else now + 0.05, next_user, now + 0.05)
            lock.wait(max(0.0, wake - time.monotonic()))


start = time.monotonic()
with ThreadPoolExecutor(max_workers=threads) as pool:
    thread = threading.Thread(target=scheduler, args=(pool, start), daemon=True)
    thread.start()
    print("running", flush=True)
    previous = dict(counts)
    for second in range(1, int(seconds) + 1):
        stop.wait(max(0.0, start + second - time.monotonic()))
        with lock:
            now = dict(counts)
        print(f"t={second} " + " ".join(f"{k}={now[k] - previous[k]}" for k in ("full", "resumed", "failed")),
              flush=True)
        previous = now
    stop.set()
    with lock:
        lock.notify()
    thread.join(5)
    pool.shutdown(wait=False, cancel_futures=True)
print("done " + " ".join(f"{k}={counts[k]}" for k in ("full", "resumed", "failed")) + f" reasons={dict(reasons)}",
      flush=True)
