"""The failoverd demo: a two-node lab (each node with its own encrypted Corosync and
failoverd) and a client. The client makes TLS sessions against the VIP on n1 (TLS 1.2 with
session IDs, TLS 1.2 with tickets, TLS 1.3); a planned switchover hands the VIP to n2 and the
clients resume there; then n2's failoverd is killed, n1 takes over, and the same clients
resume once more. Everything is torn down at the end.
"""

import signal
import subprocess
import sys
import time

from lab import PYTHON, TOOLS, VIP4, Lab, Probe, busywait

SESSIONS = 100
KINDS = {"tls12-ids": "TLS 1.2, session IDs", "tls12-tickets": "TLS 1.2, tickets",
         "tls13": "TLS 1.3, tickets"}
VIP = VIP4.split("/")[0]


def say(text=""):
    print(text, flush=True)


def handshakes(status):
    h = status["handshakes"]
    return (f"full {h['full_tls12'] + h['full_tls13']}, resumed "
            f"{sum(v for k, v in h.items() if k.startswith('resumed'))}")


def main():
    started = time.monotonic()
    with Lab(nodes=2, clients=1) as lab:
        n1, n2 = lab.nodes
        c1 = lab.clients[0]
        say(f"lab {lab.run_id}: 2 nodes + client c1 in network namespaces, Corosync (knet, encrypted, "
            f"token {lab.token_ms} ms) up in {time.monotonic() - started:.1f} s")
        lab.start_failoverd(n1, priority=200)
        lab.start_failoverd(n2, priority=100)
        busywait(lambda: lab.active_nodes() == ["n1"], 20, "n1 active")
        say(f"failoverd on both nodes; VIP {VIP4} on n1\n")
        say(lab.failoverctl(n1, "status").stdout)

        client = Probe(lab, c1, [PYTHON, str(TOOLS / "tls_sessions.py")], "tls-sessions")
        say(f"client c1: {SESSIONS} new TLS sessions of each kind against https://{VIP}/")
        for kind, label in KINDS.items():
            client.send(f"create {kind} {SESSIONS} {VIP}")
            say(f"  {label:22} {client.expect(r'^created ', timeout=120).string}")
        busywait(lambda: lab.status(n2)["sessions_cached"] >= SESSIONS, 20, "replication to n2")
        say(f"  n1: {handshakes(lab.status(n1))}; replicated to n2: "
            f"{lab.status(n2)['sessions_cached']} cached sessions and the ticket keys")
        sync = lab.status(n1)["replication"]["sync"]
        say(f"  sync mode: {sync['confirmed']} handshakes sent their last flight only once their session was "
            f"on n2 (waiting {sync['wait_us'] / max(1, sync['held']) / 1000:.2f} ms on average), "
            f"{sync['unprotected']} unprotected\n")

        def resume_all(node):
            for kind, label in KINDS.items():
                client.send(f"resume {kind} {VIP}")
                say(f"  {label:22} {client.expect(r'^resumed ', timeout=120).string}")
            say(f"  {node.name}: {handshakes(lab.status(node))}\n")

        say("planned switchover (failoverctl switchover on n1):")
        switched = time.monotonic()
        say("  " + lab.failoverctl(n1, "switchover").stdout.strip().replace("\n", "\n  "))
        say(f"  in {(time.monotonic() - switched) * 1000:.0f} ms; the client's ARP entry now points to "
            f"{lab.neighbour(c1, VIP)[0]} (n2)\n")
        say("client c1 comes back with the same sessions:")
        resume_all(n2)

        say("kill -9 of n2's failoverd (a crash):")
        n1.failoverd.skip()
        killed = time.monotonic()
        n2.failoverd.process.send_signal(signal.SIGKILL)
        n2.failoverd.process.wait(10)
        n1.failoverd.expect(r"\[vip\] taken and announced", timeout=20)
        say(f"  n1 took the VIP back {(time.monotonic() - killed) * 1000:.0f} ms later "
            f"(the client's ARP entry: {lab.neighbour(c1, VIP)[0]}, n1's MAC)\n")
        say("client c1 comes back once more:")
        resume_all(n1)
        say(lab.failoverctl(n1, "status").stdout)
        teardown = time.monotonic()
    say(f"lab torn down in {time.monotonic() - teardown:.1f} s; demo took {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.SubprocessError as error:
        sys.exit(f"demo: {error}")
