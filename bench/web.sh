#!/usr/bin/env bash
# The web console's figures (issue 15) through headless chromium: RUNS
# clicks on "confirm emergency" to the first non-silent RTP packet (p50,
# p99; timed from the browser's click event and, as before, from
# WebDriver's click command; with where the time goes), the first speech
# synthesis, RUNS changes on a zone (announce, then stop, over the control
# socket) to the board's update by server-sent events (p50, p99), the
# board's page weight (HTML+CSS+JS as served), and the daemon's RSS with
# the console open and ZONES PCMU zones on 127.0.0.1. bench/web.py says how
# each is timed.
#
#   bench/web.sh [RUNS] [ZONES]      (default 30 runs, 10 zones)
#
# Needs chromium, chromedriver and espeak-ng (the emergency is spoken text,
# as the page sends it).
. "$(dirname "$0")/lib.sh"
RUNS=${1:-30}
ZONES=${2:-10}
build_corong
WEB_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PORTS=()
{
    printf '[daemon]\ntimezone = "UTC"\n'
    for i in $(seq "$ZONES"); do
        p=$(free_port)
        # Distinct even ports (RTCP on p+1).
        while [[ " ${PORTS[*]} " == *" $p "* ]]; do p=$(free_port); done
        PORTS+=("$p")
        printf '[[zones]]\nname = "zona-%s"\nrtp = ["127.0.0.1:%s"]\ncodec = "pcmu"\n' "$i" "$p"
    done
    printf '[web]\nlisten = "127.0.0.1:%s"\n' "$WEB_PORT"
} > "$DIR/config.toml"
echo 'kelud-siaga-3' | "$CORONG" --config "$DIR/config.toml" user add sri --role operator --password-stdin
"$CORONG" daemon --config "$DIR/config.toml" 2> "$DIR/daemon.log" &
echo $! > "$DIR/daemon.pid"
PIDS+=($!)
# What the board's change runs announce (long enough to be stopped).
ffmpeg -v error -f lavfi -i "sine=f=1000:r=48000:d=5" -ac 1 -c:a pcm_s16le -y "$DIR/pengumuman.wav"
for _ in $(seq 100); do grep -q "web console ready" "$DIR/daemon.log" && break; sleep 0.1; done
machine_line "$("$CORONG" --version 2>/dev/null || true)"
python3 bench/web.py "$CORONG" "$DIR" "$WEB_PORT" "$RUNS" "$DIR/pengumuman.wav" "${PORTS[@]}"
