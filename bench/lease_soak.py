"""The lease's soak (tests/lab/test_lease.py's Soak, which CI runs for 60 s at the lab's lease),
long and at the product's default lease (h 10 ms, L 60 ms, k 3): three nodes, 1 % loss on every
cluster link, a busy loop per core and continuous new and resumed TLS connections to the VIP.
Counts what must stay zero (lease losses, moves of the VIP, two MACs answering, failed, refused
or lost connections) and what may not (missed renewals). Not a test.
    FAILOVER_BUILD_DIR=build/release python3 bench/lease_soak.py [--seconds 3600] [--lab-lease]
        [--realtime-priority N]  (0: the agent's thread under the default scheduler, for comparison)
        [--hogs N]  (busy loops; one per core by default)
        [--token-ms N]  (Corosync's token: 1000 by default, docs/lease.md's choice with the lease)
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab"))
from test_lease import LEASE_TOKEN_MS, soak, timing  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3600)
    parser.add_argument("--lab-lease", action="store_true", help="the lab's longer lease (CI's), not the default")
    parser.add_argument("--realtime-priority", type=int, help="failoverd's realtime-priority (default: its own)")
    parser.add_argument("--hogs", type=int, help="busy loops (default: one per core)")
    parser.add_argument("--token-ms", type=int, default=LEASE_TOKEN_MS,
                        help=f"Corosync's token (default: {LEASE_TOKEN_MS}, docs/lease.md's choice with the lease)")
    args = parser.parse_args()
    settings = timing() if args.lab_lease else ""
    if args.realtime_priority is not None:
        settings += f"realtime-priority = {args.realtime_priority}\n"
    counted = soak(args.seconds, timing_text=settings, report=lambda _c: None, busy_loops=args.hogs,
                   token_ms=args.token_ms)
    for key, value in counted.items():
        print(f"{key:24} {value}")


if __name__ == "__main__":
    main()
