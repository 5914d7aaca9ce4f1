#!/usr/bin/env bash
# Loudness measurement (issue 6's figures): corong's meter (the ebur128
# crate, through corong's decoder) beside ffmpeg's `ebur128` filter on the
# same files: integrated loudness, true peak, and wall time of each.
#
#   bench/loudness.sh [SECONDS]     (default 120: length of each test file)
#   PROFILE=dev bench/loudness.sh   (debug build of corong, optimised deps)
. "$(dirname "$0")/lib.sh"
SECONDS_LONG=${1:-120}
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --example measure_loudness
  MEASURE=$PWD/target/release/examples/measure_loudness
else
  cargo build --quiet --example measure_loudness
  MEASURE=$PWD/target/debug/examples/measure_loudness
fi
D=$SECONDS_LONG
ffmpeg -v error -f lavfi -i "anoisesrc=color=pink:amplitude=0.05:d=$D:r=48000" -ac 1 -y "$DIR/pink-mono.wav"
ffmpeg -v error -f lavfi -i "aevalsrc=0.3*sin(2*PI*300*t)*(1+sin(2*PI*0.5*t))/2|0.2*sin(2*PI*1200*t):s=44100:d=$D" -c:a flac -y "$DIR/tones-stereo.flac"
ffmpeg -v error -f lavfi -i "anoisesrc=color=white:amplitude=0.3:d=$D:r=44100" -ac 2 -c:a libmp3lame -b:a 128k -y "$DIR/noise-stereo.mp3"
machine_line "profile $PROFILE; files of $D s"
printf "%-18s %12s %12s %10s %10s %10s %10s %7s\n" file corong_LUFS ffmpeg_LUFS corong_TP ffmpeg_TP corong_ms ffmpeg_ms speedup
for f in "$DIR"/pink-mono.wav "$DIR"/tones-stereo.flac "$DIR"/noise-stereo.mp3; do
  IFS=$'\t' read -r _ c_lufs c_tp c_ms < <("$MEASURE" "$f")
  t0=$(date +%s%N)
  out=$(ffmpeg -hide_banner -nostats -i "$f" -af ebur128=peak=true -f null - 2>&1)
  t1=$(date +%s%N)
  f_ms=$(( (t1 - t0) / 1000000 ))
  summary=${out##*Summary:}
  f_lufs=$(sed -n 's/^ *I: *\(-*[0-9.]*\) LUFS/\1/p' <<<"$summary" | head -1)
  f_tp=$(sed -n '/True peak:/,$ s/^ *Peak: *\(-*[0-9.]*\) dBFS/\1/p' <<<"$summary" | head -1)
  printf "%-18s %12s %12s %10s %10s %10s %10s %7.1f\n" "$(basename "$f")" "$c_lufs" "$f_lufs" "$c_tp" "$f_tp" "$c_ms" "$f_ms" "$(echo "$f_ms / $c_ms" | bc -l)"
done
