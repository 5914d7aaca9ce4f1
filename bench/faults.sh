#!/usr/bin/env bash
# Fault campaign: nothing accepted is lost, nothing finished plays twice,
# whenever the daemon is killed.
#
# Each round starts a daemon on a fresh state folder with two zones (`pasar`
# records to a WAV, `balai` sends RTP to a port on 127.0.0.1 where nobody
# listens) and queues six short announcements with `corong announce`, some
# `--at` a few seconds ahead, while a timer SIGKILLs the daemon at a random
# point (0 to 4 s in, so sometimes between an announcement's acceptance and
# its reply, sometimes mid-item). Then a new daemon starts on the same state,
# everything plays out, and the round is judged from `corong log --json`
# against the ids that `announce` printed:
#   accepted    announce printed an id (exit 0)
#   played once exactly one `completed` row of its file on each of its zones
#   lost        a zone of it without a `completed` row
#   played twice  a zone of it with more than one
# An announce that failed because the daemon was gone is not accepted
# ("refused"); if it was written before the kill it plays anyway ("extra",
# reported, not a fault). The recordings of `pasar` (the killed daemon's and
# the new one's) cross-check by ear: each announcement there is a tone of
# its own frequency; "heard twice" counts tones found whole in two places.
# A killed recorder may not have written its last moments, so the ear can
# miss a play but not invent one.
#
# Usage: bench/faults.sh [ROUNDS]      (default 100, 1..=1000)
# Prints a line per round and totals; exits 1 if anything was lost or
# played twice. Loopback only. Set KEEP=DIR to keep each round's logs.
. "$(dirname "$0")/lib.sh"

ROUNDS=${1:-100}
if ! [[ $ROUNDS =~ ^[0-9]+$ ]] || ((ROUNDS < 1 || ROUNDS > 1000)); then
    echo "faults.sh: ROUNDS must be a number from 1 to 1000, not \`$ROUNDS\`" >&2
    exit 2
fi
build_corong

# Six tones, one per announcement of a round: frequencies far enough apart
# (x1.4) for a zero-crossing count to tell them apart.
FREQS=(440 620 880 1240 1760 2480)
SECS=(0.6 0.9 0.5 1.2 0.7 1.0)
mkdir -p "$DIR/media"
for i in "${!FREQS[@]}"; do
    python3 - "$DIR/media/a$i.wav" "${FREQS[$i]}" "${SECS[$i]}" <<'EOF'
import array, math, sys, wave
path, freq, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
n = int(48000 * secs)
pcm = array.array("h", (int(8000 * math.sin(2 * math.pi * freq * k / 48000)) for k in range(n)))
with wave.open(path, "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(48000)
    w.writeframes(pcm.tobytes())
EOF
done
PORT=$(free_port)
cat > "$DIR/config.toml" <<EOF
[daemon]
timezone = "UTC"
control_socket = "run/corong.sock"
state_dir = "state"

[[zones]]
name = "pasar"
wav = "rec/pasar.wav"

[[zones]]
name = "balai"
rtp = ["127.0.0.1:$PORT"]
EOF

client() {
    timeout 10 "$CORONG" --socket "$DIR/run/corong.sock" "$@"
}

# Start a daemon on the state folder; DAEMON is its pid, REAPER that of
# the subshell that waits for it (and keeps bash's "Killed" notice off the
# output). Waits (at most 10 s) for it to say it started.
start_daemon() {
    local log=$1 i
    rm -f "$DIR/daemon.pid"
    (
        "$CORONG" daemon --config "$DIR/config.toml" 2> "$log" &
        echo $! > "$DIR/daemon.pid"
        wait
    ) 2> /dev/null &
    REAPER=$!
    for ((i = 0; i < 200; i++)); do
        [[ -s $DIR/daemon.pid ]] && break
        sleep 0.01
    done
    DAEMON=$(cat "$DIR/daemon.pid")
    PIDS+=("$DAEMON")
    for ((i = 0; i < 200; i++)); do
        grep -qs "corong daemon started" "$log" && return 0
        sleep 0.05
    done
    echo "faults.sh: the daemon did not start; its log:" >&2
    cat "$log" >&2
    exit 1
}

machine_line
START=$SECONDS
TOTALS=$DIR/totals.txt
: > "$TOTALS"
for ((round = 1; round <= ROUNDS; round++)); do
    R=$DIR/round
    rm -rf "$R" "$DIR/state" "$DIR/run" "$DIR/rec"
    mkdir -p "$R"
    start_daemon "$R/daemon-1.log"
    kill_ms=$((RANDOM % 4000))
    (
        sleep "$(printf '%d.%03d' $((kill_ms / 1000)) $((kill_ms % 1000)))"
        kill -KILL "$DAEMON" 2> /dev/null || true
    ) &
    KILLER=$!
    : > "$R/accepted.txt"
    refused=0
    for i in "${!FREQS[@]}"; do
        case $((RANDOM % 3)) in
            0) zones=pasar ;;
            1) zones=balai ;;
            *) zones=pasar,balai ;;
        esac
        args=("$DIR/media/a$i.wav" --zones "$zones")
        # A chime only where nobody listens by ear, so the recording holds
        # just the tones.
        [[ $zones == balai && $((RANDOM % 2)) == 0 ]] || args+=(--no-chime)
        if ((RANDOM % 3 == 0)); then
            args+=(--at "$(date -u -d "+$((2 + RANDOM % 4)) sec" '+%Y-%m-%d %H:%M:%S')")
        fi
        if id=$(client announce "${args[@]}" 2>> "$R/announce.err") && [[ $id =~ ^[0-9]+$ ]]; then
            echo "$id $zones $DIR/media/a$i.wav ${FREQS[$i]} ${SECS[$i]}" >> "$R/accepted.txt"
        else
            refused=$((refused + 1))
        fi
        sleep "0.$((RANDOM % 4))"
    done
    wait "$KILLER" || true
    wait "$REAPER" || true

    # The same state, a new daemon: everything plays out (bounded: 60 s).
    start_daemon "$R/daemon-2.log"
    for ((i = 0; i < 600; i++)); do
        left=$(client queue --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))')
        [[ $left == 0 ]] && break
        sleep 0.1
    done
    client log --json > "$R/log.json"
    kill -TERM "$DAEMON"
    wait "$REAPER" || true

    python3 - "$R" "$round" "$kill_ms" "$refused" "$DIR/rec" "$TOTALS" <<'EOF'
import array, glob, json, os, sys
from collections import Counter

r, rnd, kill_ms, refused, rec, totals = sys.argv[1:]
accepted = [l.split() for l in open(os.path.join(r, "accepted.txt")) if l.strip()]
rows = json.load(open(os.path.join(r, "log.json")))["entries"]
completed = Counter((row["job"], row["zone"], row["file"]) for row in rows if row["how"] == "completed")
ids = {int(a[0]) for a in accepted}
extra = sorted({row["job"] for row in rows if row["job"] not in ids})

# By ear: 10 ms blocks of the recordings, each the nearest of the tones'
# frequencies by its zero crossings (or silence); a tone heard whole is a
# run of blocks at its frequency as long as its file, less the two blocks
# its ends may share with silence.
BLOCK = 480
FREQS = [440, 620, 880, 1240, 1760, 2480]
def block_freqs(path):
    # Everything after the data chunk's header, to the end of the file: a
    # killed recorder's header may not count its last second yet.
    raw = open(path, "rb").read()
    at = raw.find(b"data", 12)
    if at < 0:
        return []
    body = raw[at + 8:]
    data = array.array("h", body[:len(body) // 2 * 2])
    out = []
    for b in range(0, len(data) - BLOCK + 1, BLOCK):
        blk = data[b:b + BLOCK]
        if max(blk) < 1000:
            out.append(0)
            continue
        f = sum(1 for x, y in zip(blk, blk[1:]) if (x < 0) != (y < 0)) / 2 / 0.01
        near = min(FREQS, key=lambda c: abs(c - f))
        out.append(near if abs(near - f) < 0.15 * near else 0)
    return out
tracks = [block_freqs(p) for p in sorted(glob.glob(os.path.join(rec, "*.wav")))]
def heard(freq, secs):
    """The lengths (s) of the whole hearings of this tone."""
    need = round(float(secs) / 0.01) - 2
    whole = []
    for track in tracks:
        run = 0
        for f in track + [0]:
            if f == freq:
                run += 1
                continue
            if run >= need:
                whole.append(run * 0.01)
            run = 0
    return whole

once = lost = twice = heard_twice = heard_once = on_pasar = 0
faults = []
for id_, zones, path, freq, secs in accepted:
    id_ = int(id_)
    counts = {z: completed[(id_, z, path)] for z in zones.split(",")}
    if any(c == 0 for c in counts.values()):
        lost += 1
        faults.append(f"job {id_} ({os.path.basename(path)}) lost: completed rows {counts}")
    elif any(c > 1 for c in counts.values()):
        twice += 1
        faults.append(f"job {id_} ({os.path.basename(path)}) played twice: completed rows {counts}")
    else:
        once += 1
    whole = heard(int(freq), secs) if "pasar" in zones.split(",") else None
    on_pasar += whole is not None
    heard_once += whole is not None and len(whole) == 1
    if whole is not None and len(whole) > 1:
        heard_twice += 1
        faults.append(f"job {id_} ({os.path.basename(path)}, {secs} s) heard whole twice in the recordings of pasar: {whole} s")
for f in faults:
    print(f"  round {rnd}: {f}")
    for row in rows:
        if row["job"] == int(f.split()[1]):
            print("    as-run:", json.dumps(row))
print(f"round {rnd}: kill at {int(kill_ms) / 1000:.2f} s: accepted {len(accepted)}, played once {once}, "
      f"lost {lost}, played twice {twice}; refused {refused}, extra {len(extra)}; on pasar {on_pasar}: heard once {heard_once}, twice {heard_twice}")
with open(totals, "a") as t:
    t.write(f"{len(accepted)} {once} {lost} {twice} {refused} {len(extra)} {heard_twice} {on_pasar} {heard_once}\n")
EOF
    if [[ -n ${KEEP:-} ]]; then
        mkdir -p "$KEEP/round-$round"
        cp -r "$R/." "$DIR/rec" "$KEEP/round-$round/"
    fi
done

read -r accepted once lost twice refused extra heard on_pasar heard_once < <(
    awk '{for (i = 1; i <= 9; i++) s[i] += $i} END {for (i = 1; i <= 9; i++) printf "%d ", s[i]; print ""}' "$TOTALS"
)
echo "total: $ROUNDS rounds in $((SECONDS - START)) s: accepted $accepted, played once $once, lost $lost, played twice $twice; refused $refused, extra $extra; on pasar $on_pasar: heard once $heard_once, twice $heard"
((lost == 0 && twice == 0))
