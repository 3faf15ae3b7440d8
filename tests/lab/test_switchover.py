"""Planned maintenance: failoverctl switchover, SIGTERM of the active's failoverd, and
maintenance mode hand the VIP over in the group's total order while a client keeps opening
TLS connections: none fails, and every session made before resumes on the new active."""

import re
import signal
import unittest

from lab import PYTHON, STOP_TIMEOUT, TOOLS, VIP4, Lab, Probe, busywait
from test_failover import BOUND, Cluster, stop_load, vip_holders

VIP = VIP4.split("/")[0]


class Switchover(unittest.TestCase):
    def under_load(self, hand_over):
        """Sessions first, then continuous load through the handover; returns the lab state."""
        with Lab(nodes=2, clients=1) as lab:
            cluster = Cluster(lab)
            n1, n2 = lab.nodes
            cluster.create(self)
            cluster.replicated([n2])
            load = Probe(lab, lab.clients[0], [PYTHON, str(TOOLS / "tls_load.py"), VIP, "120"], "tls-load")
            load.expect(r"^running$")
            load.expect(r"^progress ok=\d+ failed=0$", timeout=BOUND)
            hand_over(lab, n1)
            busywait(lambda: vip_holders(lab) == ["n2"] and lab.status(n2)["role"] == "active", BOUND,
                     "n2 active and holding the VIP alone")
            before = int(load.expect(r"^progress ok=(\d+)", timeout=BOUND).group(1))
            load.expect(r"^progress ok=\d+", timeout=BOUND)  # more connections, now on n2
            self.assertGreater(stop_load(self, load, hand_over.__name__), before)
            cluster.assert_all_resume(self)
            self.assertEqual(lab.neighbour(lab.clients[0], VIP)[0], n2.mac)
            return lab.status(n2)

    def test_failoverctl_switchover(self):
        def switchover(lab, n1):
            result = lab.failoverctl(n1, "switchover")
            self.assertIn("done, n2 is active", result.stdout)
        self.under_load(switchover)

    def test_sigterm_of_the_active_hands_over_before_it_exits(self):
        def sigterm(lab, n1):
            n1.failoverd.process.send_signal(signal.SIGTERM)
            self.assertEqual(n1.failoverd.process.wait(BOUND), 0)
            n1.failoverd.expect(r"\[switchover\] switchover done: n2 is active", timeout=BOUND)
        self.under_load(sigterm)

    def test_maintenance_mode_hands_over_and_keeps_the_node_out(self):
        def maintenance(lab, n1):
            lab.failoverctl(n1, "maintenance", "on")
            busywait(lambda: lab.status(n1)["role"] == "maintenance", BOUND, "n1 in maintenance")
        self.under_load(maintenance)

    def test_switchovers_that_cannot_be_done_are_refused_clearly(self):
        with Lab(nodes=2, clients=1) as lab:
            Cluster(lab)
            n1, n2 = lab.nodes
            unknown = lab.failoverctl(n1, "switchover", "n9", check=False)
            self.assertEqual(unknown.returncode, 1)
            self.assertIn("no member named 'n9'", unknown.stderr)
            lab.failoverctl(n2, "maintenance", "on")
            busywait(lambda: any(m["name"] == "n2" and m["role"] == "maintenance"
                                 for m in lab.status(n1)["members"]), BOUND, "n1 sees n2 in maintenance")
            refused = lab.failoverctl(n1, "switchover", check=False)
            self.assertEqual(refused.returncode, 1)
            self.assertIn("no in-sync standby to switch over to", refused.stderr)
            refused = lab.failoverctl(n1, "maintenance", "on", check=False)
            self.assertIn("no in-sync standby to hand the VIP over to", refused.stderr)
            self.assertEqual(lab.active_nodes(), ["n1"])

    def test_a_switchover_to_a_standby_not_in_sync_is_refused(self):
        with Lab(nodes=2, clients=1) as lab:
            n1, n2 = lab.nodes
            # n1 does not replicate, so n2 never receives its snapshot: a standby that stays
            # out of sync, as one still catching up would be.
            lab.start_failoverd(n1, priority=200, extra="replication = no\n")
            busywait(lambda: lab.active_nodes() == ["n1"], BOUND, "n1 active")
            # Elected, n1 first waits out a failed owner's guard (the lab's bound) before it adds
            # the VIP; the refusals below take less than that.
            busywait(lambda: vip_holders(lab) == ["n1"], BOUND, "n1 holding the VIP")
            lab.start_failoverd(n2, priority=100, ready=False)
            busywait(lambda: any(m["name"] == "n2" and not m["in_sync"] and m["role"] == "standby"
                                 for m in lab.status(n1)["members"]), BOUND, "n1 sees n2 as a standby not in sync")
            named = lab.failoverctl(n1, "switchover", "n2", check=False)
            self.assertEqual(named.returncode, 1)
            self.assertIn("node n2 is not in sync: its clients' sessions would not resume", named.stderr)
            unnamed = lab.failoverctl(n2, "switchover", check=False)
            self.assertEqual(unnamed.returncode, 1)
            self.assertIn("no in-sync standby to switch over to", unnamed.stderr)
            self.assertEqual(lab.active_nodes(), ["n1"])
            self.assertEqual(vip_holders(lab), ["n1"])

    def test_a_switchover_whose_target_is_lost_midway_ends_with_one_active_and_says_why(self):
        with Lab(nodes=2, clients=1) as lab:
            Cluster(lab)
            n1, n2 = lab.nodes
            # A connection that has not finished its handshake keeps n1 emptying (up to 1 s)
            # before it releases the VIP: the moment to lose the target.
            stalled = Probe(lab, lab.clients[0], [PYTHON, "-c", "import socket, sys\n"
                                                   "with socket.create_connection((sys.argv[1], 443), timeout=30):\n"
                                                   "    print('connected', flush=True)\n"
                                                   "    sys.stdin.readline()\n", VIP], "stalled")
            stalled.expect(r"^connected$")
            n1.failoverd.skip()
            switchover = Probe(lab, n1, lab.failoverctl_argv(n1, "switchover"), "switchover", stdin=False,
                               merge_stderr=True)
            n1.failoverd.expect(r"\[role\] active -> handing-over", timeout=BOUND)
            n2.failoverd.process.send_signal(signal.SIGKILL)
            n2.failoverd.process.wait(10)
            answer = switchover.expect(r"^failoverctl switchover: aborted", timeout=BOUND).string
            self.assertIn("staying active: n2 left the cluster", answer)
            self.assertEqual(switchover.process.wait(BOUND), 1)
            n1.failoverd.expect(r"\[role\] handing-over -> active \(.*: n2 left the cluster", timeout=BOUND)
            self.assertEqual(lab.active_nodes(), ["n1"])
            self.assertEqual(vip_holders(lab), ["n1"])
            stalled.stop()
            # n1 answers for the VIP again.
            self.assertEqual(lab.neighbour(lab.clients[0], VIP)[0], n1.mac)
            cluster_client = Probe(lab, lab.clients[0], [PYTHON, str(TOOLS / "tls_sessions.py")], "tls-sessions")
            cluster_client.send(f"create tls12-ids 5 {VIP}")
            self.assertEqual(cluster_client.expect(r"^created ", timeout=60).string, "created 5 failed 0")

    def test_a_switchover_asked_on_the_standby_is_carried_out_by_the_active(self):
        with Lab(nodes=2, clients=1) as lab:
            Cluster(lab)
            n1, n2 = lab.nodes
            result = lab.failoverctl(n2, "switchover", "--to", "n2")
            self.assertIn("done, n2 is active", result.stdout)
            self.assertEqual(lab.active_nodes(), ["n2"])
            self.assertEqual(vip_holders(lab), ["n2"])

    def test_hooks_run_with_the_transition_and_a_hung_one_is_killed(self):
        """A hook gets the transition as arguments and in FAILOVERD_* variables, then a stop
        event when the daemon stops; a hung hook is killed and blocks nothing."""
        with Lab(nodes=2, clients=1) as lab:
            n1, n2 = lab.nodes
            record = n2.dir / "hook.log"
            hook = n2.dir / "hook.sh"
            hook.write_text(f'#!/bin/sh\necho "$1|$2|$3|$FAILOVERD_EVENT|$FAILOVERD_OLD_ROLE|$FAILOVERD_NEW_ROLE|'
                            f'$FAILOVERD_REASON|$FAILOVERD_NODE" >> "{record}"\n')
            hung = n1.dir / "hung.sh"
            hung.write_text("#!/bin/sh\nexec sleep 1000\n")  # a hook that never returns
            for script in (hook, hung):
                script.chmod(0o755)
            lab.start_failoverd(n1, priority=200, extra=f"notify-program = {hung}\nnotify-timeout-ms = 300\n")
            lab.start_failoverd(n2, priority=100, extra=f"notify-program = {hook}\n")
            busywait(lambda: lab.active_nodes() == ["n1"], BOUND, "n1 active")
            n1.failoverd.expect(r"\[hook\] .*hung.sh was killed after 300 ms", timeout=BOUND)
            lab.failoverctl(n1, "switchover")  # n1's event loop carried on
            promoted = "standby|active|switchover from n1|transition|standby|active|switchover from n1|n2"
            busywait(lambda: record.exists() and promoted in record.read_text(), BOUND, "n2's hook told of its promotion")
            n1.failoverd.expect(r"\[hook\] .*hung.sh was killed after 300 ms", timeout=BOUND)
            busywait(lambda: lab.status(n1)["role"] == "standby", BOUND, "n1 a standby after its grace")
            # Stopping runs the hook once more, after the VIP is gone, before the process exits.
            n2.failoverd.stop()
            self.assertEqual(n2.failoverd.process.returncode, 0)
            last = record.read_text().splitlines()[-1]
            self.assertRegex(last, r"^(active|standby|handing-over)\|stopped\|failoverd is stopping\|stop\|"
                                   r"\1\|stopped\|failoverd is stopping\|n2$")
            # n1's hung hook was killed once per transition; stopping runs it once more and
            # kills it after its timeout, so the stop is not held up (a SIGKILL from the lab
            # after STOP_TIMEOUT would give -9).
            killed = lambda: sum(1 for line in n1.failoverd.lines if re.search(r"\[hook\] .*hung.sh was killed", line))
            transitions = lab.status(n1)["transitions"]
            busywait(lambda: n1.failoverd.pump(0.1) and killed() == transitions, BOUND, "every hook of n1 killed")
            # Every take and release of the VIP is logged (n1 released it in the switchover).
            self.assertTrue(any(line.endswith("[vip] released") for line in n1.failoverd.lines), n1.failoverd.lines)
            n1.failoverd.process.terminate()
            for _ in range(STOP_TIMEOUT):  # its output to EOF: it exits within a second or so
                if not n1.failoverd.pump(1):
                    break
            self.assertEqual(n1.failoverd.process.wait(STOP_TIMEOUT), 0)
            # n2's stop left n1 the VIP, so stopping n1 is one more transition (it lets the VIP
            # go) before the stop event: one hook per transition it logged, and the stop. On
            # stop the hooks still queued share one notify-timeout-ms: one still hung at its end
            # is killed, and those after it are not run, which is logged with their number.
            logged = sum(1 for line in n1.failoverd.lines if re.search(r"\[role\] \S+ -> \S+ \(", line))
            not_run = sum(int(m.group(1)) for line in n1.failoverd.lines
                          if (m := re.search(r"hung.sh: (\d+) notification\(s\) not run", line)))
            self.assertGreaterEqual(logged, transitions)
            self.assertEqual(killed() + not_run, logged + 1)

    def test_reload_swaps_the_certificate_without_dropping_connections_or_sessions(self):
        with Lab(nodes=1, clients=1) as lab:
            n1, c1 = lab.nodes[0], lab.clients[0]
            lab.start_failoverd(n1)
            busywait(lambda: lab.active_nodes() == ["n1"], BOUND, "n1 active")
            sessions = Probe(lab, c1, [PYTHON, str(TOOLS / "tls_sessions.py")], "tls-sessions")
            sessions.send(f"create tls12-ids 10 {VIP}")
            sessions.expect(r"^created 10 failed 0$", timeout=BOUND)
            connected = Probe(lab, c1, [PYTHON, str(TOOLS / "keepalive_client.py"), VIP], "keepalive")
            connected.expect(r"^first ok$", timeout=BOUND)
            subject = lambda: lab.exec(c1, "openssl", "s_client", "-connect", f"{VIP}:443", input="").stdout
            self.assertRegex(subject(), r"subject=CN ?= ?a\.example")

            config = n1.dir / "failoverd.conf"
            text = config.read_text()
            text = re.sub(r"tls-certificate = .*\ntls-key = .*\n", "", text)
            chain, key = lab.certs["b"]
            config.write_text(text + f"tls-certificate = {chain}\ntls-key = {key}\n")
            lab.failoverctl(n1, "reload")
            self.assertRegex(subject(), r"subject=CN ?= ?b\.example")
            connected.send("again")
            connected.expect(r"^second ok$", timeout=BOUND)
            sessions.send(f"resume tls12-ids {VIP}")
            self.assertEqual(sessions.expect(r"^resumed ", timeout=BOUND).string, "resumed 10 of 10 failed 0")

            config.write_text(config.read_text().replace("tls-port = 443", "tls-port = 8443"))
            refused = lab.failoverctl(n1, "reload", check=False)
            self.assertEqual(refused.returncode, 1)
            self.assertIn("cannot change while running", refused.stderr)

    def test_rotate_keys_reaches_every_node_before_a_key_is_used(self):
        with Lab(nodes=2, clients=1) as lab:
            cluster = Cluster(lab)
            n1, n2 = lab.nodes
            self.assertIn("the active node rotates", lab.failoverctl(n2, "rotate-keys", check=False).stderr)
            lab.failoverctl(n1, "rotate-keys")
            # Tickets under the new current key at once, without waiting for n2: that key was
            # already n2's "next" key, so they resume there after a crash of n1.
            for kind in ("tls12-tickets", "tls13"):
                cluster.client.send(f"create {kind} 20 {VIP}")
                self.assertEqual(cluster.client.expect(r"^created ", timeout=60).string, "created 20 failed 0")
            n1.failoverd.process.send_signal(signal.SIGKILL)
            n1.failoverd.process.wait(10)
            n2.failoverd.expect(r"\[vip\] taken and announced", timeout=BOUND)
            for kind in ("tls12-tickets", "tls13"):
                cluster.client.send(f"resume {kind} {VIP}")
                self.assertEqual(cluster.client.expect(r"^resumed ", timeout=60).string, "resumed 20 of 20 failed 0",
                                 kind)
            self.assertEqual(lab.status(n2)["ticket_keys"], 3)


if __name__ == "__main__":
    unittest.main()
