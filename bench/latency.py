#!/usr/bin/env python3
"""Announce-to-wire and emergency-to-wire latency of a running corong daemon.

For each run: note the wall clock, start `corong announce FILE` (or
`corong emergency FILE`) as a new process, and wait for the first RTP packet
on the zone's port whose payload is not silence. The packet's time is the
kernel's receive stamp (SO_TIMESTAMPNS), which on loopback is taken in the
daemon's send call. Between runs the zone is silenced again (`corong stop`,
`corong emergency --stop`). Sends nothing: it only listens on 127.0.0.1.

usage: latency.py CORONG SOCKET PORT FILE RUNS
"""
import random
import subprocess
import sys
import time

from wire import Zone, summary

corong, sock_path, port, media, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
zone = Zone(port)


def client(*args):
    return subprocess.run([corong, "--socket", sock_path, *args], capture_output=True, text=True, timeout=10)


def measure(command, stop):
    lat = []
    for _ in range(runs):
        zone.drain_until_silent()
        # Commands arrive at any phase of the engine's packet clock: start
        # at a random point, not right after the packet just read.
        time.sleep(random.uniform(0, 0.05))
        start = time.time()
        proc = subprocess.Popen([corong, "--socket", sock_path, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lat.append(zone.first_sound_after(start))
        proc.wait(timeout=10)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.read().decode())
        r = client(*stop)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
    return lat


for name, command, stop in [
    ("announce", ["announce", media, "--zones", "all"], ["stop"]),
    ("emergency", ["emergency", media], ["emergency", "--stop"]),
]:
    lat = measure(command, stop)
    print(summary(f"{name:10s}", lat))
