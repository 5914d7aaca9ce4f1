#!/usr/bin/env bash
# Fire-to-first-packet of a schedule ("on time, every time"): a release
# daemon with one L16 zone on 127.0.0.1 and a schedule that fires 3 s after
# start-up; the time from the cron time to the first non-silent RTP packet
# (kernel receive stamp). Each run starts on an empty state folder, so the
# file was never measured: a 10 s WAV (measured in milliseconds at start-up,
# before the fire time) against a 60-minute MP3 (its measurement still
# running when the schedule fires).
#
#   bench/on_time.sh [RUNS]      (default 5 per file)
. "$(dirname "$0")/lib.sh"
RUNS=${1:-5}
build_corong
mkdir -p "$DIR/media" "$DIR/playlists"
ffmpeg -v error -f lavfi -i "sine=f=1000:r=48000:d=10" -ac 1 -c:a pcm_s16le -y "$DIR/media/short.wav"
ffmpeg -v error -f lavfi -i "sine=f=1000:r=48000:d=3600" -ac 1 -c:a libmp3lame -b:a 64k -y "$DIR/media/long.mp3"
printf '#EXTM3U\n../media/short.wav\n' > "$DIR/playlists/short.m3u"
printf '#EXTM3U\n../media/long.mp3\n' > "$DIR/playlists/long.m3u"
machine_line

run_once() {
    local list=$1 port fire cron
    port=$(free_port)
    fire=$(( $(date +%s) + 3 ))
    cron=$(date -u -d "@$fire" '+%-S %-M %-H')
    printf '[daemon]\ntimezone = "UTC"\n[[zones]]\nname = "z"\nrtp = ["127.0.0.1:%s"]\n[[schedules]]\nname = "bench"\ncron = "%s * * *"\nplaylist = "%s"\nzones = ["all"]\n' \
        "$port" "$cron" "$list" > "$DIR/config.toml"
    rm -rf "$DIR/state" "$DIR/run"
    "$CORONG" daemon --config "$DIR/config.toml" 2> "$DIR/daemon-$list.log" &
    local daemon=$!
    PIDS+=("$daemon")
    python3 - "$port" "$fire" <<'PY'
import socket, struct, sys
port, fire = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_TIMESTAMPNS", 35), 1)
s.bind(("127.0.0.1", port))
s.settimeout(30)
while True:
    data, anc, _, _ = s.recvmsg(4096, 1024)
    sec, nsec = struct.unpack("qq", anc[0][2][:16])
    if any(data[12:]):
        print(f"{(sec + nsec / 1e9 - fire) * 1000:.1f}")
        break
PY
    kill "$daemon"
    wait "$daemon" 2>/dev/null || true
}

for list in short long; do
    printf '%s:' "$list"
    for _ in $(seq "$RUNS"); do printf ' %s' "$(run_once "$list")"; done
    echo " ms (fire time to first sound)"
done
grep -h "provisional" "$DIR"/daemon-long.log | tail -1 || true
