"""netctl in the lab: the real takeover code (through vip-tool) against a real kernel, seen
from a client namespace: who answers on the VIP, the client's neighbour table, the
announcement frames on the wire, the connection hold, and that everything is restored."""

import re
import signal
import statistics
import unittest

from lab import VIP4, VIP6, Lab, busywait

VIP4_ADDRESS = VIP4.split("/")[0]
VIP6_ADDRESS = VIP6.split("/")[0]
PORT = 8080
HOLD_PORT = 8443
COUNT = 3          # frames per burst, per VIP and form
INTERVAL = 0.1     # seconds between the frames of a burst
REPEAT = 0.6       # seconds from the end of the first burst to the second
ANNOUNCE_ARGS = ("--count", str(COUNT), "--interval-ms", str(int(INTERVAL * 1000)),
                 "--repeat-ms", str(int(REPEAT * 1000)))


def snapshot(lab, host):
    """What netctl may touch on a node: svc0's addresses, ARP sysctls, link flags, rules."""
    addresses = sorted(re.findall(r"inet6? (\S+)", lab.ip(host, "-o", "addr", "show", "dev", "svc0").stdout))
    sysctls = {name: lab.exec(host, "cat", f"/proc/sys/net/ipv4/conf/svc0/{name}").stdout.strip()
               for name in ("arp_ignore", "arp_announce")}
    link = lab.ip(host, "-o", "link", "show", "svc0").stdout.split(">")[0]
    rules = lab.exec(host, "iptables", "-S").stdout + lab.exec(host, "ip6tables", "-S").stdout
    return {"addresses": addresses, "sysctls": sysctls, "link": link, "rules": rules}


def parse_frame(line):
    stamp, hex_frame = line.split()
    frame = bytes.fromhex(hex_frame)
    return float(stamp), frame


class Takeover(unittest.TestCase):
    def run_switch(self, mode):
        with Lab(nodes=2, clients=1, corosync=False) as lab:
            n1, n2 = lab.nodes
            c1 = lab.clients[0]
            baseline = {h.name: snapshot(lab, h) for h in lab.nodes}
            for host in lab.nodes:
                lab.name_server(host, PORT)
            tools = {h.name: lab.vip_tool(h, *ANNOUNCE_ARGS, mode=mode) for h in lab.nodes}

            for host in lab.nodes:
                state = snapshot(lab, host)
                if mode == "shared-ip":
                    self.assertIn(VIP4, state["addresses"])
                    self.assertEqual(state["sysctls"]["arp_ignore"], "8")
                else:
                    self.assertNotIn(VIP4, state["addresses"])

            tools["n1"].send("promote")
            tools["n1"].expect(r"^taken ")
            for address in (VIP4_ADDRESS, VIP6_ADDRESS):
                ok, reply, _ = lab.connect(c1, address, PORT)
                self.assertTrue(ok, f"{address}: {reply}")
                self.assertEqual(reply, "n1")
                # The entry is fresh and confirmed by the traffic just exchanged.
                self.assertEqual(lab.neighbour(c1, address), (n1.mac, "REACHABLE"), address)

            capture = lab.capture(c1, seconds=5, count=100)
            tools["n1"].send("demote")
            tools["n1"].expect(r"^demoted ")
            tools["n2"].send("promote")
            tools["n2"].expect(r"^taken ")
            # Once the first frames of the next burst are on the client's wire, the first
            # burst has been processed; no client traffic has been sent since.
            for _ in range(4):
                capture.expect(rf"^\d+\.\d+ [0-9a-f]{{12}}{n2.mac.replace(':', '')}")
            for address in (VIP4_ADDRESS, VIP6_ADDRESS):
                lladdr, state = lab.neighbour(c1, address)
                self.assertEqual(lladdr, n2.mac, f"{address} still at {lladdr} ({state})")
            for address in (VIP4_ADDRESS, VIP6_ADDRESS):
                ok, reply, _ = lab.connect(c1, address, PORT)
                self.assertTrue(ok, f"{address}: {reply}")
                self.assertEqual(reply, "n2")

            capture.expect(r"^done$", timeout=10)
            self.check_frames(capture.lines, n2.mac)

            for host in lab.nodes:
                tools[host.name].send("quit")
                tools[host.name].expect(r"^stopped$")
                self.assertEqual(snapshot(lab, host), baseline[host.name], host.name)

    def check_frames(self, lines, mac):
        """The announcements from mac: well formed, COUNT per burst and form, two bursts."""
        mac_bytes = bytes.fromhex(mac.replace(":", ""))
        vip4 = bytes(int(x) for x in VIP4_ADDRESS.split("."))
        vip6 = bytes.fromhex("fd000198001800000000000000000010")
        requests, replies, advertisements = [], [], []
        for line in lines:
            if not re.match(r"^\d+\.\d+ [0-9a-f]+$", line):
                continue
            stamp, frame = parse_frame(line)
            # Announcements only: gratuitous ARP (sender IP == target IP) and unsolicited NA
            # (to all nodes); the node's ordinary ARP/ND traffic is not counted.
            is_garp = frame[12:14] == b"\x08\x06" and frame[28:32] == frame[38:42]
            is_unsolicited_na = frame[12:14] == b"\x86\xdd" and frame[0:6] == bytes.fromhex("333300000001")
            if frame[6:12] != mac_bytes or not (is_garp or is_unsolicited_na):
                continue
            if is_garp:
                self.assertEqual(frame[0:6], b"\xff" * 6, "ARP not broadcast")
                self.assertEqual(frame[14:20], bytes.fromhex("000108000604"))
                op = int.from_bytes(frame[20:22], "big")
                self.assertEqual(frame[22:28], mac_bytes)  # sender MAC
                self.assertEqual(frame[28:32], vip4)       # sender IP = VIP
                self.assertEqual(frame[38:42], vip4)       # target IP = VIP
                if op == 1:
                    self.assertEqual(frame[32:38], b"\0" * 6)
                    requests.append(stamp)
                else:
                    self.assertEqual(op, 2)
                    self.assertEqual(frame[32:38], mac_bytes)
                    replies.append(stamp)
            else:
                self.assertEqual(frame[21], 255, "hop limit")           # ND requires 255
                self.assertEqual(frame[22:38], vip6)                    # source = VIP
                self.assertEqual(frame[38:54], bytes.fromhex("ff02" + "00" * 13 + "01"))
                self.assertEqual(frame[54], 136)                        # NA
                self.assertEqual(frame[58] & 0xe0, 0x20, "flags: only Override")
                self.assertEqual(frame[62:78], vip6)                    # target = VIP
                self.assertEqual(frame[78:80], b"\x02\x01")             # target lladdr option
                self.assertEqual(frame[80:86], mac_bytes)
                advertisements.append(stamp)
        for name, stamps in (("requests", requests), ("replies", replies),
                             ("advertisements", advertisements)):
            self.assertEqual(len(stamps), 2 * COUNT, f"{name}: {len(stamps)}")
            gaps = [b - a for a, b in zip(stamps, stamps[1:])]
            within = gaps[:COUNT - 1] + gaps[COUNT:]
            # Paced, not sent all at once (loose bounds: the machine is shared).
            self.assertGreater(statistics.median(within), INTERVAL * 0.7, f"{name}: {gaps}")
            self.assertLess(statistics.median(within), INTERVAL * 3, f"{name}: {gaps}")
            self.assertGreater(gaps[COUNT - 1], REPEAT * 0.9, f"{name}: no second burst {gaps}")

    def test_move_ip(self):
        self.run_switch("move-ip")

    def test_shared_ip(self):
        self.run_switch("shared-ip")


class Lost(unittest.TestCase):
    def test_an_active_node_notices_when_its_vip_or_link_goes(self):
        with Lab(nodes=1, clients=0, corosync=False) as lab:
            n1 = lab.nodes[0]
            tool = lab.vip_tool(n1, vips=(VIP4, VIP6))
            tool.send("promote")
            tool.expect(r"^taken ")
            lab.ip(n1, "addr", "del", VIP6, "dev", "svc0")
            tool.expect(r"^lost .* reason=VIP fd00:198:18::10/64 was removed from svc0 by someone else")
            self.assertNotIn(VIP4, snapshot(lab, n1)["addresses"], "a lost node gives up every VIP")

            tool.send("promote")
            tool.expect(r"^taken ")
            lab.set_link(n1, "svc0", up=False)
            tool.expect(r"^lost .* reason=interface svc0 went down")
            lab.set_link(n1, "svc0", up=True)
            tool.send("quit")
            tool.expect(r"^stopped$")


class Restore(unittest.TestCase):
    def test_down_on_demote_fences_the_interface_and_exit_brings_it_back(self):
        with Lab(nodes=1, clients=0, corosync=False) as lab:
            n1 = lab.nodes[0]
            link_up = lambda: ",UP" in snapshot(lab, n1)["link"]
            tool = lab.vip_tool(n1, "--down-on-demote", vips=(VIP4,))
            self.assertFalse(link_up(), "a fenced standby keeps its service interface down")
            tool.send("promote")
            tool.expect(r"^taken ")
            self.assertTrue(link_up())
            tool.send("demote")
            tool.expect(r"^demoted ")
            self.assertFalse(link_up())
            tool.send("quit")
            tool.expect(r"^stopped$")
            self.assertTrue(link_up(), "exit restores the link state it found")

    def test_shared_ip_sysctls_are_restored_after_a_crash(self):
        with Lab(nodes=1, clients=0, corosync=False) as lab:
            n1 = lab.nodes[0]
            before = snapshot(lab, n1)
            tool = lab.vip_tool(n1, vips=(VIP4,), mode="shared-ip")
            self.assertEqual(snapshot(lab, n1)["sysctls"]["arp_ignore"], "8")
            tool.process.send_signal(signal.SIGKILL)
            tool.process.wait(10)
            self.assertEqual(snapshot(lab, n1)["sysctls"]["arp_ignore"], "8", "the crash skipped the undo")
            restarted = lab.vip_tool(n1, vips=(VIP4,), mode="shared-ip")
            self.assertRegex(restarted.lines[-1], r"reconciled=[1-9]")
            restarted.send("quit")
            restarted.expect(r"^stopped$")
            self.assertEqual(snapshot(lab, n1), before)


class ConnectionHold(unittest.TestCase):
    HOLD = ("--hold-port", str(HOLD_PORT), "--hold-queue", "3", "--hold-timeout-ms", "10000")

    def rule_present(self, lab, host):
        return "--queue-bypass" in lab.exec(host, "iptables", "-S", "INPUT").stdout

    def test_a_syn_sent_before_the_service_listens_is_answered_once_it_does(self):
        with Lab(nodes=1, clients=1, corosync=False) as lab:
            n1, c1 = lab.nodes[0], lab.clients[0]
            tool = lab.vip_tool(n1, *self.HOLD, vips=(VIP4,))
            self.assertTrue(self.rule_present(lab, n1), "a standby has the hold rule ready")
            tool.send("promote")
            tool.expect(r"^taken ")
            # Nothing listens on HOLD_PORT yet: without the hold this SYN would get an RST.
            client = lab.spawn_probe(c1, "connect.py", VIP4_ADDRESS, str(HOLD_PORT), "8")
            tool.expect(r"^held .* n=1$")
            lab.name_server(n1, HOLD_PORT)
            tool.send("ready")
            tool.expect(r"^released .* held=1$")
            result = client.expect(r"^(ok|failed) (\S+) ([0-9.]+)$")
            self.assertEqual(result.group(1, 2), ("ok", "n1"), "held SYN was not answered")
            # The rule goes on the helper thread (iptables must not stall the daemon's loop).
            busywait(lambda: not self.rule_present(lab, n1), 10, "an active node's SYNs skip the queue")
            ok, reply, _ = lab.connect(c1, VIP4_ADDRESS, HOLD_PORT)
            self.assertEqual((ok, reply), (True, "n1"))
            tool.send("demote")
            tool.expect(r"^demoted ")
            busywait(lambda: self.rule_present(lab, n1), 10, "back to standby: the rule is ready again")
            tool.send("quit")
            tool.expect(r"^stopped$")
            self.assertFalse(self.rule_present(lab, n1))

    def test_a_service_that_never_gets_ready_does_not_hold_connections_forever(self):
        with Lab(nodes=1, clients=1, corosync=False) as lab:
            n1, c1 = lab.nodes[0], lab.clients[0]
            lab.name_server(n1, HOLD_PORT)
            tool = lab.vip_tool(n1, "--hold-port", str(HOLD_PORT), "--hold-queue", "3",
                                "--hold-timeout-ms", "500", vips=(VIP4,))
            tool.send("promote")
            tool.expect(r"^taken ")
            client = lab.spawn_probe(c1, "connect.py", VIP4_ADDRESS, str(HOLD_PORT), "8")
            tool.expect(r"^held .* n=1$")
            # No "ready": the hold timeout lets the SYN through on its own.
            result = client.expect(r"^(ok|failed) (\S+) ([0-9.]+)$")
            self.assertEqual(result.group(1, 2), ("ok", "n1"))
            self.assertGreater(float(result.group(3)), 0.3, "released before the hold timeout")

    def test_with_no_consumer_bound_queue_bypass_lets_packets_through(self):
        with Lab(nodes=1, clients=1, corosync=False) as lab:
            n1, c1 = lab.nodes[0], lab.clients[0]
            lab.name_server(n1, HOLD_PORT)
            tool = lab.vip_tool(n1, *self.HOLD, vips=(VIP4,))
            tool.send("promote")
            tool.expect(r"^taken ")
            # The daemon dies while holding: the rule stays, the queue has no consumer.
            tool.process.send_signal(signal.SIGKILL)
            tool.process.wait(10)
            self.assertTrue(self.rule_present(lab, n1))
            ok, reply, _ = lab.connect(c1, VIP4_ADDRESS, HOLD_PORT, timeout=3)
            self.assertEqual((ok, reply), (True, "n1"), "a dead consumer black-holed the VIP")

            # A restart reconciles what the crash left: the stale VIP goes, the rule stays ready.
            restarted = lab.vip_tool(n1, *self.HOLD, vips=(VIP4,))
            self.assertRegex(restarted.lines[-1], r"reconciled=[1-9]")
            self.assertNotIn(VIP4, snapshot(lab, n1)["addresses"])
            restarted.send("quit")
            restarted.expect(r"^stopped$")
            self.assertFalse(self.rule_present(lab, n1))


class Probe(unittest.TestCase):
    def test_a_vip_answered_by_another_host_is_refused(self):
        with Lab(nodes=1, clients=1, corosync=False) as lab:
            n1, c1 = lab.nodes[0], lab.clients[0]
            tool = lab.vip_tool(n1, "--probe-ms", "300", vips=(VIP4,))
            lab.ip(c1, "addr", "add", VIP4, "dev", "svc0")
            tool.send("promote")
            tool.expect(rf"^lost .* reason=VIP {VIP4} is already answered by {c1.mac} on svc0")
            self.assertNotIn(VIP4, snapshot(lab, n1)["addresses"])
            # Once the other host lets go, the same takeover goes through.
            lab.ip(c1, "addr", "del", VIP4, "dev", "svc0")
            tool.send("promote")
            tool.expect(r"^taken ")
            tool.send("quit")
            tool.expect(r"^stopped$")


class Errors(unittest.TestCase):
    def test_clear_errors(self):
        with Lab(nodes=1, clients=0, corosync=False) as lab:
            n1 = lab.nodes[0]
            cases = [
                ((), {"interface": "nosuch0"}, r"interface 'nosuch0' does not exist"),
                (("setpriv", "--bounding-set", "-net_raw"), {}, r"CAP_NET_RAW"),
                (("setpriv", "--bounding-set", "-net_admin"), {}, r"CAP_NET_ADMIN"),
            ]
            for prefix, kwargs, message in cases:
                with self.subTest(message=message):
                    self.assertRegex(lab.run_vip_tool_once(n1, prefix, [], **kwargs), message)
            lab.exec(n1, "sysctl", "-q", "-w", "net.ipv6.conf.svc0.disable_ipv6=1")
            self.assertRegex(lab.run_vip_tool_once(n1, (), [], vips=(VIP6,)),
                             r"IPv6 is disabled on svc0")
            self.assertEqual(snapshot(lab, n1)["sysctls"], {"arp_ignore": "0", "arp_announce": "0"})


if __name__ == "__main__":
    unittest.main()
