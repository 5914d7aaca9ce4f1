#!/usr/bin/env bash
# CPU and memory per zone (issue 2 and issue 7's figures): one corong
# daemon streaming N zones, against N ffmpeg processes (one per zone, as a
# town would run without corong), for each N in ZONE_COUNTS.
#
# Every zone plays the same scheduled 48 kHz mono WAV tone, so decoding
# costs next to nothing and what is measured is the engine: mixing,
# encoding, pacing and sending. KIND picks the zones:
#   l16        unicast L16 48 kHz mono (20 ms = two 10 ms RTP packets)
#   pcmu       unicast PCMU 8 kHz
#   multicast  PCMU, one multicast group per zone, out of the loopback
#              interface (239.255.x.y; nothing leaves the machine)
#   g722       unicast G.722 (16 kHz mono, 160 bytes a 20 ms packet);
#              ffmpeg: -c:a g722
#   opus       unicast Opus 48 kHz mono 32 kbit/s, 20 ms packets;
#              ffmpeg: -c:a libopus -b:a 32k -application voip
# POLES=N (environment) gives each unicast zone N destinations (poles),
# sent with one sendmmsg per packet. Unicast zones send to ports on
# 127.0.0.1 (one per pole: SINK, SINK + 2, ...), where sockets are
# bound and never read (the kernel drops what overflows it; the senders
# see no error). CPU is utime + stime from /proc/PID/stat over SECONDS
# seconds after a 5 s warm-up, as % of one core; RSS is VmRSS (summed
# over the ffmpeg processes) and, for the daemon, its peak VmHWM; for the
# ffmpeg processes also their PSS summed (shared library pages counted
# once, not once per process: the memory they really take together).
#
#   bench/zones.sh [KIND] [SECONDS] [ZONE_COUNTS] [FFMPEG_MAX]
#   (default pcmu 20 "1 10 100 500" 100: ffmpeg is run up to FFMPEG_MAX zones)
. "$(dirname "$0")/lib.sh"
KIND=${1:-pcmu}
SECS=${2:-20}
COUNTS=${3:-"1 10 100 500"}
FFMAX=${4:-100}
build_corong
make_tone $((SECS + 30))
POLES=${POLES:-1}
# One ffmpeg per pole would be one process per destination: not run then.
[ "$POLES" -gt 1 ] && FFMAX=0
SINK=41500
python3 - "$SINK" "$POLES" <<'PY' &
import signal, socket, sys
port, poles = int(sys.argv[1]), int(sys.argv[2])
socks = []
for p in range(port, port + 2 * poles):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", p))
    socks.append(s)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
signal.pause()
PY
PIDS+=($!)
TICK=$(getconf CLK_TCK)
# Processes that have exited count 0 (a sender that could not keep up and
# died is visible in the count printed beside the figures).
cputicks() { local t=0 v; for p in "$@"; do v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || v=0; t=$((t + ${v:-0})); done; echo $t; }
rss_kb() { local t=0 v; for p in "$@"; do v=$(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null) || v=0; t=$((t + ${v:-0})); done; echo $t; }
# Proportional set size: each shared page (the libraries every ffmpeg maps)
# counted once over all the processes, not once per process as RSS is.
pss_kb() { local t=0 v; for p in "$@"; do v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null) || v=0; t=$((t + ${v:-0})); done; echo $t; }
alive() { local n=0; for p in "$@"; do [ -e "/proc/$p" ] && n=$((n + 1)); done; echo $n; }
measure() { # PIDS... -> "cpu% rss_mb pss_mb"
    sleep 5
    local c0 t0 c1 t1
    c0=$(cputicks "$@"); t0=$(date +%s.%N)
    sleep "$SECS"
    c1=$(cputicks "$@"); t1=$(date +%s.%N)
    python3 -c "print(f'{($c1 - $c0) / $TICK / ($t1 - $t0) * 100:.1f} {$(rss_kb "$@") / 1024:.1f} {$(pss_kb "$@") / 1024:.1f}')"
}
dest() { # zone index -> host:port
    if [ "$KIND" = multicast ]; then echo "239.255.$(($1 / 250 + 100)).$(($1 % 250 + 1)):5004"; return; fi
    local k out="127.0.0.1:$SINK"
    for k in $(seq 1 $((POLES - 1))); do out="$out,127.0.0.1:$((SINK + 2 * k))"; done
    echo "$out"
}
codec() { case "$KIND" in l16|g722|opus) echo "$KIND" ;; *) echo pcmu ;; esac; }

machine_line "$KIND zones of $POLES pole(s); ${SECS} s per measurement"
printf '%6s %12s %14s %12s %12s %14s %14s\n' zones "corong CPU%" "corong RSS MB" "corong peak" "ffmpeg CPU%" "ffmpeg RSS MB" "ffmpeg PSS MB"
for n in $COUNTS; do
    dests=()
    for i in $(seq 0 $((n - 1))); do dests+=("$(dest "$i")"); done
    start_tone_daemon 20 "$(codec)" "${dests[@]}"
    d=$DAEMON
    read -r ccpu crss _ <<<"$(measure $d)"
    cpeak=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$d/status")
    grep -q "on air" "$DIR/daemon.log" || { echo "the daemon never went on air:"; tail "$DIR/daemon.log"; exit 1; }
    kill $d; wait $d 2>/dev/null || true
    fcpu=-; frss=-; fpss=-
    if [ "$n" -le "$FFMAX" ]; then
        procs=()
        for i in $(seq 0 $((n - 1))); do
            case "$(codec)" in
            l16) enc=(-c:a pcm_s16be -payload_type 96 -af asetnsamples=n=960); size=1932 ;;
            g722) enc=(-ar 16000 -c:a g722 -payload_type 9 -af aresample=16000,asetnsamples=n=320); size=172 ;;
            opus) enc=(-c:a libopus -b:a 32k -application voip -frame_duration 20 -payload_type 111); size=1292 ;;
            *) enc=(-ar 8000 -c:a pcm_mulaw -payload_type 0 -af aresample=8000,asetnsamples=n=160); size=172 ;;
            esac
            mc=""; [ "$KIND" = multicast ] && mc="&localaddr=127.0.0.1&ttl=1"
            ffmpeg -nostdin -v error -re -i "$DIR/media/tone.wav" "${enc[@]}" \
                -f rtp "rtp://$(dest "$i")?pkt_size=$size$mc" >/dev/null 2>&1 &
            procs+=($!); PIDS+=($!)
        done
        read -r fcpu frss fpss <<<"$(measure "${procs[@]}")"
        left=$(alive "${procs[@]}")
        [ "$left" -lt "$n" ] && echo "note: only $left of $n ffmpeg processes were still running at the end" >&2
        kill "${procs[@]}" 2>/dev/null || true; wait "${procs[@]}" 2>/dev/null || true
    fi
    printf '%6s %12s %14s %12s %12s %14s %14s\n' "$n" "$ccpu" "$crss" "$cpeak" "$fcpu" "$frss" "$fpss"
done
