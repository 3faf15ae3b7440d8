"""The majority lease (docs/lease.md) in the lab, seen from a client over time: ARP and NS
answers for the VIP sampled from c1 every 10 ms through every fault, then the sessions made
before it resumed on whichever node answers. Three nodes, and two nodes with a witness (under
Corosync's two_node, where both halves of a cut stay quorate). Each lab applies a sequence of
faults to whichever node is active, and waits for the failed node to come back as a standby in
sync before the next:
    freezes:    failoverd SIGSTOPped for 2 s (Corosync never sees a frozen process leave: only
                the lease moves the VIP), 200 ms (about one lease: either outcome) and 50 ms
                (a quarter of a lease: no takeover), and its CPU starved (its threads confined to a CPU
                that a busy loop of a higher real-time priority holds)
    links:      all its links cut, only its cluster link cut, and iptables DROP on its cluster
                link's input (it cannot hear grants) or output (it cannot ask)
    one way:    a standby stops hearing the active, and only it
Also ten planned switchovers at the product's default lease (each target keeps the lease it
was granted), and a soak under loss and CPU load in which the lease must never be lost.
The lab runs ASan builds of the daemons beside three real-time Corosyncs on 2 cores, so it uses
a longer lease than the product's default; bench/outage.py measures the default."""

import os
import re
import signal
import threading
import time
import unittest
from dataclasses import dataclass
from typing import Callable, Optional

from lab import PYTHON, TOOLS, VIP4, Lab, Probe, busywait, run
from test_guard import Sessions, last_answer_from, sample, samples_of

BOUND = 20  # seconds: convergence, not performance
RENEW_MS = 20
LEASE_MS = 200
MISSED = 3
SAMPLE_SECONDS = 3.0
SESSIONS_PER_FAULT = 8
STARVING_PRIORITY = 60  # above failoverd's realtime-priority (40 by default)
HOG_SECONDS = 30
# Corosync's token with the lease (docs/lease.md, "Corosync's token"). The lab's 200 ms reforms
# the ring about once a minute under the soak's loss and load, and a node that sees itself in a
# minority for that moment steps down: a failover the lease did not ask for.
LEASE_TOKEN_MS = 1000


def voters(lab):
    hosts = lab.nodes + ([lab.witness] if lab.witness else [])
    return "".join(f"lease-voter = {h.name} {h.nodeid} {h.cluster_ip4}\n" for h in hosts)


def timing():
    return f"lease-renew-ms = {RENEW_MS}\nlease-ms = {LEASE_MS}\nlease-missed-renewals = {MISSED}\n"


def lease_config(lab, timing_text):
    return f"lease = yes\n{voters(lab)}{timing_text}"


def start_cluster(lab, timing_text=timing(), extra=""):
    """With a witness, it first; then n1, then the others. n1 alone holds no majority, so it
    becomes active only once a second voter runs (a cluster with the lease needs a majority of
    its voters up to serve). extra: more of the nodes' configuration."""
    extra = lease_config(lab, timing_text) + extra
    if lab.witness:
        lab.prepare_failoverd()
        lab.start_witness(f"node-name = w\ncluster-key-file = {lab.cluster_key}\nlog-level = info\n"
                          f"{voters(lab)}{timing_text}")
    n1, *others = lab.nodes
    lab.start_failoverd(n1, priority=200, extra=extra)
    if not lab.witness:
        status = lab.status(n1)
        assert status["role"] == "standby" and status["lease"]["wanted"], status
    for host, priority in zip(others, (150, 100)):
        lab.start_failoverd(host, priority=priority, extra=extra)
    busywait(lambda: lab.active_nodes() == ["n1"], BOUND, "n1 active")
    settled(lab)


def settled(lab, lease=True, timeout=BOUND):
    """Waits until one node is active (with the lease granted by every voter, when the lease is
    on) and the others are standbys in sync; returns the active."""
    def check():
        statuses = {host.name: lab.status(host) for host in lab.nodes}
        actives = [name for name, s in statuses.items() if s["role"] == "active"]
        if len(actives) != 1 or (lease and statuses[actives[0]]["lease"]["grants"] != voter_count(lab)):
            return None
        standbys_ready = all(s["role"] == "standby" and s["in_sync"] and s["quorate"]
                             for name, s in statuses.items() if name != actives[0])
        return lab.node(actives[0]) if standbys_ready else None
    return busywait(check, timeout, "one active holding every voter's grant, the others standbys in sync")


def first_answer_from(rows, mac, after):
    times = [t for t, arp, nd in rows if t > after and (mac in arp or mac in nd)]
    return min(times) if times else None


class CpuStarvation:
    """The failed node's failoverd confined to one CPU (every thread) where a busy loop runs at a
    real-time priority above the agent's (SCHED_FIFO 60 against its SCHED_RR 40): it gets no
    CPU at all until close() stops the loop (by PID) and gives it every CPU back. The loop ends
    by itself after HOG_SECONDS; the test registers close() as a cleanup."""

    def __init__(self, lab, host):
        self.lab, self.pid = lab, host.failoverd.process.pid
        self.cpu = (os.cpu_count() or 2) - 1
        run("taskset", "--all-tasks", "--cpu-list", "--pid", str(self.cpu), str(self.pid))
        self.hog = lab.spawn(host, ["chrt", "--fifo", str(STARVING_PRIORITY), "taskset", "--cpu-list", str(self.cpu),
                                    PYTHON, "-c", f"import time\nend = time.monotonic() + {HOG_SECONDS}\n"
                                    "while time.monotonic() < end: pass"])

    def close(self):
        if self.hog.poll() is None:
            Lab.stop_all([self.hog])
            run("taskset", "--all-tasks", "--cpu-list", "--pid", f"0-{self.cpu}", str(self.pid),
                check=False)


@dataclass
class Fault:
    name: str
    apply: Callable  # (lab, host)
    heal: Callable  # (lab, host)
    takeover: Optional[bool]  # True: another node takes over; False: none does; None: either
    lasts: Optional[float] = None  # seconds, healed then; None: healed after the sampling


def freeze(seconds, takeover):
    return Fault(f"failoverd frozen {int(seconds * 1000)} ms",
                 lambda _lab, host: host.failoverd.process.send_signal(signal.SIGSTOP),
                 lambda _lab, host: host.failoverd.process.send_signal(signal.SIGCONT),
                 takeover, lasts=seconds)


def iptables_fault(name, chain, interface_option):
    rule = [chain, interface_option, "clu0", "-j", "DROP"]
    return Fault(name, lambda lab, host: lab.exec(host, "iptables", "-A", *rule),
                 lambda lab, host: lab.exec(host, "iptables", "-D", *rule), takeover=True)


def links_fault(name, links):
    def cut(lab, host):
        for link in links:
            lab.ip_switch("link", "set", f"{host.name}{link}", "down")

    def mend(lab, host):
        for link in links:
            lab.ip_switch("link", "set", f"{host.name}{link}", "up")
    return Fault(name, cut, mend, takeover=True)


LINK_FAULTS = [links_fault("all links cut", ("s", "c")), links_fault("cluster link cut", ("c",)),
               iptables_fault("cluster link input dropped", "INPUT", "-i"),
               iptables_fault("cluster link output dropped", "OUTPUT", "-o")]


def voter_count(lab):
    return len(lab.nodes) + (1 if lab.witness else 0)


class LeaseFaults:
    """The checks shared by both topologies (mixed into a TestCase)."""

    WITNESS = False

    def run_faults(self, faults):
        with Lab(nodes=2 if self.WITNESS else 3, clients=1, witness=self.WITNESS) as lab:
            start_cluster(lab)
            sessions = Sessions(lab)
            for fault in faults:
                self.check_fault(lab, sessions, fault)

    def check_fault(self, lab, sessions, fault):
        """Applies `fault` to the active and checks, from c1: no two MACs answer at any sample;
        at the end one node answers, the one that says it is active, another node if `fault`
        must move the VIP and the same one if it must not; the failed node's last answer comes
        before the new one's first; the sessions made so far resume. Then waits for the failed
        node to be back as a standby in sync."""
        what = f"{len(lab.nodes)} nodes{' and a witness' if lab.witness else ''}, {fault.name}"
        c1 = lab.clients[0]
        failed = settled(lab)
        sessions.create(self, count=SESSIONS_PER_FAULT)
        cached = lab.status(failed)["sessions_cached"]
        busywait(lambda: all(lab.status(h)["sessions_cached"] >= cached for h in lab.nodes if h is not failed),
                 BOUND, f"{what}: the sessions on every standby")
        sampler = sample(lab, c1, seconds=SAMPLE_SECONDS, interval_ms=10, window_ms=8)
        sampler.expect(r"^sampling$")
        time.sleep(0.3)  # samples of the steady state first
        started = time.monotonic()
        fault.apply(lab, failed)
        healed = False
        try:
            if fault.lasts is not None:
                time.sleep(fault.lasts)  # the fault's own duration, not a wait for an outcome
                fault.heal(lab, failed)
                healed = True
            rows, (count, arp_two, nd_two) = samples_of(sampler, timeout=30)
        finally:
            if not healed:
                fault.heal(lab, failed)
        self.assertGreater(count, 100, what)
        self.assertEqual((arp_two, nd_two), (0, 0), f"{what}: two nodes answered for the VIP")
        now_active = busywait(lambda: single_active(lab), BOUND, f"{what}: one node active")
        answering = {mac for _t, arp, nd in rows[-10:] for mac in arp | nd}
        self.assertEqual(answering, {now_active.mac}, f"{what}: the last answers are not the active's")
        if fault.takeover is not None:
            self.assertEqual(now_active is not failed, fault.takeover,
                             f"{what}: {now_active.name} is active after the fault")
        last_failed = last_answer_from([r for r in rows if r[0] > started], failed.mac)
        if now_active is failed:
            gaps = [b[0] - a[0] for a, b in zip(rows, rows[1:]) if a[0] > started and not (b[1] | b[2])]
            print(f"{what}: {failed.name} kept the VIP ({len(gaps)} samples without an answer)")
        else:
            first_new = first_answer_from(rows, now_active.mac, started)
            self.assertIsNotNone(first_new, f"{what}: {now_active.name} never answered for the VIP")
            # Never two: the failed node stops before the new one starts (sampled every 10 ms).
            self.assertGreater(first_new, last_failed or started, what)
            print(f"{what}: {failed.name}'s last answer {1000 * ((last_failed or started) - started):.0f} ms "
                  f"after the fault, {now_active.name}'s first {1000 * (first_new - started):.0f} ms after it "
                  f"(lease {LEASE_MS} ms, renewal {RENEW_MS} ms)")
        lab.ip(c1, "neigh", "flush", "dev", "svc0")
        sessions.assert_all_resume(self, f"{what}, on {now_active.name}")
        self.assertGreater(lab.status(now_active)["lease"]["renewals"], 0, what)


def single_active(lab):
    actives = lab.active_nodes()
    return lab.node(actives[0]) if len(actives) == 1 else None


class ThreeNodes(LeaseFaults, unittest.TestCase):
    def test_freezes_and_starvation(self):
        """SIGSTOP 2 s: Corosync sees nothing; the lease ends, the kernel stops answering for
        the frozen node, another is granted and takes over; the frozen one wakes to a lost lease
        and stays a standby. 200 ms: about one lease, either outcome, never two. 50 ms: the
        lease outlasts it. Starved: the lease ends between its slices of CPU."""
        self.run_faults(self.freezes_and_starvation())

    def test_link_faults(self):
        self.run_faults(LINK_FAULTS)

    def freezes_and_starvation(self):
        starvation = {}

        def starve(lab, host):
            starvation["hog"] = hog = CpuStarvation(lab, host)
            self.addCleanup(hog.close)

        def feed(_lab, _host):
            starvation["hog"].close()
        return [freeze(2.0, takeover=True), freeze(0.2, takeover=None), freeze(0.05, takeover=False),
                Fault("failoverd starved of CPU", starve, feed, takeover=True)]


class TwoNodesAndWitness(ThreeNodes):
    """The same faults with two nodes and a witness: the witness and the survivor are the
    majority; the failed node, still quorate under two_node, loses the lease and steps down."""

    WITNESS = True


class OneWay(unittest.TestCase):
    def test_one_way_fault_between_active_and_standby(self):
        """n2 stops hearing n1 (and only n1): to n2, n1 is silent, so n2 asks for the lease, but
        n3 still hears n1 and stays bound to it, so n2 gets no majority. Whatever Corosync then
        makes of the broken ring, no two nodes answer at any sample, and one answers at the end."""
        with Lab(nodes=3, clients=1) as lab:
            c1 = lab.clients[0]
            start_cluster(lab)
            n1, n2, n3 = lab.nodes
            sampler = sample(lab, c1, seconds=4.0, interval_ms=10, window_ms=8, ipv6=False)
            sampler.expect(r"^sampling$")
            time.sleep(0.3)
            lab.exec(n2, "iptables", "-A", "INPUT", "-i", "clu0", "-s", n1.cluster_ip4, "-j", "DROP")
            rows, (count, arp_two, _nd) = samples_of(sampler, timeout=30)
            self.assertGreater(count, 100)
            self.assertEqual(arp_two, 0, "two nodes answered for the VIP")
            busywait(lambda: len(lab.active_nodes()) == 1, BOUND, "exactly one active node")
            answering = {mac for _t, arp, _nd in rows[-20:] for mac in arp}
            self.assertEqual(len(answering), 1, answering)
            names = {n1.mac: "n1", n2.mac: "n2", n3.mac: "n3"}
            print(f"one-way n1 -> n2 cut: {names.get(next(iter(answering)))} answers at the end; n2 stood back "
                  f"{lab.status(n2)['lease']['stood_back']} times")


class Switchovers(unittest.TestCase):
    SWITCHOVERS = 10

    def test_planned_switchovers_at_the_default_lease_keep_it(self):
        """Planned switchovers back and forth at the product's default lease (h 10 ms, L 60 ms):
        each target is granted the lease, takes the VIP and keeps both; no lease is lost. A
        takeover once ran iptables on the daemon's loop for about 50 ms, long enough for the
        new active to miss its renewals: one switchover in ten ended with its lease lost and the
        old active elected again (bench/outage.py found it)."""
        with Lab(nodes=3, clients=1) as lab:
            start_cluster(lab, timing_text="")
            active = lab.node("n1")
            sessions = Sessions(lab)
            sessions.create(self, count=SESSIONS_PER_FAULT)
            for number in range(self.SWITCHOVERS):
                lab.failoverctl(active, "switchover")
                busywait(lambda: lab.status(active)["role"] == "standby", BOUND, f"switchover {number} done")
                new_active = settled(lab)
                self.assertNotEqual(new_active.name, active.name, f"switchover {number} did not move the VIP")
                losses = {host.name: lab.status(host)["lease"]["losses"] for host in lab.nodes}
                self.assertEqual(sum(losses.values()), 0, f"switchover {number}: a lease was lost: {losses}")
                active = new_active
            sessions.assert_all_resume(self, f"after {self.SWITCHOVERS} switchovers")


LOSS = 0.01  # of the datagrams each node receives on its cluster link
HOG_SECONDS_MARGIN = 60
FAILOVERD_PRIORITY = 40  # failoverd's default realtime-priority, which the lab keeps
# Gaps the stall meter reports (the machine's own stalls of a real-time thread), and how far a
# stall failoverd's guard reports may exceed the meter's: the guard's timer ticks every fifth
# of its bound (20 ms in the lab) and the meter every 5 ms.
METER_THRESHOLD_MS = 30
GUARD_STALL_SLACK_MS = 30
GUARD_STALL = re.compile(r"did not run for (\d+) ms")


# What a soak reports of the daemons' logs: role changes, the VIP and the lease.
SOAK_EVENT = re.compile(r"\[(role|vip|lease|switchover)\]|warning|error", re.IGNORECASE)


def read_daemons(hosts, done):
    """Reads the daemons' output until done is set (in a thread: nothing else reads it then)."""
    running = list(hosts)
    while running and not done.is_set():
        running = [host for host in running if host.failoverd.pump(0.1)]


def memberships_formed(host):
    """How many memberships host's Corosync has formed so far (each is a ring reformed: a node
    joined or left, or the token was lost)."""
    log = host.dir / "corosync.log"
    return log.read_text(errors="replace").count("A new membership") if log.exists() else 0


def soak(seconds, timing_text=timing(), report=print, busy_loops=None, token_ms=None):
    """Three nodes with the lease run for `seconds` under 1 % loss on every cluster link (each
    node drops that share of what it receives there) and a loaded CPU (one busy loop per core,
    and continuous new and resumed TLS connections to the VIP). Nothing fails, so the VIP must
    not move. Returns what was counted: per-node lease figures, Corosync's memberships formed,
    the client's connections, what the client saw answer for the VIP (sampled every 20 ms),
    the stalls failoverd's guards reported and those the machine imposed on a real-time thread
    of failoverd's priority (tools/stall_meter.py).
    token_ms: Corosync's token (the lab's 200 by default)."""
    with Lab(nodes=3, clients=1, **({"token_ms": token_ms} if token_ms else {})) as lab:
        c1 = lab.clients[0]
        start_cluster(lab, timing_text)
        for host in lab.nodes:
            lab.exec(host, "iptables", "-A", "INPUT", "-i", "clu0", "-m", "statistic", "--mode", "random",
                     "--probability", str(LOSS), "-j", "DROP")
        before = {host.name: lab.status(host) for host in lab.nodes}
        memberships_before = {host.name: memberships_formed(host) for host in lab.nodes}
        hogs = [lab.spawn(c1, [PYTHON, "-c", "import time\nend = time.monotonic() + "
                               f"{seconds + HOG_SECONDS_MARGIN}\nwhile time.monotonic() < end: pass"])
                for _ in range(busy_loops or os.cpu_count() or 2)]
        # The daemons' output is read all along: a full pipe would stall a daemon's logging, and
        # what they said is the account of any loss.
        reading = threading.Event()
        reader = threading.Thread(target=read_daemons, args=(lab.nodes, reading), daemon=True)
        reader.start()
        meter = None
        try:
            load = Probe(lab, c1, [PYTHON, str(TOOLS / "soak_client.py"), VIP4.split("/")[0]], "soak-client")
            load.expect(r"^started$")
            load.send("mark soak")
            load.expect(r"^marked soak$")
            meter = Probe(None, None, [PYTHON, str(TOOLS / "stall_meter.py"), str(FAILOVERD_PRIORITY),
                                       str(METER_THRESHOLD_MS), str(seconds + HOG_SECONDS_MARGIN)], "stall-meter")
            meter.expect(r"^metering \d+$")
            sampler = sample(lab, c1, seconds=seconds, interval_ms=20, window_ms=15)
            sampler.expect(r"^sampling$")
            rows, (count, arp_two, nd_two) = samples_of(sampler, timeout=seconds + 60)
            meter.send("stop")
            meter.expect(r"^done$", timeout=BOUND)
            load.send("stop")
            load.expect(r"^done$", timeout=BOUND)
        finally:
            lab.stop_all(hogs + ([meter.process] if meter else []))
            reading.set()
            reader.join(BOUND)
        counted = {"samples": count, "two_macs": arp_two + nd_two,
                   "unanswered": sum(1 for _t, arp, nd in rows if not arp),
                   "macs": len({mac for _t, arp, nd in rows for mac in arp | nd}),
                   "actives": lab.active_nodes()}
        for host in lab.nodes:
            after = lab.status(host)
            for key in ("renewals", "missed_renewals", "losses", "grants_given", "requests_refused", "stood_back"):
                counted[f"{host.name}_{key}"] = after["lease"][key] - before[host.name]["lease"][key]
            # The VIP guard shuts by itself when the daemon's loop stalls past guard-bound-ms.
            counted[f"{host.name}_guard_fired"] = after["guard"]["fired"] - before[host.name]["guard"]["fired"]
            counted[f"{host.name}_transitions"] = after["transitions"] - before[host.name]["transitions"]
            counted[f"{host.name}_memberships"] = memberships_formed(host) - memberships_before[host.name]
        for line in load.lines:
            match = re.match(r"^summary soak new (\d+) resumed (\d+) lost (\d+) refused (\d+) failed (\d+)$", line)
            if match:
                counted.update(zip(("new", "resumed", "lost", "refused", "failed"), map(int, match.groups())))
        counted["errors"] = [line for line in load.lines if line.startswith("error ")][:10]
        counted["machine_stalls_ms"] = [int(line.split()[-2]) for line in meter.lines if line.startswith("stall ")]
        counted["guard_stalls_ms"] = [int(match.group(1)) for host in lab.nodes for line in host.failoverd.lines
                                      if (match := GUARD_STALL.search(line))]
        counted["events"] = [f"{host.name} {line}" for host in lab.nodes for line in host.failoverd.lines
                             if SOAK_EVENT.search(line)][:60]
        report(counted)
        return counted


def machine_explains(counted):
    """Whether every stall failoverd's guards reported matches one the machine imposed."""
    return all(any(machine >= guard - GUARD_STALL_SLACK_MS for machine in counted["machine_stalls_ms"])
               for guard in counted["guard_stalls_ms"])


class Soak(unittest.TestCase):
    def test_no_spurious_failover_under_loss_and_load(self):
        """CI's short soak (FAILOVER_LEASE_SOAK_SECONDS, 60 by default): at 1 % loss and a
        loaded CPU the active keeps its lease and the VIP, and clients see nothing fail.
        bench/lease_soak.py runs an hour at the product's default lease. A run in which the
        machine itself kept a real-time thread from running past the guard's bound (a stolen
        vCPU on a contended host: tools/stall_meter.py) is run again, once: the guard letting the
        VIP go then is its job, not a spurious failover. A stall of failoverd alone fails."""
        seconds = float(os.environ.get("FAILOVER_LEASE_SOAK_SECONDS", "60"))
        counted = soak(seconds, token_ms=LEASE_TOKEN_MS)
        if counted["guard_stalls_ms"] and machine_explains(counted):
            # The machine (not failoverd) stopped a real-time thread past the guard's bound, and
            # the guard let the VIP go as it must: this run says nothing of spurious failovers.
            print(f"the machine stalled {counted['machine_stalls_ms']} ms, failoverd's guard "
                  f"{counted['guard_stalls_ms']} ms: soaking again")
            counted = soak(seconds, token_ms=LEASE_TOKEN_MS)
        whose = "as the machine did" if machine_explains(counted) else "while the machine did not"
        self.assertEqual(counted["guard_stalls_ms"], [], f"failoverd stalled past its guard's bound, {whose}: {counted}")
        self.assertGreater(counted["samples"], seconds * 10)
        self.assertEqual(counted["two_macs"], 0, counted)
        self.assertEqual(counted["actives"], ["n1"], counted)
        self.assertEqual(counted["macs"], 1, f"the VIP moved: {counted}")
        self.assertEqual(sum(counted[f"n{i}_losses"] for i in (1, 2, 3)), 0, f"a lease was lost: {counted}")
        self.assertGreater(counted["n1_renewals"], seconds * 1000 / RENEW_MS / 2, counted)
        self.assertGreater(counted["new"] + counted["resumed"], 100, counted)
        self.assertEqual((counted["lost"], counted["refused"], counted["failed"]), (0, 0, 0), counted)
        self.assertEqual([counted[f"n{i}_memberships"] for i in (1, 2, 3)], [0, 0, 0], f"the ring reformed: {counted}")


if __name__ == "__main__":
    unittest.main()
