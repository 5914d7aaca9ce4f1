#!/usr/bin/env bash
# Announce-to-wire and emergency-to-wire latency (issue 3's figures):
# starts a release daemon with one L16 zone on 127.0.0.1, then times RUNS
# `corong announce` and `corong emergency` commands from process start to
# the first non-silent RTP packet (kernel receive stamp).
#
#   bench/latency.sh [RUNS]      (default 50)
. "$(dirname "$0")/lib.sh"
RUNS=${1:-50}
build_corong
PORT=$(free_port)
ffmpeg -v error -f lavfi -i "aevalsrc=0.5*sin(2*PI*1000*t):s=48000:d=1" -y "$DIR/pengumuman.wav"
cat > "$DIR/config.toml" <<CONF
[daemon]
timezone = "Asia/Jakarta"
[[zones]]
name = "alun-alun"
rtp = ["127.0.0.1:$PORT"]
CONF
"$CORONG" daemon --config "$DIR/config.toml" 2> "$DIR/daemon.log" &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$DIR/run/corong.sock" ] && break; sleep 0.1; done
machine_line
python3 bench/latency.py "$CORONG" "$DIR/run/corong.sock" "$PORT" "$DIR/pengumuman.wav" "$RUNS"
