#!/usr/bin/env bash
# A kiosk's daemon at rest and at light work (issue 20's figures), CPU as
# a share of one core from /proc/PID/stat and per thread from
# /proc/PID/task/*/stat, over SECONDS:
#   1. a daemon with one WAV zone and nothing on air;
#   2. a daemon playing one 192 kbit/s MP3 to a WAV zone, and beside it, in
#      the same run, Liquidsoap 2.1 writing the same playlist with
#      output.file(%wav, ...). Both at 44.1 kHz stereo (Liquidsoap's own
#      format), so neither resamples.
#
#   bench/idle.sh [SECONDS]      (default 60)
. "$(dirname "$0")/lib.sh"
SECS=${1:-60}
command -v liquidsoap > /dev/null || { echo "bench/idle.sh: liquidsoap is not installed (apt-get install liquidsoap)" >&2; exit 1; }
build_corong
TCK=$(getconf CLK_TCK)
mkdir -p "$DIR/media" "$DIR/playlists" "$DIR/rec"

# CPU ticks (user + system) of a process, or of each of its threads with
# their names: "TICKS NAME" lines.
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
thread_ticks() {
    for t in /proc/"$1"/task/*; do
        [ -r "$t/stat" ] || continue
        printf '%s %s\n' "$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$t/stat")" "$(cat "$t/comm")"
    done
}
rss_mib() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
pct() { awk -v d="$1" -v t="$TCK" -v s="$SECS" 'BEGIN { printf "%.2f%%", 100 * d / t / s }'; }
# Per-thread shares between two thread_ticks snapshots, summed by name
# (decoder workers together), largest first.
thread_table() {
    awk -v t="$TCK" -v s="$SECS" '
        NR == FNR { a[$2] += $1; next }
        { b[$2] += $1 }
        END { for (n in b) printf "    %-20s %.2f%%\n", n, 100 * (b[n] - a[n]) / t / s }
    ' <(sed 's/-[0-9]*$//' "$1") <(sed 's/-[0-9]*$//' "$2") | sort -k2 -r -n
}

wait_socket() { for _ in $(seq 100); do [ -S "$1" ] && return; sleep 0.1; done; echo "no control socket at $1" >&2; exit 1; }

machine_line "$SECS s per figure"

# 1. Nothing on air.
cat > "$DIR/config.toml" <<CONF
[daemon]
timezone = "UTC"
[[zones]]
name = "arsip"
wav = "$DIR/rec/idle.wav"
CONF
"$CORONG" daemon --config "$DIR/config.toml" 2> "$DIR/idle.log" &
IDLE=$!
PIDS+=($IDLE)
wait_socket "$DIR/run/corong.sock"
sleep 3
t0=$(ticks $IDLE); thread_ticks $IDLE > "$DIR/idle.0"
sleep "$SECS"
t1=$(ticks $IDLE); thread_ticks $IDLE > "$DIR/idle.1"
echo "corong, one WAV zone, nothing on air: $(pct $((t1 - t0))) of one core, RSS $(rss_mib $IDLE) MiB"
thread_table "$DIR/idle.0" "$DIR/idle.1"
kill $IDLE; wait $IDLE 2>/dev/null || true
rm -rf "$DIR/state" "$DIR/run"

# 2. One MP3 to WAV, corong and Liquidsoap side by side.
LEN=$((SECS + 30))
ffmpeg -v error -f lavfi -i "aevalsrc=0.3*sin(2*PI*440*t)+0.2*sin(2*PI*660*t):s=44100:c=stereo:d=$LEN" \
    -f lavfi -i "anoisesrc=c=pink:r=44100:a=0.1:d=$LEN" -filter_complex "[0][1]amix=inputs=2:normalize=0" \
    -ac 2 -c:a libmp3lame -b:a 192k -y "$DIR/media/music.mp3"
printf '#EXTM3U\n../media/music.mp3\n' > "$DIR/playlists/music.m3u"
printf '%s\n' "$DIR/media/music.mp3" > "$DIR/playlists/liquidsoap.m3u"
cron=$(date -u -d '+3 sec' '+%-S %-M %-H')
cat > "$DIR/config.toml" <<CONF
[daemon]
timezone = "UTC"
sample_rate = 44100
[[zones]]
name = "arsip"
channels = 2
wav = "$DIR/rec/corong.wav"
[[schedules]]
name = "bench"
cron = "$cron * * *"
playlist = "music"
zones = ["arsip"]
CONF
cat > "$DIR/play.liq" <<LIQ
settings.init.allow_root.set(true)
settings.log.stdout.set(false)
settings.log.file.set(false)
s = playlist(mode="normal", reload_mode="never", "$DIR/playlists/liquidsoap.m3u")
output.file(%wav, "$DIR/rec/liquidsoap.wav", fallible=true, s)
LIQ
"$CORONG" daemon --config "$DIR/config.toml" 2> "$DIR/play.log" &
PLAY=$!
PIDS+=($PLAY)
liquidsoap "$DIR/play.liq" > "$DIR/liquidsoap.log" 2>&1 &
LIQ=$!
PIDS+=($LIQ)
wait_socket "$DIR/run/corong.sock"
# Until corong's item is on air (its schedule fires 3 s after the config
# was written) and Liquidsoap is writing, then a few seconds more.
for _ in $(seq 100); do grep -q "on air" "$DIR/play.log" && [ -s "$DIR/rec/liquidsoap.wav" ] && break; sleep 0.1; done
sleep 5
c0=$(ticks $PLAY); l0=$(ticks $LIQ); thread_ticks $PLAY > "$DIR/play.0"
sleep "$SECS"
c1=$(ticks $PLAY); l1=$(ticks $LIQ); thread_ticks $PLAY > "$DIR/play.1"
echo "corong, one 192 kbit/s MP3 to a WAV zone: $(pct $((c1 - c0))) of one core, RSS $(rss_mib $PLAY) MiB"
thread_table "$DIR/play.0" "$DIR/play.1"
echo "liquidsoap $(liquidsoap --version | head -1 | cut -d' ' -f2), the same MP3 with output.file(%wav): $(pct $((l1 - l0))) of one core, RSS $(rss_mib $LIQ) MiB"
# Both were writing audio all along: the recordings grew by about the same.
ls -l "$DIR/rec" | awk 'NR > 1 { print "    " $5 " bytes " $9 }'

# 3. A fork catching up 50 minutes into a 55-minute item (MP3 and FLAC).
cargo build --release --quiet --example catch_up
ffmpeg -v error -f lavfi -i "aevalsrc=0.3*sin(2*PI*440*t)+0.2*sin(2*PI*660*t):s=44100:c=stereo:d=3300" \
    -f lavfi -i "anoisesrc=c=pink:r=44100:a=0.1:d=3300" -filter_complex "[0][1]amix=inputs=2:normalize=0" \
    -c:a libmp3lame -b:a 192k -y "$DIR/media/long.mp3"
ffmpeg -v error -i "$DIR/media/long.mp3" -c:a flac -y "$DIR/media/long.flac"
echo "a fork catching up 50 minutes in (open, seek, first 4096 frames; 20 runs):"
for f in long.mp3 long.flac; do
    target/release/examples/catch_up "$DIR/media/$f" 3000 20 | sed "s|$DIR/media/|    |"
done
