"""Measures how long the machine itself keeps a real-time thread from running: one process per
CPU, pinned to it, under SCHED_RR at PRIORITY (failoverd's realtime-priority), waits on stdin
with a TICK_MS timeout again and again and reports every gap between two wake-ups longer than
THRESHOLD_MS. failoverd's loop runs at the same priority, so a gap here is one the daemon could
not have avoided (a vCPU stolen by the hypervisor, a higher-priority task, the kernel); a stall
the daemon reports without a gap here is the daemon's own (a lock, a blocking call).
    stall_meter.py PRIORITY THRESHOLD_MS SECONDS
Prints "metering N" once every CPU's process runs, then, when stdin says "stop" (or after
SECONDS), one line per gap: "stall cpu C at T ms for D ms" (T: CLOCK_MONOTONIC at the gap's
start), then "done"."""

import os
import select
import sys
import time

TICK_MS = 5

priority, threshold_ms, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])


def meter(cpu, report_fd):
    """Runs in a child pinned to cpu until stdin closes or SECONDS pass; writes its gaps to report_fd."""
    os.sched_setaffinity(0, {cpu})
    os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(priority))
    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    gaps = []
    start = last = time.monotonic()
    os.write(report_fd, b"up\n")
    while last - start < seconds:
        ready = poller.poll(TICK_MS)
        now = time.monotonic()
        gap_ms = (now - last) * 1000 - TICK_MS
        if gap_ms > threshold_ms:
            gaps.append(f"stall cpu {cpu} at {last * 1000:.0f} ms for {gap_ms:.0f} ms")
        last = now
        if ready:
            break
    os.write(report_fd, ("\n".join(gaps) + "\nend\n").encode())
    os._exit(0)


cpus = sorted(os.sched_getaffinity(0))
children = []
for cpu in cpus:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        meter(cpu, write_end)
    os.close(write_end)
    children.append((pid, os.fdopen(read_end)))
for _pid, report in children:
    if report.readline().strip() != "up":
        sys.exit("stall_meter: a meter did not start")
print(f"metering {len(cpus)}", flush=True)
for pid, report in children:
    for line in report:
        if line.strip() == "end":
            break
        if line.strip():
            print(line.strip(), flush=True)
    os.waitpid(pid, 0)
print("done", flush=True)
