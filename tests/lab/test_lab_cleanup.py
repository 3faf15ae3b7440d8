"""The lab leaves nothing behind: no namespace, bridge, process, shared memory or directory,
whether a test passes, fails, or is killed."""

import os
import signal
import subprocess
import sys
import unittest
from pathlib import Path

import lab
from lab import Lab, LabError


def root_links():
    return sorted(line.split(":")[1].strip().split("@")[0]
                  for line in lab.run("ip", "-o", "link", "show").stdout.splitlines())


def shared_memory_of(pids):
    pids = {str(p) for p in pids}
    return [e.name for e in Path("/dev/shm").glob("qb-*") if pids & set(e.name.split("-"))]


class Cleanup(unittest.TestCase):
    def setUp(self):
        self.links_before = root_links()

    def assertNothingLeft(self, run_id, pids, workdir):
        self.assertEqual([n for n in lab.lab_namespaces() if n.startswith(run_id)], [])
        self.assertEqual([p for p in pids if lab.process_alive(p)], [])
        self.assertEqual(shared_memory_of(pids), [])
        self.assertFalse(Path(workdir).exists(), workdir)
        self.assertEqual(root_links(), self.links_before, "the root namespace's links changed")

    def test_teardown_after_success(self):
        with Lab(nodes=2, clients=1) as the_lab:
            pids = [p.pid for _h, p in the_lab.processes]
            self.assertEqual(len(pids), 4)  # two corosyncs, two probes
            self.assertTrue(all(lab.process_alive(p) for p in pids))
            self.assertEqual(len(lab.lab_namespaces()), len(the_lab.namespaces))
        self.assertNothingLeft(the_lab.run_id, pids, the_lab.dir)

    def test_teardown_after_a_failing_test_and_a_killed_corosync(self):
        the_lab = None
        with self.assertRaises(ZeroDivisionError):
            with Lab(nodes=2, clients=0) as the_lab:
                pids = [p.pid for _h, p in the_lab.processes]
                the_lab.kill_corosync(the_lab.nodes[0], signal.SIGKILL)
                1 / 0
        self.assertNothingLeft(the_lab.run_id, pids, the_lab.dir)

    def test_teardown_when_the_test_process_is_terminated(self):
        # A child brings a lab up and reports it; SIGTERM must still tear it all down.
        child = subprocess.Popen(
            [sys.executable, "-c",
             "import lab, sys\n"
             "l = lab.Lab(nodes=2, clients=0).up()\n"
             "print(l.run_id, l.dir, *[p.pid for _h, p in l.processes], flush=True)\n"
             "sys.stdin.read()\n"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ)
        try:
            line = child.stdout.readline().split()
            self.assertGreaterEqual(len(line), 4, "the child did not bring its lab up")
            run_id, workdir, pids = line[0], line[1], [int(p) for p in line[2:]]
            self.assertTrue(all(lab.process_alive(p) for p in pids))
            child.send_signal(signal.SIGTERM)
            self.assertEqual(child.wait(30), 128 + signal.SIGTERM)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(10)
        self.assertNothingLeft(run_id, pids, workdir)

    def test_a_corosync_that_cannot_start_is_reported_at_once(self):
        # Corosync refuses a token below 126 ms and exits at once; the lab must say so rather
        # than wait out its timeout, and still clean up.
        the_lab = Lab(nodes=2, clients=0, token_ms=100)
        with self.assertRaisesRegex(LabError, r"n1: corosync exited"):
            with the_lab:
                pass
        self.assertNothingLeft(the_lab.run_id, [p.pid for _h, p in the_lab.processes], the_lab.dir)


if __name__ == "__main__":
    unittest.main()
