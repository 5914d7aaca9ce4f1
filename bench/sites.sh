#!/usr/bin/env bash
# The regency's figures (issue 19): an emergency sent from one kiosk with
# `--sites all` to the first non-silent RTP packet on each of N kiosks'
# zones (N daemons on loopback, one mosquitto), p50/p99 over ROUNDS; and
# after the broker is killed and restarted, the time until every kiosk
# is connected (online) again. The time includes the CLI, the broker's
# fan-out, each kiosk's order book (an SQLite commit), espeak-ng rendering
# the text and the alert signal's first packet.
#
#   bench/sites.sh [KIOSKS] [ROUNDS]      (default 20 10)
#
# Uses target/release/corong (CORONG=path to override); needs mosquitto,
# espeak-ng and python3. Sends only to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
ROUNDS=${2:-10}
BIN=${CORONG:-target/release/corong}
MOSQ=$(command -v mosquitto || echo /usr/sbin/mosquitto)
BASE=24000
DIR=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -n "${broker:-}" ] && kill "$broker" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); $N kiosks, $ROUNDS rounds, $BIN"

BPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$BPORT" >"$DIR/mosquitto.conf"
start_broker() {
    "$MOSQ" -c "$DIR/mosquitto.conf" >/dev/null 2>&1 &
    broker=$!
    until python3 -c "import socket; socket.create_connection(('127.0.0.1',$BPORT),0.2)" 2>/dev/null; do sleep 0.05; done
}
start_broker

for i in $(seq 0 $((N - 1))); do
    k="$DIR/k$i"
    mkdir -p "$k"
    cat >"$k/config.toml" <<TOML
[daemon]
timezone = "UTC"
control_socket = "run/corong.sock"
state_dir = "state"

[[zones]]
name = "z$i"
rtp = ["127.0.0.1:$((BASE + 2 * i))"]

[site]
name = "k$i"

[mqtt]
url = "mqtt://127.0.0.1:$BPORT"
topic_prefix = "bench"
keep_alive_s = 5
TOML
    "$BIN" daemon --config "$k/config.toml" 2>"$k/daemon.log" &
    pids+=($!)
done

python3 - "$BIN" "$DIR" "$N" "$ROUNDS" "$BASE" "$broker" "$MOSQ" <<'PY'
import json, os, select, socket, statistics, subprocess, sys, time
bin_, d, n, rounds, base, broker, mosq = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
sock0 = f"{d}/k0/run/corong.sock"
def cli(*args):
    return subprocess.run([bin_, "--socket", sock0, *args], capture_output=True, text=True)
def online():
    r = cli("sites", "--json")
    if r.returncode != 0:
        return 0
    return sum(1 for s in json.loads(r.stdout)["sites"] if s["online"])
def wait(cond, limit):
    end = time.monotonic() + limit
    while not cond():
        if time.monotonic() > end:
            sys.exit("timed out")
        time.sleep(0.02)
wait(lambda: os.path.exists(sock0) and online() == n, 60)
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", base + 2 * i))
    s.setblocking(False)
    socks.append(s)
def loud(p):
    return any(abs(int.from_bytes(p[j:j+2], "big", signed=True)) > 1000 for j in range(12, len(p) - 1, 2))
def drain():
    for s in socks:
        try:
            while True:
                s.recv(2048)
        except BlockingIOError:
            pass
samples, cold = [], []
for r in range(rounds):
    drain()
    t0 = time.monotonic()
    proc = subprocess.Popen([bin_, "--socket", sock0, "emergency", "--text", "Peringatan dini banjir.", "--sites", "all", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = {}
    while len(first) < n and time.monotonic() - t0 < 10:
        ready, _, _ = select.select(socks, [], [], 0.1)
        now = time.monotonic()
        for s in ready:
            i = socks.index(s)
            try:
                while True:
                    p = s.recv(2048)
                    if i not in first and loud(p):
                        first[i] = now - t0
            except BlockingIOError:
                pass
    out, _ = proc.communicate()
    accepted = sum(1 for a in json.loads(out)["acks"] if a["accepted"])
    # Round 1 renders the text with espeak-ng on every kiosk at once (cold
    # speech cache); later rounds find it cached: reported apart.
    (cold if r == 0 else samples).extend(v * 1000 for v in first.values())
    print(f"round {r + 1}: {accepted}/{n} accepted, sound on {len(first)}/{n}, slowest {max(first.values()) * 1000:.0f} ms")
    cli("emergency", "--stop", "--sites", "all")
    time.sleep(1.0)  # the zones fall silent before the next round
def report(what, xs):
    xs = sorted(xs)
    if not xs:
        return
    p = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
    print(f"emergency -> first non-silent RTP on each kiosk, {what}: n={len(xs)} p50 {p(0.5):.0f} ms  p99 {p(0.99):.0f} ms  max {xs[-1]:.0f} ms")
report("round 1 (speech rendered on every kiosk)", cold)
report("rounds 2.. (speech cached)", samples)
# Broker down and up: until kiosk 0 lists all online again.
os.kill(broker, 15)
wait(lambda: json.loads(cli("status", "--json").stdout).get("broker", {}).get("connected") is False, 20)
t0 = time.monotonic()
b = subprocess.Popen([mosq, "-c", f"{d}/mosquitto.conf"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def connected(i):
    r = subprocess.run([bin_, "--socket", f"{d}/k{i}/run/corong.sock", "status", "--json"], capture_output=True, text=True)
    return r.returncode == 0 and json.loads(r.stdout).get("broker", {}).get("connected") is True
back = set()
def all_back():
    back.update(i for i in range(n) if i not in back and connected(i))
    return len(back) == n
wait(all_back, 60)
print(f"broker restarted -> all {n} kiosks connected (online) again: {(time.monotonic() - t0) * 1000:.0f} ms (retries back off up to 5 s)")
b.terminate()
PY

# At rest: the MQTT client's cost. Two more daemons, each one idle zone, one
# with [mqtt] (a broker running) and one without; RSS after 10 s, then the
# CPU time each uses over 30 s.
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait "${pids[@]}" 2>/dev/null || true
pids=()
start_broker
for which in with without; do
    k="$DIR/rest-$which"
    mkdir -p "$k"
    printf '[daemon]\ntimezone = "UTC"\ncontrol_socket = "run/corong.sock"\nstate_dir = "state"\n\n[[zones]]\nname = "z"\nrtp = ["127.0.0.1:%s"]\n' \
        "$([ "$which" = with ] && echo $((BASE + 100)) || echo $((BASE + 102)))" >"$k/config.toml"
    if [ "$which" = with ]; then
        printf '\n[site]\nname = "rest"\n\n[mqtt]\nurl = "mqtt://127.0.0.1:%s"\ntopic_prefix = "bench"\n' "$BPORT" >>"$k/config.toml"
    fi
    "$BIN" daemon --config "$k/config.toml" 2>"$k/daemon.log" &
    pids+=($!)
done
sleep 10
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A t0
for p in "${pids[@]}"; do t0[$p]=$(ticks "$p"); done
sleep 30
hz=$(getconf CLK_TCK)
for n in 0 1; do
    p=${pids[$n]}
    which=$([ "$n" = 0 ] && echo "with [mqtt]" || echo "without [mqtt]")
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$p/status")
    cpu=$(python3 -c "print(f'{($(ticks "$p") - ${t0[$p]}) / $hz / 30 * 100:.2f}')")
    echo "at rest, one idle zone, $which: RSS $((rss / 1024)) MiB, CPU ${cpu}% of one core over 30 s"
done
