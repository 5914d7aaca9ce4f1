#!/usr/bin/env python3
"""Input-to-wire latency of a live page on a running corong daemon.

Starts `corong page --from-stdin --format s16le --rate 48000 --no-chime`
and writes its standard input at a speaker's pace, 5 ms at a time against a
monotonic clock: silence, with a 60 ms burst of 1 kHz tone every 300 ms. A
thread listens on the zone's port (127.0.0.1 only) and stamps each RTP
packet with the kernel's receive time (SO_TIMESTAMPNS, taken in the
daemon's send call on loopback). Latency of a burst: from the wall-clock
time its first sample was written to the first audible packet after it.

usage: page.py CORONG SOCKET PORT BURSTS
"""
import math
import os
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wire import SO_TIMESTAMPNS, Onsets  # noqa: E402

corong, sock_path, port, bursts = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
RATE, STEP, PERIOD, BURST = 48000, 240, 60, 12  # 5 ms writes; bursts every 60 steps, 12 long

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
s.bind(("127.0.0.1", port))
s.settimeout(0.5)
audible = Onsets(3000)
stop = threading.Event()


def listen():
    while not stop.is_set():
        try:
            data, anc, _, _ = s.recvmsg(4096, 1024)
        except socket.timeout:
            continue
        audible.feed(data, anc)


t = threading.Thread(target=listen)
t.start()
page = subprocess.Popen(
    [corong, "--socket", sock_path, "page", "--from-stdin", "--format", "s16le",
     "--rate", str(RATE), "--no-chime", "--max-s", "3600"],
    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, bufsize=0)
silence = b"\0\0" * STEP
tone = b"".join(struct.pack("<h", int(16000 * math.sin(2 * math.pi * 1000 * i / RATE))) for i in range(STEP))
onsets = []
start = time.monotonic()
steps = (bursts + 1) * PERIOD
for i in range(steps):
    due = start + i * STEP / RATE
    wait = due - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    k = i % PERIOD
    if k == 0 and i >= PERIOD:
        onsets.append(time.time())
    page.stdin.write(tone if (k < BURST and i >= PERIOD) else silence)
page.stdin.close()
page.wait()
time.sleep(0.3)
stop.set()
t.join()
lat = []
for on in onsets:
    after = [a for a in audible.times if a >= on]
    if after and after[0] - on < 0.25:
        lat.append((after[0] - on) * 1000)
lat.sort()
if not lat:
    sys.exit("no burst reached the wire")
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"live page input to wire: {len(lat)}/{len(onsets)} bursts, p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, max {lat[-1]:.1f} ms")
