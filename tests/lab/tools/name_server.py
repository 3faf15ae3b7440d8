"""A TCP server for lab tests: answers every connection with this host's name and closes.
Listens on [::]:PORT (dual stack, so the VIP's IPv4 and IPv6 both reach it); prints
"listening" once it accepts, so a test waits on that line instead of polling."""

import socket
import sys

name, port = sys.argv[1], int(sys.argv[2])
server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
server.bind(("::", port))
server.listen(128)
print("listening", flush=True)
while True:
    connection, _ = server.accept()
    with connection:
        connection.sendall(f"{name}\n".encode())
