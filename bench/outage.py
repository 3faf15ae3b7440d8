"""Client-visible outage of the VIP when the active fails, for failoverd with the majority lease,
failoverd without it (Corosync alone decides) and keepalived (VRRP v3 at 0.1 s adverts, the
same three nodes, a small concurrent TLS server on each), all in the same run. A client in c1 opens a
connection to the VIP every 5 ms, sends a TLS ClientHello and waits (1 s at most) for a TLS
server to answer: an attempt counts only once a server process answered it, so a frozen node
whose kernel still accepts connections is not counted as serving. A second client samples who
answers ARP for the VIP every 10 ms through the run. Each run fails whichever node is active,
then brings it back as a standby before the next.
    switchover: planned (failoverctl switchover; for keepalived, stopping it on the master,
           which then sends a priority-0 advert): the longest gap between two answers, and the
           failed attempts (there should be none)
    kill:  kill -9 of the active's daemon (keepalived: its parent and VRRP processes)
    links: all of the active's links cut at the switch, the cluster link first
    freeze: the active's daemon SIGSTOPped for 2 s, then SIGCONT
Outage: from the failure to the answer of the first attempt started after it that was answered.
Two MACs: runs in which some ARP sample was answered by two nodes. The lease runs at the
product's defaults (h 10 ms, L 60 ms, k 3; docs/lease.md). Not a test: prints medians.
    FAILOVER_BUILD_DIR=build/release python3 bench/outage.py [--runs 11] [--token 200] [--lease-token 1000]
        [--systems lease,corosync,keepalived] [--modes switchover,kill,links,freeze]
--token is Corosync's totem token without the lease (it is then how fast a failure is seen),
--lease-token with it (where it only bounds replication's pause after a failure, docs/lease.md).
Needs keepalived (apt-get install keepalived) for its column.
"""

import argparse
import os
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab"))
from lab import PYTHON, TLS_PORT, TOOLS, VIP4, Lab, Probe, busywait, run  # noqa: E402
from test_guard import sample, samples_of  # noqa: E402
from test_lease import lease_config, settled  # noqa: E402

VIP = VIP4.split("/")[0]
FREEZE_SECONDS = 2.0
PROBE_INTERVAL_MS = 5
PROBE_BOUND_MS = 1000
SAMPLE_SECONDS = 4.0
BOUND = 30  # seconds: convergence of a step, not a figure
PRIORITIES = (200, 150, 100)


class Failoverd:
    """failoverd on three nodes, with or without the lease."""

    def __init__(self, lab, lease):
        self.lab = lab
        self.lease = lease
        self.extra = lease_config(lab, "") if lease else ""
        for host, priority in zip(lab.nodes, PRIORITIES):
            lab.start_failoverd(host, priority=priority, extra=self.extra)

    def settled(self):
        return settled(self.lab, self.lease, timeout=BOUND)

    def switchover(self, active):
        self.lab.failoverctl(active, "switchover")
        busywait(lambda: self.lab.status(active)["role"] == "standby" and len(self.lab.active_nodes()) == 1,
                 BOUND, "the switchover done")

    def processes(self, host):
        return [host.failoverd.process]

    def restart(self, host):
        lab = self.lab
        lab.ip(host, "addr", "flush", "dev", "svc0", "scope", "global")
        lab.ip(host, "addr", "add", f"{host.service_ip4}/24", "dev", "svc0")
        lab.ip(host, "-6", "addr", "add", f"{host.service_ip6}/64", "dev", "svc0", "nodad")
        lab.start_failoverd(host, priority=PRIORITIES[-1], extra=self.extra)  # a standby: no preemption

    def after_links(self, host):
        # The cut node has seen the partition (its Corosync formed a ring of its own) before its
        # links come back: otherwise the cut is too short to be a failure.
        busywait(lambda: len(self.lab.status(host)["members"]) == 1, BOUND, "the cut node alone")


class Keepalived:
    """keepalived (VRRP only) on three nodes, all BACKUP with nopreempt (as failoverd, a node that
    comes back does not take the VIP back), and tests/lab/tools/tls_server.py on each as the TLS
    service."""

    def __init__(self, lab):
        self.lab = lab
        lab.prepare_failoverd()  # the certificates
        cert, key = lab.certs["a-ec"]
        for host in lab.nodes:
            server = Probe(lab, host, [PYTHON, str(TOOLS / "tls_server.py"), host.name, str(TLS_PORT), str(cert),
                                       str(key)], "tls-server", stdin=False)
            server.expect(r"^listening$")
        self.running = {}
        for host, priority in zip(lab.nodes, PRIORITIES):
            self.start(host, priority)

    def config(self, host, priority):
        path = host.dir / "keepalived.conf"
        path.write_text(
            "global_defs {\n  router_id " + host.name + "\n  vrrp_version 3\n}\n"
            "vrrp_instance VI {\n  state BACKUP\n  nopreempt\n  interface svc0\n  virtual_router_id 51\n"
            f"  priority {priority}\n  advert_int 0.1\n  virtual_ipaddress {{\n    {VIP4} dev svc0\n  }}\n}}\n")
        return path

    def start(self, host, priority=PRIORITIES[-1]):
        config = self.config(host, priority)
        vrrp_pid = host.dir / "keepalived-vrrp.pid"
        vrrp_pid.unlink(missing_ok=True)
        probe = Probe(self.lab, host, ["keepalived", "--dont-fork", "--log-console", "--vrrp", "--no-syslog",
                                       "--use-file", str(config), "--pid", str(host.dir / "keepalived.pid"),
                                       "--vrrp_pid", str(vrrp_pid)], "keepalived", stdin=False, merge_stderr=True)
        busywait(lambda: vrrp_pid.exists() and vrrp_pid.read_text().strip(), BOUND, "keepalived's VRRP process")
        self.running[host.name] = (probe, int(vrrp_pid.read_text()))

    def holds_vip(self, host):
        return f" {VIP4} " in self.lab.ip(host, "-4", "addr", "show", "dev", "svc0").stdout

    def settled(self):
        def check():
            holders = [h for h in self.lab.nodes if self.holds_vip(h)]
            return holders[0] if len(holders) == 1 and len(self.running) == len(self.lab.nodes) else None
        return busywait(check, BOUND, "one node holding the VIP, keepalived on all")

    def switchover(self, active):
        probe, _vrrp = self.running.pop(active.name)
        probe.process.terminate()  # keepalived's planned handover: a priority-0 advert, then exit
        probe.process.wait(BOUND)
        busywait(lambda: sum(self.holds_vip(h) for h in self.lab.nodes) == 1 and not self.holds_vip(active),
                 BOUND, "another node holding the VIP")
        self.start(active)

    def processes(self, host):
        probe, vrrp = self.running[host.name]
        return [probe.process, Pid(vrrp)]

    def restart(self, host):
        probe, _vrrp = self.running.pop(host.name)
        probe.process.wait(BOUND)
        # A killed keepalived leaves its VIP behind; the operator removes it before restarting.
        self.lab.ip(host, "addr", "del", VIP4, "dev", "svc0", check=False)
        self.start(host)

    def after_links(self, host):
        busywait(lambda: sum(self.holds_vip(h) for h in self.lab.nodes if h is not host) == 1, BOUND,
                 "another node holding the VIP")


class Pid:
    """A process known only by PID (keepalived's VRRP child), signalled like a Popen."""

    def __init__(self, pid):
        self.pid = pid

    def send_signal(self, sig):
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass


def one_run(lab, system, mode):
    """Fails the active once; returns (outage or switchover gap in ms, failed attempts, two-MAC
    samples)."""
    c1 = lab.clients[0]
    active = system.settled()
    sampler = sample(lab, c1, seconds=SAMPLE_SECONDS, interval_ms=10, window_ms=8, ipv6=False)
    sampler.expect(r"^sampling$")
    probe = Probe(lab, c1, [PYTHON, str(TOOLS / "outage_probe.py"), VIP, str(TLS_PORT), str(PROBE_INTERVAL_MS),
                            str(PROBE_BOUND_MS), "60"], "outage-probe")
    probe.expect(r"^started$")
    if mode == "switchover":
        probe.send("watch")
        system.switchover(active)
        probe.send("stop")
        gap, failed = probe.expect(r"^gap (\S+) (\d+)$", timeout=BOUND).groups()
        result = float(gap) * 1000, int(failed)
    else:
        for host in lab.nodes:
            if getattr(host, "failoverd", None) and host.failoverd.process.poll() is None:
                host.failoverd.skip()
        if mode == "links":
            # Both cables at once (one `ip -batch`), and the failure dated after they are down, so
            # that no attempt the old node answered in between counts.
            cables = "".join(f"link set {active.name}{link} down\n" for link in ("c", "s"))
            run("ip", "-n", lab.switch, "-batch", "-", input=cables)
        probe.send(f"mark {time.monotonic():.6f}")
        if mode == "kill":
            for process in system.processes(active):
                process.send_signal(signal.SIGKILL)
        elif mode == "freeze":
            for process in system.processes(active):
                process.send_signal(signal.SIGSTOP)
            time.sleep(FREEZE_SECONDS)  # the fault's own duration, not a wait for an outcome
            for process in system.processes(active):
                process.send_signal(signal.SIGCONT)
        recovered = probe.expect(r"^(recovered (\S+) (\d+)|timeout)$", timeout=BOUND + 60)
        if recovered.group(2) is None:
            raise RuntimeError(f"{mode}: no TLS server answered for the VIP within the probe's 60 s")
        result = float(recovered.group(2)) * 1000, int(recovered.group(3))
    lab.stop_all([probe.process])
    # The whole sampling window before the failed node is brought back: a killed keepalived's
    # VIP, left behind, shows up as two MACs only once another node has taken over.
    _rows, (_count, arp_two, _nd) = samples_of(sampler, timeout=BOUND)
    if mode == "kill":
        system.restart(active)
    elif mode == "links":
        system.after_links(active)
        run("ip", "-n", lab.switch, "-batch", "-", input="".join(f"link set {active.name}{link} up\n"
                                                                 for link in ("s", "c")))
    return (*result, arp_two)


def run_system(name, modes, runs, token):
    """One lab for `name` ("lease", "corosync" or "keepalived"); {mode: [one_run(...)]}."""
    results = {}
    with Lab(nodes=3, clients=1, token_ms=token, corosync=name != "keepalived") as lab:
        system = Keepalived(lab) if name == "keepalived" else Failoverd(lab, lease=name == "lease")
        for mode in modes:
            results[mode] = [one_run(lab, system, mode) for _ in range(runs)]
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--token", type=int, default=200, help="Corosync's totem token (ms) without the lease")
    parser.add_argument("--lease-token", type=int, default=1000, help="Corosync's totem token (ms) with the lease")
    parser.add_argument("--systems", default="lease,corosync,keepalived")
    parser.add_argument("--modes", default="switchover,kill,links,freeze")
    args = parser.parse_args()
    modes = args.modes.split(",")
    print(f"outage seen by a client, a TLS attempt every {PROBE_INTERVAL_MS} ms ({args.runs} runs per mode; "
          f"totem token {args.lease_token} ms with the lease, {args.token} ms without; keepalived VRRP v3, "
          f"advert 0.1 s)", flush=True)
    names = {"lease": "failoverd, lease", "corosync": "failoverd, no lease", "keepalived": "keepalived"}
    for name in args.systems.split(","):
        results = run_system(name, modes, args.runs, args.lease_token if name == "lease" else args.token)
        for mode in modes:
            outages = [r[0] for r in results[mode]]
            failed = [r[1] for r in results[mode]]
            two = sum(1 for r in results[mode] if r[2])
            print(f"  {names[name]:20} {mode:10}: median {statistics.median(outages):7.1f} ms  "
                  f"min {min(outages):7.1f}  max {max(outages):7.1f}  failed attempts median "
                  f"{statistics.median(failed)} total {sum(failed)}  runs with two MACs {two}  "
                  f"runs: {' '.join(f'{o:.0f}' for o in outages)}", flush=True)


if __name__ == "__main__":
    main()
