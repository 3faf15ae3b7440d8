"""failoverd and failoverctl as an operator meets them: help, version, exit codes, messages
that name the file, the line and the key; the daemon starting, reloading and stopping."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import unittest
from pathlib import Path

from lab import BUILD_DIR
from tlsenv import make_certificates

FAILOVERD = str(BUILD_DIR / "daemon" / "failoverd")
FAILOVERCTL = str(BUILD_DIR / "daemon" / "failoverctl")
EXIT_USAGE = 2
TIMEOUT = 20


def run(*argv, env=None):
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=env)


class CliCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.certs_dir = Path(tempfile.mkdtemp(prefix="failoverd-cli-certs-"))
        cls.certs = make_certificates(cls.certs_dir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.certs_dir, ignore_errors=True)

    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="failoverd-cli-"))
        self.key = self.dir / "cluster.key"
        (self.dir / "www").mkdir()
        keygen = run(FAILOVERCTL, "keygen", str(self.key))
        self.assertEqual(keygen.returncode, 0, keygen.stderr)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write_config(self, extra="", base=True):
        chain, key = self.certs["a-ec"]
        body = (f"node-name = n1\nvip = 198.18.1.10/24\ninterface = lo\n"
                f"cluster-key-file = {self.key}\ntls-certificate = {chain}\ntls-key = {key}\n"
                f"document-root = {self.dir / 'www'}\n" if base else "") + extra
        path = self.dir / "failoverd.conf"
        path.write_text(body)
        return path


class Cli(CliCase):
    def test_help_and_version(self):
        for program, name in ((FAILOVERD, "failoverd"), (FAILOVERCTL, "failoverctl")):
            help_ = run(program, "--help")
            self.assertEqual(help_.returncode, 0)
            self.assertIn("Usage:", help_.stdout)
            self.assertIn("Exit status", help_.stdout)
            version = run(program, "--version")
            self.assertEqual(version.returncode, 0)
            self.assertRegex(version.stdout, rf"^{name} \d+\.\d+\.\d+\n$")
        self.assertIn("--check-config", run(FAILOVERD, "--help").stdout)
        self.assertIn("--vip", run(FAILOVERD, "--help").stdout)

    def test_bad_command_lines_exit_2(self):
        for argv, message in (((FAILOVERD, "--no-such-option"), "unrecognised option"),
                              ((FAILOVERD, "stray"), "failoverd --help"),
                              ((FAILOVERCTL, "frobnicate"), "unknown command 'frobnicate'"),
                              ((FAILOVERCTL,), "Usage:"),
                              ((FAILOVERCTL, "keygen"), "expected one argument"),
                              ((FAILOVERCTL, "switchover", "--to"), "switchover [--to] NODE"),
                              ((FAILOVERCTL, "switchover", "n1", "n2"), "at most one target node")):
            result = run(*argv)
            self.assertEqual(result.returncode, EXIT_USAGE, argv)
            self.assertIn(message, result.stderr, argv)

    def test_check_config_accepts_a_valid_file(self):
        result = run(FAILOVERD, "--check-config", str(self.write_config()))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("is valid", result.stdout)

    def test_check_config_rejects_each_kind_of_bad_configuration(self):
        conf = self.dir / "failoverd.conf"
        cases = [
            ("vip-adress = 198.18.1.10/24\n", f"{conf}:8: unknown key 'vip-adress'"),
            ("vip = 198.18.1.256/24\n", f"{conf}:8: vip: '198.18.1.256' is not an IPv4 or IPv6 address"),
            ("vip = 198.18.1.11\n", f"{conf}:8: vip: '198.18.1.11' has no prefix length"),
            ("node-priority = 1000\n", f"{conf}:8: node-priority: '1000' is not a whole number from 1 to 255"),
            ("takeover-mode = teleport\n", f"{conf}:8: takeover-mode: 'teleport' is not one of"),
            ("node-name = n2\n", f"{conf}:8: node-name: given again (first given at {conf}:1)"),
            ("just some words\n", f"{conf}:8: expected 'key = value'"),
            (f"cluster-group = {'g' * 200}\n", f"{conf}:8: cluster-group: must be 1-127 bytes long"),
            ("tls-port = 0\n", f"{conf}:8: tls-port: '0' is not a whole number from 1 to 65535"),
            ("service = relay\n", "missing required key 'backend'"),
        ]
        for extra, message in cases:
            with self.subTest(extra=extra.strip()[:30]):
                result = run(FAILOVERD, "--check-config", str(self.write_config(extra)))
                self.assertEqual(result.returncode, EXIT_USAGE, result.stderr)
                self.assertIn(message, result.stderr)
                self.assertIn("configuration is invalid", result.stderr)

    def test_check_config_rejects_missing_files(self):
        missing = self.dir / "absent.conf"
        result = run(FAILOVERD, "--check-config", str(missing))
        self.assertEqual(result.returncode, EXIT_USAGE)
        self.assertIn(f"{missing}: no such file", result.stderr)

        self.key.unlink()
        result = run(FAILOVERD, "--check-config", str(self.write_config()))
        self.assertEqual(result.returncode, EXIT_USAGE)
        self.assertIn(":4: cluster-key-file: cannot open key file", result.stderr)
        self.assertIn("failoverctl keygen", result.stderr)

    def test_check_config_rejects_a_key_file_others_can_read(self):
        self.key.chmod(0o644)
        result = run(FAILOVERD, "--check-config", str(self.write_config()))
        self.assertEqual(result.returncode, EXIT_USAGE)
        self.assertIn("chmod 600", result.stderr)

    def test_check_config_loads_the_certificates(self):
        chain, _ = self.certs["a-ec"]
        _, other_key = self.certs["b"]
        config = self.write_config()
        config.write_text(config.read_text().replace(str(self.certs["a-ec"][1]), str(other_key)))
        result = run(FAILOVERD, "--check-config", str(config))
        self.assertEqual(result.returncode, EXIT_USAGE)
        self.assertIn(f"cannot load private key {other_key}", result.stderr)
        self.assertIn("key values mismatch", result.stderr)

    def test_missing_required_keys_are_named(self):
        result = run(FAILOVERD, "--check-config", str(self.write_config("interface = lo\n", base=False)))
        self.assertEqual(result.returncode, EXIT_USAGE)
        self.assertIn("missing required key 'node-name'", result.stderr)
        self.assertIn("missing required key 'vip'", result.stderr)

    def test_command_line_values_are_checked_like_file_values(self):
        result = run(FAILOVERD, "--node-priority", "0", "--check-config", str(self.write_config()))
        self.assertEqual(result.returncode, EXIT_USAGE)
        self.assertIn("command line option --node-priority", result.stderr)

    def test_keygen_never_overwrites(self):
        result = run(FAILOVERCTL, "keygen", str(self.key))
        self.assertEqual(result.returncode, EXIT_USAGE)
        self.assertIn("File exists", result.stderr)
        self.assertEqual(self.key.stat().st_mode & 0o777, 0o600)
        self.assertEqual(self.key.stat().st_size, 64)


class Daemon(CliCase):
    """The daemon's life cycle without Corosync, in a private network namespace (it installs
    its connection-hold rule there, never in the root namespace): it starts, says it cannot
    reach corosync and keeps retrying, answers failoverctl as a fault, reloads on SIGHUP
    (refusing what cannot change live), and stops on SIGTERM with exit 0."""

    def start(self, config, wrapper=""):
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.dir / "notify.sock"))
        self.notify.settimeout(TIMEOUT)
        env = dict(os.environ, NOTIFY_SOCKET=str(self.dir / "notify.sock"))
        env.pop("JOURNAL_STREAM", None)
        self.daemon = subprocess.Popen(
            # A private mount namespace too, with a bpf file system of its own for the VIP guard.
            ["unshare", "--net", "--mount", "sh", "-c",
             f'mkdir -p "{self.dir}/bpffs" && mount -t bpf bpf "{self.dir}/bpffs" && ip link set lo up && '
             f'exec {wrapper}"{FAILOVERD}" --config "{config}" --guard-pin-directory "{self.dir}/bpffs/failoverd"'],
            env=env, stderr=subprocess.PIPE, text=True)
        self.addCleanup(self.stop)

    def stop(self):
        if self.daemon.poll() is None:
            self.daemon.kill()
            self.daemon.wait(TIMEOUT)
        self.daemon.stderr.close()
        self.notify.close()

    def notification(self, wanted):
        """Waits (bounded by the socket timeout) for a notification holding `wanted`; STATUS=
        updates may come in between."""
        for _ in range(100):
            message = self.notify.recv(4096).decode()
            if wanted in message.split("\n"):
                return message
        self.fail(f"no {wanted} notification")

    def drain_notifications(self):
        try:
            while self.notify.recv(4096):  # bounded by the socket's closing at clean-up
                pass
        except OSError:
            return

    def log_until(self, text):
        lines = []
        for line in self.daemon.stderr:  # bounded: each awaited line follows an action; TIMEOUT kills
            lines.append(line)
            self.logged = getattr(self, "logged", []) + [line]
            if text in line:
                return "".join(lines)
        self.fail(f"failoverd exited before logging {text!r}: {''.join(lines)}")

    def test_without_corosync_it_retries_answers_reloads_and_stops(self):
        config = self.write_config(f"control-socket = {self.dir / 'control.sock'}\n"
                                   f"state-directory = {self.dir / 'state'}\ntls-port = 8443\n")
        self.start(config)
        self.log_until("no connection to corosync")
        status = run(FAILOVERCTL, "--socket", str(self.dir / "control.sock"), "status", "--json")
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertIn('"role": "fault"', status.stdout)
        self.assertIn('"connected": false', status.stdout)

        # A user who may not use the control socket is told so, not that failoverd is down.
        public = Path(tempfile.mkdtemp(prefix="failoverctl-test-"))
        self.addCleanup(shutil.rmtree, public)
        public.chmod(0o755)  # the copy must be reachable for nobody, wherever the build is
        shutil.copy2(FAILOVERCTL, public / "failoverctl")
        denied = run("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(public / "failoverctl"),
                     "--socket", str(self.dir / "control.sock"), "status")
        self.assertEqual(denied.returncode, 1, denied.stderr)
        self.assertIn("permission denied on", denied.stderr)
        self.assertIn("control-group", denied.stderr)
        self.assertNotIn("not running", denied.stderr)

        for request, answer in ((b"1 status " + b"x" * 2048 + b"\n", b"request longer than 1024 bytes"),
                                (b"1 frobnicate\n", b"unknown command 'frobnicate'"),
                                (b"2 status\n", b"protocol version 2 is not supported"),
                                (b"\x01\x02 status\n", b"control or non-ASCII characters")):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as control:
                control.settimeout(TIMEOUT)
                control.connect(str(self.dir / "control.sock"))
                control.sendall(request)
                reply = control.recv(4096)
                self.assertIn(answer, reply, request[:20])
                self.assertIn(b'"ok":false', reply)

        config.write_text(config.read_text() + "log-level = info\n")
        self.daemon.send_signal(signal.SIGHUP)
        self.notification("RELOADING=1")
        self.log_until("configuration reloaded")
        config.write_text(config.read_text().replace("198.18.1.10/24", "198.18.1.20/24"))
        self.daemon.send_signal(signal.SIGHUP)
        self.log_until("vip cannot change while running")
        config.write_text(config.read_text() + "bogus = 1\n")
        self.daemon.send_signal(signal.SIGHUP)
        self.log_until("unknown key 'bogus'")
        # Several seconds without Corosync, retried every 500 ms: said once at error, not each time.
        self.assertEqual(sum("no connection to corosync" in line for line in self.logged), 1, self.logged)

        self.daemon.send_signal(signal.SIGTERM)
        self.assertEqual(self.daemon.wait(TIMEOUT), 0)

    def test_idle_and_slow_clients_lock_out_neither_failoverctl_nor_a_scrape(self):
        config = self.write_config(f"control-socket = {self.dir / 'control.sock'}\n"
                                   f"state-directory = {self.dir / 'state'}\ntls-port = 8443\n"
                                   "metrics-listen = 127.0.0.1:9477\n")
        self.start(config)
        self.log_until("no connection to corosync")
        flood = subprocess.run(["nsenter", f"--target={self.daemon.pid}", "--net", sys.executable,
                                str(Path(__file__).parent / "tools" / "request_flood.py"), FAILOVERCTL,
                                str(self.dir / "control.sock"), "9477", "1000"],
                               capture_output=True, text=True, timeout=120)
        self.assertEqual(flood.returncode, 0, flood.stderr)
        seen = json.loads(flood.stdout)
        print(seen)
        # Asked beside 1,000 idle connections and a slow loris on each server: answered at once,
        # not after the idle ones' 5 s timeout.
        self.assertEqual(seen["status"]["rc"], 0, seen["status"]["stderr"])
        self.assertEqual(seen["status"]["role"], "fault")
        self.assertLess(seen["status"]["s"], 5)
        self.assertEqual(seen["metrics"]["status"], 200)
        self.assertTrue(seen["metrics"]["has_role"])
        self.assertLess(seen["metrics"]["s"], 5)
        self.assertEqual(seen["elsewhere"], 404)
        for server in ("control", "metrics"):
            # The slow loris is closed at the 5 s timeout, not earlier and not never.
            self.assertTrue(seen["lorises"][server]["closed"], server)
            self.assertGreaterEqual(seen["lorises"][server]["kept_s"], 4.5, server)
            self.assertLess(seen["lorises"][server]["kept_s"], 10, server)
            self.assertEqual(seen["still_open"][server], 0, server)
            counted = seen["request_servers"][server]
            self.assertGreaterEqual(counted["evicted"], 1000 - 64, server)
            self.assertGreaterEqual(counted["timed_out"], 2, server)  # the loris and the newest idle ones

    def test_reload_applies_each_live_key_and_refuses_restart_only_ones(self):
        base = (f"control-socket = {self.dir / 'control.sock'}\n"
                f"state-directory = {self.dir / 'state'}\ntls-port = 8443\n")
        config = self.write_config(base)
        self.start(config)
        self.log_until("no connection to corosync")
        # Keep reading its log and its notifications, so that neither fills up and blocks it.
        threading.Thread(target=self.daemon.stderr.read, daemon=True).start()
        self.notify.settimeout(None)
        threading.Thread(target=self.drain_notifications, daemon=True).start()
        ctl = lambda *args: run(FAILOVERCTL, "--socket", str(self.dir / "control.sock"), *args)
        settings = lambda: json.loads(ctl("status", "--json").stdout)["settings"]
        self.assertEqual(settings(), {"log_level": "notice", "priority": 100, "preempt": False,
                                      "notify_program": None, "notify_timeout_ms": None})
        hook = self.dir / "hook.sh"
        hook.write_text("#!/bin/sh\nexit 0\n")
        hook.chmod(0o755)
        config.write_text(config.read_text() + "log-level = warning\nnode-priority = 42\npreempt = yes\n"
                          f"notify-program = {hook}\nnotify-timeout-ms = 700\n")
        applied = ctl("reload")
        self.assertEqual(applied.returncode, 0, applied.stderr)
        self.assertEqual(applied.stdout.strip(), "failoverctl reload: applied log-level, node-priority, "
                                                 "notify-program, notify-timeout-ms, preempt")
        # Read back from where each lives: the logger, the role machine, the hook runner.
        self.assertEqual(settings(), {"log_level": "warning", "priority": 42, "preempt": True,
                                      "notify_program": str(hook), "notify_timeout_ms": 700})
        status = json.loads(ctl("status", "--json").stdout)
        self.assertEqual([m["priority"] for m in status["members"] if m["self"]], [42])
        self.assertEqual(ctl("reload").stdout.strip(), "failoverctl reload: no change")
        # A restart-only key refuses the whole reload, names the key, and applies nothing.
        config.write_text(config.read_text().replace("log-level = warning", "log-level = info") + "tls-workers = 3\n")
        refused = ctl("reload")
        self.assertEqual(refused.returncode, 1)
        self.assertIn("tls-workers cannot change while running: restart failoverd to apply it", refused.stderr)
        self.assertEqual(settings()["log_level"], "warning")
        # Keys taken out go back to their defaults; the hook runner goes.
        config.write_text(config.read_text().replace("tls-workers = 3\n", "").replace(f"notify-program = {hook}\n", ""))
        self.assertEqual(ctl("reload").stdout.strip(), "failoverctl reload: applied log-level, notify-program")
        self.assertEqual(settings()["notify_program"], None)
        self.assertEqual(settings()["log_level"], "info")

    def test_a_missing_interface_stops_the_start_with_exit_1(self):
        config = self.write_config()
        config.write_text(config.read_text().replace("interface = lo", "interface = nosuchif0"))
        self.start(config)
        self.assertEqual(self.daemon.wait(TIMEOUT), 1)
        self.assertIn("interface 'nosuchif0' does not exist", self.daemon.stderr.read())

    def test_a_busy_metrics_port_stops_the_start_cleanly_after_the_tls_service_started(self):
        # The TLS listener takes the port first; the metrics endpoint, created after the TLS
        # workers run, cannot: start-up fails half-way, and the workers must stop before what
        # they call into is freed (ASan reports it otherwise).
        config = self.write_config(f"control-socket = {self.dir / 'control.sock'}\n"
                                   f"state-directory = {self.dir / 'state'}\ntls-port = 8443\n"
                                   "metrics-listen = 127.0.0.1:8443\n")
        self.start(config)
        self.assertEqual(self.daemon.wait(TIMEOUT), 1)
        stderr = self.daemon.stderr.read()
        self.assertIn("metrics", stderr)
        self.assertIn("Address already in use", stderr)
        self.assertNotIn("AddressSanitizer", stderr)

    def test_without_cap_sys_nice_the_start_stops_naming_realtime_priority(self):
        config = self.write_config(f"control-socket = {self.dir / 'control.sock'}\n"
                                   f"state-directory = {self.dir / 'state'}\ntls-port = 8443\n")
        self.start(config, wrapper="setpriv --bounding-set -sys_nice ")
        self.assertEqual(self.daemon.wait(TIMEOUT), 1)
        stderr = self.daemon.stderr.read()
        self.assertIn("cannot start: realtime-priority = 40", stderr)
        self.assertIn("CAP_SYS_NICE", stderr)
        self.assertNotIn("AddressSanitizer", stderr)

    def test_failoverctl_against_a_stopped_daemon_says_so(self):
        result = run(FAILOVERCTL, "--socket", str(self.dir / "control.sock"), "status")
        self.assertEqual(result.returncode, 3)
        self.assertIn("failoverd is not running on this node", result.stderr)


if __name__ == "__main__":
    unittest.main()
