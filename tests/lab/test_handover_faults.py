"""A fault in the middle of a planned switchover: the active is held in its emptying step by an
unfinished connection when its Corosync is killed or its cluster link is cut. The review found
that the VIP was then on both the old and the new active for 40-570 ms, because leaving
handing-over by a lost quorum or a lost Corosync did not release it. Here every address change
on every node is recorded by the kernel's own notifications (ip monitor, timestamped), and a
client asks who has the VIP (ARP and neighbour solicitation) every 50 ms throughout: at no
moment may two nodes hold the VIP or answer for it, and the sessions resume on the new active."""

import datetime
import re
import unittest

from lab import PYTHON, VIP4, VIP6, Lab, Probe, busywait
from test_failover import BOUND, Cluster, vip_holders
from test_guard import sample, samples_of

VIP = VIP4.split("/")[0]
SAMPLE_SECONDS = 8
SESSIONS = 30


class AddressLog:
    """The VIP's presence on each node's svc0 over time, from the kernel's notifications."""

    def __init__(self, lab):
        self.lab = lab
        self.present = {h.name: {VIP4: VIP4 in self._addresses(h), VIP6: VIP6 in self._addresses(h)}
                        for h in lab.nodes}
        self.monitors = {h.name: Probe(lab, h, ["ip", "-ts", "-o", "monitor", "address", "dev", "svc0"],
                                       f"ip-monitor-{h.name}", stdin=False) for h in lab.nodes}

    def _addresses(self, host):
        return self.lab.ip(host, "-o", "addr", "show", "dev", "svc0").stdout

    def intervals(self, end):
        """{vip: {node: [(start, stop)]}} in wall-clock seconds; `end` closes what is still held."""
        result = {VIP4: {}, VIP6: {}}
        for name, monitor in self.monitors.items():
            monitor.pump(0.5)
            for vip in (VIP4, VIP6):
                held_since = 0.0 if self.present[name][vip] else None
                spans = []
                for line in monitor.lines:
                    match = re.match(r"^\[(\S+)\] (Deleted )?\d+: svc0\s+inet6? (\S+) ", line)
                    if not match or match.group(3) != vip:
                        continue
                    when = datetime.datetime.fromisoformat(match.group(1)).timestamp()
                    if match.group(2) and held_since is not None:
                        spans.append((held_since, when))
                        held_since = None
                    elif not match.group(2) and held_since is None:
                        held_since = when  # a lifetime renewal of a held address is not a new span
                if held_since is not None:
                    spans.append((held_since, end))
                result[vip][name] = spans
        return result

    def stop(self):
        for monitor in self.monitors.values():
            monitor.stop()


def overlaps(intervals):
    """Moments where two nodes held the same VIP: [(vip, node, node, overlap seconds)]."""
    found = []
    for vip, by_node in intervals.items():
        names = sorted(by_node)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                for start_a, stop_a in by_node[a]:
                    for start_b, stop_b in by_node[b]:
                        overlap = min(stop_a, stop_b) - max(start_a, start_b)
                        if overlap > 0:
                            found.append((vip, a, b, overlap))
    return found


class HandoverFaults(unittest.TestCase):
    def fault_while_emptying(self, fault):
        with Lab(nodes=3, clients=1) as lab:
            cluster = Cluster(lab)
            n1, n2, n3 = lab.nodes
            cluster.create(self, SESSIONS)
            cluster.replicated([n2, n3], SESSIONS)
            addresses = AddressLog(lab)
            # A connection that never sends its ClientHello keeps n1 emptying (up to 1 s).
            stalled = Probe(lab, lab.clients[0], [PYTHON, "-c", "import socket, sys\n"
                                                   "with socket.create_connection((sys.argv[1], 443), timeout=30):\n"
                                                   "    print('connected', flush=True)\n"
                                                   "    sys.stdin.readline()\n", VIP], "stalled")
            stalled.expect(r"^connected$")
            sampler = sample(lab, lab.clients[0], SAMPLE_SECONDS)
            sampler.expect(r"^sampling$")
            n1.failoverd.skip()
            switchover = Probe(lab, n1, lab.failoverctl_argv(n1, "switchover"), "switchover", stdin=False,
                               merge_stderr=True)
            n1.failoverd.expect(r"\[role\] active -> handing-over", timeout=BOUND)
            left = fault(lab, n1)
            # Straight out of handing-over, or (the membership change reaching it before the
            # quorum change) back to active first, then out.
            n1.failoverd.expect(rf"\[role\] (handing-over|active) -> {left}", timeout=BOUND)
            busywait(lambda: vip_holders(lab) == ["n2"] and lab.status(n2)["role"] == "active", BOUND,
                     "n2 active and holding the VIP alone")
            answer = switchover.expect(r"^failoverctl switchover: (?!handing the VIP over)", timeout=BOUND).string
            self.assertIn("aborted", answer)
            self.assertEqual(switchover.process.wait(BOUND), 1)
            rows, (count, arp_two, nd_two) = samples_of(sampler, SAMPLE_SECONDS + BOUND)
            end = datetime.datetime.now().timestamp()
            spans = addresses.intervals(end)
            addresses.stop()
            stalled.stop()
            print(f"{fault.__name__}: {count} samples, ARP answered by two MACs {arp_two}, NS {nd_two}; "
                  f"VIP spans {spans[VIP4]}")
            self.assertGreater(count, SAMPLE_SECONDS * 1000 / 50 * 0.8, "the sampler ran short")
            self.assertEqual((arp_two, nd_two), (0, 0), "two nodes answered for the VIP")
            self.assertEqual(overlaps(spans), [], "two nodes held the VIP at once")
            # The takeover happened while the samples ran: n1's then n2's MAC answered.
            answered = [next(iter(arp)) for _, arp, _ in rows if arp]
            self.assertEqual(answered[0], n1.mac)
            self.assertEqual(answered[-1], n2.mac)
            self.assertEqual([h for h in spans[VIP4] if spans[VIP4][h]], ["n1", "n2"])
            cluster.assert_all_resume(self)

    def test_corosync_killed_while_emptying(self):
        def corosync_killed(lab, n1):
            lab.kill_corosync(n1)
            return "fault"
        self.fault_while_emptying(corosync_killed)

    def test_cluster_link_cut_while_emptying(self):
        def cluster_link_cut(lab, n1):
            lab.ip_switch("link", "set", f"{n1.name}c", "down")
            return "standby"
        self.fault_while_emptying(cluster_link_cut)


if __name__ == "__main__":
    unittest.main()
