"""The hosted TLS server with real clients: resumption by every mechanism, SNI, the HTTP
responder, the relay with PROXY v2, and the key property: a session created on one server
process resumes on another once its state has been moved there."""

import json
import re
import socket
import ssl
import struct
import subprocess
import unittest

from lab import PYTHON, TOOLS, Probe
from tlsenv import FILE_50K, HTTP_GET, TlsEnv, outcomes, s_client

TLS12_IDS = ("-tls1_2", "-no_ticket")
TLS12_TICKETS = ("-tls1_2",)
TLS13 = ("-tls1_3",)


class TlsCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = TlsEnv()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def path(self, name):
        return str(self.env.dir / name)


class Resumption(TlsCase):
    def delta(self, server, before, key):
        return server.stats()[key] - before[key]

    def test_tls12_session_ids_and_tickets_resume_with_reconnect(self):
        server = self.env.server()
        for mode, counter in ((TLS12_IDS, "resumed12_id"), (TLS12_TICKETS, "resumed12_ticket")):
            with self.subTest(mode=mode):
                before = server.stats()
                self.assertEqual(outcomes(s_client(server.port, *mode, "-reconnect")),
                                 ["New"] + ["Reused"] * 5)
                self.assertEqual(self.delta(server, before, counter), 5)

    def test_tls13_resumes_from_a_saved_session(self):
        # openssl s_client -reconnect never resumes TLS 1.3 in OpenSSL 3.0: it reconnects
        # before reading the NewSessionTicket (the same against openssl s_server). A saved
        # session, taken after a request so the ticket has arrived, shows it instead.
        for tickets, counter in (("on", "resumed13_ticket"), ("off", "resumed13_stateful")):
            with self.subTest(tickets=tickets):
                server = self.env.server("--tickets", tickets)
                saved = self.path(f"tls13-{tickets}.pem")
                self.assertEqual(outcomes(s_client(server.port, *TLS13, "-sess_out", saved, request=HTTP_GET)), ["New"])
                self.assertEqual(outcomes(s_client(server.port, *TLS13, "-sess_in", saved, request=HTTP_GET)), ["Reused"])
                stats = server.stats()
                self.assertEqual(stats[counter], 1)
                # Stateless tickets leave nothing in the cache; stateful ones live there.
                self.assertEqual(stats["cache_entries"] > 0, tickets == "off")

    def test_with_early_data_a_ticket_resumes_once_and_its_removal_is_an_event(self):
        server = self.env.server("--early-data")
        saved, request = self.path("early.pem"), self.path("early-request.txt")
        with open(request, "w") as f:
            f.write(HTTP_GET)
        self.assertEqual(outcomes(s_client(server.port, *TLS13, "-sess_out", saved, request=HTTP_GET)), ["New"])
        first = s_client(server.port, *TLS13, "-sess_in", saved, "-early_data", request, request="")
        self.assertEqual(outcomes(first), ["Reused"])
        self.assertIn("Early data was accepted", first)
        self.assertIn("<h1>failoverd</h1>", first, "the 0-RTT request was answered")
        removed = server.stats()["removed"]
        self.assertGreaterEqual(removed, 1, "the single-use session's removal was not reported")
        replay = s_client(server.port, *TLS13, "-sess_in", saved, "-early_data", request)
        self.assertEqual(outcomes(replay), ["New"], "a 0-RTT ticket was accepted twice")
        self.assertIn("Early data was rejected", replay)

    def test_evicted_sessions_are_not_resumed(self):
        server = self.env.server("--cache-entries", "1", "--tickets", "off")
        first, second = self.path("evict-1.pem"), self.path("evict-2.pem")
        s_client(server.port, *TLS12_IDS, "-sess_out", first)
        s_client(server.port, *TLS12_IDS, "-sess_out", second)
        # The second first: a failed resumption makes a new session, which evicts in turn.
        self.assertEqual(outcomes(s_client(server.port, *TLS12_IDS, "-sess_in", second)), ["Reused"])
        self.assertEqual(outcomes(s_client(server.port, *TLS12_IDS, "-sess_in", first)), ["New"])
        self.assertGreaterEqual(server.stats()["evictions"], 1)


class Sni(TlsCase):
    def subject(self, output):
        match = re.search(r"^subject=.*CN ?= ?([\w.*-]+)", output, re.M)
        return match.group(1) if match else None

    def test_each_name_gets_its_certificate_and_unknown_names_the_default(self):
        server = self.env.server()
        for name, expected in (("a.example", "a.example"), ("www.a.example", "a.example"),
                               ("b.example", "b.example"), ("unknown.example", "a.example")):
            with self.subTest(name=name):
                self.assertEqual(self.subject(s_client(server.port, servername=name)), expected)
        self.assertEqual(server.stats()["unknown_names"], 1)

    def test_rsa_and_ecdsa_for_one_name_and_each_client_gets_the_one_it_can_verify(self):
        server = self.env.server()
        ecdsa = s_client(server.port, "-sigalgs", "ECDSA+SHA256", servername="a.example")
        self.assertIn("Peer signature type: ECDSA", ecdsa)
        self.assertIn("Server public key is 256 bit", ecdsa)
        rsa = s_client(server.port, "-sigalgs", "RSA-PSS+SHA256", servername="a.example")
        self.assertIn("Peer signature type: RSA-PSS", rsa)
        self.assertIn("Server public key is 2048 bit", rsa)

    def test_a_certificate_directory_adds_names(self):
        server = self.env.server("--cert-dir", self.path("certs"))
        self.assertEqual(self.subject(s_client(server.port, servername="c.example")), "c.example")

    def test_unknown_names_can_be_refused(self):
        server = self.env.server("--reject-unknown-names")
        output = s_client(server.port, servername="unknown.example")
        self.assertIn("unrecognized name", output)
        self.assertEqual(self.subject(s_client(server.port, servername="b.example")), "b.example")

    def test_a_session_made_under_another_names_context_resumes(self):
        # b.example's context is not the one the connection started on: the cache and the
        # session-ID context are shared, so the session still resumes.
        server = self.env.server()
        for mode in (TLS12_IDS, TLS12_TICKETS):
            with self.subTest(mode=mode):
                self.assertEqual(outcomes(s_client(server.port, *mode, "-reconnect", servername="b.example")),
                                 ["New"] + ["Reused"] * 5)


class Service(TlsCase):
    def curl(self, port, *args):
        return subprocess.run(["curl", "-sk", "--max-time", "10", "--resolve",
                               f"a.example:{port}:127.0.0.1", *args],
                              capture_output=True, timeout=20)

    def test_curl_fetches_the_50k_file_intact_over_keep_alive(self):
        """Over HTTP/1.1, asked for (curl prefers h2, which the server offers first)."""
        server = self.env.server()
        url = f"https://a.example:{server.port}/file50k.bin"
        result = self.curl(server.port, "--http1.1", url)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(len(result.stdout), FILE_50K)
        self.assertEqual(result.stdout, self.env.file_50k)
        head = self.curl(server.port, "--http1.1", "-I", url).stdout.decode()
        self.assertRegex(head, r"HTTP/1.1 200 OK")
        self.assertRegex(head, rf"Content-Length: {FILE_50K}")
        missing = self.curl(server.port, "--http1.1", "-o", "/dev/null", "-w", "%{http_code}",
                            f"https://a.example:{server.port}/nope")
        self.assertEqual(missing.stdout.decode(), "404")
        two = self.curl(server.port, "--http1.1", "-v", "-o", "/dev/null", "-o", "/dev/null", url, url)
        self.assertIn("Re-using existing connection", two.stderr.decode())
        self.assertEqual(server.stats()["requests"], 5)

    def test_relay_carries_bytes_both_ways_and_the_backend_sees_proxy_v2(self):
        backend = Probe(None, None, [PYTHON, str(TOOLS / "echo_backend.py")], "echo-backend", stdin=False)
        try:
            backend_port = backend.expect(r"^listening port=(\d+)$").group(1)
            server = self.env.server(service=["--backend", f"127.0.0.1:{backend_port}", "--proxy-protocol"])
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            payload = b"x" * 100_000 + b"\n"
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
                client_port = raw.getsockname()[1]
                with context.wrap_socket(raw, server_hostname="a.example") as tls:
                    tls.sendall(payload)
                    received = b""
                    while len(received) < len(payload) + 5:
                        chunk = tls.recv(65536)
                        if not chunk:
                            break
                        received += chunk
            self.assertEqual(received, b"echo:" + payload)
            proxy = backend.expect(r"^proxy (.*)$").group(1)
            self.assertEqual(proxy, f"src=127.0.0.1:{client_port} dst=127.0.0.1:{server.port}")
            self.assertGreaterEqual(server.stats()["relayed"], 2 * len(payload))
        finally:
            backend.stop()


class Lifecycle(TlsCase):
    def client(self, port):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                   server_hostname="a.example")

    def test_drain_closes_idle_keep_alive_connections_and_stops_accepting(self):
        server = self.env.server()
        idle = self.client(server.port)
        idle.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertIn(b"200 OK", idle.recv(65536))
        self.assertEqual(server.stats()["open"], 1)
        self.assertRegex(server.command("drain 5000"), r"^drained open=0$")
        self.assertEqual(idle.recv(65536), b"", "the idle keep-alive connection was not closed")
        idle.close()
        with self.assertRaises(OSError):
            self.client(server.port).close()


class Freebind(unittest.TestCase):
    def test_a_standby_listens_on_the_vip_before_it_owns_it(self):
        from lab import VIP4, Lab
        from tlsenv import TLS_TOOL
        env = TlsEnv()
        try:
            with Lab(nodes=1, clients=1, corosync=False) as lab:
                n1, c1 = lab.nodes[0], lab.clients[0]
                chain, key = env.certs["a-ec"]
                server = Probe(lab, n1, [str(TLS_TOOL), "--address", VIP4.split("/")[0], "--port", "443",
                                         "--cert", f"{chain}:{key}", "--docroot", str(env.docroot)], "tls-tool")
                server.expect(r"^listening port=443$")  # bound although the VIP is not there
                tool = lab.vip_tool(n1, vips=(VIP4,))
                tool.send("promote")
                tool.expect(r"^taken ")
                result = lab.exec(c1, "curl", "-sk", "--max-time", "5", "https://198.18.1.10/index.html")
                self.assertEqual(result.stdout, "<h1>failoverd</h1>\n")
        finally:
            env.close()


class Migration(TlsCase):
    """The key property, without a cluster: two server processes, state moved by hand."""

    CASES = (("session IDs", TLS12_IDS, "on"), ("TLS 1.2 tickets", TLS12_TICKETS, "on"),
             ("TLS 1.3 stateless tickets", TLS13, "on"), ("TLS 1.3 stateful tickets", TLS13, "off"))

    def test_a_session_from_A_resumes_on_B_only_after_its_state_is_imported(self):
        for name, mode, tickets in self.CASES:
            with self.subTest(name):
                a = self.env.server("--tickets", tickets)
                b = self.env.server("--tickets", tickets)
                slug = name.replace(" ", "-")
                saved, records, keys = (self.path(f"{slug}.{ext}") for ext in ("pem", "records", "keys"))
                self.assertEqual(outcomes(s_client(a.port, *mode, "-sess_out", saved, request=HTTP_GET)), ["New"])
                self.assertRegex(a.command(f"export-sessions {records}"), r"^exported n=\d+$")
                self.assertRegex(a.command(f"export-keys {keys}"), r"^exported-keys n=2$")
                # The control: B has never seen the session.
                self.assertEqual(outcomes(s_client(b.port, *mode, "-sess_in", saved, request=HTTP_GET)), ["New"])
                self.assertRegex(b.command(f"import-sessions {records}"), r"^imported n=\d+ rejected=0$")
                self.assertRegex(b.command(f"import-keys {keys}"), r"^imported-keys n=2$")
                self.assertEqual(outcomes(s_client(b.port, *mode, "-sess_in", saved, request=HTTP_GET)), ["Reused"])


class BadState(TlsCase):
    def exported(self, server):
        records = self.path("good.records")
        s_client(server.port, *TLS12_IDS)
        s_client(server.port, *TLS12_IDS)
        server.command(f"export-sessions {records}")
        with open(records, "rb") as f:
            return f.read()

    def import_bytes(self, server, data, command="import-sessions"):
        path = self.path("bad.bin")
        with open(path, "wb") as f:
            f.write(data)
        return server.command(f"{command} {path}")

    def test_expired_records_are_rejected(self):
        a = self.env.server("--tickets", "off")
        data = bytearray(self.exported(a))
        id_length = data[1]
        struct.pack_into(">q", data, 2 + id_length, 1000)  # expired in 1970
        b = self.env.server("--tickets", "off")
        self.assertRegex(self.import_bytes(b, bytes(data)), r"^imported n=1 rejected=1$")
        self.assertEqual(b.stats()["rejected"], 1)

    def test_corrupted_or_truncated_state_is_rejected_never_crashing(self):
        a = self.env.server("--tickets", "off")
        data = self.exported(a)
        b = self.env.server("--tickets", "off")
        self.assertRegex(self.import_bytes(b, data[:-3]), r"^error what=session record: truncated")
        self.assertRegex(self.import_bytes(b, b"\x07" + data[1:]), r"^error what=session record: version 7")
        der = bytearray(data)
        der[2 + der[1] + 8 + 4 + 1] ^= 0xff  # inside the first record's DER
        self.assertRegex(self.import_bytes(b, bytes(der)), r"^imported n=1 rejected=1$")
        keys = self.path("good.keys")
        a.command(f"export-keys {keys}")
        with open(keys, "rb") as f:
            keyring = f.read()
        self.assertRegex(self.import_bytes(b, keyring[:50], "import-keys"), r"^error what=ticket keyring: truncated")
        self.assertRegex(self.import_bytes(b, b"\x01\x00", "import-keys"), r"key count 0")
        # Still serving, with its own keys.
        self.assertEqual(outcomes(s_client(b.port, *TLS12_TICKETS, "-reconnect")), ["New"] + ["Reused"] * 5)


class Scan(TlsCase):
    def test_testssl_reports_nothing_high_or_critical(self):
        server = self.env.server()
        report = self.path("testssl.json")
        result = subprocess.run(
            ["testssl", "--quiet", "--warnings", "off", "--color", "0", "--fast",
             "--add-ca", str(self.env.certs["ca"][0]), "--ip", "127.0.0.1",
             "--jsonfile", report, f"a.example:{server.port}"],
            capture_output=True, text=True, timeout=600)
        with open(report) as f:
            findings = json.load(f)
        self.assertGreater(len(findings), 20, result.stdout[-2000:])
        serious = [f"{x['id']}: {x['finding']}" for x in findings if x.get("severity") in ("HIGH", "CRITICAL")]
        self.assertEqual(serious, [])


if __name__ == "__main__":
    unittest.main()
