"""The VIP guard (the dead man's switch in the kernel) seen from a client over time: after the
active's failoverd is killed or frozen, its node stops answering for the VIP within the bound
by itself, so that a client's ARP or neighbour solicitation is never answered by two MACs and
every reconnection (its neighbour entry flushed each time) lands on the new active and resumes;
a node without carrier on its service link is not eligible and is never elected; TLS 1.3
tickets issued on resumed connections survive a kill -9 of the active."""

import re
import signal
import time
import unittest

from lab import GUARD_BOUND_MS, TOOLS, PYTHON, VIP4, VIP6, Lab, Probe, busywait

KINDS = ("tls12-ids", "tls12-tickets", "tls13")
SESSIONS = 40
VIP = VIP4.split("/")[0]
VIP6_ADDRESS = VIP6.split("/")[0]
BOUND = 20  # seconds: a generous bound on convergence (tests, not benchmarks)
GUARD_MS = GUARD_BOUND_MS  # what the lab configures
# What the test allows beyond the bound for "stopped answering": its own sampling period and
# the scheduling of a 2-core machine running three Corosyncs under ASan.
SLACK_MS = 150
RECONNECT_AFTER = (0.1, 1.0, 3.0, 6.0)  # seconds after the kill, as the issue asks


def sample(lab, client, seconds, interval_ms=50, window_ms=40, ipv6=True):
    return lab.spawn_probe(client, "neighbour_sampler.py", "svc0", client.service_ip4, VIP,
                           client.service_ip6 if ipv6 else "-", VIP6_ADDRESS if ipv6 else "-",
                           str(interval_ms), str(window_ms), str(seconds))


def samples_of(probe, timeout):
    """[(time, {arp MACs}, {nd MACs})] once the sampler is done, and its summary."""
    summary = probe.expect(r"^done samples=(\d+) arp_two=(\d+) nd_two=(\d+)$", timeout)
    rows = []
    for line in probe.lines:
        match = re.match(r"^sample (\S+) arp=(\S+) nd=(\S+)$", line)
        if match:
            macs = [set() if m == "-" else set(m.split(",")) for m in match.groups()[1:]]
            rows.append((float(match.group(1)), *macs))
    return rows, tuple(int(x) for x in summary.groups())


def last_answer_from(rows, mac):
    times = [t for t, arp, nd in rows if mac in arp or mac in nd]
    return max(times) if times else None


class Sessions:
    def __init__(self, lab):
        self.lab = lab
        self.client = Probe(lab, lab.clients[0], [PYTHON, str(TOOLS / "tls_sessions.py")], "tls-sessions")

    def create(self, test, count=SESSIONS):
        for kind in KINDS:
            self.client.send(f"create {kind} {count} {VIP}")
            test.assertEqual(self.client.expect(r"^created ", timeout=120).string, f"created {count} failed 0")

    def command(self, verb, kind):
        self.client.send(f"{verb} {kind} {VIP}")
        answer = {"resume": "resumed", "renew": "renewed"}[verb]
        match = self.client.expect(rf"^{answer} (\d+) of (\d+) failed (\d+)$", timeout=120)
        return tuple(int(x) for x in match.groups())

    def assert_all_resume(self, test, what):
        for kind in KINDS:
            resumed, total, failed = self.command("resume", kind)
            print(f"{what}: {kind} resumed {resumed} of {total}, failed {failed}")
            errors = [line for line in self.client.lines if line.startswith(f"error resume {kind} ")]
            test.assertEqual((resumed, failed), (total, 0), f"{what}: {kind}: {errors[-failed:] if failed else ''}")


def start_cluster(lab, extra=""):
    n1, n2 = lab.nodes[0], lab.nodes[1]
    lab.start_failoverd(n1, priority=200, extra=extra)
    busywait(lambda: lab.active_nodes() == ["n1"], BOUND, "n1 active")
    for host in lab.nodes[1:]:
        lab.start_failoverd(host, priority=150 if host is n2 else 100, extra=extra)
    return n1, n2


class Guard(unittest.TestCase):
    def kill_active(self, mode):
        with Lab(nodes=2, clients=1) as lab:
            c1 = lab.clients[0]
            n1, n2 = start_cluster(lab, extra=f"takeover-mode = {mode}\n")
            sessions = Sessions(lab)
            sessions.create(self)
            busywait(lambda: lab.status(n2)["sessions_cached"] >= SESSIONS, BOUND, "sessions on n2")
            guard = lab.status(n1)["guard"]
            self.assertTrue(guard["open"], guard)
            self.assertEqual(guard["bound_ms"], GUARD_MS)

            sampler = sample(lab, c1, seconds=10.5)
            sampler.expect(r"^sampling$")
            killed = time.monotonic()
            n1.failoverd.process.send_signal(signal.SIGKILL)
            n1.failoverd.process.wait(10)
            for after in RECONNECT_AFTER:
                time.sleep(max(0.0, killed + after - time.monotonic()))
                # A client whose entry went stale re-asks: only n2 may answer.
                lab.ip(c1, "neigh", "flush", "dev", "svc0")
                sessions.assert_all_resume(self, f"{mode}, {after} s after kill -9")
                self.assertEqual(lab.neighbour(c1, VIP)[0], n2.mac, "the client's entry is not n2's MAC")
            rows, (count, arp_two, nd_two) = samples_of(sampler, timeout=30)
            print(f"{mode}: {count} samples over 10 s, two MACs answering ARP in {arp_two}, NS in {nd_two}")
            self.assertGreater(count, 100)
            self.assertEqual((arp_two, nd_two), (0, 0), "two nodes answered for the VIP")
            last = last_answer_from(rows, n1.mac)
            if last is not None:
                print(f"{mode}: n1's last answer {1000 * (last - killed):.0f} ms after the kill")
                self.assertLess(last - killed, (GUARD_MS + SLACK_MS) / 1000, "n1 answered past the bound")
            self.assertTrue(any(n2.mac in arp for _t, arp, _nd in rows[-20:]), "n2 does not answer ARP")
            self.assertTrue(any(n2.mac in nd for _t, _arp, nd in rows[-20:]), "n2 does not answer NS")
            # The killed node was never restarted; its kernel still carries the filters, and the
            # VIP's own lifetime (5 s) has removed the moved addresses by now.
            if mode == "move-ip":
                addresses = lab.ip(n1, "-o", "addr", "show", "dev", "svc0").stdout
                self.assertNotIn(VIP4, addresses)
                self.assertNotIn(VIP6, addresses)

    def test_kill_active_move_ip(self):
        self.kill_active("move-ip")

    def test_kill_active_shared_ip(self):
        self.kill_active("shared-ip")

    def test_sigstop_active(self):
        """Frozen for 2 s: silent within the bound, and after SIGCONT no two nodes answer."""
        with Lab(nodes=2, clients=1) as lab:
            c1 = lab.clients[0]
            n1, n2 = start_cluster(lab)
            sessions = Sessions(lab)
            sessions.create(self)
            busywait(lambda: lab.status(n2)["sessions_cached"] >= SESSIONS, BOUND, "sessions on n2")
            sampler = sample(lab, c1, seconds=6, interval_ms=10, window_ms=8)
            sampler.expect(r"^sampling$")
            time.sleep(0.5)
            stopped = time.monotonic()
            n1.failoverd.process.send_signal(signal.SIGSTOP)
            time.sleep(2.0)
            resumed = time.monotonic()
            n1.failoverd.process.send_signal(signal.SIGCONT)
            n1.failoverd.expect(r"the VIP guard shut the gate: this process did not run for \d+ ms", timeout=BOUND)
            busywait(lambda: len(lab.active_nodes()) == 1, BOUND, "exactly one active node")
            rows, (count, arp_two, nd_two) = samples_of(sampler, timeout=30)
            self.assertEqual((arp_two, nd_two), (0, 0), "two nodes answered for the VIP")
            frozen = [r for r in rows if stopped < r[0] < resumed]
            last = last_answer_from(frozen, n1.mac) or stopped
            print(f"SIGSTOP: n1's last ARP/NS answer {1000 * (last - stopped):.0f} ms after the stop "
                  f"({len(frozen)} samples while frozen)")
            self.assertLess(last - stopped, (GUARD_MS + SLACK_MS) / 1000)
            before = [r for r in rows if r[0] < stopped]
            self.assertTrue(any(n1.mac in arp for _t, arp, _ in before), "n1 never answered ARP before")
            self.assertTrue(any(n1.mac in nd for _t, _arp, nd in before), "n1 never answered NS before")
            # Corosync does not see a frozen process leave: nobody took over while it was frozen.
            self.assertIsNone(last_answer_from(frozen, n2.mac))
            active = lab.active_nodes()[0]
            print(f"SIGSTOP: after SIGCONT the active node is {active}")
            lab.ip(c1, "neigh", "flush", "dev", "svc0")
            sessions.assert_all_resume(self, f"after SIGSTOP and SIGCONT ({active} active)")

    def test_service_link_down_not_eligible(self):
        """A node without carrier is shown not eligible and is never elected while it has none."""
        with Lab(nodes=2, clients=1) as lab:
            n1, n2 = start_cluster(lab)
            # n2's cable is pulled (the switch's end of its veth): carrier lost, admin still up.
            lab.ip_switch("link", "set", f"{n2.name}s", "down")
            busywait(lambda: not lab.status(n2)["eligible"], BOUND, "n2 not eligible")
            status = lab.status(n2)
            self.assertFalse(status["service_link"])
            self.assertFalse([m for m in lab.status(n1)["members"] if m["name"] == "n2"][0]["eligible"])
            text = lab.failoverctl(n2, "status").stdout
            self.assertRegex(text, r"(?i)not eligible|eligible\s+no")
            refused = lab.failoverctl(n1, "switchover", check=False)
            self.assertNotEqual(refused.returncode, 0)
            # The active dies: n2 is the only candidate left, but it cannot serve, so it waits.
            self.assert_left_alone_without_carrier(lab, dead=n1, survivor=n2)

    def test_active_loses_carrier_then_not_eligible(self):
        """The active's service link fails: it hands over and then shows itself not eligible."""
        with Lab(nodes=2, clients=1) as lab:
            n1, n2 = start_cluster(lab)
            lab.ip_switch("link", "set", f"{n1.name}s", "down")
            busywait(lambda: lab.active_nodes() == ["n2"], BOUND, "n2 active")
            status = lab.status(n1)
            self.assertEqual(status["role"], "standby")
            self.assertFalse(status["eligible"])
            self.assertFalse(status["service_link"])
            # n2 dies: n1 has no carrier, so it does not take the VIP.
            self.assert_left_alone_without_carrier(lab, dead=n2, survivor=n1)

    def assert_left_alone_without_carrier(self, lab, dead, survivor):
        """`dead`'s failoverd is killed; `survivor`, without carrier, stays a standby without the
        VIP for 3 s (sampled), and takes it once its cable is back."""
        dead.failoverd.process.send_signal(signal.SIGKILL)
        dead.failoverd.process.wait(10)
        survivor.failoverd.expect(r"\[cluster\] 1 failoverd processes", timeout=BOUND)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            self.assertEqual(lab.status(survivor)["role"], "standby")
            self.assertNotIn(VIP4, lab.ip(survivor, "-o", "addr", "show", "dev", "svc0").stdout)
            time.sleep(0.2)
        lab.ip_switch("link", "set", f"{survivor.name}s", "up")
        busywait(lambda: lab.status(survivor)["role"] == "active", BOUND,
                 f"{survivor.name} active once its link is back")

    def test_tls13_tickets_from_resumed_connections_survive_kill(self):
        with Lab(nodes=2, clients=1) as lab:
            n1, n2 = start_cluster(lab)
            sessions = Sessions(lab)
            sessions.create(self)
            # OpenSSL issues a new TLS 1.3 ticket on a resumption when the ticket's key is no
            # longer the current one: rotate, then resume every session once on n1 and keep the
            # ticket that resumed connection issued (under the new key).
            lab.failoverctl(n1, "rotate-keys")
            renewed, total, failed = sessions.command("renew", "tls13")
            print(f"TLS 1.3: {renewed} of {total} tickets replaced by ones issued on resumed connections")
            self.assertEqual((renewed, failed), (total, 0))
            busywait(lambda: lab.status(n2)["sessions_cached"] >= SESSIONS, BOUND, "sessions on n2")
            n1.failoverd.process.send_signal(signal.SIGKILL)
            n1.failoverd.process.wait(10)
            n2.failoverd.expect(r"\[vip\] taken and announced", timeout=BOUND)
            sessions.assert_all_resume(self, "tickets from resumed connections, after kill -9")


if __name__ == "__main__":
    unittest.main()
