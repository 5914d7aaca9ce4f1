#!/usr/bin/env bash
# Live page input-to-wire latency (issue 16's figure): a release daemon with
# one L16 zone on 127.0.0.1 at PTIME ms packets; `corong page --from-stdin`
# fed 48 kHz s16le at a speaker's pace (5 ms writes): silence with a 60 ms
# burst of tone every 300 ms. For each burst: the time from the write of its
# first sample to the kernel's receive stamp of the first audible RTP
# packet. Prints p50/p99/max.
#
#   bench/page.sh [PTIME_MS] [BURSTS]     (default 20 ms, 200 bursts)
. "$(dirname "$0")/lib.sh"
PTIME=${1:-20}
BURSTS=${2:-200}
build_corong
PORT=$(free_port)
cat > "$DIR/config.toml" <<CONF
[daemon]
timezone = "Asia/Jakarta"
packet_ms = $PTIME
[[zones]]
name = "alun-alun"
rtp = ["127.0.0.1:$PORT"]
CONF
"$CORONG" daemon --config "$DIR/config.toml" 2> "$DIR/daemon.log" &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$DIR/run/corong.sock" ] && break; sleep 0.1; done
machine_line "packet ${PTIME} ms, live page without chime"
python3 bench/page.py "$CORONG" "$DIR/run/corong.sock" "$PORT" "$BURSTS"
