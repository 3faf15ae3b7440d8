"""Replication between two lab nodes with real Corosync (token 200 ms, aes256 link crypto),
through failoverd's own link, sealing and codec (bench/replication_bench.cc): the records/s
a receiver takes in flat out (batches of 100, as the replicator sends when many are pending),
and the delivery latency at a steady 2,000 records/s, one record per message (sessions created
one at a time). Not a test: prints figures.
    FAILOVER_BUILD_DIR=build/release python3 bench/replication.py [--runs 3] [--seconds 5]
"""

import argparse
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab"))
from lab import BUILD_DIR, Lab, Probe  # noqa: E402

BENCH = BUILD_DIR / "bench" / "replication_bench"


def one(lab, rate, seconds, batch):
    n1, n2 = lab.nodes
    receiver = Probe(lab, n2, [str(BENCH), "receive"], "replication-receive", stdin=False)
    sender = Probe(lab, n1, [str(BENCH), "send", str(rate), str(seconds), str(batch)], "replication-send",
                   stdin=False)
    sender.expect(r"^sent ", timeout=seconds + 60)
    line = receiver.expect(r"^received .*", timeout=60).group(0)
    lab.stop_all([sender.process, receiver.process])
    numbers = re.search(r"received (\d+) of (\d+) .*: (\d+) records/s; latency p50 ([\d.]+) ms p99 ([\d.]+) ms", line)
    return tuple(float(x) for x in numbers.groups())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    with Lab(nodes=2, clients=0) as lab:
        for label, rate, batch in (("flat out, batches of 100", 0, 100), ("2,000 records/s, one per message", 2000, 1)):
            results = [one(lab, rate, args.seconds, batch) for _ in range(args.runs)]
            lost = sum(r[1] - r[0] for r in results)
            print(f"{label:34}: {statistics.median(r[2] for r in results):9.0f} records/s  "
                  f"p50 {statistics.median(r[3] for r in results):7.3f} ms  "
                  f"p99 {statistics.median(r[4] for r in results):7.3f} ms  "
                  f"(medians of {args.runs} runs; records lost: {lost:.0f})", flush=True)


if __name__ == "__main__":
    main()
