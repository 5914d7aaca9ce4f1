#!/usr/bin/env bash
# Decode + resample throughput (issue 2 and issue 7's figures): corong's
# decoder (examples/decode_speed.rs: the daemon's own `Decoder`, to 48 kHz
# mono) against `ffmpeg -threads 1 -i F -f null -`, on the same files, in
# the same run, alternating A/B for ROUNDS rounds. Both are timed from
# outside, as whole processes (start-up included). Prints, per format, the
# median times real time of each and the ratio corong / ffmpeg.
#
# The test files are SECONDS long (default 120), made here with ffmpeg:
# MP3 44.1 kHz stereo, FLAC 24-bit 96 kHz stereo, Ogg Vorbis 22.05 kHz
# mono, AAC (M4A) 48 kHz stereo, WAV 16-bit 44.1 kHz stereo.
#
#   bench/decode.sh [ROUNDS] [SECONDS]      (default 5 rounds, 120 s)
. "$(dirname "$0")/lib.sh"
ROUNDS=${1:-5}
SECS=${2:-120}
cargo build --release --quiet --example decode_speed
SPEED=$PWD/target/release/examples/decode_speed

# Music-like material: two tones and pink noise, so encoders work for real.
SRC="aevalsrc=0.3*sin(2*PI*440*t)+0.2*sin(2*PI*660*t):s=96000:c=stereo:d=$SECS"
NOISE="anoisesrc=c=pink:r=96000:a=0.1:d=$SECS"
ffmpeg -v error -f lavfi -i "$SRC" -f lavfi -i "$NOISE" \
    -filter_complex "[0][1]amix=inputs=2:normalize=0" -c:a pcm_f32le -y "$DIR/src.wav"
ffmpeg -v error -i "$DIR/src.wav" -ar 44100 -c:a libmp3lame -b:a 192k -y "$DIR/music.mp3"
ffmpeg -v error -i "$DIR/src.wav" -c:a flac -sample_fmt s32 -bits_per_raw_sample 24 -y "$DIR/music.flac"
ffmpeg -v error -i "$DIR/src.wav" -ar 22050 -ac 1 -c:a libvorbis -q:a 4 -y "$DIR/speech.ogg"
ffmpeg -v error -i "$DIR/src.wav" -ar 48000 -c:a aac -b:a 160k -y "$DIR/music.m4a"
ffmpeg -v error -i "$DIR/src.wav" -ar 44100 -c:a pcm_s16le -y "$DIR/music.wav"

machine_line "$ROUNDS rounds, ${SECS} s files"
printf '%-6s %14s %14s %8s\n' format "corong x_rt" "ffmpeg x_rt" ratio
for f in music.mp3 music.flac speech.ogg music.m4a music.wav; do
    path=$DIR/$f
    corong=()
    ffm=()
    for _ in $(seq "$ROUNDS"); do
        t0=$(date +%s.%N)
        "$SPEED" "$path" >/dev/null
        t1=$(date +%s.%N)
        corong+=("$(python3 -c "print($SECS / ($t1 - $t0))")")
        t0=$(date +%s.%N)
        ffmpeg -v error -threads 1 -i "$path" -f null -
        t1=$(date +%s.%N)
        ffm+=("$(python3 -c "print($SECS / ($t1 - $t0))")")
    done
    python3 - "$f" "${corong[*]}" "${ffm[*]}" <<'PY'
import statistics, sys
name, a, b = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
ma, mb = statistics.median(a), statistics.median(b)
print(f"{name.split('.')[-1]:6s} {ma:14.0f} {mb:14.0f} {ma / mb:8.2f}")
PY
done
