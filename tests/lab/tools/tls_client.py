"""What the lab's TLS client tools share: a client context and one HTTPS exchange with the
lab's service (the test certificates are not verified: the tests are about sessions)."""

import socket
import ssl

PORT = 443
REQUEST = b"GET / HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"
TLS12, TLS13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3


def client_context(version, tickets=True, ciphers=None):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = context.maximum_version = version
    if not tickets:
        context.options |= ssl.OP_NO_TICKET
    if ciphers:
        context.set_ciphers(ciphers)
    return context


def fetch(address, context, session=None, on_session=None, timeout=5):
    """One connection to ADDRESS:443 offering `session`, one GET, the whole response; returns
    (session, reused), or raises OSError (also for an answer that is not 200) or ssl.SSLError.
    on_session gets the session as soon as the client holds it complete: after the handshake
    in TLS 1.2, after the response in TLS 1.3 (whose tickets follow the handshake)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as raw:
        raw.settimeout(timeout)
        raw.connect((address, PORT))
        with context.wrap_socket(raw, server_hostname="a.example", session=session) as tls:
            tls13 = tls.version() == "TLSv1.3"
            if on_session and not tls13:
                on_session(tls.session)
            tls.sendall(REQUEST)
            response = b""
            while chunk := tls.recv(65536):
                response += chunk
            if not response.startswith(b"HTTP/1.1 200"):
                raise OSError(f"bad response {response[:40]!r} on local port {tls.getsockname()[1]}")
            if on_session and tls13:
                on_session(tls.session)
            return tls.session, tls.session_reused
