"""Holds many idle connections and a slow-loris client open to failoverd's control socket and
metrics endpoint, and meanwhile asks as an operator and a scraper would. Prints one JSON object:
    python3 request_flood.py FAILOVERCTL CONTROL_SOCKET METRICS_PORT IDLE_COUNT
Run inside the daemon's network namespace (the metrics endpoint listens on 127.0.0.1 there)."""

import http.client
import json
import resource
import selectors
import socket
import subprocess
import sys
import threading
import time

BOUND = 20  # seconds: every wait below ends by then


def open_idle(make, count):
    connections = []
    for _ in range(count):
        connection = make()
        connection.setblocking(False)
        connections.append(connection)
    return connections


def closed_by_server(connection):
    try:
        return connection.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:  # reset: closed too
        return True


def slow_loris(make, first, result):
    """Sends a request head one byte every 200 ms and never ends it; records how long the
    server kept the connection."""
    start = time.monotonic()
    with make() as connection:
        connection.sendall(first)
        connection.settimeout(0.2)
        while time.monotonic() - start < BOUND:
            try:
                if connection.recv(4096) == b"":
                    break
            except socket.timeout:
                pass
            except OSError:
                break
            try:
                connection.sendall(b"x")
            except OSError:
                break
    result["kept_s"] = round(time.monotonic() - start, 3)
    result["closed"] = time.monotonic() - start < BOUND


def scrape(port, path):
    start = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return {"status": response.status, "body": response.read().decode(), "s": time.monotonic() - start}
    finally:
        connection.close()


def main():
    failoverctl, control_path, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 2 * count + 256), hard))

    def unix():
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(5)
        connection.connect(control_path)
        return connection

    def tcp():
        return socket.create_connection(("127.0.0.1", port), timeout=5)

    idle = {"control": open_idle(unix, count), "metrics": open_idle(tcp, count)}
    # After the idle ones, so that the requests below evict idle connections, not these: the
    # server must end these at its timeout.
    lorises = {"control": {}, "metrics": {}}
    threads = [threading.Thread(target=slow_loris, args=(unix, b"1 sta", lorises["control"])),
               threading.Thread(target=slow_loris, args=(tcp, b"GET /metrics HTTP/1.1\r\nX-Slow: ", lorises["metrics"]))]
    for thread in threads:
        thread.start()

    start = time.monotonic()
    status = subprocess.run([failoverctl, "--socket", control_path, "status", "--json"],
                            capture_output=True, text=True, timeout=BOUND)
    status_s = time.monotonic() - start
    metrics = scrape(port, "/metrics")
    elsewhere = scrape(port, "/")

    for thread in threads:
        thread.join(BOUND)
    # The server closes every idle connection: evicted by newer ones, or at its timeout.
    deadline = time.monotonic() + BOUND
    open_count = {}
    for name, connections in idle.items():
        remaining = list(connections)
        while remaining and time.monotonic() < deadline:
            with selectors.DefaultSelector() as selector:
                for connection in remaining:
                    selector.register(connection, selectors.EVENT_READ)
                selector.select(0.5)
            remaining = [c for c in remaining if not closed_by_server(c)]
        open_count[name] = len(remaining)
        for connection in connections:
            connection.close()
    after = subprocess.run([failoverctl, "--socket", control_path, "status", "--json"],
                           capture_output=True, text=True, timeout=BOUND)
    print(json.dumps({
        "status": {"rc": status.returncode, "s": round(status_s, 3), "stderr": status.stderr,
                   "role": json.loads(status.stdout)["role"] if status.returncode == 0 else None},
        "metrics": {"status": metrics["status"], "s": round(metrics["s"], 3),
                    "has_role": "failoverd_role{" in metrics["body"]},
        "elsewhere": elsewhere["status"],
        "lorises": lorises,
        "still_open": open_count,
        "request_servers": json.loads(after.stdout)["request_servers"] if after.returncode == 0 else after.stderr,
    }))


if __name__ == "__main__":
    main()
