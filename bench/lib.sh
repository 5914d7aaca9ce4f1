# Shared set-up of the bench scripts; each sources it first:
#   . "$(dirname "$0")/lib.sh"
# It stops at the first error, moves to the repository's root, makes a
# temporary folder $DIR, and at exit kills every process id in PIDS and
# removes $DIR. Then:
#   build_corong [CARGO_ARGS...]   release build; CORONG is the daemon binary
#                                  (or CORONG_BIN as it is, without a build)
#   free_port                      an even UDP port free on 127.0.0.1 now
#   machine_line [TEXT]            "machine: ..." and "date: ..." lines
#   make_tone SECONDS              $DIR/media/tone.wav (1 kHz, 48 kHz mono)
#                                  and the playlist $DIR/playlists/tone.m3u
#   start_tone_daemon PTIME CODEC DEST...
#                                  a daemon with one CODEC zone per DEST (a
#                                  DEST "a:p,b:q" is one zone of two poles), all
#                                  playing the tone from 3 s on; its pid is
#                                  DAEMON (also in PIDS)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DIR=$(mktemp -d)
PIDS=()
bench_cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap bench_cleanup EXIT

build_corong() {
    # CORONG_BIN: measure that binary as it is (an older build, to compare
    # before and after a change in the same run of the machine).
    if [ -n "${CORONG_BIN:-}" ]; then
        CORONG=$CORONG_BIN
        return
    fi
    cargo build --release --quiet "$@"
    CORONG=${CARGO_TARGET_DIR:-$PWD/target}/release/corong
}

free_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1] // 2 * 2)'
}

machine_line() {
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')${1:+; $1}"
}

make_tone() {
    mkdir -p "$DIR/media" "$DIR/playlists"
    ffmpeg -v error -f lavfi -i "sine=f=1000:r=48000:d=$1" -ac 1 -c:a pcm_s16le -y "$DIR/media/tone.wav"
    printf '#EXTM3U\n../media/tone.wav\n' > "$DIR/playlists/tone.m3u"
}

start_tone_daemon() {
    local ptime=$1 codec=$2 i=0 dest cron
    shift 2
    cron=$(date -u -d '+3 sec' '+%-S %-M %-H')
    {
        printf '[daemon]\ntimezone = "UTC"\npacket_ms = %s\n' "$ptime"
        for dest in "$@"; do
            # A DEST of several addresses, comma-separated, is one zone
            # with that many poles.
            printf '[[zones]]\nname = "z%s"\nrtp = ["%s"]\ncodec = "%s"\n' "$i" \
                "${dest//,/\", \"}" "$codec"
            i=$((i + 1))
        done
        printf '[[schedules]]\nname = "bench"\ncron = "%s * * *"\nplaylist = "tone"\nzones = ["all"]\n' "$cron"
    } > "$DIR/config.toml"
    rm -rf "$DIR/state" "$DIR/run"
    "$CORONG" daemon --config "$DIR/config.toml" 2> "$DIR/daemon.log" &
    DAEMON=$!
    PIDS+=($!)
}
