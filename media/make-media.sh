#!/bin/sh
# Regenerate corong's shipped sample media. Run from anywhere; writes next
# to this script. Needs cargo, sox, ffmpeg (with libmp3lame and libvorbis)
# and espeak-ng. See README.md in this folder for what each file is.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Deterministic encodes: no encoder version or date in the files.
bitexact="-map_metadata -1 -fflags +bitexact -flags:a +bitexact"

# One soft note: sox synth, half-sine fade in 20 ms, fade out over the
# last 150 ms (or the last half of a short note).
# note NAME SECONDS OUT
note() {
    out_fade=$(echo "if ($2 / 2 < 0.15) $2 / 2 else 0.15" | bc -l)
    sox -D -n -r 44100 -c 1 -b 16 "$3" synth "$2" sine "$1" gain -9 fade h 0.02 "$2" "$out_fade"
}

# A melody as "NOTE:BEATS ..." at BEAT seconds a beat, into OUT (WAV).
# melody BEAT OUT NOTES...
melody() {
    beat=$1 out=$2
    shift 2
    i=0
    files=""
    for n in "$@"; do
        name=${n%%:*}
        beats=${n#*:}
        secs=$(echo "$beat * $beats" | bc -l)
        f=$(printf '%s/n%03d.wav' "$work" "$i")
        if [ "$name" = R ]; then
            sox -D -n -r 44100 -c 1 -b 16 "$f" trim 0 "$secs"
        else
            note "$name" "$secs" "$f"
        fi
        files="$files $f"
        i=$((i + 1))
    done
    # shellcheck disable=SC2086 # word splitting of the list is intended
    sox -D $files "$out" reverb 25 50 60 gain -n -6
    rm -f "$work"/n*.wav
}

# 1. chime.wav: corong's own chime (src/media/tone.rs), 48 kHz mono 16-bit.
(cd "$repo" && cargo run --quiet --example make_chime -- "$here/chime.wav" 48000)

# 2. tune.flac: "Ode to Joy" (Beethoven, public domain), ~20 s.
melody 0.32 "$work/tune.wav" \
    E4:1 E4:1 F4:1 G4:1 G4:1 F4:1 E4:1 D4:1 C4:1 C4:1 D4:1 E4:1 E4:1.5 D4:0.5 D4:2 \
    E4:1 E4:1 F4:1 G4:1 G4:1 F4:1 E4:1 D4:1 C4:1 C4:1 D4:1 E4:1 D4:1.5 C4:0.5 C4:2 \
    D4:1 D4:1 E4:1 C4:1 D4:1 E4:0.5 F4:0.5 E4:1 C4:1 \
    D4:1 E4:0.5 F4:0.5 E4:1 D4:1 C4:1 D4:1 G3:2 \
    E4:1 E4:1 F4:1 G4:1 G4:1 F4:1 E4:1 D4:1 C4:1 C4:1 D4:1 E4:1 D4:1.5 C4:0.5 C4:2 \
    R:1
sox -D "$work/tune.wav" -b 16 "$here/tune.flac"

# 3. pengumuman.ogg: Indonesian speech by espeak-ng, Ogg Vorbis.
espeak-ng -v id -s 150 -w "$work/pengumuman.wav" \
    "Selamat pagi warga Blitar. Ini adalah siaran percobaan corong."
# shellcheck disable=SC2086
ffmpeg -v error -y -i "$work/pengumuman.wav" -c:a libvorbis -q:a 4 $bitexact "$here/pengumuman.ogg"

# 4. lagu.mp3: "Twinkle, Twinkle" ("Ah vous dirai-je, maman", folk, public
# domain), ~15 s, MP3 128 kb/s.
melody 0.34 "$work/lagu.wav" \
    C5:1 C5:1 G5:1 G5:1 A5:1 A5:1 G5:2 F5:1 F5:1 E5:1 E5:1 D5:1 D5:1 C5:2 \
    G5:1 G5:1 F5:1 F5:1 E5:1 E5:1 D5:2 G5:1 G5:1 F5:1 F5:1 E5:1 E5:1 D5:2 \
    C5:1 C5:1 G5:1 G5:1 A5:1 A5:1 G5:2 F5:1 F5:1 E5:1 E5:1 D5:1 D5:1 C5:2
# shellcheck disable=SC2086
ffmpeg -v error -y -i "$work/lagu.wav" -c:a libmp3lame -b:a 128k $bitexact "$here/lagu.mp3"

ls -l "$here"/chime.wav "$here"/tune.flac "$here"/pengumuman.ogg "$here"/lagu.mp3
