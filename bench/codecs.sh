#!/usr/bin/env bash
# Encode cost per 20 ms packet, G.722 and Opus (issue 18's figure), corong
# against ffmpeg in the same run.
#
# corong: `cargo bench --bench inner -- codec` (divan's median of one
# packet through the zone's encoder, `rtp::encode`, as the RTP output runs
# it on the engine thread; the zone mixing at the codec's rate).
# ffmpeg: one process encoding SECONDS of the same kind of signal (two
# tones and a little noise) with one thread, timed as user + system CPU,
# less the same run writing PCM (reading, filtering and muxing are not the
# encoder's); divided by the packets (SECONDS * 50). Opus at 32 kbit/s,
# application voip, 20 ms frames; ffmpeg twice: with its libopus defaults
# (complexity 10, no FEC) and with corong's settings (complexity 5, in-band
# FEC for 5% loss). Note: divan times wall-clock per packet, ffmpeg's
# figure is CPU time; on a loaded machine divan's is the higher for it.
# Nothing is sent anywhere.
#
#   bench/codecs.sh [SECONDS] [ROUNDS]   (default 600 5)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-600}
ROUNDS=${2:-5}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); ffmpeg over ${SECS} s of audio, median of ${ROUNDS}"

cpu_of() { # command... -> user+sys seconds of it (bash's own `time`)
    local t TIMEFORMAT='%U %S'
    t=$( { time "$@" >/dev/null 2>&1; } 2>&1 | tail -1)
    python3 -c "u, s = '$t'.split(); print(float(u) + float(s))"
}
median() { python3 -c "import statistics, sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

for rate in 16000 48000; do
    ffmpeg -v error -y -f lavfi -i "aevalsrc=0.3*sin(2*PI*440*t)+0.2*sin(2*PI*660*t)+0.05*(random(0)-0.5):s=$rate:d=$SECS" \
        -ac 1 -c:a pcm_s16le "$DIR/in$rate.wav"
done
ff() { # rate, encoder args...
    local rate=$1; shift
    cpu_of ffmpeg -nostdin -v error -threads 1 -i "$DIR/in$rate.wav" "$@" -f null -
}

declare -A runs
for _ in $(seq "$ROUNDS"); do
    runs[g722]+=" $(ff 16000 -c:a g722)"
    runs[opus]+=" $(ff 48000 -c:a libopus -b:a 32k -application voip -frame_duration 20)"
    runs[opus_as_corong]+=" $(ff 48000 -c:a libopus -b:a 32k -application voip -frame_duration 20 \
        -compression_level 5 -fec 1 -packet_loss 5)"
    runs[pcm16]+=" $(ff 16000 -c:a pcm_s16le)"
    runs[pcm48]+=" $(ff 48000 -c:a pcm_s16le)"
done
packets=$((SECS * 50))
for codec in g722 opus opus_as_corong; do
    base=pcm48; [ "$codec" = g722 ] && base=pcm16
    # shellcheck disable=SC2086
    python3 -c "
c, b = $(median ${runs[$codec]}), $(median ${runs[$base]})
print(f'ffmpeg $codec: {(c - b) / $packets * 1e6:.2f} us a packet (encode {c:.2f} s, PCM {b:.2f} s of CPU for $SECS s)')"
done

echo "corong (cargo bench --bench inner -- codec):"
cargo bench --quiet --bench inner -- codec 2>&1 | grep -E "codec|packet|[0-9] *[nµm]s" || true
