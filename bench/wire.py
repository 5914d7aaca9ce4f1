"""What the latency benches share: a UDP socket on 127.0.0.1 whose packets
carry the kernel's receive stamp (SO_TIMESTAMPNS, which on loopback is
taken in the sender's send call), waiting for a zone to go quiet, and
percentiles. Listens only; sends nothing."""
import socket
import struct
import time

# Linux's SO_TIMESTAMPNS (35, also SCM_TIMESTAMPNS); Python names it only
# on some builds.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


class Zone:
    """The RTP packets of one zone, received on 127.0.0.1:PORT."""

    def __init__(self, port):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.s.bind(("127.0.0.1", port))
        self.s.settimeout(2.0)

    def recv_stamped(self):
        """The next packet and its kernel receive time (seconds)."""
        data, anc, _, _ = self.s.recvmsg(4096, 1024)
        for level, kind, raw in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", raw[:16])
                return data, sec + nsec / 1e9
        raise RuntimeError("no kernel timestamp")

    def drain_until_silent(self):
        """Read until 0.3 s of packets are silence (the zone is idle)."""
        deadline = time.time() + 10
        quiet_since = None
        while time.time() < deadline:
            data, at = self.recv_stamped()
            if any(data[12:]):
                quiet_since = None
            elif quiet_since is None:
                quiet_since = at
            elif at - quiet_since > 0.3:
                return
        raise RuntimeError("the zone never went silent")

    def first_sound_after(self, start, within=5.0):
        """Milliseconds from `start` (time.time()) to the first packet
        whose payload is not silence."""
        while True:
            data, at = self.recv_stamped()
            if at >= start and any(data[12:]):
                return (at - start) * 1000
            if time.time() > start + within:
                raise RuntimeError(f"no sound within {within} s")


class Onsets:
    """Kernel receive times of the packets at which an L16 zone turns
    loud (a sample above `threshold` after a packet with none)."""

    def __init__(self, threshold):
        self.threshold = threshold
        self.times = []
        self.was = False

    def feed(self, data, anc):
        """One packet as `recvmsg` gave it (with SO_TIMESTAMPNS on)."""
        at = None
        for level, kind, raw in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", raw[:16])
                at = sec + nsec / 1e9
        payload = data[12:]
        samples = struct.iter_unpack(">h", payload[: len(payload) // 2 * 2])
        loud = any(abs(v) > self.threshold for (v,) in samples)
        if loud and not self.was and at is not None:
            self.times.append(at)
        self.was = loud


def pct(values, p):
    v = sorted(values)
    k = min(len(v) - 1, max(0, round(p / 100 * (len(v) - 1))))
    return v[k]


def summary(name, lat):
    return (f"{name} runs={len(lat)} p50={pct(lat, 50):.1f} ms p99={pct(lat, 99):.1f} ms "
            f"max={max(lat):.1f} ms min={min(lat):.1f} ms")
