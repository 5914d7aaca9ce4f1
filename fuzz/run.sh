#!/usr/bin/env bash
# Run every fuzz target (or those named) for a bounded time each, one
# process each (one core), and print executions and crashes per target.
#
#   fuzz/run.sh [SECONDS] [TARGET...]      default: 60 s, every target
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). On a stable toolchain the
# nightly flags cargo-fuzz passes are let through with RUSTC_BOOTSTRAP=1.
# SANITIZER=address (the default) or none. Seed corpora are made the first
# time into fuzz/corpus/TARGET from the repo's own files, packets written
# here, and tiny media files made with ffmpeg (skipped when it is missing).
# Crashes land in fuzz/artifacts/TARGET/; logs in fuzz/logs/TARGET.log.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
cd "$here"

secs="${1:-60}"
shift || true
all=(config playlist control_request upload_name rtp rtcp decode alerts wav_stream web_body sites_message live_frames)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi
sanitizer="${SANITIZER:-address}"
# A nightly toolchain when rustup has one; otherwise the stable one with
# RUSTC_BOOTSTRAP=1 (which some cargo-fuzz versions do not pass on to the
# rustc that cargo asks about the target: then install nightly).
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi

# --- seed corpora -----------------------------------------------------------

seed() { # seed TARGET NAME: write stdin to corpus/TARGET/NAME
    mkdir -p "corpus/$1"
    cat >"corpus/$1/$2"
}

seed_all() {
    local c
    if [ ! -d corpus/config ]; then
        seed config shipped.toml <"$repo/config.toml"
        printf '[[zones]]\nname = "a"\nwav = "a.wav"\n' | seed config minimal.toml
        printf '[daemon]\ntimezone = "UTC"\nsample_rate = 8000\npacket_ms = 10\nmax_item_s = 60\n[[zones]]\nname = "a"\nrtp = ["127.0.0.1:5004", "[::1]:5006"]\ncodec = "pcmu"\n[groups]\ng = ["a"]\n[[schedules]]\nname = "s"\ncron = "0 0 6 * * *"\nplaylist = "p"\nzones = ["g"]\nloop_until = "07:00"\n[quiet_hours]\nfrom = "22:00"\nto = "05:00"\n' | seed config full.toml
    fi
    if [ ! -d corpus/playlist ]; then
        mkdir -p corpus/playlist
        for f in "$repo"/playlists/*; do cp "$f" corpus/playlist/; done
        printf '#EXTM3U\n#EXTINF:12,Judul\r\na.mp3\r\n/abs/b.flac\n\n# note\n\xef\xbb\xbfc.wav\n' | seed playlist mixed.m3u
    fi
    if [ ! -d corpus/control_request ]; then
        for c in \
            '{"v":1,"cmd":"announce","files":["/srv/a.mp3"],"zones":["utara"],"priority":"announcement","at":"18:00"}' \
            '{"v":1,"cmd":"announce","files":["/a.wav","/b.wav"],"zones":["all"],"priority":7,"chime":false,"repeat":3,"interval_s":30,"wait":true}' \
            '{"v":1,"cmd":"say","text":"Kerja bakti besok pagi.","voice":"id","zones":["all"],"wait":true}' \
            '{"v":1,"cmd":"emergency","text":"Awas lahar dingin.","zones":["all"]}' \
            '{"v":1,"cmd":"emergency","file":"/srv/sirene.wav","zones":["a","b"]}' \
            '{"v":1,"cmd":"emergency","zones":["all"],"stop":true}' \
            '{"v":1,"cmd":"status"}' '{"v":1,"cmd":"queue"}' '{"v":1,"cmd":"zones"}' \
            '{"v":1,"cmd":"reload"}' '{"v":1,"cmd":"cancel","id":99}' \
            '{"v":1,"cmd":"skip","zones":["a"]}' '{"v":1,"cmd":"stop","zones":["all"]}' \
            '{"v":1,"cmd":"schedule","next":10}' \
            '{"v":1,"cmd":"log","since":"2024-05-02 06:00","zone":"a","limit":50}' \
            '{"v":2,"cmd":"status"}'; do
            printf '%s' "$c" | seed control_request "$(printf '%s' "$c" | cksum | cut -d' ' -f1)"
        done
    fi
    if [ ! -d corpus/rtp ]; then
        # V=2, PT 96 (L16) and PT 0 (PCMU), then CSRCs, an extension, padding.
        printf '\x80\x60\x00\x01\x00\x00\x03\xc0\x12\x34\x56\x78\x00\x01\x7f\xff\x80\x00' | seed rtp l16
        printf '\x80\x00\xff\xff\xff\xff\xff\x00\xde\xad\xbe\xef\xff\x7f\x00\x80' | seed rtp pcmu
        printf '\x82\x80\x00\x02\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\x55\x55' | seed rtp csrc-marker
        printf '\x90\x60\x00\x03\x00\x00\x00\x00\x00\x00\x00\x01\xbe\xde\x00\x01\x10\xaa\x00\x00\x01\x02' | seed rtp extension
        printf '\xa0\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x01\x11\x22\x00\x00\x03' | seed rtp padding
    fi
    if [ ! -d corpus/rtcp ]; then
        # A sender report alone; SR + SDES CNAME; RR then SR; a BYE.
        printf '\x80\xc8\x00\x06\x12\x34\x56\x78\xe9\x00\x00\x00\x80\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x10\x00\x00\x10\x00' | seed rtcp sr
        printf '\x80\xc8\x00\x06\x12\x34\x56\x78\xe9\x00\x00\x00\x80\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x10\x00\x00\x10\x00\x81\xca\x00\x03\x12\x34\x56\x78\x01\x03abc\x00\x00\x00' | seed rtcp sr-sdes
        printf '\x81\xc9\x00\x07\x00\x00\x00\x01\x12\x34\x56\x78\x00\x00\x00\x05\x00\x00\x01\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x80\xc8\x00\x06\x12\x34\x56\x78\xe9\x00\x00\x00\x80\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x10\x00\x00\x10\x00' | seed rtcp rr-sr
        printf '\x81\xcb\x00\x01\x12\x34\x56\x78' | seed rtcp bye
    fi
    if [ ! -d corpus/alerts ]; then
        mkdir -p corpus/alerts
        cp "$repo"/tests/data/alerts/*.xml corpus/alerts/
    fi
    if [ ! -d corpus/web_body ]; then
        # First byte: 0 login, 1 emergency, 2 cancel, 3 skip, 4 announce fields.
        printf '\x00username=sri&password=kelud%%203' | seed web_body login
        printf '\x01{"text":"Awas lahar","zones":["alun-alun"]}' | seed web_body emergency
        printf '\x02{"id":17}' | seed web_body cancel
        printf '\x03{"zones":["pasar"]}' | seed web_body skip
        printf '\x04zones=alun-alun\nzones=pasar,terminal\npriority=live\nat=2026-12-07T06:30\nfile=\n' | seed web_body announce
        printf '\x04text=Selamat pagi\nzones=all\nrepeat=3\n' | seed web_body say
    fi
    if [ ! -d corpus/sites_message ]; then
        printf '%s' '{"id":"centre-1-ab","origin":"centre","user":"sri","issued_ms":1,"expires_ms":60001,"request":{"cmd":"emergency","text":"Banjir","zones":["all"]}}' | seed sites_message order.json
        printf '%s' '{"id":"centre-2-cd","origin":"centre","user":"sri","issued_ms":2,"request":{"cmd":"say","text":"Halo","zones":["pasar"],"repeat":2}}' | seed sites_message say.json
        printf '%s' '{"site":"wlingi","version":"0.1.0","at_ms":5,"zones":[{"name":"a","playing":"job 3"}],"pending_alerts":1}' | seed sites_message state.json
        printf '%s' '{"order":"centre-1-ab","site":"wlingi","accepted":false,"reason":"expired"}' | seed sites_message ack.json
    fi
    if [ ! -d corpus/decode ]; then
        mkdir -p corpus/decode
        if command -v ffmpeg >/dev/null; then
            local tmp
            tmp="$(mktemp -d)"
            local src="aevalsrc=0.5*sin(2*PI*440*t):s=8000:d=0.1"
            ffmpeg -v error -f lavfi -i "$src" -c:a pcm_s16le "$tmp/s16.wav"
            ffmpeg -v error -f lavfi -i "$src" -c:a pcm_f32le "$tmp/f32.wav"
            ffmpeg -v error -f lavfi -i "$src" -c:a pcm_u8 "$tmp/u8.wav"
            ffmpeg -v error -f lavfi -i "$src" -ac 2 -c:a pcm_s24le "$tmp/s24-stereo.wav"
            ffmpeg -v error -f lavfi -i "$src" -c:a libmp3lame -b:a 16k "$tmp/a.mp3"
            ffmpeg -v error -f lavfi -i "$src" -c:a flac "$tmp/a.flac"
            ffmpeg -v error -f lavfi -i "$src" -c:a libvorbis "$tmp/a.ogg"
            ffmpeg -v error -f lavfi -i "$src" -c:a aac -b:a 16k "$tmp/a.m4a"
            cp "$tmp"/* corpus/decode/
            rm -rf "$tmp"
        else
            echo "ffmpeg not found: the decode corpus starts empty" >&2
        fi
    fi
}

seed_all

# --- build and run ----------------------------------------------------------

# The daemon's release build has no debug assertions; neither do these.
if ! cargo "${toolchain[@]}" fuzz build -O --sanitizer "$sanitizer" >logs-build.txt 2>&1; then
    tail -20 logs-build.txt >&2
    echo "build failed (try SANITIZER=none)" >&2
    exit 1
fi

mkdir -p logs
printf '%-16s %8s %12s %8s %8s\n' target seconds executions crashes corpus
total_crashes=0
for t in "${targets[@]}"; do
    # A target without seeds starts from an empty corpus.
    mkdir -p "artifacts/$t" "corpus/$t"
    before=$(find "artifacts/$t" -type f | wc -l)
    maxlen=4096
    [ "$t" = decode ] && maxlen=65536
    [ "$t" = config ] && maxlen=16384
    [ "$t" = alerts ] && maxlen=16384
    [ "$t" = sites_message ] && maxlen=20000
    set +e
    cargo "${toolchain[@]}" fuzz run -O --sanitizer "$sanitizer" "$t" "corpus/$t" -- \
        -max_total_time="$secs" -max_len="$maxlen" -timeout=20 \
        -rss_limit_mb=2048 -print_final_stats=1 >"logs/$t.log" 2>&1
    set -e
    after=$(find "artifacts/$t" -type f | wc -l)
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' | tail -1)
    crashes=$((after - before))
    total_crashes=$((total_crashes + crashes))
    size=$(find "corpus/$t" -type f | wc -l)
    printf '%-16s %8s %12s %8s %8s\n' "$t" "$secs" "${execs:-?}" "$crashes" "$size"
done
if [ "$total_crashes" -gt 0 ]; then
    echo "crash inputs: fuzz/artifacts/*/ ; details: fuzz/logs/*.log" >&2
    exit 1
fi
