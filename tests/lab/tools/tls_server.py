"""A small concurrent TLS server, the service beside keepalived in bench/outage.py: listens on
PORT (every address), and answers each request with NAME. Handshakes are bounded (2 s) and each
connection is served on its own, so an attempt abandoned mid-handshake (its client cut off)
blocks no other. Prints "listening"; runs until terminated."""

import asyncio
import ssl
import sys

name, port, certificate, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
HANDSHAKE_SECONDS = 2.0
REQUEST_SECONDS = 5.0


async def serve(reader, writer):
    try:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_SECONDS)
        body = f"{name}\n".encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def main():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server = await asyncio.start_server(serve, port=port, ssl=context, ssl_handshake_timeout=HANDSHAKE_SECONDS,
                                        reuse_address=True)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
