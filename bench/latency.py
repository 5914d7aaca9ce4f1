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
import socket
import struct
import subprocess
import sys
import time

corong, sock_path, port, media, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])

# Linux's SO_TIMESTAMPNS (35, also SCM_TIMESTAMPNS); Python names it only
# on some builds.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
s.bind(("127.0.0.1", port))
s.settimeout(2.0)


def recv_stamped():
    data, anc, _, _ = s.recvmsg(4096, 1024)
    for level, kind, raw in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", raw[:16])
            return data, sec + nsec / 1e9
    raise RuntimeError("no kernel timestamp")


def drain_until_silent():
    """Read until a whole second of packets is silence (the zone is idle)."""
    deadline = time.time() + 10
    quiet_since = None
    while time.time() < deadline:
        data, at = recv_stamped()
        if any(data[12:]):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = at
        elif at - quiet_since > 0.3:
            return
    raise RuntimeError("the zone never went silent")


def client(*args):
    return subprocess.run([corong, "--socket", sock_path, *args], capture_output=True, text=True, timeout=10)


def measure(command, stop):
    lat = []
    for _ in range(runs):
        drain_until_silent()
        # Commands arrive at any phase of the engine's packet clock: start
        # at a random point, not right after the packet just read.
        time.sleep(random.uniform(0, 0.05))
        start = time.time()
        proc = subprocess.Popen([corong, "--socket", sock_path, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        end_by = start + 5
        while True:
            data, at = recv_stamped()
            if at >= start and any(data[12:]):
                lat.append((at - start) * 1000)
                break
            if time.time() > end_by:
                raise RuntimeError("no sound within 5 s")
        proc.wait(timeout=10)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.read().decode())
        r = client(*stop)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
    return lat


def pct(values, p):
    v = sorted(values)
    k = min(len(v) - 1, max(0, round(p / 100 * (len(v) - 1))))
    return v[k]


for name, command, stop in [
    ("announce", ["announce", media, "--zones", "all"], ["stop"]),
    ("emergency", ["emergency", media], ["emergency", "--stop"]),
]:
    lat = measure(command, stop)
    print(f"{name:10s} runs={len(lat)} p50={pct(lat, 50):.1f} ms p99={pct(lat, 99):.1f} ms max={max(lat):.1f} ms min={min(lat):.1f} ms")
