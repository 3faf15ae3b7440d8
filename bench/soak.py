"""The soak of tests/lab/test_soak.py, longer: cycles of switchover, SIGTERM and kill -9 of the
active, each followed by a restart, under continuous new and resumed connections; per kind of
cycle: two-MAC ARP/NS rounds, refused and failed connections, lost sessions. Not a test.
    FAILOVER_BUILD_DIR=build/release python3 bench/soak.py [--cycles 300]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab"))
from test_soak import soak  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=300)
    args = parser.parse_args()
    results, errors = soak(args.cycles, report=lambda line: print(line, flush=True))
    for kind, counted in results.items():
        print(f"{kind:10}: " + ", ".join(f"{key} {value}" for key, value in sorted(counted.items())), flush=True)
    for line in errors:
        print(f"  {line}")


if __name__ == "__main__":
    main()
