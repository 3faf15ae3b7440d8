"""A minimal HTTP/2 client for the drain test, whose pace the test sets: it reads a download
only as far as HTTP/2's initial 64 KiB window allows until told to go on, so the download is
provably in flight while the server drains. One GET per connection; the TLS session of each
connection is offered on the next. Commands on stdin:
    get PATH        opens a connection (offering the last session), sends the request, and
                    answers "started resumed=BOOL" then "window-full received=N" once the window
                    is used up, or "done ..." if the whole answer fitted
    continue        opens the window: reads the rest and answers
                    "done status=S bytes=N goaway=LAST_STREAM|none"
    continue-after-goaway   the same, once a GOAWAY came (the window stays shut until then)
Also reported as they arrive: "goaway last=N". Usage: h2_download.py CA HOST ADDRESS.
Every read has a 10 s bound."""

import socket
import ssl
import struct
import sys

from h2_wire import (ACK, DATA, END_STREAM, GOAWAY, HEADERS, INITIAL_WINDOW, SETTINGS, status_of, WINDOW_UPDATE,
                     FrameReader, frame, get_request)

ca, host, address = sys.argv[1:4]

context = ssl.create_default_context(cafile=ca)
context.set_alpn_protocols(["h2"])
session = None


class Connection:
    def __init__(self, path):
        global session
        raw = socket.create_connection((address, 443), timeout=10)
        self.tls = context.wrap_socket(raw, server_hostname=host, session=session)
        assert self.tls.selected_alpn_protocol() == "h2", self.tls.selected_alpn_protocol()
        self.resumed = self.tls.session_reused
        self.frames = FrameReader(self.tls)
        self.status = None
        self.received = 0
        self.ended = False
        self.goaway = None
        self.tls.sendall(get_request(host, path))

    def read(self, until):
        """Reads frames until `until()` holds or the stream ended."""
        while not self.ended and not until():
            kind, flags, stream, payload = self.frames.next()
            if kind == SETTINGS and not flags & ACK:
                self.tls.sendall(frame(SETTINGS, ACK, 0))
            elif kind == GOAWAY:
                self.goaway = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
                print(f"goaway last={self.goaway}", flush=True)
            elif kind == HEADERS and stream == 1:
                self.status = status_of(payload)
            elif kind == DATA and stream == 1:
                self.received += len(payload)
            if stream == 1 and flags & END_STREAM:
                self.ended = True

    def finish(self):
        global session
        increment = struct.pack(">I", 1 << 30)
        self.tls.sendall(frame(WINDOW_UPDATE, 0, 0, increment) + frame(WINDOW_UPDATE, 0, 1, increment))
        self.read(lambda: False)
        session = self.tls.session
        goaway = "none" if self.goaway is None else self.goaway
        print(f"done status={self.status} bytes={self.received} goaway={goaway}", flush=True)
        self.tls.close()


connection = None
for line in sys.stdin:
    words = line.split()
    try:
        if words[:1] == ["get"]:
            connection = Connection(words[1])
            print(f"started resumed={connection.resumed}", flush=True)
            connection.read(lambda: connection.received >= INITIAL_WINDOW)
            if connection.ended:
                connection.finish()
            else:
                print(f"window-full received={connection.received}", flush=True)
        elif words[:1] == ["continue"]:
            connection.finish()
        elif words[:1] == ["continue-after-goaway"]:
            connection.read(lambda: connection.goaway is not None)
            connection.finish()
    except (OSError, ConnectionError, AssertionError) as error:
        print(f"failed {type(error).__name__}: {error}", flush=True)
