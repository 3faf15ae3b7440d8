"""failoverd and failoverctl as an operator meets them: help, version, exit codes, messages
that name the file, the line and the key; the daemon starting, reloading and stopping."""

import os
import signal
import socket
import subprocess
import tempfile
import unittest
from pathlib import Path

from lab import BUILD_DIR

FAILOVERD = str(BUILD_DIR / "daemon" / "failoverd")
FAILOVERCTL = str(BUILD_DIR / "daemon" / "failoverctl")
EXIT_USAGE = 2
TIMEOUT = 20


def run(*argv, env=None):
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=env)


class CliCase(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="failoverd-cli-"))
        self.key = self.dir / "cluster.key"
        keygen = run(FAILOVERCTL, "keygen", str(self.key))
        self.assertEqual(keygen.returncode, 0, keygen.stderr)

    def tearDown(self):
        for path in sorted(self.dir.rglob("*"), reverse=True):
            path.unlink() if not path.is_dir() else path.rmdir()
        self.dir.rmdir()

    def write_config(self, extra="", base=True):
        body = (f"node-name = n1\nvip = 198.18.1.10/24\ninterface = lo\n"
                f"cluster-key-file = {self.key}\n" if base else "") + extra
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
                              ((FAILOVERCTL, "keygen"), "expected one argument")):
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
            ("vip-adress = 198.18.1.10/24\n", f"{conf}:5: unknown key 'vip-adress'"),
            ("vip = 198.18.1.256/24\n", f"{conf}:5: vip: '198.18.1.256' is not an IPv4 or IPv6 address"),
            ("vip = 198.18.1.11\n", f"{conf}:5: vip: '198.18.1.11' has no prefix length"),
            ("node-priority = 1000\n", f"{conf}:5: node-priority: '1000' is not a whole number from 1 to 255"),
            ("takeover-mode = teleport\n", f"{conf}:5: takeover-mode: 'teleport' is not one of"),
            ("node-name = n2\n", f"{conf}:5: node-name: given again (first given at {conf}:1)"),
            ("just some words\n", f"{conf}:5: expected 'key = value'"),
            (f"cluster-group = {'g' * 200}\n", f"{conf}:5: cluster-group: must be 1-127 bytes long"),
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
    """The daemon's life cycle: READY=1 to systemd, SIGHUP reload (refusing what cannot change
    live), SIGTERM stop with exit 0."""

    def start(self, config):
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.dir / "notify.sock"))
        self.notify.settimeout(TIMEOUT)
        env = dict(os.environ, NOTIFY_SOCKET=str(self.dir / "notify.sock"))
        env.pop("JOURNAL_STREAM", None)
        self.daemon = subprocess.Popen([FAILOVERD, "--config", str(config)], env=env,
                                       stderr=subprocess.PIPE, text=True)
        self.addCleanup(self.stop)

    def stop(self):
        if self.daemon.poll() is None:
            self.daemon.kill()
            self.daemon.wait(TIMEOUT)
        self.daemon.stderr.close()
        self.notify.close()

    def next_notification(self):
        return self.notify.recv(4096).decode()

    def test_ready_reload_and_stop(self):
        config = self.write_config()
        self.start(config)
        self.assertIn("READY=1", self.next_notification())

        config.write_text(config.read_text() + "log-level = info\n")
        self.daemon.send_signal(signal.SIGHUP)
        self.assertIn("RELOADING=1", self.next_notification())
        self.assertIn("READY=1", self.next_notification())

        config.write_text(config.read_text().replace("198.18.1.10/24", "198.18.1.20/24"))
        self.daemon.send_signal(signal.SIGHUP)
        self.assertIn("RELOADING=1", self.next_notification())
        self.assertIn("READY=1", self.next_notification())

        config.write_text(config.read_text() + "bogus = 1\n")
        self.daemon.send_signal(signal.SIGHUP)
        self.assertIn("RELOADING=1", self.next_notification())
        self.assertIn("READY=1", self.next_notification())

        self.daemon.send_signal(signal.SIGTERM)
        self.assertIn("STOPPING=1", self.next_notification())
        self.assertEqual(self.daemon.wait(TIMEOUT), 0)
        log = self.daemon.stderr.read()
        self.assertIn("configuration reloaded", log)
        self.assertIn("vip cannot change while running", log)
        self.assertIn("unknown key 'bogus'", log)
        self.assertIn("keeping the running configuration", log)

    def test_a_missing_interface_stops_the_start_with_exit_1(self):
        config = self.write_config()
        config.write_text(config.read_text().replace("interface = lo", "interface = nosuchif0"))
        self.start(config)
        self.assertEqual(self.daemon.wait(TIMEOUT), 1)
        self.assertIn("interface 'nosuchif0' does not exist", self.daemon.stderr.read())


if __name__ == "__main__":
    unittest.main()
