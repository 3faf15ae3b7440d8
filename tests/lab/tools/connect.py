"""Connects to ADDRESS PORT once (bounded by TIMEOUT seconds) and prints
"ok <reply> <seconds>" or "failed <reason> <seconds>"; exits 0 or 1 accordingly."""

import socket
import sys
import time

address, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
started = time.monotonic()
try:
    with socket.create_connection((address, port), timeout=timeout) as connection:
        reply = connection.makefile().readline().strip()
    print(f"ok {reply} {time.monotonic() - started:.6f}", flush=True)
except OSError as error:
    print(f"failed {type(error).__name__}:{error.errno} {time.monotonic() - started:.6f}", flush=True)
    sys.exit(1)
