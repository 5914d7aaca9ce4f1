#!/usr/bin/env bash
# Icecast figures (issue 18), in one run:
#
# 1. CPU of one Ogg Opus mount and of one MP3 mount: three daemons side by
#    side play the same 1 kHz tone on one L16 RTP zone each; one of them
#    also feeds an Ogg Opus mount, another an MP3 mount (Debian's icecast2
#    on 127.0.0.1). Each daemon's user + system CPU over SECONDS (from
#    /proc/PID/stat), and the differences: what each mount costs.
# 2. Listening delay: ffmpeg reads the mount (as a listener would) while the
#    daemon announces a tone ROUNDS times; the delay is from the tone's
#    first loud RTP packet arriving to its first loud sample coming out of
#    ffmpeg, reported beside the RTP arrival itself (0 by definition: the
#    RTP figure is the reference; the end-to-end RTP figure is
#    bench/e2e_latency.sh's). A player also plays the server's burst
#    (burst-size, 16000 bytes here: about 2.7 s at 48 kbit/s) before it is
#    live: add that to what a listener hears.
#
#   bench/icecast.sh [SECONDS] [ROUNDS]    (default 60 5)
. "$(dirname "$0")/lib.sh"
SECS=${1:-60}
ROUNDS=${2:-5}
for tool in icecast2 ffmpeg python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool"; exit 1; }
done
build_corong
machine_line "CPU over ${SECS} s, delay over ${ROUNDS} tones"

ICE_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PASS=bench-$RANDOM$RANDOM
OWNER=""
if [ "$(id -u)" -eq 0 ]; then
    OWNER="<changeowner><user>nobody</user><group>nogroup</group></changeowner>"
fi
cat > "$DIR/icecast.xml" <<EOF
<icecast><location>bench</location><admin>bench@localhost</admin>
<limits><clients>10</clients><sources>4</sources><queue-size>262144</queue-size>
<client-timeout>30</client-timeout><header-timeout>5</header-timeout><source-timeout>5</source-timeout>
<burst-on-connect>1</burst-on-connect><burst-size>16000</burst-size></limits>
<authentication><source-password>$PASS</source-password><relay-password>$PASS</relay-password>
<admin-user>admin</admin-user><admin-password>$PASS</admin-password></authentication>
<hostname>127.0.0.1</hostname>
<listen-socket><port>$ICE_PORT</port><bind-address>127.0.0.1</bind-address></listen-socket>
<fileserve>0</fileserve>
<paths><basedir>/usr/share/icecast2</basedir><logdir>/tmp</logdir><webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot></paths>
<logging><accesslog>-</accesslog><errorlog>-</errorlog><loglevel>2</loglevel></logging>
<security><chroot>0</chroot>$OWNER</security></icecast>
EOF
icecast2 -c "$DIR/icecast.xml" > "$DIR/icecast.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $ICE_PORT), 0.2)" 2>/dev/null && break
    sleep 0.1
done

make_tone $((SECS + 20))
mkdir -p "$DIR/a/secrets" "$DIR/b" "$DIR/c/secrets"
for f in a b c; do ln -s "$DIR/playlists" "$DIR/media" "$DIR/$f/"; done
echo "$PASS" > "$DIR/a/secrets/icecast"
echo "$PASS" > "$DIR/c/secrets/icecast"
RTP_A=$(free_port)
RTP_B=$((RTP_A + 2))
RTP_C=$((RTP_A + 4))
# Daemon A: RTP and an Ogg Opus mount; daemon C: RTP and an MP3 mount;
# daemon B: RTP only. All play the tone from 3 s on.
daemon_config() { # folder, rtp port, extra zone line
    local cron
    cron=$(date -u -d '+3 sec' '+%-S %-M %-H')
    printf '[daemon]\ntimezone = "UTC"\ncontrol_socket = "run/corong.sock"\nstate_dir = "state"\n' > "$1/config.toml"
    printf '[loudness]\nnormalize = false\n[[zones]]\nname = "pasar"\nrtp = ["127.0.0.1:%s"]\n%s\n' "$2" "$3" >> "$1/config.toml"
    printf '[[schedules]]\nname = "bench"\ncron = "%s * * *"\nplaylist = "tone"\nzones = ["all"]\n' "$cron" >> "$1/config.toml"
}
daemon_config "$DIR/a" "$RTP_A" "icecast = { url = \"http://127.0.0.1:$ICE_PORT/pasar.ogg\", password_file = \"secrets/icecast\" }"
daemon_config "$DIR/b" "$RTP_B" ""
daemon_config "$DIR/c" "$RTP_C" "icecast = { url = \"http://127.0.0.1:$ICE_PORT/pasar.mp3\", password_file = \"secrets/icecast\", format = \"mp3\" }"
"$CORONG" daemon --config "$DIR/a/config.toml" 2> "$DIR/a.log" &
A=$!
PIDS+=($!)
"$CORONG" daemon --config "$DIR/b/config.toml" 2> "$DIR/b.log" &
B=$!
PIDS+=($!)
"$CORONG" daemon --config "$DIR/c/config.toml" 2> "$DIR/c.log" &
C=$!
PIDS+=($!)
sleep 6
grep -q "streaming Ogg Opus to Icecast" "$DIR/a.log" || { echo "daemon A is not streaming:"; cat "$DIR/a.log"; exit 1; }
grep -q "streaming MP3 to Icecast" "$DIR/c.log" || { echo "daemon C is not streaming:"; cat "$DIR/c.log"; exit 1; }

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
a0=$(ticks $A); b0=$(ticks $B); c0=$(ticks $C)
sleep "$SECS"
a1=$(ticks $A); b1=$(ticks $B); c1=$(ticks $C)
python3 - "$a0" "$a1" "$b0" "$b1" "$c0" "$c1" "$SECS" "$(getconf CLK_TCK)" <<'EOF'
import sys
a0, a1, b0, b1, c0, c1, secs, hz = map(float, sys.argv[1:])
a = (a1 - a0) / hz / secs * 100
b = (b1 - b0) / hz / secs * 100
c = (c1 - c0) / hz / secs * 100
print(f"cpu: daemon with RTP + Ogg Opus mount {a:.2f}% of a core; with RTP + MP3 mount {c:.2f}%; with RTP only {b:.2f}%")
print(f"cpu: the Ogg Opus mount (48 kbit/s mono) {a - b:.2f}%; the MP3 mount (64 kbit/s mono) {c - b:.2f}%")
EOF
kill "$A" "$B" "$C"
wait "$A" "$B" "$C" 2>/dev/null || true

# The delay: a fresh daemon A, idle, then tones announced one by one.
printf '[daemon]\ntimezone = "UTC"\ncontrol_socket = "run/corong.sock"\nstate_dir = "state"\n[loudness]\nnormalize = false\n[[zones]]\nname = "pasar"\nrtp = ["127.0.0.1:%s"]\nicecast = { url = "http://127.0.0.1:%s/pasar.ogg", password_file = "secrets/icecast" }\n' \
    "$RTP_A" "$ICE_PORT" > "$DIR/a/config.toml"
ffmpeg -v error -y -f lavfi -i "sine=f=1000:r=48000:d=1" -ac 1 -c:a pcm_s16le "$DIR/beep.wav"
"$CORONG" daemon --config "$DIR/a/config.toml" 2> "$DIR/a.log" &
PIDS+=($!)
sleep 3
python3 - "$CORONG" "$DIR" "$RTP_A" "$ICE_PORT" "$ROUNDS" <<'EOF'
import socket, statistics, subprocess, sys, threading, time, array
corong, d, rtp_port, ice_port, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
LOUD = 3000  # of 32767: the tone is at 1/8 (sine source), about 4096
onsets = {"rtp": [], "ice": []}
armed = {"rtp": False, "ice": False}
def rtp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", rtp_port))
    while True:
        data = s.recv(2048)
        pcm = array.array("h", data[12:]); pcm.byteswap()
        if armed["rtp"] and max(map(abs, pcm), default=0) > LOUD:
            onsets["rtp"].append(time.monotonic()); armed["rtp"] = False
def ice():
    p = subprocess.Popen(["ffmpeg", "-v", "error", "-fflags", "nobuffer", "-i",
                          f"http://127.0.0.1:{ice_port}/pasar.ogg", "-ac", "1", "-ar", "48000",
                          "-f", "s16le", "-"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    while True:
        block = p.stdout.read(480 * 2)
        if not block:
            return
        if armed["ice"] and max(map(abs, array.array("h", block)), default=0) > LOUD:
            onsets["ice"].append(time.monotonic()); armed["ice"] = False
threading.Thread(target=rtp, daemon=True).start()
threading.Thread(target=ice, daemon=True).start()
time.sleep(4)  # past the server's burst
delays = []
for _ in range(rounds):
    armed["rtp"] = armed["ice"] = True
    subprocess.run([corong, "--socket", f"{d}/a/run/corong.sock", "announce", f"{d}/beep.wav", "--no-chime"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 10
    while (armed["rtp"] or armed["ice"]) and time.monotonic() < end:
        time.sleep(0.01)
    if armed["rtp"] or armed["ice"]:
        print("a tone was not heard on", "rtp" if armed["rtp"] else "icecast"); sys.exit(1)
    delays.append((onsets["ice"][-1] - onsets["rtp"][-1]) * 1000)
    time.sleep(2)
print("listening delay behind RTP (tone onset, ffmpeg reading the mount): median %.0f ms, min %.0f, max %.0f over %d tones"
      % (statistics.median(delays), min(delays), max(delays), len(delays)))
print("RTP itself: the reference (0 ms here); plus the server's burst a player plays first: 16000 bytes = %.1f s at 48 kbit/s" % (16000 * 8 / 48000))
EOF
