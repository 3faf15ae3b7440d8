"""The least of HTTP/2 a test client needs (RFC 9113): frames, a GET's header block in HPACK
without Huffman coding or indexing, and the frame reader. Shared by h2_download.py (the drain
test) and h2_connections.py (the benchmark's connection load)."""

import struct

DATA, HEADERS, SETTINGS, GOAWAY, WINDOW_UPDATE = 0x0, 0x1, 0x4, 0x7, 0x8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
INITIAL_WINDOW = 65535
# Servers index :status from HPACK's static table: 0x88 is 200, 0x8d 404.
STATUS = {0x88: 200, 0x8D: 404}


def status_of(block):
    """The :status of a response header block whose first field is an indexed :status, after
    any dynamic table size updates (nginx starts its first block with one), or None."""
    at = 0
    while at < len(block) and block[at] & 0xE0 == 0x20:
        at += 1
        if block[at - 1] & 0x1F == 0x1F:  # a multi-byte size: continuation bytes have the top bit set
            while at < len(block) and block[at] & 0x80:
                at += 1
            at += 1
    return STATUS.get(block[at]) if at < len(block) else None


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(index, value):
    """A literal field without indexing whose name is static-table entry `index`."""
    value = value.encode()
    assert index < 15 and len(value) < 127
    return bytes([index, len(value)]) + value


def get_request(host, path, stream=1):
    """The connection preface, an empty SETTINGS and GET path on `stream`:
    :method GET (static 2), :scheme https (static 7), then :path and :authority."""
    block = bytes([0x82, 0x87]) + literal(4, path) + literal(1, host)
    return PREFACE + frame(SETTINGS, 0, 0) + frame(HEADERS, END_STREAM | END_HEADERS, stream, block)


class FrameReader:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def next(self):
        """(type, flags, stream, payload) of the next frame; ConnectionError at end of stream."""
        while len(self.buffer) < 9 or len(self.buffer) < 9 + int.from_bytes(self.buffer[:3], "big"):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buffer += chunk
        length = int.from_bytes(self.buffer[:3], "big")
        kind, flags = self.buffer[3], self.buffer[4]
        stream = int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
        payload, self.buffer = self.buffer[9:9 + length], self.buffer[9 + length:]
        return kind, flags, stream, payload
