"""One TLS keep-alive connection to ADDRESS:443 kept open across a server reload: sends a
request and prints "first ok"; on "again" (stdin) sends another request on the same
connection and prints "second ok" (or "second failed <reason>")."""

import socket
import ssl
import sys

address = sys.argv[1]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
REQUEST = b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"


def exchange(tls):
    tls.sendall(REQUEST)
    data = b""
    while b"\r\n\r\n" not in data:
        data += tls.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += tls.recv(65536)
    if not head.startswith(b"HTTP/1.1 200"):
        raise OSError("bad response")


with socket.create_connection((address, 443), timeout=10) as raw:
    with context.wrap_socket(raw, server_hostname="a.example") as tls:
        exchange(tls)
        print("first ok", flush=True)
        sys.stdin.readline()
        try:
            exchange(tls)
            print("second ok", flush=True)
        except (OSError, ssl.SSLError, StopIteration, ValueError) as error:
            print(f"second failed {type(error).__name__}", flush=True)
