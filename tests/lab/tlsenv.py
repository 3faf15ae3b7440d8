"""Helpers for the TLS tests: throwaway certificates, the tls-tool server harness, and the
real clients (openssl s_client, curl). Servers listen on 127.0.0.1 on a port the kernel
picks; nothing leaves loopback."""

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from lab import BUILD_DIR, Probe, run

TLS_TOOL = BUILD_DIR / "tests" / "tls-tool"
CLIENT_TIMEOUT = 15
FILE_50K = 50 * 1024


def make_certificates(directory):
    """A test CA, and certificates it issued: a.example (RSA-2048 and ECDSA P-256, also
    www.a.example), b.example (ECDSA), and c.example in a certificate directory (NAME.crt +
    NAME.key). Valid a year, with a CRL distribution point under the reserved .invalid TLD,
    so that a scanner judges the server's TLS and not a careless test certificate.
    Returns {stem: (chain, key)} and the CA under "ca"."""
    directory = Path(directory)
    (directory / "certs").mkdir()
    ca_crt, ca_key = directory / "ca.crt", directory / "ca.key"
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-days", "400", "-subj", "/CN=failoverd test CA", "-keyout", str(ca_key), "-out", str(ca_crt))
    specs = {
        "a-rsa": ("a.example", ["-newkey", "rsa:2048"], "DNS:a.example,DNS:www.a.example"),
        "a-ec": ("a.example", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
                 "DNS:a.example,DNS:www.a.example"),
        "b": ("b.example", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "DNS:b.example"),
        "certs/c.example": ("c.example", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
                            "DNS:c.example"),
    }
    paths = {"ca": (ca_crt, ca_key)}
    for stem, (name, key_args, sans) in specs.items():
        crt, key, csr = (directory / f"{stem}.{ext}" for ext in ("crt", "key", "csr"))
        extensions = directory / f"{stem}.ext"
        extensions.write_text(f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\n"
                              "keyUsage=digitalSignature,keyEncipherment\n"
                              "extendedKeyUsage=serverAuth\n"
                              "crlDistributionPoints=URI:http://ca.invalid/ca.crl\n")
        run("openssl", "req", "-new", *key_args, "-nodes", "-subj", f"/CN={name}",
            "-keyout", str(key), "-out", str(csr))
        run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
            "-CAcreateserial", "-days", "365", "-extfile", str(extensions), "-out", str(crt))
        csr.unlink()
        extensions.unlink()
        paths[stem] = (crt, key)
    return paths


class TlsEnv:
    """A temporary directory with certificates and a document root; removed on close()."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="failoverd-tls-"))
        self.certs = make_certificates(self.dir)
        self.docroot = self.dir / "www"
        self.docroot.mkdir()
        self.file_50k = bytes((i * 7 + 3) % 251 for i in range(FILE_50K))
        (self.docroot / "file50k.bin").write_bytes(self.file_50k)
        (self.docroot / "index.html").write_text("<h1>failoverd</h1>\n")
        self.servers = []

    def close(self):
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def server(self, *args, certs=("a-rsa", "a-ec", "b"), service=None, workers=2):
        """A tls-tool serving the document root (or `service` arguments), ready to accept."""
        argv = [str(TLS_TOOL), "--address", "127.0.0.1", "--workers", str(workers)]
        for stem in certs:
            chain, key = self.certs[stem]
            argv += ["--cert", f"{chain}:{key}"]
        argv += service or ["--docroot", str(self.docroot)]
        server = TlsServer(argv + list(args), f"tls-tool-{len(self.servers)}")
        self.servers.append(server)
        return server


class TlsServer(Probe):
    def __init__(self, argv, name):
        super().__init__(None, None, argv, name)
        self.port = int(self.expect(r"^listening port=(\d+)$").group(1))

    def command(self, line, answer=r"^.+$"):
        self.send(line)
        return self.expect(answer).group(0)

    def stats(self):
        line = self.command("stats", r"^stats .*")
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}

    def stop(self):
        if self.process.poll() is None:
            self.send("quit")
            self.process.wait(CLIENT_TIMEOUT)
        super().stop()


def s_client(port, *args, request=None, servername=None):
    """One openssl s_client run. With `request`, sends it and waits for the answer (so that
    TLS 1.3 tickets, which follow the handshake, are received)."""
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}"]
    if servername:
        argv += ["-servername", servername]
    if request is not None:
        argv.append("-ign_eof")
    result = subprocess.run(argv + list(args), input=(request or "").encode(), capture_output=True,
                            timeout=CLIENT_TIMEOUT)
    return result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")


def outcomes(output):
    """The New/Reused lines s_client printed, in order."""
    return re.findall(r"^(New|Reused), ", output, re.M)


HTTP_GET = "GET / HTTP/1.0\r\n\r\n"
