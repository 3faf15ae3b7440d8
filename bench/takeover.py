"""Takeover time: from "promote" on the new node to the client's first successful TCP
connection to the VIP on it, for each takeover mode. Two nodes hand the VIP back and forth;
the client (c1) starts a new connection attempt every INTERVAL ms. Not a test: prints figures.

    FAILOVER_BUILD_DIR=build/release python3 bench/takeover.py [--runs 11] [--interval-ms 2]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab"))
from lab import VIP4, Lab  # noqa: E402

PORT = 8080


def measure(mode, runs, interval_ms):
    results = []
    with Lab(nodes=2, clients=1, corosync=False) as lab:
        c1 = lab.clients[0]
        for host in lab.nodes:
            lab.name_server(host, PORT)
        tools = [lab.vip_tool(h, "--repeat-ms", "0", vips=(VIP4,), mode=mode) for h in lab.nodes]
        tools[0].send("promote")
        tools[0].expect(r"^taken ")
        active = 0
        for _ in range(runs):
            new = 1 - active
            tools[active].send("demote")
            tools[active].expect(r"^demoted ")
            probe = lab.spawn_probe(c1, "probe_loop.py", VIP4.split("/")[0], str(PORT),
                                    lab.nodes[new].name, "10", str(interval_ms))
            probe.expect(r"^started ")
            promoted_at = time.monotonic()
            tools[new].send("promote")
            first = float(probe.expect(r"^first (\S+)", timeout=15).group(1))
            tools[new].expect(r"^taken ")
            results.append((first - promoted_at) * 1000)
            lab.stop_all([probe.process])
            active = new
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--interval-ms", type=float, default=2)
    args = parser.parse_args()
    print(f"takeover: promote -> first TCP connection answered by the new node "
          f"({args.runs} runs, client attempt every {args.interval_ms} ms)")
    for mode in ("move-ip", "shared-ip"):
        ms = measure(mode, args.runs, args.interval_ms)
        print(f"  {mode:9}: median {statistics.median(ms):6.1f} ms  min {min(ms):6.1f}  "
              f"max {max(ms):6.1f}  runs: {' '.join(f'{m:.1f}' for m in ms)}")


if __name__ == "__main__":
    main()
