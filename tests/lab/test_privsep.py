"""The internet-facing TLS service runs in its own process, unprivileged and confined: what a
compromised one would try first fails from inside it (checked by running the calls in the real
process, through gdb), and the agent restarts one that dies or sends garbage, re-seeding it so
that sessions still resume."""

import errno
import os
import pwd
import re
import struct
import subprocess
import time
import unittest
from pathlib import Path

from lab import VIP4, Lab, busywait
from test_failover import BOUND, Cluster

TLS_USER = "failoverd-tls"
AF_UNIX, AF_INET, AF_NETLINK, AF_PACKET = 1, 2, 16, 17
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW = 1, 2, 3
ETH_P_ALL_BE = 0x0300  # htons(ETH_P_ALL)
NETLINK_ROUTE = 0
PTRACE_ATTACH = 16
SIOCSIFADDR = 0x8916
CHANNEL_FD = 3  # the TLS service's end of its channel to the agent (daemon/tls_process.h)


def c_literal(data):
    """bytes as a C string literal for gdb (octal escapes: any byte, zeros included)."""
    return '"' + "".join(f"\\{byte:03o}" for byte in data) + '"'


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields


def listening_sockets(pid):
    """How many of pid's descriptors are TCP sockets listening on port 443."""
    listening = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as entries:
            next(entries)
            for entry in entries:
                fields = entry.split()
                if fields[1].endswith(":01BB") and fields[3] == "0A":  # port 443, TCP_LISTEN
                    listening.add(fields[9])
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except FileNotFoundError:
            continue
        count += target.startswith("socket:[") and target[8:-1] in listening
    return count


def in_process(pid, calls):
    """Runs each C expression inside process pid (gdb attaches, calls, detaches) and returns
    (value, errno) per expression: errno as the process's own, read right after the call."""
    commands = []
    for expression in calls:
        commands += ["-ex", f"print (long)({expression})", "-ex", "print *((int*(*)(void))__errno_location)()"]
    result = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", *commands], capture_output=True, text=True,
                            timeout=120)
    values = [int(v) for v in re.findall(r"^\$\d+ = (-?\d+)$", result.stdout, re.MULTILINE)]
    if len(values) != 2 * len(calls):
        raise AssertionError(f"gdb did not run every call in {pid}:\n{result.stdout}\n{result.stderr}")
    return list(zip(values[0::2], values[1::2]))


class Separation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = Lab(nodes=2, clients=1)
        cls.lab.__enter__()
        try:
            cls.cluster = Cluster(cls.lab)
        except BaseException:
            cls.lab.__exit__(None, None, None)
            raise
        cls.n1 = cls.lab.nodes[0]

    @classmethod
    def tearDownClass(cls):
        cls.lab.__exit__(None, None, None)

    def service(self):
        """The TLS service's status, once a process serves (the pid appears once it is confined
        and seeded; a previous test may have just replaced it)."""
        busywait(lambda: self.lab.status(self.n1)["tls_service"]["pid"] is not None, BOUND,
                 "a serving TLS service process")
        return self.lab.status(self.n1)["tls_service"]

    def test_the_service_runs_as_its_user_with_no_capability_under_a_seccomp_filter(self):
        pid = self.service()["pid"]
        account = pwd.getpwnam(TLS_USER)
        status = proc_status(pid)
        self.assertEqual(status["Uid"], [str(account.pw_uid)] * 4, "real, effective, saved and fs uid")
        self.assertEqual(status["Gid"], [str(account.pw_gid)] * 4)
        self.assertEqual(status["Groups"], [], "no supplementary group")
        for capabilities in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            self.assertEqual(int(status[capabilities][0], 16), 0, capabilities)
        self.assertEqual(status["NoNewPrivs"], ["1"])
        self.assertEqual(status["Seccomp"], ["2"], "a seccomp filter is on")
        # The contrast: its parent is the agent, root with the network capabilities.
        agent = proc_status(status["PPid"][0])
        self.assertEqual(agent["Uid"][1], "0")
        self.assertNotEqual(int(agent["CapEff"][0], 16), 0)
        self.assertEqual(self.service()["user"], TLS_USER)

    def assert_listeners_are_the_services_alone(self, service_pid):
        """The agent hands the listening sockets over and keeps none: a killed agent must not
        leave a listener that takes connections nobody will serve (daemon/tls_service.h)."""
        agent = int(proc_status(service_pid)["PPid"][0])
        self.assertGreaterEqual(listening_sockets(service_pid), 1, "the TLS service listens")
        self.assertEqual(listening_sockets(agent), 0, "the agent holds no listener")

    def test_the_listening_sockets_are_the_services_alone(self):
        self.assert_listeners_are_the_services_alone(self.service()["pid"])

    def test_from_inside_it_what_a_compromised_service_tries_fails(self):
        pid = self.service()["pid"]
        agent = int(proc_status(pid)["PPid"][0])
        ifreq = "(char*)malloc(40)"
        allowed, packet, netlink, unix_socket, key, ptrace, root, address = in_process(pid, [
            # The contrast: a call the data path makes (a backend connection's socket) works.
            f"socket({AF_INET}, {SOCK_STREAM}, 0)",
            f"socket({AF_PACKET}, {SOCK_RAW}, {ETH_P_ALL_BE})",        # raw frames (gratuitous ARP)
            f"socket({AF_NETLINK}, {SOCK_RAW}, {NETLINK_ROUTE})",     # adding an address, a route
            f"socket({AF_UNIX}, {SOCK_STREAM}, 0)",                   # Corosync's IPC
            f'open("{self.lab.cluster_key}", 0)',                      # the cluster key
            f"ptrace({PTRACE_ATTACH}, {agent}, 0, 0)",                 # the agent
            "setuid(0)",
            # SIOCSIFADDR on a socket it may open: "svc0" at 198.18.0.99 (struct ifreq).
            f"ioctl(socket({AF_INET}, {SOCK_DGRAM}, 0), {SIOCSIFADDR}, "
            f"(char*)memcpy({ifreq}, \"svc0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\2\\0\\0\\0\\306\\022\\0\\143\", 24))",
        ])
        self.assertGreaterEqual(allowed[0], 0, "the harness: an allowed call must work")
        for name, (value, err) in {"AF_PACKET socket": packet, "netlink route socket": netlink,
                                   "unix socket (Corosync's IPC)": unix_socket, "ptrace of the agent": ptrace,
                                   "setuid(0)": root, "SIOCSIFADDR": address}.items():
            self.assertEqual((value, err), (-1, errno.EPERM), name)
        # No open() at all under the filter (EPERM); the sanitizer build allows it for its own
        # needs, and the key's mode (0600, root) refuses it (EACCES).
        self.assertEqual(key[0], -1, "opening the cluster key")
        self.assertIn(key[1], (errno.EPERM, errno.EACCES), "opening the cluster key")

    def test_a_killed_service_is_restarted_and_reseeded_and_its_sessions_resume(self):
        self.cluster.create(self)
        before = self.service()
        subprocess.run(["kill", "-KILL", str(before["pid"])], check=True)
        busywait(lambda: self.service()["pid"] not in (None, before["pid"]), BOUND, "a new TLS service process")
        self.n1.failoverd.expect(rf"\[tls-service\] process {before['pid']} was killed by signal Killed", BOUND)
        self.n1.failoverd.expect(r"\[tls-service\] process \d+ serves on port", BOUND)
        after = self.service()
        self.assertEqual(after["starts"], before["starts"] + 1)
        self.assertEqual(self.lab.active_nodes(), ["n1"], "the VIP stays where it was")
        self.assert_listeners_are_the_services_alone(after["pid"])  # fresh ones
        self.cluster.assert_all_resume(self)

    def test_a_service_that_sends_garbage_is_cut_off_counted_and_restarted(self):
        before = self.service()
        # From inside it: a datagram of version 1 with an unknown type (99) on its channel. The
        # agent kills it before gdb gets the call's result back.
        subprocess.run(["gdb", "-p", str(before["pid"]), "-batch", "-nx", "-ex",
                        f'print (long)send({CHANNEL_FD}, "\\001\\143garbage", 9, 0)'], capture_output=True,
                       timeout=120)
        self.n1.failoverd.expect(rf"\[tls-service\] cutting off process {before['pid']}: .*unknown message type 99",
                                 BOUND)
        busywait(lambda: self.service()["pid"] not in (None, before["pid"]), BOUND, "a new TLS service process")
        after = self.service()
        self.assertEqual(after["channel_errors"], before["channel_errors"] + 1)
        self.assertEqual(after["starts"], before["starts"] + 1)
        self.cluster.create(self, count=20)
        self.cluster.assert_all_resume(self)

    def test_what_a_compromised_service_reports_is_parsed_only_by_the_other_nodes_tls_services(self):
        """A session report whose DER is garbage, sent from inside n1's TLS process: n1's agent
        replicates it without parsing it, and n2's TLS process, not its agent, refuses it.
        (Named to run last: the report's number is far ahead of the process's own.)"""
        n2 = self.lab.nodes[1]
        refused_before = self.lab.status(n2)["tls_service"]["sessions_refused"]
        n2_service = self.lab.status(n2)["tls_service"]["pid"]
        record = bytes([1, 32]) + bytes(range(32)) + struct.pack(">q", int(time.time()) + 300) + \
            struct.pack(">I", 4) + b"junk"
        report = bytes([1, 0]) + struct.pack(">q", 1 << 40) + record  # version 1, SessionCreated
        pid = self.service()["pid"]
        (sent, _err), = in_process(pid, [f"send({CHANNEL_FD}, {c_literal(report)}, {len(report)}, 0)"])
        self.assertEqual(sent, len(report))
        busywait(lambda: self.lab.status(n2)["tls_service"]["sessions_refused"] > refused_before, BOUND,
                 "n2's TLS service to refuse the replicated garbage")
        self.assertEqual(self.lab.status(n2)["tls_service"]["pid"], n2_service, "n2's TLS service kept running")
        self.assertEqual(self.lab.status(n2)["tls_service"]["channel_errors"], 0)
        self.assertEqual(self.lab.active_nodes(), ["n1"])


if __name__ == "__main__":
    unittest.main()


def thread_cpus(pid):
    """{thread id: its Cpus_allowed_list} for every thread of pid."""
    return {int(task.name): proc_status(f"{pid}/task/{task.name}")["Cpus_allowed_list"][0]
            for task in Path(f"/proc/{pid}/task").iterdir()}


class Placement(unittest.TestCase):
    """agent-cpus and tls-cpus: the agent (with Corosync, on the operator's side) keeps the
    cluster's real-time work on its CPUs and the TLS workers on theirs (docs/configuration.md)."""

    def test_the_agent_and_the_tls_service_run_on_their_own_cpus_restarts_included(self):
        cpus = sorted(os.sched_getaffinity(0))
        self.assertGreaterEqual(len(cpus), 2, "the lab machine has two CPUs or more; this test needs two")
        agent_cpu, tls_cpu = str(cpus[0]), str(cpus[1])
        started_on = proc_status(os.getpid())["Cpus_allowed_list"][0]  # what failoverd is started with
        with Lab(nodes=2, clients=1) as lab:
            n1, n2 = lab.nodes[:2]
            lab.start_failoverd(n1, priority=200,
                                extra=f"agent-cpus = {agent_cpu}\ntls-cpus = {tls_cpu}\ntls-workers = 0\n")
            lab.start_failoverd(n2, extra=f"agent-cpus = {tls_cpu}\n")
            busywait(lambda: lab.active_nodes() == ["n1"], BOUND, "n1 active")
            n1.failoverd.expect(r"\[vip\] taken and announced", timeout=BOUND)

            def serving(host):
                busywait(lambda: lab.status(host)["tls_service"]["pid"] is not None, BOUND, "a serving TLS process")
                return lab.status(host)["tls_service"]["pid"]

            def assert_placed(agent_pid, service_pid, agent_cpus, service_cpus):
                self.assertEqual(set(thread_cpus(agent_pid).values()), {agent_cpus}, "every thread of the agent")
                self.assertEqual(set(thread_cpus(service_pid).values()), {service_cpus},
                                 "every thread of the TLS service process")

            service = serving(n1)
            assert_placed(n1.failoverd.process.pid, service, agent_cpu, tls_cpu)
            # tls-workers = 0: one worker per CPU of tls-cpus (one), beside the channel's thread.
            self.assertEqual(len(thread_cpus(service)), 2, "the channel's thread and one worker")
            # agent-cpus alone: the TLS process runs where failoverd was started to, not on the
            # agent's CPUs.
            assert_placed(n2.failoverd.process.pid, serving(n2), tls_cpu, started_on)
            # A restarted TLS process is placed as the first was.
            subprocess.run(["kill", "-KILL", str(service)], check=True)
            busywait(lambda: lab.status(n1)["tls_service"]["pid"] not in (None, service), BOUND,
                     "a new TLS service process")
            assert_placed(n1.failoverd.process.pid, serving(n1), agent_cpu, tls_cpu)
            # And it serves: a handshake and a request from the client.
            page = lab.exec(lab.clients[0], "curl", "-sk", "--max-time", "10",
                            f"https://{VIP4.split('/')[0]}/index.html").stdout
            self.assertIn("failoverd", page)
