"""A TLS client in the client namespace that keeps sessions across a failover. Commands on
stdin, one answer line each:
    create KIND N ADDRESS   N new sessions of KIND (tls12-ids, tls12-tickets, tls13), each a
                            full handshake and one HTTP request; answers "created N failed F"
    resume KIND ADDRESS     one connection per saved session of KIND, offering the session;
                            answers "resumed R of N failed F"
Every connection has a 5 s bound."""

import socket
import ssl
import sys

PORT = 443
REQUEST = b"GET / HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"


def context_for(kind):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if kind == "tls13":
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_3
    else:
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
        if kind == "tls12-ids":
            context.options |= ssl.OP_NO_TICKET
    return context


def connect(context, address, session=None):
    """One connection and one request; returns (session, reused) or raises OSError."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as raw:
        raw.settimeout(5)
        raw.connect((address, PORT))
        with context.wrap_socket(raw, server_hostname="a.example", session=session) as tls:
            tls.sendall(REQUEST)
            response = b""
            while chunk := tls.recv(65536):
                response += chunk
            if not response.startswith(b"HTTP/1.1 200"):
                raise OSError(f"bad response {response[:40]!r}")
            # Read after the response, so that TLS 1.3 tickets (sent after the handshake) are in.
            return tls.session, tls.session_reused


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
                created.append(connect(context, address)[0])
            except OSError:
                failed += 1
        sessions.setdefault(kind, []).extend(created)
        print(f"created {len(created)} failed {failed}", flush=True)
    elif command == "resume":
        address = words[2]
        resumed = failed = 0
        for session in sessions.get(kind, []):
            try:
                resumed += 1 if connect(context, address, session)[1] else 0
            except OSError:
                failed += 1
        print(f"resumed {resumed} of {len(sessions.get(kind, []))} failed {failed}", flush=True)
