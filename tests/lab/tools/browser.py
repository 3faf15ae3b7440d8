"""Headless Chromium in the client namespace, driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: no port, no WebSocket library). One browser, so one TLS session
cache, for the whole run. Commands on stdin, one answer line each:
    load URL    navigates, waits for the load event (bounded: 20 s), and answers
                "loaded JSON" with what the page reports of itself (window.report()), or
                "failed REASON"
    quit
Usage: browser.py CA_CERT HOST ADDRESS WORKDIR: trusts CA_CERT (an NSS database in WORKDIR,
which is also the profile and HOME) and resolves HOST to ADDRESS."""

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

LOAD_TIMEOUT = 20.0

ca_cert, host, address, workdir = sys.argv[1:5]
home = Path(workdir)
nssdb = home / ".pki" / "nssdb"
nssdb.mkdir(parents=True, exist_ok=True)
subprocess.run(["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True)
subprocess.run(["certutil", "-A", "-d", f"sql:{nssdb}", "-n", "failoverd-lab-ca", "-t", "C,,", "-i", ca_cert],
               check=True)

to_browser_read, to_browser = os.pipe()
from_browser, from_browser_write = os.pipe()
os.set_inheritable(to_browser_read, True)
os.set_inheritable(from_browser_write, True)
# Chromium reads commands on fd 3 and writes answers on fd 4.
browser = subprocess.Popen(
    ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
     "--disable-background-networking", "--disable-component-update", "--disable-sync",
     "--disable-dev-shm-usage", "--remote-debugging-pipe", f"--user-data-dir={home / 'profile'}",
     f"--host-resolver-rules=MAP {host} {address}", "about:blank"],
    env=dict(os.environ, HOME=str(home)), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    stderr=open(home / "chromium.log", "w"),
    # The child puts the pipes on 3 and 4 before the fds not passed are closed.
    pass_fds=(3, 4), preexec_fn=lambda: (os.dup2(to_browser_read, 3), os.dup2(from_browser_write, 4)))
os.close(to_browser_read)
os.close(from_browser_write)

next_id = 0
pending = b""
events = []


def receive(deadline):
    """The next message from the browser, or None at the deadline."""
    global pending
    while b"\0" not in pending:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([from_browser], [], [], left)[0]:
            return None
        chunk = os.read(from_browser, 65536)
        if not chunk:
            raise RuntimeError("chromium closed its DevTools pipe")
        pending += chunk
    message, pending = pending.split(b"\0", 1)
    return json.loads(message)


def call(method, params=None, session=None, timeout=LOAD_TIMEOUT):
    global next_id
    next_id += 1
    message = {"id": next_id, "method": method, "params": params or {}}
    if session:
        message["sessionId"] = session
    os.write(to_browser, json.dumps(message).encode() + b"\0")
    deadline = time.monotonic() + timeout
    while (answer := receive(deadline)) is not None:
        if answer.get("id") == next_id:
            if "error" in answer:
                raise RuntimeError(f"{method}: {answer['error']}")
            return answer["result"]
        events.append(answer)
    raise RuntimeError(f"{method}: no answer in {timeout} s")


def wait_event(method, session, deadline):
    while True:
        for i, event in enumerate(events):
            if event.get("method") == method and event.get("sessionId") == session:
                del events[i]
                return event
        event = receive(deadline)
        if event is None:
            raise RuntimeError(f"no {method} within {LOAD_TIMEOUT} s")
        events.append(event)


target = next(t["targetId"] for t in call("Target.getTargets")["targetInfos"] if t["type"] == "page")
session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
call("Page.enable", session=session)
call("Network.enable", session=session)
# Every load goes to the network: a page from the browser's cache would prove nothing.
call("Network.setCacheDisabled", {"cacheDisabled": True}, session=session)
print("ready", flush=True)

for line in sys.stdin:
    words = line.split()
    if not words:
        continue
    if words[0] == "quit":
        break
    if words[0] != "load" or len(words) != 2:
        print(f"failed unknown command {line.strip()}", flush=True)
        continue
    try:
        events.clear()
        deadline = time.monotonic() + LOAD_TIMEOUT
        navigation = call("Page.navigate", {"url": words[1]}, session=session)
        if navigation.get("errorText"):
            raise RuntimeError(navigation["errorText"])
        wait_event("Page.loadEventFired", session, deadline)
        report = call("Runtime.evaluate", {"expression": "JSON.stringify(window.report())", "returnByValue": True},
                      session=session)
        if "exceptionDetails" in report:
            raise RuntimeError(f"window.report(): {report['exceptionDetails'].get('text')}")
        print("loaded " + report["result"]["value"], flush=True)
    except RuntimeError as error:
        print(f"failed {error}", flush=True)

browser.terminate()
try:
    browser.wait(10)
except subprocess.TimeoutExpired:
    browser.kill()
    browser.wait()
