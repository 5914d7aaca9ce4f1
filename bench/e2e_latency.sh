#!/usr/bin/env bash
# End-to-end latency (issue 5's figure): from starting `corong announce`
# to the moment a pole's `corong receive` plays the announcement's first
# sample, at the receiver's default latency (200 ms) and at 40 ms.
#
# A release daemon streams one L16 zone to 127.0.0.1; `corong receive
# --wav` records it with the wall-clock time of its first sample (the
# sidecar PATH.json); the receiver plays sample i at first + i / rate, so
# the announcement's onset in the recording gives the wall time it was
# played. Each run: silence, then `corong announce tone.wav --no-chime`
# as a new process at a random phase; RUNS runs per latency setting.
#
#   bench/e2e_latency.sh [RUNS]      (default 20)
. "$(dirname "$0")/lib.sh"
RUNS=${1:-20}
build_corong
PORT=$(free_port)
ffmpeg -v error -f lavfi -i "sine=f=1000:r=48000:d=0.3" -af "volume=0.5" -y "$DIR/tone.wav"
cat > "$DIR/config.toml" <<CONF
[daemon]
timezone = "Asia/Jakarta"
[loudness]
normalize = false
[[zones]]
name = "alun-alun"
rtp = ["127.0.0.1:$PORT"]
CONF
"$CORONG" daemon --config "$DIR/config.toml" 2> "$DIR/daemon.log" &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$DIR/run/corong.sock" ] && break; sleep 0.1; done
machine_line "$RUNS runs per setting"
for LAT in 200 40; do
    WAV=$DIR/rx-$LAT.wav
    SECS=$((RUNS * 2 + 4))
    "$CORONG" receive --listen "127.0.0.1:$PORT" --codec l16 --latency-ms "$LAT" \
        --wav "$WAV" --duration "$SECS" 2> "$DIR/rx-$LAT.log" &
    RX=$!; PIDS+=($RX)
    sleep 2
    : > "$DIR/starts-$LAT.txt"
    for _ in $(seq "$RUNS"); do
        sleep "$(python3 -c 'import random; print(1.2 + random.uniform(0, 0.05))')"
        python3 -c 'import time; print(time.time_ns())' >> "$DIR/starts-$LAT.txt"
        "$CORONG" --socket "$DIR/run/corong.sock" announce "$DIR/tone.wav" --no-chime >/dev/null 2>&1
    done
    wait "$RX"
    python3 - "$WAV" "$DIR/starts-$LAT.txt" "$LAT" <<'PY'
import json, statistics, struct, sys, wave
path, starts_path, lat = sys.argv[1], sys.argv[2], sys.argv[3]
w = wave.open(path)
rate, n = w.getframerate(), w.getnframes()
samples = struct.unpack("<%dh" % n, w.readframes(n))
first = json.load(open(path + ".json"))["first_sample_unix_ns"]
starts = [int(l) for l in open(starts_path) if l.strip()]
# Onsets: the first loud sample after at least 0.3 s of quiet.
onsets, quiet = [], rate
for i, s in enumerate(samples):
    if abs(s) > 1000:
        if quiet >= rate * 3 // 10:
            onsets.append(first + i * 1_000_000_000 // rate)
        quiet = 0
    else:
        quiet += 1
lat_ms = []
for t in starts:
    later = [o for o in onsets if o >= t]
    if later:
        lat_ms.append((later[0] - t) / 1e6)
lat_ms.sort()
p = lambda q: lat_ms[min(len(lat_ms) - 1, round(q * (len(lat_ms) - 1)))]
print(f"receiver latency {lat:>3} ms: runs={len(lat_ms)} p50={statistics.median(lat_ms):.1f} ms p99={p(0.99):.1f} ms min={lat_ms[0]:.1f} ms max={lat_ms[-1]:.1f} ms (announce to the pole's output)")
PY
done
