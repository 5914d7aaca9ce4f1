#!/usr/bin/env python3
"""Publish-to-pending and confirm-to-wire of a running corong daemon.

For each run: rewrite the feed's CAP document with a new identifier
(atomically), poll `corong alerts --json` until the new alert is pending
(publish to notified), then start `corong alerts confirm ID` as a new
process and wait for the first non-silent RTP packet on the zone (kernel
receive stamp, SO_TIMESTAMPNS). The job is cancelled between runs. Sends
nothing: it only listens on 127.0.0.1.

usage: alerts.py CORONG SOCKET PORT FEED_FILE RUNS
"""
import json
import os
import random
import subprocess
import sys
import time

from wire import Zone, summary

corong, sock_path, port, feed, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
template = open(feed).read()
zone = Zone(port)


def client(*args):
    r = subprocess.run([corong, "--socket", sock_path, *args], capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        raise RuntimeError(f"corong {' '.join(args)}: {r.stderr}")
    return r.stdout


def pending(identity_count):
    alerts = json.loads(client("alerts", "--json"))["alerts"]
    if len(alerts) > identity_count and alerts[-1]["state"] == "pending":
        return alerts[-1]
    return None


def publish(n):
    text = template.replace("2.49.0.1.360.0.2026.12.06.15.35.001", f"2.49.0.1.360.0.bench.{os.getpid()}.{n}")
    tmp = feed + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, feed)


notified, on_air = [], []
# The feed's first document (the template) arrives with the first poll:
# wait for it, so that every later alert is one this script published.
waited = time.time()
while not json.loads(client("alerts", "--json"))["alerts"]:
    if time.time() - waited > 10:
        raise RuntimeError("the feed's first document never arrived")
    time.sleep(0.05)
known = len(json.loads(client("alerts", "--json"))["alerts"])
for n in range(runs):
    # Documents appear at any phase of the poller's second, each in a later
    # wall-clock second than the one before: the test server's
    # Last-Modified has whole seconds, so a document rewritten within the
    # second of the last fetch would be answered "304 Not Modified".
    time.sleep(1.0 - time.time() % 1.0 + random.uniform(0, 0.95))
    published = time.time()
    publish(n)
    while True:
        alert = pending(known)
        if alert:
            notified.append((time.time() - published) * 1000)
            break
        if time.time() - published > 10:
            raise RuntimeError("no pending alert 10 s after publishing: " + client("alerts", "--json"))
        time.sleep(0.01)
    known += 1
    # The text is spoken when the alert arrives; the first run waits for
    # that one synthesis, the others find the cache.
    time.sleep(1.5 if n == 0 else 0.2)
    zone.drain_until_silent()
    time.sleep(random.uniform(0, 0.05))
    start = time.time()
    proc = subprocess.Popen([corong, "--socket", sock_path, "alerts", "confirm", str(alert["id"])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    on_air.append(zone.first_sound_after(start))
    proc.wait(timeout=10)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.read().decode())
    job = json.loads(client("alerts", "--json"))["alerts"][-1]["job"]
    client("cancel", str(job))

for name, lat in [("published to pending (poll_s = 1)", notified), ("confirm to first sound", on_air)]:
    print(summary(f"{name:36s}", lat))
