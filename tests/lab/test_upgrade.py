"""Rolling upgrade (docs/operations.md, "Rolling upgrade"): members that speak different
replication protocol versions work together in the highest version they share, move up once
every member speaks a newer one, and a node with no version in common is refused by both sides
with a message that names both versions. The newer build is stood in for by this build with
`test-protocol-versions`, which announces versions beyond its own (its messages keep this
build's layout): what is tested is the negotiation and the procedure, under load."""

import signal
import unittest

from lab import PYTHON, TOOLS, VIP4, Lab, Probe, busywait
from test_failover import BOUND, Cluster, stop_load, vip_holders

VIP = VIP4.split("/")[0]


def protocol(lab, host):
    replication = lab.status(host)["replication"]
    return replication["protocol_version"], replication["rejected"]["version"]


def restart(lab, host, priority, extra):
    """Stops a standby's failoverd (SIGTERM: a standby has nothing to hand over) and starts it
    again with `extra`; returns once it is ready (joined and in sync)."""
    host.failoverd.process.send_signal(signal.SIGTERM)
    assert host.failoverd.process.wait(BOUND) == 0
    lab.start_failoverd(host, priority=priority, extra=extra)


class RollingUpgrade(unittest.TestCase):
    def test_a_rolling_upgrade_under_load_loses_no_connection_and_no_session(self):
        with Lab(nodes=2, clients=1) as lab:
            cluster = Cluster(lab)
            n1, n2 = lab.nodes
            current, _ = protocol(lab, n1)
            newer = current + 1
            upgraded = f"test-protocol-versions = {current}-{newer}\n"
            cluster.create(self)
            cluster.replicated([n2])
            load = Probe(lab, lab.clients[0], [PYTHON, str(TOOLS / "tls_load.py"), VIP, "300"], "tls-load")
            load.expect(r"^running$")
            load.expect(r"^progress ok=\d+ failed=0$", timeout=BOUND)

            # 1. The standby first: it comes back speaking both, and the pair goes on in the old one.
            restart(lab, n2, 150, upgraded)
            cluster.replicated([n2])
            self.assertEqual(protocol(lab, n1), (current, 0))
            self.assertEqual(protocol(lab, n2), (current, 0))
            self.assertEqual([m["protocol_versions"] for m in lab.status(n1)["members"]],
                             [[current, current], [current, newer]])

            # 2. Hand over to it, under load.
            self.assertIn("done, n2 is active", lab.failoverctl(n1, "switchover").stdout)
            busywait(lambda: vip_holders(lab) == ["n2"], BOUND, "n2 holding the VIP alone")

            # 3. The old active, now a standby: once both speak the newer version, both write it,
            # and n1's snapshot came in it.
            restart(lab, n1, 200, upgraded)
            busywait(lambda: protocol(lab, n1)[0] == newer and protocol(lab, n2)[0] == newer, BOUND,
                     f"both nodes writing protocol version {newer}")
            n2.failoverd.expect(rf"\[replication\] writing protocol version {newer}: the highest", timeout=BOUND)
            cluster.replicated([n1])

            # 4. Back to n1, still under load: every session made before the upgrade resumes there.
            self.assertIn("done, n1 is active", lab.failoverctl(n2, "switchover").stdout)
            busywait(lambda: vip_holders(lab) == ["n1"], BOUND, "n1 holding the VIP alone")
            load.expect(r"^progress ok=\d+", timeout=BOUND)  # more connections, now on n1
            stop_load(self, load, "rolling upgrade")
            cluster.assert_all_resume(self)
            self.assertEqual(protocol(lab, n1), (newer, 0))
            self.assertEqual(protocol(lab, n2), (newer, 0))

    def test_a_node_with_no_version_in_common_is_refused_both_ways_naming_both(self):
        with Lab(nodes=2, clients=1) as lab:
            n1, n2 = lab.nodes
            lab.start_failoverd(n1, priority=200)
            busywait(lambda: vip_holders(lab) == ["n1"], BOUND, "n1 holding the VIP")
            current, _ = protocol(lab, n1)
            too_new = current + 1
            lab.start_failoverd(n2, priority=100, extra=f"test-protocol-versions = {too_new}-{too_new}\n",
                                ready=False)
            n1.failoverd.expect(rf"dropped a message from .*\(version\): protocol version {too_new}, but this node "
                                rf"speaks protocol version {current}: the sender is too new for this node; "
                                r"upgrade this node", timeout=BOUND)
            n2.failoverd.expect(rf"dropped a message from .*\(version\): protocol version {current}, but this node "
                                rf"speaks protocol version {too_new}: the sender is too old for this node; "
                                r"upgrade it", timeout=BOUND)
            self.assertGreater(protocol(lab, n1)[1], 0)
            self.assertGreater(protocol(lab, n2)[1], 0)
            # Never in sync, so never a candidate: the switchover to it is refused, n1 keeps the VIP.
            self.assertFalse(lab.status(n2)["in_sync"])
            refused = lab.failoverctl(n1, "switchover", "n2", check=False)
            self.assertEqual(refused.returncode, 1)
            self.assertEqual(vip_holders(lab), ["n1"])
            self.assertEqual(lab.active_nodes(), ["n1"])


if __name__ == "__main__":
    unittest.main()
