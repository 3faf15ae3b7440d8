"""How long the lab takes to come up (namespaces, bridges, Corosync on every node, until every
node sees the full ring and is quorate) and to go down. Not a test: prints figures.

    FAILOVER_BUILD_DIR=build/release python3 bench/lab_bringup.py [--runs 7] [--nodes 3]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab"))
from lab import Lab  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()
    ups, downs = [], []
    for _ in range(args.runs):
        started = time.monotonic()
        lab = Lab(nodes=args.nodes, clients=1)
        with lab:
            ups.append(time.monotonic() - started)
            stopping = time.monotonic()
        downs.append(time.monotonic() - stopping)
    print(f"lab with {args.nodes} nodes, {args.runs} runs: up median {statistics.median(ups):.2f} s "
          f"(min {min(ups):.2f}, max {max(ups):.2f}); down median {statistics.median(downs):.2f} s")


if __name__ == "__main__":
    main()
