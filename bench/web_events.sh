#!/usr/bin/env bash
# Send jitter with and without CLIENTS browsers on the web console's event
# stream (issue 15's figure "50 browsers connected: no effect on send
# jitter"). One daemon with ZONES PCMU zones on 127.0.0.1 playing a
# scheduled tone (as bench/jitter.sh) and the console; beside it, in the
# same run, ZONES GStreamer `audiotestsrc is-live=true ! rtppcmupay !
# udpsink` pipelines (bench/jitter.sh's steadiest peer; ffmpeg's `-re`
# sends in bursts) as the control for the machine's own noise. ROUNDS
# rounds, each one phase without and one with the clients (the order
# alternates), each phase measured for SECONDS by bench/jitter.py (kernel
# receive stamps) on corong's and GStreamer's ports at once.
#
# The clients are logged-in HTTP event-stream readers (bench/web_events.py
# clients: one connection and thread each, reading `GET /api/events` with
# the session cookie as the board's EventSource does), not 50 chromiums: 50
# browsers would not fit in this machine's memory, and what the daemon
# serves them is the same stream. So that the streams carry events, in
# both phases one more zone, `papan` (not measured), changes twice a
# second (an `announce` on it, then `stop`, over the control socket:
# bench/web_events.py churn, which also drains its packets); each change
# is a status and a queue event to every client.
#
# Prints per phase and round one JSON line per sender (jitter.py's) and the
# daemon's CPU, then the medians over rounds side by side.
#
#   bench/web_events.sh [SECONDS] [ROUNDS] [CLIENTS] [ZONES]   (default 60 3 50 10)
. "$(dirname "$0")/lib.sh"
SECS=${1:-60}
ROUNDS=${2:-3}
CLIENTS=${3:-50}
ZONES=${4:-10}
build_corong
TOTAL=$((ROUNDS * 2 * (SECS + 20) + 60))
make_tone "$TOTAL"
ffmpeg -v error -f lavfi -i "sine=f=440:r=48000:d=2" -ac 1 -c:a pcm_s16le -y "$DIR/pengumuman.wav"
WEB_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Below the ephemeral range (see bench/jitter.sh): corong's zones from
# 21000, GStreamer's from 21200, even ports (RTCP on p+1); the changing
# zone on 21400.
CORONG_PORTS=$(python3 -c "print(','.join(str(21000 + 2 * i) for i in range($ZONES)))")
GST_PORTS=$(python3 -c "print(','.join(str(21200 + 2 * i) for i in range($ZONES)))")
CHURN_PORT=21400

START=$(date -u -d '+6 sec' '+%s')
{
    printf '[daemon]\ntimezone = "UTC"\npacket_ms = 20\n'
    i=0
    for p in ${CORONG_PORTS//,/ }; do
        printf '[[zones]]\nname = "z%s"\nrtp = ["127.0.0.1:%s"]\ncodec = "pcmu"\n' "$i" "$p"
        i=$((i + 1))
    done
    printf '[[zones]]\nname = "papan"\nrtp = ["127.0.0.1:%s"]\ncodec = "pcmu"\n' "$CHURN_PORT"
    printf '[[schedules]]\nname = "bench"\ncron = "%s * * *"\nplaylist = "tone"\nzones = ["all"]\n' \
        "$(date -u -d "@$START" '+%-S %-M %-H')"
    printf '[web]\nlisten = "127.0.0.1:%s"\n' "$WEB_PORT"
} > "$DIR/config.toml"
echo 'kelud-siaga-3' | "$CORONG" --config "$DIR/config.toml" user add sri --role operator --password-stdin
"$CORONG" daemon --config "$DIR/config.toml" 2> "$DIR/daemon.log" &
DAEMON=$!
PIDS+=($!)
for _ in $(seq 100); do grep -q "web console ready" "$DIR/daemon.log" && break; sleep 0.1; done
grep -q "web console ready" "$DIR/daemon.log" || { cat "$DIR/daemon.log" >&2; exit 1; }

for p in ${GST_PORTS//,/ }; do
    gst-launch-1.0 -q audiotestsrc is-live=true samplesperbuffer=160 freq=1000 \
        ! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay pt=0 min-ptime=20000000 max-ptime=20000000 \
        ! udpsink host=127.0.0.1 port="$p" >/dev/null 2>&1 &
    PIDS+=($!)
done
python3 bench/web_events.py churn "$DIR/run/corong.sock" "$DIR/pengumuman.wav" papan "$CHURN_PORT" > "$DIR/churn.json" &
CHURN=$!
PIDS+=($!)
# The tone starts at START; measure from two seconds after it.
while [ "$(date -u '+%s')" -lt $((START + 2)) ]; do sleep 0.2; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$DAEMON/stat"; }

phase() { # ROUND WITH(0|1): one JSON line per sender and one of the daemon
    local round=$1 with=$2 clients=0 t0 c0 t1 c1 l1 l2
    if [ "$with" = 1 ]; then
        python3 bench/web_events.py clients "$WEB_PORT" "$CLIENTS" > "$DIR/clients.out" &
        clients=$!
        PIDS+=($!)
        for _ in $(seq 600); do grep -qs ready "$DIR/clients.out" && break; sleep 0.1; done
        grep -q ready "$DIR/clients.out" || { echo "the clients did not connect" >&2; exit 1; }
    fi
    t0=$(date +%s.%N)
    c0=$(cpu_ticks)
    python3 bench/jitter.py --ports "$CORONG_PORTS" --clock 8000 --seconds "$SECS" --warmup 1 \
        --tick-samples 160 --label "corong" > "$DIR/corong.json" &
    l1=$!
    python3 bench/jitter.py --ports "$GST_PORTS" --clock 8000 --seconds "$SECS" --warmup 1 \
        --tick-samples 160 --label "gstreamer" > "$DIR/gstreamer.json" &
    l2=$!
    PIDS+=("$l1" "$l2")
    wait "$l1" "$l2"
    c1=$(cpu_ticks)
    t1=$(date +%s.%N)
    local extra='{}'
    if [ "$with" = 1 ]; then
        kill -TERM "$clients"
        wait "$clients" || true
        extra=$(tail -1 "$DIR/clients.out")
    fi
    for f in corong gstreamer; do
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r.update(round=int(sys.argv[2]), clients=int(sys.argv[3])); print(json.dumps(r))' \
            "$DIR/$f.json" "$round" "$((with * CLIENTS))"
    done
    python3 -c 'import json,sys; d=json.loads(sys.argv[5]); d.update(label="daemon", round=int(sys.argv[1]), clients=int(sys.argv[2]), cpu_percent=round(100*float(sys.argv[3])/float(sys.argv[6])/float(sys.argv[4]), 2)); print(json.dumps(d))' \
        "$round" "$((with * CLIENTS))" "$((c1 - c0))" "$(python3 -c "print($t1 - $t0)")" "$extra" "$(getconf CLK_TCK)"
}

machine_line "$ZONES pcmu zones at 20 ms, $ROUNDS rounds x 2 phases x ${SECS} s, $CLIENTS event-stream clients in one phase of each; $("$CORONG" --version 2>/dev/null || true)"
for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then order="0 1"; else order="1 0"; fi
    for with in $order; do phase "$round" "$with"; done
done > "$DIR/results.jsonl"
kill -TERM "$CHURN"
wait "$CHURN" || true
cat "$DIR/results.jsonl"
echo "churn: $(cat "$DIR/churn.json") on zone papan"
python3 - "$DIR/results.jsonl" "$CLIENTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[2])
print(f"medians over rounds (jitter in ms):        without clients          with {n} clients")
for label in ("corong", "gstreamer"):
    for key in ("jitter_p50_ms", "jitter_p99_ms", "jitter_max_ms"):
        a = [r[key] for r in rows if r["label"] == label and r["clients"] == 0 and key in r]
        b = [r[key] for r in rows if r["label"] == label and r["clients"] == n and key in r]
        if a and b:
            print(f"  {label:9s} {key:14s} {statistics.median(a):22.3f} {statistics.median(b):24.3f}")
a = [r["cpu_percent"] for r in rows if r["label"] == "daemon" and r["clients"] == 0]
b = [r["cpu_percent"] for r in rows if r["label"] == "daemon" and r["clients"] == n]
print(f"  daemon    CPU % of a core  {statistics.median(a):22.2f} {statistics.median(b):24.2f}")
ev = [r for r in rows if r["label"] == "daemon" and r["clients"] == n]
print("  events read per client per phase: " + ", ".join(f"{r['events_min']}..{r['events_max']}" for r in ev)
      + "; streams ended early: " + str(sum(r["ended_early"] for r in ev)))
PY
