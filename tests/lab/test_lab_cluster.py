"""The lab's Corosync cluster: membership, quorum, a node's departure and its return."""

import signal
import time
import unittest

from lab import Lab

# Generous bound for a test (not a benchmark): with token 200 ms a departure is seen in about
# 0.4 s here; anything near this bound means the lab's timing settings are broken.
DEPARTURE_BOUND = 5.0


class ThreeNodeCluster(unittest.TestCase):
    def test_three_nodes_form_one_quorate_membership(self):
        with Lab(nodes=3, clients=1) as lab:
            for host in lab.nodes:
                view = host.watcher.view
                self.assertEqual(view.totem, (1, 2, 3), host.name)
                self.assertTrue(view.quorate, host.name)
                # Corosync's own tool agrees with what the probe saw.
                status = lab.exec(host, "corosync-quorumtool", "-s").stdout
                self.assertRegex(status, r"Quorate:\s+Yes")
                self.assertRegex(status, r"Total votes:\s+3")
                self.assertEqual(host.watcher.nodeid, host.nodeid)

    def test_killed_node_leaves_the_others_stay_quorate_and_it_rejoins(self):
        with Lab(nodes=3, clients=0) as lab:
            n1, n2, n3 = lab.nodes
            killed_at = lab.kill_corosync(n3, signal.SIGKILL)
            self.assertEqual(n3.corosync.returncode, -signal.SIGKILL)
            views = lab.wait_for_membership([1, 2], timeout=DEPARTURE_BOUND, observers=[n1, n2])
            for name, view in views.items():
                seen_after = view.totem_time - killed_at
                print(f"{name} saw n3 leave after {seen_after * 1000:.0f} ms "
                      f"(quorum after {(view.quorum_time - killed_at) * 1000:.0f} ms)")
                self.assertLess(seen_after, DEPARTURE_BOUND)
                self.assertTrue(view.quorate)
                self.assertEqual(view.quorum_members, (1, 2))

            restarted_at = time.monotonic()
            lab.start_corosync(n3)
            views = lab.wait_for_membership([1, 2, 3], timeout=20)
            print(f"n3 back in the ring after {(views['n1'].totem_time - restarted_at) * 1000:.0f} ms")
            self.assertEqual(set(views), {"n1", "n2", "n3"})


class TwoNodeCluster(unittest.TestCase):
    def test_two_nodes_stay_quorate_when_one_leaves(self):
        # two_node: the survivor keeps quorum (which is also why a partition of two nodes is a
        # split brain that needs a third vote; see docs).
        with Lab(nodes=2, clients=0) as lab:
            n1, n2 = lab.nodes
            lab.kill_corosync(n2, signal.SIGKILL)
            views = lab.wait_for_membership([1], timeout=DEPARTURE_BOUND, observers=[n1])
            self.assertTrue(views["n1"].quorate)


if __name__ == "__main__":
    unittest.main()
