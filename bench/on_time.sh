#!/usr/bin/env bash
# On time, every time: a file never measured goes on air when it should,
# and the background measurement's pace.
#
# 1. fire: a release daemon with one L16 zone on 127.0.0.1 and a schedule
#    that fires 3 s after start-up; the time from the cron time to the first
#    non-silent RTP packet (kernel receive stamp).
# 2. announce: the same daemon with no schedule, the chime and the alert
#    measured; the time from starting `corong announce --no-chime FILE` to
#    the first non-silent packet.
#    Each run of 1 and 2 starts on an empty state folder, so the file was
#    never measured: a 10 s WAV (measured in milliseconds) against a
#    60-minute MP3 (its whole measurement takes seconds).
# 3. throughput: 50 distinct 3-minute MP3s (2.5 h) in a schedule's playlist
#    that fires tomorrow; the daemon measures them in the background from
#    start-up (every core but one, nice 19) until `status` says
#    loudness_pending 0: files and hours of audio a minute, and the
#    daemon's CPU time over that wall time (cores busy). Then
#    `corong check --measure` on the same files (every core, nice 19) on an
#    empty state folder, and ffmpeg's ebur128 filter on them, one process
#    per core (xargs -P, nice 19), as the peer.
#
#   bench/on_time.sh [RUNS]      (default 5 runs per file in 1 and 2)
. "$(dirname "$0")/lib.sh"
RUNS=${1:-5}
build_corong
mkdir -p "$DIR/media" "$DIR/playlists" "$DIR/many"
ffmpeg -v error -f lavfi -i "sine=f=1000:r=48000:d=10" -ac 1 -c:a pcm_s16le -y "$DIR/media/short.wav"
ffmpeg -v error -f lavfi -i "sine=f=1000:r=48000:d=3600" -ac 1 -c:a libmp3lame -b:a 64k -y "$DIR/media/long.mp3"
printf '#EXTM3U\n../media/short.wav\n' > "$DIR/playlists/short.m3u"
printf '#EXTM3U\n../media/long.mp3\n' > "$DIR/playlists/long.m3u"
machine_line

# first_sound PORT [ZERO | -- COMMAND...]: ms from ZERO (a Unix time), or
# from just before COMMAND runs, to the first non-silent packet on PORT.
first_sound() {
    python3 - "$@" <<'PY'
import socket, struct, subprocess, sys, time
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_TIMESTAMPNS", 35), 1)
s.bind(("127.0.0.1", port))
s.settimeout(30)
if sys.argv[2] == "--":
    zero = time.time()
    subprocess.run(sys.argv[3:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
else:
    zero = float(sys.argv[2])
while True:
    data, anc, _, _ = s.recvmsg(4096, 1024)
    sec, nsec = struct.unpack("qq", anc[0][2][:16])
    if any(data[12:]):
        print(f"{(sec + nsec / 1e9 - zero) * 1000:.1f}")
        break
PY
}

# pending: loudness_pending from the daemon's status (empty until it answers).
pending() {
    "$CORONG" --socket "$DIR/run/corong.sock" status --json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get("loudness_pending", ""))' 2>/dev/null || true
}

start_daemon() {
    rm -rf "$DIR/state" "$DIR/run"
    "$CORONG" daemon --config "$DIR/config.toml" 2> "$DIR/daemon-$1.log" &
    DAEMON=$!
    PIDS+=("$DAEMON")
}

stop_daemon() {
    kill "$DAEMON"
    wait "$DAEMON" 2>/dev/null || true
}

zone_config() {
    printf '[daemon]\ntimezone = "UTC"\ncontrol_socket = "run/corong.sock"\nstate_dir = "state"\n[[zones]]\nname = "z"\nrtp = ["127.0.0.1:%s"]\n' "$1"
}

run_fire() {
    local list=$1 port fire cron
    port=$(free_port)
    fire=$(( $(date +%s) + 3 ))
    cron=$(date -u -d "@$fire" '+%-S %-M %-H')
    { zone_config "$port"
      printf '[[schedules]]\nname = "bench"\ncron = "%s * * *"\nplaylist = "%s"\nzones = ["all"]\n' "$cron" "$list"
    } > "$DIR/config.toml"
    start_daemon "fire-$list"
    first_sound "$port" "$fire"
    stop_daemon
}

run_announce() {
    local file=$1 port
    port=$(free_port)
    zone_config "$port" > "$DIR/config.toml"
    start_daemon "announce-$file"
    # The chime and the alert measured: only FILE is new.
    until [ "$(pending)" = 0 ]; do sleep 0.1; done
    first_sound "$port" -- "$CORONG" --socket "$DIR/run/corong.sock" announce --no-chime "$DIR/media/$file"
    stop_daemon
}

for list in short long; do
    printf 'fire %s:' "$list"
    for _ in $(seq "$RUNS"); do printf ' %s' "$(run_fire "$list")"; done
    echo " ms (fire time to first sound)"
done
grep -h "provisional" "$DIR"/daemon-fire-long.log | tail -1 || true
for file in short.wav long.mp3; do
    printf 'announce %s:' "$file"
    for _ in $(seq "$RUNS"); do printf ' %s' "$(run_announce "$file")"; done
    echo " ms (client started to first sound)"
done

# 3. Background measurement throughput.
N=50
for n in $(seq 1 $N); do
    ffmpeg -v error -f lavfi -i "sine=f=$((200 + n * 20)):r=44100:d=180" -ac 1 -c:a libmp3lame -b:a 64k -y "$DIR/many/m$n.mp3"
    echo "../many/m$n.mp3"
done > "$DIR/playlists/many.m3u"
sed -i '1i #EXTM3U' "$DIR/playlists/many.m3u"
port=$(free_port)
{ zone_config "$port"
  printf '[[schedules]]\nname = "many"\ncron = "0 0 3 * * *"\nplaylist = "many"\nzones = ["all"]\n'
} > "$DIR/config.toml"
ticks=$(getconf CLK_TCK)
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
echo "throughput: $N files of 180 s (MP3 64 kb/s mono 44.1 kHz), $(( N * 3 )) minutes of audio; load $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(date +%s.%N)
start_daemon many
until [ -S "$DIR/run/corong.sock" ]; do sleep 0.05; done
c0=$(cpu_of "$DAEMON")
until [ "$(pending)" = 0 ]; do sleep 0.2; done
t1=$(date +%s.%N)
c1=$(cpu_of "$DAEMON")
threads=$(ls /proc/"$DAEMON"/task | while read -r t; do cat /proc/"$DAEMON"/task/"$t"/comm; done | grep -c corong-loudness || true)
stop_daemon
python3 - "$t0" "$t1" "$c0" "$c1" "$ticks" "$N" "$threads" <<'PY'
import sys
t0, t1, c0, c1, tck, n, th = map(float, sys.argv[1:])
wall = t1 - t0
cpu = (c1 - c0) / tck
print(f"daemon (background, {th:.0f} measuring threads): {wall:.1f} s: {n / wall * 60:.1f} files/min, "
      f"{n * 3 / 60 / wall * 60:.2f} h of audio/min; daemon CPU {cpu:.1f} s = {cpu / wall:.2f} cores")
PY
rm -rf "$DIR/state"
t0=$(date +%s.%N)
"$CORONG" check --measure --config "$DIR/config.toml" | grep '^loudness:' | sed 's/^/check --measure: /'
t1=$(date +%s.%N)
t2=$(date +%s.%N)
ls "$DIR"/many/*.mp3 | xargs -P "$(nproc)" -I{} nice -n 19 ffmpeg -v error -nostats -i {} -af ebur128=peak=true -f null -
t3=$(date +%s.%N)
python3 - "$t0" "$t1" "$t2" "$t3" "$N" <<'PY'
import sys
t0, t1, t2, t3, n = map(float, sys.argv[1:])
for what, wall in (("check --measure", t1 - t0), (f"ffmpeg ebur128, xargs -P", t3 - t2)):
    print(f"{what}: {wall:.1f} s: {n / wall * 60:.1f} files/min, {n * 3 / 60 / wall * 60:.2f} h of audio/min")
PY
