"""Helpers of bench/web_events.sh (issue 15: event-stream clients and send
jitter). Talks only to 127.0.0.1 and the daemon's control socket.

    python3 bench/web_events.py clients WEB_PORT N
        Log in as `sri` and open N event streams (`GET /api/events`, the
        session cookie, as the board's EventSource does), each on its own
        connection and thread, reading everything sent. Prints "ready" once
        every stream has had its first event; on SIGTERM prints one JSON
        line: streams, events and bytes read (least and most per stream),
        streams that ended early.
    python3 bench/web_events.py churn SOCKET WAV ZONE PORT
        Until SIGTERM, every half second: `announce` WAV on ZONE, and half a
        second later `stop` it, over the control socket: a change on the
        board (status and queue events) each time. Drains ZONE's RTP and
        RTCP on 127.0.0.1:PORT and PORT+1. Prints on SIGTERM how many
        changes it made.
"""
import json
import signal
import socket
import sys
import threading
import time
import urllib.parse

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())


def login(port):
    body = urllib.parse.urlencode({"username": "sri", "password": "kelud-siaga-3"}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: http://127.0.0.1:%d\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n"
                  b"Connection: close\r\n\r\n%s" % (port, port, len(body), body))
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    for line in reply.split(b"\r\n"):
        if line.lower().startswith(b"set-cookie:"):
            return line.split(b":", 1)[1].split(b";", 1)[0].strip().decode()
    status = reply.split(b"\r\n", 1)[0].decode()
    raise SystemExit(f"login refused: {status}")


class Stream(threading.Thread):
    def __init__(self, port, cookie):
        super().__init__(daemon=True)
        self.port, self.cookie = port, cookie
        self.events = 0
        self.bytes = 0
        self.ended = False
        self.first = threading.Event()

    def run(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=1)
        s.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/event-stream\r\n"
                  b"Cookie: %s\r\n\r\n" % (self.port, self.cookie.encode()))
        tail = b""
        while not stop.is_set():
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                self.ended = True
                break
            self.bytes += len(chunk)
            data = tail + chunk
            self.events += data.count(b"\nevent:") + data.startswith(b"event:")
            # An "event:" split across two reads is counted once: keep the
            # last few bytes for the next look.
            tail = data[-6:]
            if self.events:
                self.first.set()
        s.close()


def clients(port, n):
    cookie = login(port)
    streams = [Stream(port, cookie) for _ in range(n)]
    for st in streams:
        st.start()
    for st in streams:
        if not st.first.wait(30):
            raise SystemExit("an event stream had no event within 30 s")
    print("ready", flush=True)
    base_events = [st.events for st in streams]
    stop.wait()
    got = [st.events - b for st, b in zip(streams, base_events)]
    print(json.dumps({
        "streams": n,
        "events_min": min(got),
        "events_max": max(got),
        "bytes_min": min(st.bytes for st in streams),
        "bytes_max": max(st.bytes for st in streams),
        "ended_early": sum(st.ended for st in streams),
    }), flush=True)


def ask(path, request):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall((json.dumps({"v": 1, **request}) + "\n").encode())
        buf = b""
        while b'"ok"' not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk


def drain(port):
    socks = []
    for p in (port, port + 1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", p))
        s.settimeout(0.5)
        socks.append(s)

    def read(s):
        while not stop.is_set():
            try:
                s.recv(4096)
            except socket.timeout:
                pass

    for s in socks:
        threading.Thread(target=read, args=(s,), daemon=True).start()


def churn(path, wav, zone, port):
    drain(port)
    changes = 0
    while not stop.is_set():
        ask(path, {"cmd": "announce", "files": [wav], "zones": [zone], "chime": False})
        stop.wait(0.5)
        ask(path, {"cmd": "stop", "zones": [zone]})
        changes += 2
        stop.wait(0.5)
    print(json.dumps({"changes": changes}), flush=True)


if sys.argv[1] == "clients":
    clients(int(sys.argv[2]), int(sys.argv[3]))
elif sys.argv[1] == "churn":
    churn(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
else:
    raise SystemExit(__doc__)
