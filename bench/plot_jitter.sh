#!/usr/bin/env bash
# Draw the jitter distributions that `OUT=DIR bench/jitter.sh ...` kept
# (one file per sender, codec, packet time and round: DIR/SENDER-CODEC-PTIME-ROUND.txt,
# one jitter sample in ms per line) as a PNG: for each sender and packet
# time, the share of packets whose send time strayed further than x from
# its packet time (a complementary CDF, both axes logarithmic, so the tail
# that p99 and max summarise is visible whole). Rounds are pooled.
#
#   bench/plot_jitter.sh DIR [PNG] [TITLE]     (default PNG: DIR/jitter.png)
#
# Needs gnuplot (Debian: gnuplot-nox, which .ci/run installs).
set -euo pipefail
DIR=${1:?usage: bench/plot_jitter.sh DIR [PNG] [TITLE]}
PNG=${2:-$DIR/jitter.png}
TITLE=${3:-"RTP send jitter on loopback"}
command -v gnuplot >/dev/null || { echo "plot_jitter.sh: gnuplot is not installed (apt install gnuplot-nox)" >&2; exit 1; }
DATA=$(mktemp -d)
trap 'rm -rf "$DATA"' EXIT

# One CCDF file per (sender, codec, packet time), and the gnuplot lines.
python3 - "$DIR" "$DATA" <<'PY' > "$DATA/plot.gp"
import glob, os, re, sys
src, out = sys.argv[1], sys.argv[2]
series = {}
for path in sorted(glob.glob(os.path.join(src, "*-*-*-*.txt"))):
    m = re.match(r"(\w+)-(\w+)-(\d+)-\d+\.txt$", os.path.basename(path))
    if not m:
        continue
    key = (m.group(1), m.group(2), int(m.group(3)))
    with open(path) as f:
        series.setdefault(key, []).extend(float(l) for l in f if l.strip())
if not series:
    sys.exit(f"plot_jitter.sh: no jitter samples in {src}")
colours = {"corong": "#1b7837", "ffmpeg": "#c51b7d", "gstreamer": "#2166ac"}
dashes = {20: 1, 10: 2, 5: 3}
plots = []
for (sender, codec, ptime), values in sorted(series.items()):
    values.sort()
    n = len(values)
    name = f"{sender}-{codec}-{ptime}.dat"
    with open(os.path.join(out, name), "w") as f:
        # Share of samples strictly above each value; at most ~2000 points.
        step = max(1, n // 2000)
        for i in list(range(0, n - 1, step)) + [n - 1]:
            above = (n - 1 - i) / n
            f.write(f"{max(values[i], 1e-4):.5f} {max(above, 0.5 / n):.8f}\n")
    p99 = values[min(n - 1, round(0.99 * (n - 1)))]
    title = f"{sender} {codec.upper()} {ptime} ms: p99 {p99:.3f} ms, max {values[-1]:.2f} ms ({n} packets)"
    plots.append(
        f"'{os.path.join(out, name)}' using 1:2 with lines lw 2 dt {dashes.get(ptime, 4)} "
        f"lc rgb '{colours.get(sender, '#555555')}' title '{title}'"
    )
# Down to the rarest sample of the longest series: its max is on the plot.
import math
floor = 10 ** math.floor(math.log10(0.5 / max(len(v) for v in series.values())))
print(f"set yrange [{min(floor, 1e-5):g}:1]")
top = 10 ** math.ceil(math.log10(max(max(v) for v in series.values())))
print(f"set xrange [0.001:{max(top, 100):g}]")
print("plot " + ", \\\n     ".join(plots))
PY

gnuplot <<GP
set terminal pngcairo size 1100,700 font "sans,11"
set output "$PNG"
set title "$TITLE"
set logscale xy
set format x "%g"
set format y "10^{%L}"
set xlabel "jitter: |gap between two packets - the packet time| (ms)"
set ylabel "share of packets with more jitter than x"
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
set key bottom left box opaque
load "$DATA/plot.gp"
GP
echo "wrote $PNG"
