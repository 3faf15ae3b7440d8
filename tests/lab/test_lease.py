"""The majority lease (docs/lease.md) in the lab: three nodes with lease = yes, each voting over
its cluster link. Seen from a client over time (ARP and NS answers sampled every 10 ms): when
the active is frozen, cut off from the cluster LAN, or can no longer hear it, a standby takes
over on the lease, no two nodes ever answer for the VIP, and sessions resume on the new active.
A frozen failoverd is never seen leaving by Corosync: only the lease moves the VIP then.
The lab runs ASan builds of three daemons beside three real-time Corosyncs on 2 cores, so it
uses a longer lease than the product's default; bench/lease_outage.py measures the default."""

import re
import signal
import time
import unittest

from lab import Lab, busywait
from test_guard import Sessions, last_answer_from, sample, samples_of

BOUND = 20  # seconds: convergence, not performance
RENEW_MS = 20
LEASE_MS = 200
MISSED = 3


def voters(lab):
    hosts = lab.nodes + ([lab.witness] if lab.witness else [])
    return "".join(f"lease-voter = {h.name} {h.nodeid} {h.cluster_ip4}\n" for h in hosts)


def timing():
    return f"lease-renew-ms = {RENEW_MS}\nlease-ms = {LEASE_MS}\nlease-missed-renewals = {MISSED}\n"


def lease_config(lab):
    return f"lease = yes\n{voters(lab)}{timing()}"


def start_cluster(lab):
    """n1 first, then the others: n1 alone holds no majority, so it becomes active only once a
    second voter runs (a cluster with the lease needs a majority of its voters up to serve)."""
    n1, n2, n3 = lab.nodes
    extra = lease_config(lab)
    lab.start_failoverd(n1, priority=200, extra=extra)
    status = lab.status(n1)
    assert status["role"] == "standby" and status["lease"]["wanted"], status
    lab.start_failoverd(n2, priority=150, extra=extra)
    lab.start_failoverd(n3, priority=100, extra=extra)
    busywait(lambda: lab.active_nodes() == ["n1"], BOUND, "n1 active")
    busywait(lambda: lab.status(n1)["lease"]["grants"] == 3, BOUND, "n1's lease granted by all three voters")
    return n1, n2, n3


def first_answer_from(rows, mac, after):
    times = [t for t, arp, nd in rows if t > after and (mac in arp or mac in nd)]
    return min(times) if times else None


class Lease(unittest.TestCase):
    def fault_then_takeover(self, fault, heal, what, seconds=4.0):
        """Applies `fault` to n1 and checks from c1 that n2 takes over on the lease, that no two
        MACs answer at any sample, and that the sessions made on n1 resume on n2."""
        with Lab(nodes=3, clients=1) as lab:
            c1 = lab.clients[0]
            n1, n2, _n3 = start_cluster(lab)
            status = lab.status(n1)["lease"]
            self.assertTrue(status["held"], status)
            self.assertGreater(status["remaining_ms"], 0)
            sessions = Sessions(lab)
            sessions.create(self, count=20)
            busywait(lambda: lab.status(n2)["sessions_cached"] >= 20, BOUND, "sessions on n2")
            sampler = sample(lab, c1, seconds=seconds, interval_ms=10, window_ms=8)
            sampler.expect(r"^sampling$")
            time.sleep(0.5)
            started = time.monotonic()
            fault(lab, n1)
            n2.failoverd.expect(r"\[lease\] holds the majority lease", timeout=BOUND)
            n2.failoverd.expect(r"\[vip\] taken and announced", timeout=BOUND)
            rows, (count, arp_two, nd_two) = samples_of(sampler, timeout=30)
            heal(lab, n1)
            self.assertGreater(count, 100)
            self.assertEqual((arp_two, nd_two), (0, 0), f"{what}: two nodes answered for the VIP")
            last_n1 = last_answer_from([r for r in rows if r[0] > started], n1.mac)
            first_n2 = first_answer_from(rows, n2.mac, started)
            self.assertIsNotNone(first_n2, f"{what}: n2 never answered for the VIP")
            gap = first_n2 - (last_n1 or started)
            print(f"{what}: n1's last answer {1000 * ((last_n1 or started) - started):.0f} ms after the fault, "
                  f"n2's first {1000 * (first_n2 - started):.0f} ms after it ({1000 * gap:.0f} ms without an "
                  f"answer; lease {LEASE_MS} ms, renewal {RENEW_MS} ms)")
            # Never two: n1 stops before n2 starts (sampled every 10 ms).
            self.assertGreater(first_n2, last_n1 or started)
            busywait(lambda: lab.active_nodes() == ["n2"], BOUND, "n2 the only active node")
            lab.ip(c1, "neigh", "flush", "dev", "svc0")
            sessions.assert_all_resume(self, f"{what}, on n2")
            return lab, n1, n2

    def test_frozen_active(self):
        """SIGSTOP for 2 s: Corosync sees nothing (the process is frozen, not gone); the lease
        ends, the kernel stops answering for n1, n2 is granted and takes over; n1 wakes to a lost
        lease and stays a standby."""
        def freeze(_lab, n1):
            n1.failoverd.process.send_signal(signal.SIGSTOP)

        def thaw(_lab, n1):
            n1.failoverd.process.send_signal(signal.SIGCONT)
            n1.failoverd.expect(r"lost the majority lease|lease that lets this node answer for the VIP has ended",
                                timeout=BOUND)

        self.fault_then_takeover(freeze, thaw, "frozen active", seconds=2.0)

    def test_cluster_link_cut(self):
        """n1's cluster link is cut (its cable at the switch): n1 loses the lease and steps down,
        n2 is granted by itself and n3, before or as Corosync's token times out."""
        def cut(lab, n1):
            lab.ip_switch("link", "set", f"{n1.name}c", "down")

        def mend(lab, n1):
            lab.ip_switch("link", "set", f"{n1.name}c", "up")

        self.fault_then_takeover(cut, mend, "cluster link cut")

    def test_active_cannot_hear(self):
        """n1 drops everything arriving on its cluster link (iptables): it still sends, so the
        others hear it, but no grant reaches it. It loses the lease and steps down; n2 takes
        over."""
        def deafen(lab, n1):
            lab.exec(n1, "iptables", "-A", "INPUT", "-i", "clu0", "-j", "DROP")

        def undeafen(lab, n1):
            lab.exec(n1, "iptables", "-D", "INPUT", "-i", "clu0", "-j", "DROP")

        self.fault_then_takeover(deafen, undeafen, "active deaf on its cluster link")

    def test_one_way_fault_between_active_and_standby(self):
        """n2 stops hearing n1 (and only n1): to n2, n1 is silent, so n2 asks for the lease, but
        n3 still hears n1 and stays bound to it, so n2 gets no majority. Whatever Corosync then
        makes of the broken ring, no two nodes answer at any sample, and one answers at the end."""
        with Lab(nodes=3, clients=1) as lab:
            c1 = lab.clients[0]
            n1, n2, n3 = start_cluster(lab)
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


class TwoNodesAndWitness(unittest.TestCase):
    def test_cluster_link_cut(self):
        """Two nodes under Corosync's two_node, where both halves of a cut stay quorate (without
        the lease both would take the VIP), and a witness: n1's cluster link is cut; n2 and the
        witness are the majority, n1 loses the lease and steps down; never two answer."""
        with Lab(nodes=2, clients=1, witness=True) as lab:
            c1 = lab.clients[0]
            lab.prepare_failoverd()
            lab.start_witness(f"node-name = w\ncluster-key-file = {lab.cluster_key}\nlog-level = info\n"
                              f"{voters(lab)}{timing()}")
            n1, n2 = lab.nodes
            extra = lease_config(lab)
            lab.start_failoverd(n1, priority=200, extra=extra)
            busywait(lambda: lab.active_nodes() == ["n1"], BOUND, "n1 active")
            lab.start_failoverd(n2, priority=150, extra=extra)
            busywait(lambda: lab.status(n1)["lease"]["grants"] == 3, BOUND, "n1's lease granted by all three")
            sessions = Sessions(lab)
            sessions.create(self, count=20)
            busywait(lambda: lab.status(n2)["sessions_cached"] >= 20, BOUND, "sessions on n2")
            sampler = sample(lab, c1, seconds=4.0, interval_ms=10, window_ms=8)
            sampler.expect(r"^sampling$")
            time.sleep(0.5)
            started = time.monotonic()
            lab.ip_switch("link", "set", f"{n1.name}c", "down")
            n2.failoverd.expect(r"\[vip\] taken and announced", timeout=BOUND)
            n1.failoverd.expect(r"lost the majority lease|lease that lets this node answer for the VIP has ended",
                                timeout=BOUND)
            rows, (count, arp_two, nd_two) = samples_of(sampler, timeout=30)
            self.assertEqual((arp_two, nd_two), (0, 0), "two nodes answered for the VIP")
            first_n2 = first_answer_from(rows, n2.mac, started)
            last_n1 = last_answer_from([r for r in rows if r[0] > started], n1.mac)
            self.assertIsNotNone(first_n2)
            self.assertGreater(first_n2, last_n1 or started)
            print(f"two nodes and a witness, n1's cluster link cut: n2 answers {1000 * (first_n2 - started):.0f} ms "
                  f"after the cut; n1 stayed quorate (two_node) and is {lab.status(n1)['role']}")
            self.assertTrue(lab.status(n1)["quorate"], "n1 should still be quorate under two_node")
            self.assertNotEqual(lab.status(n1)["role"], "active")
            lab.ip(c1, "neigh", "flush", "dev", "svc0")
            sessions.assert_all_resume(self, "two nodes and a witness, on n2")


if __name__ == "__main__":
    unittest.main()
