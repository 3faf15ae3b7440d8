"""TLS probes against ADDRESS:443 for SECONDS: a new connection every INTERVAL_MS (one at a
time, each bounded by BOUND_MS), each a full handshake and one GET. The client's neighbour
entry is left to its kernel, as a real client's is. Prints "started", then one line per probe
"probe <monotonic start> <ok|refused|timeout|error>", then "done"."""

import socket
import ssl
import sys
import time

from tls_client import TLS12, client_context, fetch

address, interval, bound, seconds = sys.argv[1], int(sys.argv[2]) / 1000, int(sys.argv[3]) / 1000, float(sys.argv[4])
context = client_context(TLS12, tickets=False)
print("started", flush=True)
end = time.monotonic() + seconds
while (started := time.monotonic()) < end:
    try:
        fetch(address, context, timeout=bound)
        outcome = "ok"
    except ConnectionRefusedError:
        outcome = "refused"
    except (socket.timeout, TimeoutError):
        outcome = "timeout"
    except (OSError, ssl.SSLError):
        outcome = "error"
    print(f"probe {started:.6f} {outcome}", flush=True)
    time.sleep(max(0.0, started + interval - time.monotonic()))
print("done", flush=True)
