#!/usr/bin/env bash
# Receiver figures (issue 5): sync skew between two `corong receive`
# processes of one multicast zone on this host (p50 and max over a 60 s
# run), and one receiver's CPU and peak RSS while it plays 48 kHz L16.
#
# A release daemon streams 70 s of pink noise to 239.255.90.1 on loopback;
# two receivers record it for 66 s. The skew is measured by
# cross-correlating 100 ms windows (one a second) of the two recordings,
# lined up by the wall-clock times of their first samples (PATH.json), with
# parabolic interpolation for sub-sample lags. CPU is utime + stime from
# /proc/PID/stat over the run; RSS is VmHWM from /proc/PID/status.
#
#   bench/receiver.sh [SECONDS]      (default 60)
. "$(dirname "$0")/lib.sh"
SECS=${1:-60}
build_corong
PORT=$(free_port)
GROUP=239.255.90.1:$PORT
mkdir -p "$DIR/media" "$DIR/playlists"
ffmpeg -v error -f lavfi -i "anoisesrc=d=$((SECS + 10)):c=pink:r=48000:a=0.3:seed=5" -y "$DIR/media/noise.wav"
printf '#EXTM3U\n../media/noise.wav\n' > "$DIR/playlists/noise.m3u"
CRON=$(date -u -d '+4 sec' '+%-S %-M %-H')
cat > "$DIR/config.toml" <<CONF
[daemon]
timezone = "UTC"
control_socket = "run/corong.sock"
state_dir = "state"
[[zones]]
name = "pasar"
rtp = ["$GROUP"]
codec = "l16"
multicast_interface = "127.0.0.1"
[[schedules]]
name = "bench"
cron = "$CRON * * *"
playlist = "noise"
zones = ["pasar"]
CONF
RUN=$((SECS + 6))
"$CORONG" receive --listen "$GROUP" --interface 127.0.0.1 --wav "$DIR/a.wav" --duration $RUN 2> "$DIR/a.log" &
A=$!; PIDS+=($A)
"$CORONG" receive --listen "$GROUP" --interface 127.0.0.1 --wav "$DIR/b.wav" --duration $RUN 2> "$DIR/b.log" &
B=$!; PIDS+=($B)
"$CORONG" daemon --config "$DIR/config.toml" 2> "$DIR/daemon.log" &
PIDS+=($!)
TICK=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sleep 2
C0=$(cpu $A); T0=$(date +%s.%N)
sleep $((SECS))
C1=$(cpu $A); T1=$(date +%s.%N)
HWM=$(awk '/VmHWM/ {print $2}' /proc/$A/status)
RSS=$(awk '/VmRSS/ {print $2}' /proc/$A/status)
wait $A $B
machine_line
python3 - "$C0" "$C1" "$T0" "$T1" "$TICK" "$HWM" "$RSS" <<'PY'
import sys
c0, c1, t0, t1, tick, hwm, rss = sys.argv[1:]
cpu = (float(c1) - float(c0)) / float(tick) / (float(t1) - float(t0)) * 100
print(f"receiver CPU {cpu:.2f}% of one core over {float(t1) - float(t0):.0f} s; "
      f"RSS {int(rss) / 1024:.1f} MB, peak (VmHWM) {int(hwm) / 1024:.1f} MB")
PY
python3 bench/receiver.py "$DIR/a.wav" "$DIR/b.wav"
