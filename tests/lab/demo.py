"""The failoverd demo, at this stage of the project: a three-node lab with a client, each node
running its own encrypted Corosync; the membership as every node sees it; each node's
failoverd configuration checked; one node's corosync killed and the others seeing it leave
while they stay quorate; the node restarted and rejoining. Everything is torn down at the end.
"""

import signal
import subprocess
import sys
import time

from lab import BUILD_DIR, VIP4, VIP6, Lab


def say(text=""):
    print(text, flush=True)


def members(view):
    return ",".join(f"n{i}" for i in view.totem)


def main():
    started = time.monotonic()
    with Lab(nodes=3, clients=1) as lab:
        say(f"lab {lab.run_id}: up in {time.monotonic() - started:.1f} s")
        say("  service LAN 198.18.1.0/24 + fd00:198:18::/64, cluster LAN 198.18.2.0/24, "
            f"VIP {VIP4} and {VIP6}")
        for host in lab.nodes + lab.clients:
            cluster = f", cluster {host.cluster_ip4}" if host.cluster_ip4 else ""
            say(f"  {host.name}: namespace {host.netns}, service {host.service_ip4} "
                f"{host.service_ip6}{cluster}")
        say()
        say("Corosync membership (knet, aes256/sha256, token %d ms):" % lab.token_ms)
        for host in lab.nodes:
            view = host.watcher.view
            say(f"  {host.name} sees ring [{members(view)}], quorate={'yes' if view.quorate else 'no'}")
        say()
        say("failoverd --check-config on each node:")
        for host in lab.nodes:
            config = host.dir / "failoverd.conf"
            config.write_text(f"node-name = {host.name}\nvip = {VIP4}\nvip = {VIP6}\n"
                              f"interface = svc0\ncluster-key-file = {lab.dir / 'cluster.key'}\n")
            if not (lab.dir / "cluster.key").exists():
                lab.exec(host, str(BUILD_DIR / "daemon" / "failoverctl"), "keygen",
                         str(lab.dir / "cluster.key"))
            check = lab.exec(host, str(BUILD_DIR / "daemon" / "failoverd"), "--check-config",
                             str(config), check=False)
            say(f"  {host.name}: {(check.stdout or check.stderr).strip()}")
        say()
        n1, n2, n3 = lab.nodes
        say("kill -9 of n3's corosync:")
        killed = lab.kill_corosync(n3, signal.SIGKILL)
        views = lab.wait_for_membership([1, 2], timeout=10, observers=[n1, n2])
        for name, view in views.items():
            say(f"  {name} saw n3 leave after {(view.totem_time - killed) * 1000:.0f} ms; "
                f"ring [{members(view)}], quorate={'yes' if view.quorate else 'no'}")
        say("restart of n3's corosync:")
        restarted = time.monotonic()
        lab.start_corosync(n3)
        views = lab.wait_for_membership([1, 2, 3], timeout=20)
        say(f"  n3 back in the ring after {(views['n1'].totem_time - restarted) * 1000:.0f} ms; "
            f"ring [{members(views['n1'])}]")
        say()
        say(lab.exec(n1, "corosync-quorumtool", "-s").stdout.split("Membership information")[-1]
            .strip("-\n "))
        teardown = time.monotonic()
    say(f"\nlab torn down in {time.monotonic() - teardown:.1f} s; total {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.SubprocessError as error:
        sys.exit(f"demo: {error}")
