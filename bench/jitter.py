#!/usr/bin/env python3
"""Listen to RTP streams on 127.0.0.1 and measure their send timing.

Binds one UDP socket per port on 127.0.0.1 with kernel receive stamps
(SO_TIMESTAMPNS; on loopback the stamp is taken inside the sender's send
call, so it is the send time) and records every packet's stamp, RTP
sequence number and timestamp for SECONDS seconds (after WARMUP seconds
that are thrown away). Sends nothing.

Per stream it computes (with --tick-samples, over the first packet of each
packet time only):
- jitter: for each pair of consecutive packets, |arrival gap - the RTP
  timestamp gap in seconds|, i.e. how far each send strays from the
  packet time (a lost or reordered pair is left out);
- drift: arrival time minus the time the RTP timestamps say, fitted as a
  straight line over the run, in ms per hour.

Prints one JSON object: the pooled jitter p50/p99/max (ms) over every
stream, the worst drift, the packet counts, and (with --dump PATH) writes
every jitter sample, for plots.

usage: jitter.py --ports P1,P2,... --clock HZ --seconds S [--warmup W] [--label L] [--dump PATH]
"""
import argparse
import json
import selectors
import socket
import struct
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
# Datagrams read from one socket per wake-up at most: every loop here is
# bounded (the run itself by --seconds).
MAX_READS = 1024

ap = argparse.ArgumentParser()
ap.add_argument("--ports", required=True)
ap.add_argument("--clock", type=int, required=True)
ap.add_argument("--seconds", type=float, required=True)
ap.add_argument("--warmup", type=float, default=2.0)
ap.add_argument("--label", default="")
ap.add_argument("--dump")
ap.add_argument(
    "--tick-samples",
    type=int,
    help="measure only the first RTP packet of each packet time of this many samples "
    "(a sender that splits a packet time into several RTP packets sends them back to back)",
)
args = ap.parse_args()

sel = selectors.DefaultSelector()
streams = {}
for port in (int(p) for p in args.ports.split(",")):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind(("127.0.0.1", port))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, port)
    streams[port] = []
    # RTCP goes to port + 1: take it too, so no sender sees "port
    # unreachable" there.
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.bind(("127.0.0.1", port + 1))
    r.setblocking(False)
    sel.register(r, selectors.EVENT_READ, None)

start = time.monotonic()
record_from = start + args.warmup
end = record_from + args.seconds
while True:
    now = time.monotonic()
    if now >= end:
        break
    for key, _ in sel.select(timeout=min(0.5, end - now)):
        sock = key.fileobj
        if key.data is None:
            try:
                for _ in range(MAX_READS):
                    sock.recv(2048)
            except BlockingIOError:
                pass
            continue
        for _ in range(MAX_READS):
            try:
                data, anc, _, _ = sock.recvmsg(2048, 256)
            except BlockingIOError:
                break
            if time.monotonic() < record_from or len(data) < 12:
                continue
            stamp = None
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", raw[:16])
                    stamp = sec + nsec / 1e9
            if stamp is None:
                continue
            seq, ts = struct.unpack("!HI", data[2:8])
            streams[key.data].append((stamp, seq, ts))


def pct(values, p):
    v = sorted(values)
    k = min(len(v) - 1, max(0, round(p / 100 * (len(v) - 1))))
    return v[k]


jitter = []
drifts = []
packets = 0
for port, pkts in streams.items():
    packets += len(pkts)
    if args.tick_samples:
        first_ts = pkts[0][2] if pkts else 0
        pkts = [p for p in pkts if ((p[2] - first_ts) & 0xFFFFFFFF) % args.tick_samples == 0]
    if len(pkts) < 10:
        continue
    for (t0, s0, ts0), (t1, s1, ts1) in zip(pkts, pkts[1:]):
        step = ((ts1 - ts0) & 0xFFFFFFFF)
        if (s1 - s0) & 0xFFFF > 8 or step > 8 * (args.tick_samples or step):
            continue  # a loss or a reorder: not a neighbour
        expected = step / args.clock
        jitter.append(abs((t1 - t0) - expected) * 1000)
    # Least-squares slope of (arrival - media time) against media time.
    base_t, _, base_ts = pkts[0]
    xs, ys = [], []
    unwrap, last = 0, base_ts
    for t, _, ts in pkts:
        if ts < last and last - ts > 1 << 31:
            unwrap += 1 << 32
        last = ts
        media = (ts + unwrap - base_ts) / args.clock
        xs.append(media)
        ys.append(t - base_t - media)
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    drifts.append(slope * 3600 * 1000)

if args.dump:
    with open(args.dump, "w") as f:
        f.write("\n".join(f"{j:.4f}" for j in jitter))

out = {
    "label": args.label,
    "streams": sum(1 for p in streams.values() if p),
    "packets": packets,
    "seconds": args.seconds,
}
if jitter:
    out.update(
        jitter_p50_ms=round(pct(jitter, 50), 4),
        jitter_p99_ms=round(pct(jitter, 99), 4),
        jitter_max_ms=round(max(jitter), 4),
        drift_worst_ms_per_hour=round(max(drifts, key=abs), 3),
    )
print(json.dumps(out))
