"""A plain-text backend for the relay test: reads the PROXY v2 header of each connection and
prints "proxy src=IP:PORT dst=IP:PORT", then echoes every line back prefixed with "echo:"."""

import ipaddress
import socket
import struct
import threading

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def read_exactly(connection, count):
    data = b""
    while len(data) < count:
        chunk = connection.recv(count - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def serve(connection):
    with connection:
        header = read_exactly(connection, 16)
        if header[:12] != SIGNATURE or header[12] != 0x21:
            print("proxy missing", flush=True)
            return
        length = struct.unpack(">H", header[14:16])[0]
        body = read_exactly(connection, length)
        size = 4 if header[13] == 0x11 else 16
        source = ipaddress.ip_address(body[:size])
        destination = ipaddress.ip_address(body[size:2 * size])
        source_port, destination_port = struct.unpack(">HH", body[2 * size:2 * size + 4])
        print(f"proxy src={source}:{source_port} dst={destination}:{destination_port}", flush=True)
        stream = connection.makefile("rb")
        for line in stream:
            connection.sendall(b"echo:" + line)


server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(16)
print(f"listening port={server.getsockname()[1]}", flush=True)
while True:
    client, _ = server.accept()
    threading.Thread(target=serve, args=(client,), daemon=True).start()
