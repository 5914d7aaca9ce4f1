#!/usr/bin/env bash
# Hazard warnings' figures (issue 17): a CAP document published in a feed
# served on 127.0.0.1 to the operator seeing it pending, and `corong
# alerts confirm` to the first non-silent RTP packet, over RUNS documents
# (each a new identifier). The feed is polled every second (`poll_s = 1`,
# allowed against loopback only); the playbook speaks a text, rendered
# when the alert arrives, so a confirm finds it ready. The first
# synthesis of that text by espeak-ng is timed on its own.
#
#   bench/alerts.sh [RUNS]      (default 30)
. "$(dirname "$0")/lib.sh"
RUNS=${1:-30}
build_corong
PORT=$(free_port)
HTTP=$(free_port)
mkdir -p "$DIR/feed"
cp tests/data/alerts/nowcast.xml "$DIR/feed/nowcast.xml"
python3 -m http.server --bind 127.0.0.1 --directory "$DIR/feed" "$HTTP" >/dev/null 2>&1 &
PIDS+=($!)
cat > "$DIR/config.toml" <<CONF
[daemon]
timezone = "Asia/Jakarta"
[[zones]]
name = "wlingi"
rtp = ["127.0.0.1:$PORT"]
location = [-8.08, 112.32]
[[alerts.feeds]]
name = "bench"
kind = "cap"
url = "http://127.0.0.1:$HTTP/nowcast.xml"
poll_s = 1
[[alerts.playbooks]]
name = "hujan"
when = { event = "Hujan Lebat*" }
text = "Peringatan dari BMKG: {headline}."
priority = "emergency"
CONF
"$CORONG" daemon --config "$DIR/config.toml" 2> "$DIR/daemon.log" &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$DIR/run/corong.sock" ] && break; sleep 0.1; done
machine_line
TEXT="Peringatan dari BMKG: Hujan lebat disertai kilat dan angin kencang di Kabupaten Blitar."
start=$(date +%s%N)
espeak-ng -v id -w "$DIR/first.wav" "$TEXT"
echo "first synthesis of a playbook's text by espeak-ng: $(( ($(date +%s%N) - start) / 1000000 )) ms"
python3 bench/alerts.py "$CORONG" "$DIR/run/corong.sock" "$PORT" "$DIR/feed/nowcast.xml" "$RUNS"
