"""Asks the service LAN who has the VIP, as a client's kernel would, every INTERVAL_MS for
SECONDS, and reports who answered. Usage:
    neighbour_sampler.py INTERFACE CLIENT_IP4 VIP4 CLIENT_IP6|- VIP6|- INTERVAL_MS WINDOW_MS SECONDS
Each round sends a broadcast ARP request for VIP4 (from CLIENT_IP4) and, unless "-", a neighbour
solicitation for VIP6 to its solicited-node group (from CLIENT_IP6), then collects for WINDOW_MS
every answer to those questions: ARP replies to this client, solicited advertisements. Prints "sampling" once bound, one line
per round: "sample <monotonic time sent> arp=<MACs or -> nd=<MACs or ->", and at the end
"done samples=N arp_two=K nd_two=K" (rounds answered by two or more MACs)."""

import ipaddress
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
interface, client4, vip4, client6, vip6 = sys.argv[1:6]
interval, window, seconds = int(sys.argv[6]) / 1000, int(sys.argv[7]) / 1000, float(sys.argv[8])

sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
sock.bind((interface, 0))
mac = sock.getsockname()[4]
vip4_bytes = socket.inet_aton(vip4)
client4_bytes = socket.inet_aton(client4)
arp_request = (b"\xff" * 6 + mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac +
               socket.inet_aton(client4) + b"\x00" * 6 + vip4_bytes).ljust(60, b"\x00")


def checksum(data):
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


solicitation = None
vip6_bytes = None
if vip6 != "-":
    vip6_bytes = ipaddress.IPv6Address(vip6).packed
    source = ipaddress.IPv6Address(client6).packed
    group = ipaddress.IPv6Address("ff02::1:ff00:0").packed[:13] + vip6_bytes[13:]
    body = struct.pack("!BBHI", 135, 0, 0, 0) + vip6_bytes + b"\x01\x01" + mac
    pseudo = source + group + struct.pack("!I", len(body)) + b"\x00\x00\x00\x3a"
    body = body[:2] + struct.pack("!H", checksum(pseudo + body)) + body[4:]
    ipv6 = struct.pack("!IHBB", 0x60000000, len(body), 58, 255) + source + group
    solicitation = b"\x33\x33" + group[12:] + mac + b"\x86\xdd" + ipv6 + body


def answer(frame):
    """('arp' or 'nd', the sender's MAC) if frame answers our question for the VIP, else None:
    an ARP reply from the VIP to this client, or a solicited neighbour advertisement for it.
    A new owner's announcements (gratuitous ARP, unsolicited NA) answer nobody's question and
    are not counted: they follow the old owner's last answer, they do not overlap it."""
    ethertype = frame[12:14]
    if (ethertype == b"\x08\x06" and len(frame) >= 42 and frame[20:22] == b"\x00\x02" and frame[28:32] == vip4_bytes
            and frame[38:42] == client4_bytes):
        return "arp", frame[6:12].hex(":")
    if (vip6_bytes and ethertype == b"\x86\xdd" and len(frame) >= 78 and frame[20] == 58 and frame[54] == 136
            and frame[58] & 0x40 and frame[62:78] == vip6_bytes):
        return "nd", frame[6:12].hex(":")
    return None


print("sampling", flush=True)
end = time.monotonic() + seconds
samples = arp_two = nd_two = 0
next_round = time.monotonic()
while time.monotonic() < end:
    sent = time.monotonic()
    sock.send(arp_request)
    if solicitation:
        sock.send(solicitation)
    seen = {"arp": set(), "nd": set()}
    close = sent + window
    while (left := close - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            break
        frame, address = sock.recvfrom(65535)
        if address[2] == socket.PACKET_OUTGOING:
            continue
        found = answer(frame)
        if found:
            seen[found[0]].add(found[1])
    samples += 1
    arp_two += len(seen["arp"]) > 1
    nd_two += len(seen["nd"]) > 1
    print(f"sample {sent:.6f} arp={','.join(sorted(seen['arp'])) or '-'} nd={','.join(sorted(seen['nd'])) or '-'}",
          flush=True)
    next_round += interval
    time.sleep(max(0.0, next_round - time.monotonic()))
print(f"done samples={samples} arp_two={arp_two} nd_two={nd_two}", flush=True)
