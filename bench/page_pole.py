#!/usr/bin/env python3
"""Live page to the wire and to the pole's output, and the cost of a page.

usage: page_pole.py CORONG SOCKET BASE_PORT ZONES SECONDS DAEMON_PID RECEIVER_PID WAV

Zone 0 (BASE_PORT) is played by `corong receive` (RECEIVER_PID) into WAV;
zone 1 is listened to here with the kernel's receive stamps
(SO_TIMESTAMPNS); zones 2.. are drained. Listens only, on 127.0.0.1.
The feeder writes `corong page --from-stdin` 5 ms at a time against a
monotonic clock and notes the wall-clock time just before it writes the
first sample of each burst: that is the burst's input time. Its output
time at the pole is the WAV sidecar's first_sample_unix_ns plus the
index of the burst's first loud sample over the rate.
"""
import json
import math
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import wave

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wire import SO_TIMESTAMPNS, Onsets, pct  # noqa: E402

corong, sock_path = sys.argv[1], sys.argv[2]
base, zones, seconds = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
daemon, receiver, wav_path = int(sys.argv[6]), int(sys.argv[7]), sys.argv[8]
RATE, STEP, PERIOD, BURST = 48000, 240, 60, 12  # 5 ms writes; a 60 ms burst every 300 ms
LOUD = 3000
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """utime + stime of a process so far, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def mem_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


# Listen: zone 1 stamped, the others drained (zone 0 is the receiver's).
socks = []
for i in range(1, zones):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", base + 2 * i))
    s.setblocking(False)
    if i == 1:
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    socks.append(s)
audible = Onsets(LOUD)
stop = threading.Event()


def listen():
    while not stop.is_set():
        ready, _, _ = select.select(socks, [], [], 0.2)
        for s in ready:
            try:
                if s is not socks[0]:
                    while True:
                        s.recv(4096)
                data, anc, _, _ = s.recvmsg(4096, 1024)
            except BlockingIOError:
                continue
            audible.feed(data, anc)


t = threading.Thread(target=listen)
t.start()

# The daemon at rest.
time.sleep(2)
idle0, w0 = cpu_s(daemon), time.monotonic()
time.sleep(10)
idle_cpu = (cpu_s(daemon) - idle0) / (time.monotonic() - w0)
idle_mem = mem_kib(daemon)

page = subprocess.Popen(
    [corong, "--socket", sock_path, "page", "--from-stdin", "--format", "s16le",
     "--rate", str(RATE), "--no-chime", "--max-s", "3600"],
    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, bufsize=0)
silence = b"\0\0" * STEP
tone = b"".join(struct.pack("<h", int(16000 * math.sin(2 * math.pi * 1000 * i / RATE))) for i in range(STEP))
onsets = []  # wall-clock ns just before a burst's first write
late = []  # ms the feeder's writes came after their due time
rss_peak = 0
busy0, w0 = cpu_s(daemon), time.monotonic()
start = time.monotonic()
steps = int(seconds * RATE / STEP)
for i in range(steps):
    due = start + i * STEP / RATE
    wait = due - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    late.append((time.monotonic() - due) * 1000)
    k = i % PERIOD
    if k == 0 and i >= PERIOD:
        onsets.append(time.time_ns())
    page.stdin.write(tone if (k < BURST and i >= PERIOD) else silence)
    if i % 200 == 0:
        rss_peak = max(rss_peak, mem_kib(daemon)["VmRSS"])
busy_cpu = (cpu_s(daemon) - busy0) / (time.monotonic() - w0)
busy_mem = mem_kib(daemon)
page.stdin.close()
_, status, ru = os.wait4(page.pid, 0)
page.returncode = os.waitstatus_to_exitcode(status)
time.sleep(0.5)
stop.set()
t.join()
os.kill(receiver, signal.SIGTERM)
for _ in range(100):
    try:
        os.kill(receiver, 0)
    except ProcessLookupError:
        break
    # The receiver is our shell's child: wait until it is gone.
    if open(f"/proc/{receiver}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
        break
    time.sleep(0.05)
time.sleep(0.2)

# Input to wire (zone 1).
wire = []
for on in onsets:
    after = [a for a in audible.times if a >= on / 1e9]
    if after and after[0] - on / 1e9 < 0.5:
        wire.append((after[0] - on / 1e9) * 1000)

# Input to the pole's output (zone 0's recording).
with open(wav_path + ".json") as f:
    meta = json.load(f)
first_ns, rate = int(meta["first_sample_unix_ns"]), int(meta["sample_rate"])
with wave.open(wav_path) as w:
    ch = w.getnchannels()
    raw = w.readframes(w.getnframes())
samples = [v for (v,) in struct.iter_unpack("<h", raw)][::ch]
pole = []
for on in onsets:
    at = max(0, (on - first_ns) * rate // 1_000_000_000)
    end = min(len(samples), at + rate // 2)
    for j in range(at, end):
        if abs(samples[j]) > LOUD:
            pole.append((first_ns + j * 1_000_000_000 / rate - on) / 1e6)
            break


def line(name, lat, n):
    if not lat:
        return f"{name}: no burst arrived of {n}"
    return (f"{name}: {len(lat)}/{n} bursts, p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms, "
            f"max {max(lat):.1f} ms, min {min(lat):.1f} ms")


print(line("input to wire (zone 1)", wire, len(onsets)))
print(line("input to pole output (receive --latency-ms 40)", pole, len(onsets)))
print(f"feeder lateness: p50 {pct(late, 50):.2f} ms, p99 {pct(late, 99):.2f} ms, max {max(late):.1f} ms")
print(f"daemon idle ({zones} zones): CPU {idle_cpu * 100:.1f} % of a core, "
      f"VmRSS {idle_mem['VmRSS'] / 1024:.1f} MiB, VmHWM {idle_mem['VmHWM'] / 1024:.1f} MiB")
print(f"daemon during a {seconds:.0f} s page on {zones} zones: CPU {busy_cpu * 100:.1f} % of a core, "
      f"VmRSS {busy_mem['VmRSS'] / 1024:.1f} MiB (peak sampled {rss_peak / 1024:.1f} MiB), "
      f"VmHWM {busy_mem['VmHWM'] / 1024:.1f} MiB")
print(f"page client: CPU {(ru.ru_utime + ru.ru_stime) / seconds * 100:.1f} % of a core "
      f"({ru.ru_utime + ru.ru_stime:.2f} s over {seconds:.0f} s), peak RSS {ru.ru_maxrss / 1024:.1f} MiB, "
      f"exit {page.returncode}")
