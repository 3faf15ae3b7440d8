"""A TLS client in the client namespace that keeps sessions across a failover. Commands on
stdin, one answer line each:
    create KIND N ADDRESS   N new sessions of KIND (tls12-ids, tls12-tickets, tls13), each a
                            full handshake and one HTTP request; answers "created N failed F"
    resume KIND ADDRESS     one connection per saved session of KIND, offering the session;
                            answers "resumed R of N failed F"
    renew KIND ADDRESS      as resume, but each session is replaced by the one the resumed
                            connection issued (a TLS 1.3 ticket sent on a resumption);
                            answers "renewed R of N failed F"
Every connection has a 5 s bound. Each failed connection is also reported as it happens:
"error COMMAND KIND <monotonic time> <error>"."""

import sys
import time

from tls_client import TLS12, TLS13, client_context, fetch


def context_for(kind):
    if kind == "tls13":
        return client_context(TLS13)
    return client_context(TLS12, tickets=kind != "tls12-ids")


sessions = {}
contexts = {}
for line in sys.stdin:
    words = line.split()
    if not words:
        continue
    command, kind = words[0], words[1]
    context = contexts.setdefault(kind, context_for(kind))
    if command == "create":
        count, address = int(words[2]), words[3]
        created, failed = [], 0
        for _ in range(count):
            try:
                created.append(fetch(address, context)[0])
            except OSError as error:
                failed += 1
                print(f"error {command} {kind} {time.monotonic():.6f} {error!r}", flush=True)
        sessions.setdefault(kind, []).extend(created)
        print(f"created {len(created)} failed {failed}", flush=True)
    elif command == "resume":
        address = words[2]
        resumed = failed = 0
        for session in sessions.get(kind, []):
            try:
                resumed += 1 if fetch(address, context, session)[1] else 0
            except OSError as error:
                failed += 1
                print(f"error {command} {kind} {time.monotonic():.6f} {error!r}", flush=True)
        print(f"resumed {resumed} of {len(sessions.get(kind, []))} failed {failed}", flush=True)
    elif command == "renew":
        address = words[2]
        renewed, failed, kept = 0, 0, []
        for session in sessions.get(kind, []):
            try:
                newer, reused = fetch(address, context, session)
                if reused and newer is not None and newer.id != session.id:
                    renewed += 1
                    kept.append(newer)
                else:
                    kept.append(session)
            except OSError as error:
                failed += 1
                print(f"error {command} {kind} {time.monotonic():.6f} {error!r}", flush=True)
                kept.append(session)
        sessions[kind] = kept
        print(f"renewed {renewed} of {len(kept)} failed {failed}", flush=True)
