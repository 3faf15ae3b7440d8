"""The reference experiment, scaled to this machine: the new active's CPU after a switchover,
with session replication on (failoverd) and off (what keepalived or Pacemaker give: only the
VIP moves, so every returning user does a full handshake on the new node).

Emulated users in c1 (tests/lab/tools/users.py) arrive at a steady rate; each does a full
handshake, waits 2-6 s, reconnects offering its session, waits again and reconnects once
more. After BEFORE seconds `failoverctl switchover` moves the VIP from n1 to n2. The CPU time
of both failoverd processes (the sum of their threads' /proc schedstat, in ns) is sampled
every 100 ms. Steady state: n1's mean CPU over the 10 s before the switchover. Reported for
n2 over the 20 s after it: the peak 100 ms sample, the peak 1 s average, and CPU-seconds;
and the users' full handshakes in those 20 s. The modes alternate run by run; medians over
runs. Writes a plot of CPU over time (first run of each mode) to --plot. Not a test.
    FAILOVER_BUILD_DIR=build/release python3 bench/switchover_cpu.py [--runs 3] [--plot docs/switchover-cpu.png]
Needs python3-matplotlib.
"""

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab"))
from lab import PYTHON, TOOLS, VIP4, Lab, Probe  # noqa: E402

VIP = VIP4.split("/")[0]
BEFORE, AFTER, WINDOW = 25, 25, 20  # seconds
SAMPLE = 0.1


def cpu_ns(pid):
    """CPU time of every thread of pid so far, in ns."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that just ended
    return total


class Sampler(threading.Thread):
    """CPU of each group of processes, in cores, every SAMPLE seconds: [(t, {name: cores})]."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids, self.samples, self.stop = pids, [], threading.Event()
        self.start_time = time.monotonic()

    def run(self):
        last = {name: sum(map(cpu_ns, pids)) for name, pids in self.pids.items()}
        last_t = time.monotonic()
        tick = 1
        while not self.stop.wait(max(0.0, self.start_time + tick * SAMPLE - time.monotonic())):
            now_t = time.monotonic()
            now = {name: sum(map(cpu_ns, pids)) for name, pids in self.pids.items()}
            self.samples.append((now_t - self.start_time,
                                 {name: (now[name] - last[name]) / 1e9 / (now_t - last_t) for name in now}))
            last, last_t, tick = now, now_t, tick + 1


def run_once(replication, rate):
    settings = f"replication = {'yes' if replication else 'no'}\n"
    with Lab(nodes=2, clients=1) as lab:
        n1, n2 = lab.start_active_and_standby(settings)
        sampler = Sampler({"n1": lab.failoverd_pids(n1), "n2": lab.failoverd_pids(n2)})
        users = Probe(lab, lab.clients[0], [PYTHON, str(TOOLS / "users.py"), VIP, str(rate), str(BEFORE + AFTER),
                                            "2", "6", "32"], "users")
        users.expect(r"^running$")
        sampler.start()
        users.expect(rf"^t={BEFORE} ", timeout=BEFORE + 10)
        switched = time.monotonic() - sampler.start_time
        lab.failoverctl(n1, "switchover")
        per_second = []
        for second in range(BEFORE + 1, BEFORE + AFTER + 1):
            match = users.expect(rf"^t={second} full=(\d+) resumed=(\d+) failed=(\d+)$", timeout=20)
            per_second.append(tuple(int(x) for x in match.groups()))
        done = users.expect(r"^done ", timeout=20).string
        sampler.stop.set()
        sampler.join(5)
    steady = [s["n1"] for t, s in sampler.samples if switched - 10 <= t < switched]
    after = [(t, s["n2"]) for t, s in sampler.samples if switched <= t < switched + WINDOW]
    cores = [c for _, c in after]
    seconds_avg = [statistics.mean(cores[i:i + 10]) for i in range(0, len(cores) - 9)]
    steady_avg = [statistics.mean(steady[i:i + 10]) for i in range(0, len(steady) - 9)]
    result = {
        "steady": statistics.mean(steady),
        # The same peak-to-mean ratio where nothing happens: how far noise alone reaches.
        "noise_ratio": max(steady_avg) / statistics.mean(steady),
        "peak_100ms": max(cores),
        "peak_1s": max(seconds_avg),
        "cpu_seconds": sum(cores) * SAMPLE,
        "full_after": sum(f for f, _, _ in per_second[:WINDOW]),
        "resumed_after": sum(r for _, r, _ in per_second[:WINDOW]),
        "failed": sum(x for _, _, x in per_second),
        "samples": sampler.samples,
        "per_second": per_second,
        "per_second_cpu": [statistics.mean(cores[i:i + 10]) for i in range(0, len(cores), 10)],
        "switched": switched,
        "done": done,
    }
    return result


def plot(path, runs):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(2, 1, figsize=(10, 7), sharex=True, sharey=True)
    for axis, (label, result) in zip(axes, runs):
        times = [t - result["switched"] for t, _ in result["samples"]]
        for name, colour in (("n1", "tab:blue"), ("n2", "tab:red")):
            axis.plot(times, [s[name] * 100 for _, s in result["samples"]], color=colour, linewidth=0.8,
                      label=f"{name} ({'old' if name == 'n1' else 'new'} active)")
        axis.axvline(0, color="black", linestyle="--", linewidth=0.8, label="switchover")
        axis.axhline(result["steady"] * 100, color="grey", linestyle=":", linewidth=1,
                     label=f"steady state {result['steady'] * 100:.1f} %")
        axis.axhline(result["steady"] * 110, color="grey", linestyle="-.", linewidth=0.6, label="1.1 x steady state")
        axis.set_title(f"{label}\nnew active: peak (1 s) {result['peak_1s'] * 100:.1f} %, "
                       f"{result['cpu_seconds']:.2f} CPU-s and {result['full_after']} full handshakes "
                       f"in the {WINDOW} s after", fontsize=10)
        axis.set_ylabel("CPU, % of one core (100 ms samples)")
        axis.legend(loc="upper left", fontsize=8)
    axes[-1].set_xlabel("seconds from the switchover")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=80, help="new users per second")
    parser.add_argument("--plot", default="docs/switchover-cpu.png")
    args = parser.parse_args()
    results = {True: [], False: []}
    for run in range(args.runs):
        for replication in (True, False):
            result = run_once(replication, args.rate)
            results[replication].append(result)
            print("  new active, % of a core, per second after the switchover: " +
                  " ".join(f"{c * 100:.0f}" for c in result["per_second_cpu"]))
            print("  users' full/resumed/failed connections per second after it: " +
                  " ".join(f"{f}/{r}/{x}" for f, r, x in result["per_second"]))
            print(f"run {run + 1} replication {'on ' if replication else 'off'}: steady {result['steady'] * 100:.1f} %, "
                  f"new active peak 100 ms {result['peak_100ms'] * 100:.1f} %, peak 1 s {result['peak_1s'] * 100:.1f} %, "
                  f"{result['cpu_seconds']:.2f} CPU-s in {WINDOW} s, full {result['full_after']} resumed "
                  f"{result['resumed_after']} failed {result['failed']}; {result['done']}", flush=True)
    print(f"\nmedians over {args.runs} runs, {args.rate:g} users/s, {WINDOW} s after the switchover:")
    print("replication  steady %  peak100ms %  peak1s %  peak1s/steady  (noise: same ratio before)  CPU-s  "
          "full handshakes")
    for replication in (True, False):
        rs = results[replication]
        med = lambda key: statistics.median(r[key] for r in rs)  # noqa: E731
        ratio = statistics.median(r["peak_1s"] / r["steady"] for r in rs)
        print(f"{'on ' if replication else 'off'}          {med('steady') * 100:7.1f}  {med('peak_100ms') * 100:10.1f}  "
              f"{med('peak_1s') * 100:8.1f}  {ratio:13.2f}  {med('noise_ratio'):26.2f}  {med('cpu_seconds'):5.2f}  "
              f"{med('full_after'):.0f}")
    plot(args.plot, [("replication on (failoverd)", results[True][0]),
                     ("replication off (VIP only, as keepalived)", results[False][0])])
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
