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

ca, host, address = sys.argv[1:4]
DATA, HEADERS, SETTINGS, GOAWAY, WINDOW_UPDATE = 0x0, 0x1, 0x4, 0x7, 0x8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
INITIAL_WINDOW = 65535

context = ssl.create_default_context(cafile=ca)
context.set_alpn_protocols(["h2"])
session = None


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(index, value):
    """HPACK: a literal field without indexing, its name from the static table, no Huffman."""
    value = value.encode()
    assert index < 15 and len(value) < 127
    return bytes([index, len(value)]) + value


class Connection:
    def __init__(self, path):
        global session
        raw = socket.create_connection((address, 443), timeout=10)
        self.tls = context.wrap_socket(raw, server_hostname=host, session=session)
        assert self.tls.selected_alpn_protocol() == "h2", self.tls.selected_alpn_protocol()
        self.resumed = self.tls.session_reused
        self.buffer = b""
        self.status = None
        self.received = 0
        self.ended = False
        self.goaway = None
        # :method GET (static 2), :scheme https (static 7), :path and :authority literal.
        block = bytes([0x82, 0x87]) + literal(4, path) + literal(1, host)
        self.tls.sendall(PREFACE + frame(SETTINGS, 0, 0) + frame(HEADERS, END_STREAM | END_HEADERS, 1, block))

    def next_frame(self):
        while len(self.buffer) < 9 or len(self.buffer) < 9 + int.from_bytes(self.buffer[:3], "big"):
            chunk = self.tls.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buffer += chunk
        length = int.from_bytes(self.buffer[:3], "big")
        kind, flags = self.buffer[3], self.buffer[4]
        stream = int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
        payload, self.buffer = self.buffer[9:9 + length], self.buffer[9 + length:]
        return kind, flags, stream, payload

    def read(self, until):
        """Reads frames until `until()` holds or the stream ended."""
        while not self.ended and not until():
            kind, flags, stream, payload = self.next_frame()
            if kind == SETTINGS and not flags & ACK:
                self.tls.sendall(frame(SETTINGS, ACK, 0))
            elif kind == GOAWAY:
                self.goaway = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
                print(f"goaway last={self.goaway}", flush=True)
            elif kind == HEADERS and stream == 1:
                # The server indexes :status from the static table: 0x88 is 200, 0x8d 404.
                self.status = {0x88: 200, 0x8D: 404}.get(payload[0], f"0x{payload[0]:02x}")
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
