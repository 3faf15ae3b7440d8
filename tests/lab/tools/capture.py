"""Captures ARP and IPv6 neighbour advertisements on INTERFACE for at most SECONDS, or until
COUNT such frames were seen, from an AF_PACKET socket. Prints "capturing" once the socket is
bound, then one line per frame: "<monotonic time> <hex frame>"."""

import select
import socket
import sys
import time

ETH_P_ALL = 0x0003
interface, seconds, count = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
sock.bind((interface, 0))
print("capturing", flush=True)
deadline = time.monotonic() + seconds
seen = 0
while seen < count:
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not select.select([sock], [], [], remaining)[0]:
        break
    frame, (_, _, packet_type, *_rest) = sock.recvfrom(65535)
    if packet_type == socket.PACKET_OUTGOING:
        continue
    ethertype = frame[12:14]
    is_arp = ethertype == b"\x08\x06"
    is_na = ethertype == b"\x86\xdd" and len(frame) > 54 and frame[20] == 58 and frame[54] == 136
    if is_arp or is_na:
        seen += 1
        print(f"{time.monotonic():.6f} {frame.hex()}", flush=True)
print("done", flush=True)
