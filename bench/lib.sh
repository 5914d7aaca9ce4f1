# Shared set-up of the bench scripts; each sources it first:
#   . "$(dirname "$0")/lib.sh"
# It stops at the first error, moves to the repository's root, makes a
# temporary folder $DIR, and at exit kills every process id in PIDS and
# removes $DIR. Then:
#   build_corong [CARGO_ARGS...]   release build; CORONG is the daemon binary
#   free_port                      an even UDP port free on 127.0.0.1 now
#   machine_line [TEXT]            "machine: ..." and "date: ..." lines
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
    cargo build --release --quiet "$@"
    CORONG=$PWD/target/release/corong
}

free_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1] // 2 * 2)'
}

machine_line() {
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')${1:+; $1}"
}
