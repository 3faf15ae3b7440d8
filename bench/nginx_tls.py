"""nginx's TLS settings matched to failoverd's: the same TLS 1.2 suites (ECDHE with AEAD only),
groups, protocol versions, session lifetime, a shared session cache and tickets. Shared by the
benchmarks that compare the two."""

CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
           "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")


def tls_directives(chain, key):
    """The server block's TLS directives for this certificate chain and key."""
    return f"""
    ssl_certificate {chain};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers {CIPHERS};
    ssl_prefer_server_ciphers on;
    ssl_ecdh_curve X25519:prime256v1;
    ssl_session_cache shared:SSL:64m;
    ssl_session_timeout 5m;
    ssl_session_tickets on;
"""
