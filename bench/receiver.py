"""Skew between two receivers' recordings (see receiver.sh).

Lines the two WAVs up by their sidecars' first_sample_unix_ns, then, once a
second along the stretch where both hold the noise, finds the lag of the
best normalised cross-correlation of a 100 ms window within +-2 ms, refined
to a fraction of a sample by a parabola through the peak."""
import json
import struct
import sys
import wave


def load(path):
    w = wave.open(path)
    n = w.getnframes()
    samples = struct.unpack("<%dh" % n, w.readframes(n))
    meta = json.load(open(path + ".json"))
    return samples, w.getframerate(), meta["first_sample_unix_ns"]


def corr(a, ia, b, ib, n):
    x = a[ia:ia + n]
    y = b[ib:ib + n]
    dot = sum(p * q for p, q in zip(x, y))
    ex = sum(p * p for p in x)
    ey = sum(q * q for q in y)
    return dot / max((ex * ey) ** 0.5, 1e-12)


def main():
    a, rate, fa = load(sys.argv[1])
    b, rate_b, fb = load(sys.argv[2])
    assert rate == rate_b
    loud = [i for i in range(0, len(a), rate // 10) if abs(a[i]) > 300]
    start, end = loud[0] + rate, loud[-1] - rate
    n, span = rate // 10, rate // 500
    skews = []
    for ia in range(start, end - n, rate):
        wall = fa + ia * 1_000_000_000 // rate
        ib = (wall - fb) * rate // 1_000_000_000
        if ib - span < 0 or ib + span + n > len(b):
            continue
        cs = [corr(a, ia, b, ib + lag, n) for lag in range(-span, span + 1)]
        k = max(range(len(cs)), key=cs.__getitem__)
        frac = 0.0
        if 0 < k < len(cs) - 1:
            den = cs[k - 1] - 2 * cs[k] + cs[k + 1]
            if den != 0:
                frac = 0.5 * (cs[k - 1] - cs[k + 1]) / den
        # Also the fractional part of the first-sample alignment.
        exact = (wall - fb) * rate / 1e9 - ib
        lag = (k - span) + frac - exact
        skews.append(abs(lag) / rate * 1000)
    skews.sort()
    p50 = skews[len(skews) // 2]
    print(f"sync skew over {len(skews)} windows: p50 {p50:.3f} ms, max {skews[-1]:.3f} ms")


main()
