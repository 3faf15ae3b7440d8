"""Connection load for bench/h2load_vs_nginx.py: for SECONDS, one HTTP/2 connection after
another, each a TLS handshake (full, or resuming the previous connection's session) and one
GET of PATH read to its end. h2load cannot measure this: it never resumes a session, and in a
timed run it never opens a second connection per client. Prints
"connections=N resumed=R failed=F seconds=S", and the first failure's reason on stderr.
    h2_connections.py CA HOST ADDRESS PORT PATH new|resumed SECONDS"""

import socket
import ssl
import sys
import time

from h2_wire import ACK, END_STREAM, HEADERS, SETTINGS, status_of, FrameReader, frame, get_request

ca, host, address, port, path, mode, seconds = sys.argv[1:8]
context = ssl.create_default_context(cafile=ca)
context.set_alpn_protocols(["h2"])
session = None
connections = resumed = failed = 0
started = time.monotonic()
deadline = started + float(seconds)
while time.monotonic() < deadline:
    try:
        with socket.create_connection((address, int(port)), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname=host, session=session) as tls:
            tls.sendall(get_request(host, path))
            frames, status, ended, block = FrameReader(tls), None, False, b""
            while not ended:
                kind, flags, stream, payload = frames.next()
                if kind == SETTINGS and not flags & ACK:
                    tls.sendall(frame(SETTINGS, ACK, 0))
                elif kind == HEADERS and stream == 1:
                    status, block = status_of(payload), payload
                ended = stream == 1 and bool(flags & END_STREAM)
            if status != 200:
                raise ConnectionError(f"status {status} (header block {block[:8].hex()})")
            connections += 1
            resumed += tls.session_reused
            if mode == "resumed":
                session = tls.session
    except (OSError, ConnectionError) as error:
        failed += 1
        if failed == 1:
            print(f"first failure: {type(error).__name__}: {error}", file=sys.stderr)
print(f"connections={connections} resumed={resumed} failed={failed} seconds={time.monotonic() - started:.3f}")
