"""HTTP/2 through the VIP, with real clients: curl --http2 and nghttp against the static files
and through the relay to nginx as h2c and HTTP/1.1 backends (PROXY v2 checked at nginx), the
502 a client gets when the backend is down, a download in flight across a switchover, and
headless Chromium loading a page of several resources over HTTP/2, then resuming its TLS
session on the new active after a switchover and after kill -9 of the active's failoverd."""

import json
import re
import signal
import unittest

from lab import PYTHON, TOOLS, VIP4, Lab, Probe, busywait
from test_failover import BOUND, Cluster, vip_holders

VIP = VIP4.split("/")[0]
HOST = "a.example"  # the lab certificate's name
URL = f"https://{HOST}"
H2C_PORT, HTTP11_PORT = 8081, 8082
DOWNLOAD_BYTES = 800_000

PAGE = {
    "page.html": '<!doctype html><html><head><meta charset="utf-8"><title>failoverd</title>'
                 '<link rel="stylesheet" href="style.css"><script src="app.js"></script></head>'
                 '<body><h1 id="title">failoverd over HTTP/2</h1><img id="logo" src="logo.svg" alt="logo"></body></html>\n',
    "style.css": "#title { color: rgb(1, 2, 3); }\n",
    # What the page reports of itself once loaded: its heading, whether the style sheet
    # applied, the image's width, and the protocol every resource came over (sorted: the
    # resources finish in any order).
    "app.js": "window.report = () => ({\n"
              "  title: document.getElementById('title').textContent,\n"
              "  styled: getComputedStyle(document.getElementById('title')).color === 'rgb(1, 2, 3)',\n"
              "  image: document.getElementById('logo').naturalWidth,\n"
              "  protocols: performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))\n"
              "    .map(entry => entry.name.split('/').pop() + '=' + entry.nextHopProtocol).sort(),\n"
              "});\n",
    "logo.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="#36c"/></svg>\n',
}
LOADED = {"title": "failoverd over HTTP/2", "styled": True, "image": 40,
          "protocols": ["app.js=h2", "logo.svg=h2", "page.html=h2", "style.css=h2"]}  # in any order they came


def prepare_documents(lab):
    lab.prepare_failoverd()
    for name, text in PAGE.items():
        (lab.docroot / name).write_text(text)
    (lab.docroot / "download.bin").write_bytes(bytes(range(256)) * (DOWNLOAD_BYTES // 256))


def curl(lab, *args, timeout=30):
    """curl from the client, trusting the lab's CA and resolving the certificate's name to the VIP."""
    return lab.exec(lab.clients[0], "curl", "-sS", "--cacert", str(lab.certs["ca"][0]), "--resolve",
                    f"{HOST}:443:{VIP}", "--max-time", str(timeout), *args, timeout=timeout + 5)


def handshakes(lab, host):
    counts = lab.status(host)["handshakes"]
    full = counts["full_tls12"] + counts["full_tls13"]
    return full, sum(counts.values()) - full


def download_across_switchover(test, lab, client):
    """With tools/h2_download.py (client) fetching /download.bin on n1 and stopped at HTTP/2's
    initial window, a switchover to n2: the download gets n1's GOAWAY naming its stream, then
    completes, and the switchover succeeds."""
    n1 = lab.nodes[0]
    client.send("get /download.bin")
    test.assertEqual(client.expect(r"^started ").string, "started resumed=False")
    client.expect(r"^window-full received=\d+$")
    switchover = Probe(lab, n1, lab.failoverctl_argv(n1, "switchover"), "switchover", stdin=False)
    client.send("continue-after-goaway")
    test.assertEqual(client.expect(r"^goaway ").string, "goaway last=1")
    test.assertEqual(client.expect(r"^(done|failed) ").string, f"done status=200 bytes={DOWNLOAD_BYTES} goaway=1")
    switchover.expect(r"done, n2 is active", timeout=BOUND)
    test.assertEqual(switchover.process.wait(BOUND), 0)


class StaticFiles(unittest.TestCase):
    def test_curl_and_nghttp_get_the_files_over_http2_and_a_download_survives_a_switchover(self):
        with Lab(nodes=2, clients=1) as lab:
            prepare_documents(lab)
            Cluster(lab)
            n1, n2 = lab.nodes
            answer = curl(lab, "--http2", "-D", "-", "-o", "/dev/null", "-w", "%{http_version} %{size_download}",
                          f"{URL}/page.html").stdout
            self.assertRegex(answer, r"(?m)^HTTP/2 200")
            self.assertIn("strict-transport-security: max-age=31536000", answer)
            self.assertTrue(answer.endswith(f"2 {len(PAGE['page.html'])}"), answer)
            self.assertIn("http/1.1 200", curl(lab, "--http1.1", "-o", "/dev/null", "-w", "http/%{http_version} %{response_code}",
                                               f"{URL}/page.html").stdout.lower())
            # nghttp: four streams on one connection.
            nghttp = lab.exec(lab.clients[0], "nghttp", "-ns", *(f"https://{VIP}/{name}" for name in PAGE)).stdout
            self.assertEqual(len(re.findall(r"^\s+\d+\s+\S+\s+\S+\s+\S+\s+200\s", nghttp, re.M)), len(PAGE), nghttp)
            service = lab.status(n1)["service"]
            self.assertGreaterEqual(service["connections"]["h2"], 2)
            self.assertGreaterEqual(service["connections"]["http/1.1"], 1)

            # A download in flight when the switchover starts: the old active sends a GOAWAY
            # naming its stream, the download completes, and the client's next request opens a
            # connection that reaches n2 and resumes the session of the first.
            client = Probe(lab, lab.clients[0], [PYTHON, str(TOOLS / "h2_download.py"), str(lab.certs["ca"][0]),
                                                 HOST, VIP], "h2-download")
            before = handshakes(lab, n2)
            download_across_switchover(self, lab, client)
            self.assertEqual(vip_holders(lab), ["n2"])
            client.send("get /page.html")
            self.assertEqual(client.expect(r"^started ").string, "started resumed=True")
            self.assertEqual(client.expect(r"^(done|failed) ").string,
                             f"done status=200 bytes={len(PAGE['page.html'])} goaway=none")
            after = handshakes(lab, n2)
            self.assertEqual((after[0] - before[0], after[1] - before[1]), (0, 1),
                             "(full, resumed) handshakes on n2 for the request after the switchover")


def start_nginx(lab, host):
    """nginx in host's namespace as the relay's backends on 127.0.0.1: h2c (prior knowledge) and
    HTTP/1.1, both behind PROXY v2, each answering with the protocol it saw and the client's
    address from the PROXY header; /download.bin from the lab's files."""
    directory = host.dir / "nginx"
    directory.mkdir(exist_ok=True)
    answer = 'location / { return 200 "$server_protocol from $proxy_protocol_addr\\n"; } ' \
             f'location = /download.bin {{ root {lab.docroot}; }}'
    (directory / "nginx.conf").write_text(
        f"user root;\nworker_processes 1;\nerror_log {directory}/error.log;\npid {directory}/nginx.pid;\n"
        "daemon off;\nevents {}\nhttp {\n  access_log off;\n"
        + "".join(f"  {kind}_temp_path {directory};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  server {{ listen 127.0.0.1:{H2C_PORT} http2 proxy_protocol; {answer} }}\n"
        + f"  server {{ listen 127.0.0.1:{HTTP11_PORT} proxy_protocol; {answer} }}\n}}\n")
    (directory / "nginx.pid").unlink(missing_ok=True)
    nginx = lab.spawn(host, ["nginx", "-c", str(directory / "nginx.conf"), "-p", str(directory)])
    busywait(lambda: (directory / "nginx.pid").exists(), BOUND, f"nginx started on {host.name}")
    return nginx


class Relay(unittest.TestCase):
    def test_h2_to_the_h2c_backend_http11_to_the_other_with_proxy_v2_502_when_down_and_goaway_on_switchover(self):
        with Lab(nodes=2, clients=1) as lab:
            prepare_documents(lab)
            n1, n2 = lab.nodes
            nginx = [start_nginx(lab, n1), start_nginx(lab, n2)]
            lab.start_active_and_standby(
                f"service = relay\nbackend = 127.0.0.1:{HTTP11_PORT}\nh2-backend = 127.0.0.1:{H2C_PORT}\n"
                "proxy-protocol = yes\n")
            n1.failoverd.expect(r"\[vip\] taken and announced", timeout=BOUND)
            client = lab.clients[0].service_ip4
            answer = curl(lab, "--http2", "-w", "%{http_version} %{response_code}", f"{URL}/x").stdout
            self.assertEqual(answer, f"HTTP/2.0 from {client}\n2 200")
            answer = curl(lab, "--http1.1", "-w", "%{http_version} %{response_code}", f"{URL}/x").stdout
            self.assertEqual(answer, f"HTTP/1.1 from {client}\n1.1 200")
            nghttp = lab.exec(lab.clients[0], "nghttp", "-ns", f"https://{VIP}/a", f"https://{VIP}/b").stdout
            self.assertEqual(len(re.findall(r"^\s+\d+\s+\S+\s+\S+\s+\S+\s+200\s", nghttp, re.M)), 2, nghttp)

            nginx[0].send_signal(signal.SIGTERM)
            nginx[0].wait(10)
            for version, expected in (("--http2", "2 502"), ("--http1.1", "1.1 502")):
                answer = curl(lab, version, "-w", "%{http_version} %{response_code}", f"{URL}/x").stdout
                self.assertEqual(answer, f"502 Bad Gateway\n{expected}")
            service = lab.status(n1)["service"]
            self.assertEqual(service["backend_connect_failures"], 2)
            self.assertGreater(service["bytes_relayed"], 0)
            self.assertEqual(service["connections"]["h2"], 3)

            # A relayed download in flight during a switchover: n1 puts a GOAWAY between two of
            # nginx's frames, the download completes, and the next request goes through n2.
            nginx[0] = start_nginx(lab, n1)
            download = Probe(lab, lab.clients[0], [PYTHON, str(TOOLS / "h2_download.py"), str(lab.certs["ca"][0]),
                                                   HOST, VIP], "h2-download")
            download_across_switchover(self, lab, download)
            answer = curl(lab, "--http2", "-w", "%{http_version} %{response_code}", f"{URL}/x").stdout
            self.assertEqual(answer, f"HTTP/2.0 from {client}\n2 200")
            self.assertEqual(lab.status(n2)["service"]["connections"]["h2"], 1)


class Browser(unittest.TestCase):
    def test_chromium_loads_the_page_over_http2_and_resumes_on_the_new_active_after_switchover_and_kill(self):
        with Lab(nodes=2, clients=1) as lab:
            prepare_documents(lab)
            Cluster(lab)
            n1, n2 = lab.nodes
            profile = lab.clients[0].dir / "chromium"
            profile.mkdir()
            browser = Probe(lab, lab.clients[0], [PYTHON, str(TOOLS / "browser.py"), str(lab.certs["ca"][0]), HOST, VIP,
                                                  str(profile)], "browser")
            browser.expect(r"^ready$", timeout=60)

            def load(on):
                """Loads the page; returns (full, resumed) handshakes it cost on `on`."""
                before = handshakes(lab, on)
                browser.send(f"load {URL}/page.html")
                answer = browser.expect(r"^(loaded|failed) ", timeout=60).string
                self.assertTrue(answer.startswith("loaded "), answer)
                self.assertEqual(json.loads(answer.removeprefix("loaded ")), LOADED)
                after = handshakes(lab, on)
                return after[0] - before[0], after[1] - before[1]

            full, _ = load(n1)
            self.assertGreaterEqual(full, 1)
            self.assertIn("done, n2 is active", lab.failoverctl(n1, "switchover").stdout)
            self.assertEqual(load(n2), (0, 1), "after the switchover: (full, resumed) handshakes on n2")
            self.assertGreaterEqual(lab.status(n2)["service"]["connections"]["h2"], 1)

            n2.failoverd.process.send_signal(signal.SIGKILL)
            n2.failoverd.process.wait(10)
            n1.failoverd.expect(r"\[vip\] taken and announced", timeout=BOUND)
            self.assertEqual(load(n1), (0, 1), "after kill -9: (full, resumed) handshakes on n1")
            browser.send("quit")
            browser.process.wait(20)


if __name__ == "__main__":
    unittest.main()
