#!/usr/bin/env bash
# Live page to the pole, and what a page costs (issue 16's figures). A
# daemon with ZONES L16 zones on 127.0.0.1 at PTIME ms packets; zone 0's
# pole is `corong receive --latency-ms 40 --wav`, zone 1 is listened to
# with the kernel's receive stamps, the others are drained. `corong page
# --from-stdin --no-chime` is fed 48 kHz s16le at a speaker's pace (5 ms
# writes): silence with a 60 ms burst of 1 kHz tone every 300 ms, for
# SECONDS. Prints, for the bursts: input to wire (zone 1) and input to the
# pole's output (the WAV's first_sample_unix_ns + index / rate), p50/p99;
# the feeder's own lateness; the daemon's CPU (utime+stime) and RSS idle
# (10 s) and during the page; the page client's CPU and peak RSS; and how
# often the page's input came late to the engine (the daemon's log).
#
#   bench/page_pole.sh [PTIME_MS] [SECONDS] [ZONES]   (default 20, 30, 10)
#
# FEEDER_FIFO=N runs the feeder and its `corong page` at SCHED_FIFO N (as
# a capture program with real-time priority would be): it tells the
# machine's delays to the feeder apart from corong's own.
. "$(dirname "$0")/lib.sh"
PTIME=${1:-20}
SECONDS_=${2:-30}
ZONES=${3:-10}
build_corong
BASE=$(free_port)
{
    printf '[daemon]\ntimezone = "Asia/Jakarta"\npacket_ms = %s\n' "$PTIME"
    for i in $(seq 0 $((ZONES - 1))); do
        printf '[[zones]]\nname = "z%s"\nrtp = ["127.0.0.1:%s"]\ncodec = "l16"\n' "$i" $((BASE + 2 * i))
    done
} > "$DIR/config.toml"
RUST_LOG=info,corong::daemon::page_feed=debug,corong::daemon::page_margin=debug \
    "$CORONG" daemon --config "$DIR/config.toml" 2> "$DIR/daemon.log" &
DAEMON=$!
PIDS+=($!)
for _ in $(seq 50); do [ -S "$DIR/run/corong.sock" ] && break; sleep 0.1; done
"$CORONG" receive --listen "127.0.0.1:$BASE" --codec l16 --latency-ms 40 \
    --wav "$DIR/pole.wav" 2> "$DIR/receive.log" &
RECEIVER=$!
PIDS+=($!)
FEEDER_SCHED="at normal priority"
[ -n "${FEEDER_FIFO:-}" ] && FEEDER_SCHED="at SCHED_FIFO $FEEDER_FIFO"
machine_line "packet ${PTIME} ms, ${ZONES} L16 zones, live page without chime, feeder $FEEDER_SCHED, $(basename "$CORONG") $(stat -c %y "$CORONG" | cut -d. -f1)"
${FEEDER_FIFO:+chrt -f "$FEEDER_FIFO"} python3 bench/page_pole.py "$CORONG" "$DIR/run/corong.sock" "$BASE" "$ZONES" "$SECONDS_" \
    "$DAEMON" "$RECEIVER" "$DIR/pole.wav"
echo "page input late to the engine (daemon log): $(grep -c "input came late" "$DIR/daemon.log" || true) times; backlogs dropped $(grep -c "held more than its margin" "$DIR/daemon.log" || true) times"
[ -n "${KEEP_LOG:-}" ] && cp "$DIR/daemon.log" "$KEEP_LOG"
