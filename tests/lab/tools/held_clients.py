"""Two TLS 1.2 clients of ADDRESS:443 (session IDs, so each full handshake creates a stateful
session that sync mode holds) while the active cannot confirm sessions:

- one that waits: a full handshake and one request, timed;
- one that hangs up while held: it sends its Finished and waits STUCK_AFTER seconds for the
  server's, then prints "stuck"; on "hang-up" (stdin) it resets the connection (RST, not FIN:
  a client killed or giving up) and prints "hung-up".

When the first is done: "completed SECONDS" or "failed SECONDS ERROR". Bounded: the waiting
client gives up after MAX_SECONDS."""

import socket
import ssl
import struct
import sys
import threading
import time

from tls_client import PORT, TLS12, client_context, fetch

address, stuck_after, max_seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
CONTEXT = client_context(TLS12, tickets=False)
outcome = []


def wait_for_the_flight():
    start = time.monotonic()
    try:
        fetch(address, CONTEXT, timeout=max_seconds)
        outcome.append(f"completed {time.monotonic() - start:.3f}")
    except (OSError, ssl.SSLError) as error:
        outcome.append(f"failed {time.monotonic() - start:.3f} {error!r}")


waiting = threading.Thread(target=wait_for_the_flight, daemon=True)
waiting.start()
raw = socket.create_connection((address, PORT), timeout=max_seconds)
raw.settimeout(stuck_after)
tls = CONTEXT.wrap_socket(raw, server_hostname="a.example", do_handshake_on_connect=False)
try:
    tls.do_handshake()
    sys.exit("the hanging-up client's handshake completed: nothing held it")
except (TimeoutError, socket.timeout):
    pass  # its Finished is sent; the server's is held
print("stuck", flush=True)
if sys.stdin.readline().strip() != "hang-up":
    sys.exit("expected 'hang-up'")
tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
tls.close()
print("hung-up", flush=True)
waiting.join()
print(outcome[0], flush=True)
