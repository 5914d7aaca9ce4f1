#!/usr/bin/env bash
# Send jitter and drift (issue 2 and issue 7's figures): ZONES mono streams
# of CODEC (pcmu: G.711 8 kHz, the default; l16: 48 kHz) on loopback at
# PTIME ms packets, sent by
#   corong  one daemon with ZONES zones playing a scheduled tone;
#   ffmpeg  one `ffmpeg -re ... -f rtp` per stream (PEERS.md's reference
#           sender, re-chunked to PTIME ms packets);
#   gst     one `audiotestsrc is-live=true ! rtpL16pay ! udpsink` per stream;
# one after the other, ROUNDS rounds of SECONDS seconds each (A/B/C
# alternating), measured by bench/jitter.py from kernel receive stamps.
# With LOAD=1 a busy loop keeps the other core loaded during every run.
# With TOGETHER=1 the three senders run at the same time, each on ports of
# its own, and are measured side by side in one pass (the same load for
# all three; a 10-minute run then takes 10 minutes, not 30).
#
# corong never sends a datagram over 1292 bytes (no IP fragments on a
# 1500-byte MTU path), so an L16 48 kHz packet time of 20 ms goes out as
# two 10 ms RTP packets, back to back; for L16 the timing is measured on
# the first packet of each packet time (jitter.py --tick-samples). ffmpeg
# and GStreamer are let send whole 20 ms packets.
#
# Prints per sender the median over rounds of jitter p50/p99/max and of
# the worst stream's drift, and the ratio corong/ffmpeg of p99. With
# OUT=DIR the jitter samples are kept there and bench/plot_jitter.sh draws
# them into DIR/jitter.png (every run kept in DIR, so runs at two packet
# times land on one plot).
#
#   bench/jitter.sh [SECONDS] [ROUNDS] [PTIME] [ZONES] [CODEC]   (default 60 3 20 10 pcmu)
#   LOAD=1 OUT=bench/out bench/jitter.sh 600 1 20 10 pcmu        (issue 7's 10 minutes)
. "$(dirname "$0")/lib.sh"
SECS=${1:-60}
ROUNDS=${2:-3}
PTIME=${3:-20}
ZONES=${4:-10}
CODEC=${5:-pcmu}
case "$CODEC" in
    pcmu) RATE=8000 ;;
    l16) RATE=48000 ;;
    *) echo "CODEC is pcmu or l16" >&2; exit 2 ;;
esac
LOAD=${LOAD:-0}
TOGETHER=${TOGETHER:-0}
build_corong
SAMPLES=$((RATE / 1000 * PTIME))
RUN=$((SECS + 10))
make_tone $((RUN + 10))
[ -n "${OUT:-}" ] && mkdir -p "$OUT"

load_on() {
    if [ "$LOAD" = 1 ]; then
        timeout "$RUN" sh -c 'while :; do :; done' &
        PIDS+=($!)
    fi
}

ports_from() { # BASE -> ZONES even ports from BASE, comma-separated
    python3 -c "print(','.join(str($1 + 2 * i) for i in range($ZONES)))"
}

# Each start_* launches one sender's streams on PORTS and leaves its
# process ids in SENDER_PIDS.
start_corong() {
    local ports=$1 dests=() p
    for p in ${ports//,/ }; do dests+=("127.0.0.1:$p"); done
    start_tone_daemon "$PTIME" "$CODEC" "${dests[@]}"
    SENDER_PIDS=("$DAEMON")
}

start_ffmpeg() {
    local ports=$1 enc bytes
    SENDER_PIDS=()
    for p in ${ports//,/ }; do
        if [ "$CODEC" = pcmu ]; then enc=(-c:a pcm_mulaw -payload_type 0); bytes=1; else enc=(-c:a pcm_s16be -payload_type 96); bytes=2; fi
        ffmpeg -v error -re -i "$DIR/media/tone.wav" -af "aresample=$RATE,asetnsamples=n=$SAMPLES" "${enc[@]}" \
            -f rtp "rtp://127.0.0.1:$p?pkt_size=$((SAMPLES * bytes + 12))" >/dev/null 2>&1 &
        SENDER_PIDS+=($!); PIDS+=($!)
    done
}

start_gstreamer() {
    local ports=$1 pay
    SENDER_PIDS=()
    for p in ${ports//,/ }; do
        if [ "$CODEC" = pcmu ]; then pay=(mulawenc ! rtppcmupay pt=0); else pay=(audioconvert ! rtpL16pay pt=96 mtu=2000); fi
        gst-launch-1.0 -q audiotestsrc is-live=true samplesperbuffer=$SAMPLES freq=1000 \
            ! audio/x-raw,rate=$RATE,channels=1 ! "${pay[@]}" min-ptime=$((PTIME * 1000000)) max-ptime=$((PTIME * 1000000)) \
            ! udpsink host=127.0.0.1 port="$p" >/dev/null 2>&1 &
        SENDER_PIDS+=($!); PIDS+=($!)
    done
}

measure() { # LABEL PORTS ROUND: one JSON line on stdout
    local label=$1 ports=$2 round=$3 warmup=3
    [ "$label" = corong ] && warmup=5 # its first fire is 3 s after start
    python3 bench/jitter.py --ports "$ports" --clock "$RATE" --seconds "$SECS" --warmup "$warmup" \
        --tick-samples "$SAMPLES" --label "$label" ${OUT:+--dump "$OUT/$label-$CODEC-$PTIME-$round.txt"}
}

stop_senders() {
    kill "$@" 2>/dev/null || true
    wait "$@" 2>/dev/null || true
}

# The listeners bind first, then the senders start: a sender's own local
# port (ephemeral, 32768 and up) then cannot take a port a listener needs,
# and the ports used here sit below the ephemeral range anyway.
BASE_PORT=21000

run_one() { # SENDER ROUND: that sender alone
    local ports listener
    ports=$(ports_from $BASE_PORT)
    measure "$1" "$ports" "$2" > "$DIR/$1.json" &
    listener=$!
    PIDS+=($!)
    sleep 0.5
    "start_$1" "$ports"
    local pids=("${SENDER_PIDS[@]}")
    load_on
    wait "$listener"
    cat "$DIR/$1.json"
    stop_senders "${pids[@]}"
    if [ "$1" = corong ]; then
        grep -o 'engine thread running with [^"]*' "$DIR/daemon.log" | head -1 >&2 || true
    fi
}

run_together() { # ROUND: all three senders at once, each on its own ports
    local all=() listeners=() base=$BASE_PORT s
    for s in corong ffmpeg gstreamer; do
        measure "$s" "$(ports_from $base)" "$1" > "$DIR/$s.json" &
        listeners+=($!)
        PIDS+=($!)
        base=$((base + 200))
    done
    sleep 0.5
    base=$BASE_PORT
    for s in corong ffmpeg gstreamer; do
        "start_$s" "$(ports_from $base)"
        all+=("${SENDER_PIDS[@]}")
        base=$((base + 200))
    done
    load_on
    wait "${listeners[@]}"
    cat "$DIR/corong.json" "$DIR/ffmpeg.json" "$DIR/gstreamer.json"
    stop_senders "${all[@]}"
}

machine_line "$ZONES $CODEC streams, ${PTIME} ms packets, $ROUNDS x ${SECS} s, other core loaded: $LOAD; together: $TOGETHER; user $(id -un)"
for round in $(seq "$ROUNDS"); do
    if [ "$TOGETHER" = 1 ]; then
        run_together "$round"
    else
        run_one corong "$round"
        run_one ffmpeg "$round"
        run_one gstreamer "$round"
    fi
done > "$DIR/results.jsonl"
cat "$DIR/results.jsonl"
python3 - "$DIR/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = {}
for label in ("corong", "ffmpeg", "gstreamer"):
    rs = [r for r in rows if r["label"] == label and "jitter_p99_ms" in r]
    if not rs:
        print(f"{label:10s} no packets")
        continue
    m = {k: statistics.median(r[k] for r in rs) for k in ("jitter_p50_ms", "jitter_p99_ms", "jitter_max_ms", "drift_worst_ms_per_hour")}
    med[label] = m
    print(f"{label:10s} jitter p50 {m['jitter_p50_ms']:.3f} ms  p99 {m['jitter_p99_ms']:.3f} ms  max {m['jitter_max_ms']:.3f} ms  drift {m['drift_worst_ms_per_hour']:+.2f} ms/h  ({len(rs)} rounds)")
if "corong" in med and "ffmpeg" in med:
    print(f"p99 ratio corong/ffmpeg: {med['corong']['jitter_p99_ms'] / med['ffmpeg']['jitter_p99_ms']:.3f}")
PY
if [ -n "${OUT:-}" ]; then
    bench/plot_jitter.sh "$OUT" "$OUT/jitter.png" \
        "RTP send jitter, $ZONES streams per sender on loopback, other core loaded: $LOAD ($(date -u '+%Y-%m-%d'))"
fi
