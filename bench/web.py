"""The web console's figures (issue 15), driven by bench/web.sh.

Through headless chromium (chromedriver, W3C WebDriver over HTTP on
127.0.0.1), all times on this machine's CLOCK_REALTIME:

1. Click on "confirm emergency" to the first non-silent RTP packet on a
   zone, RUNS times after one warm-up run (the warm-up renders the
   message's speech; later runs find it in the cache). The click's time is
   taken in the browser: a capturing listener, installed by this script
   through WebDriver (not part of the shipped page), records
   `performance.timeOrigin + performance.now()` as the page receives the
   click, before the page's own handler runs. The packet's time is its
   kernel receive stamp (SO_TIMESTAMPNS; on loopback, the daemon's send
   call). The older figure, from just before WebDriver's click command
   (which adds chromedriver's round trip), is printed beside it. Each run
   is broken down with the times the page calls fetch and gets its answer
   (a wrapper around fetch, installed likewise) and the daemon's log lines
   "speech rendered" and "EMERGENCY started". Between the runs, the same
   emergency over the control socket, timed from writing the request: the
   peer in the same run.
2. The first speech synthesis: `say_preview` of a text never rendered,
   then of the same text again (cached), over the control socket.
3. A change on a zone to the board's update: RUNS times an `announce` on
   one zone, then a `stop` of it, sent over the control socket; from
   writing the request to the moment the zone's "playing" cell on the
   board shows the change (a MutationObserver installed by this script
   through WebDriver; the board learns of it by server-sent events).
4. The board's page weight (HTML + CSS + JS, as served) and the daemon's
   RSS with the console open on ZONES zones.

    python3 bench/web.py CORONG DIR WEB_PORT RUNS WAV PORT...
"""
import datetime
import json
import random
import socket
import subprocess
import sys
import time
import urllib.request

from wire import Zone, pct

corong, tmp, web_port, runs, wav = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
ports = [int(p) for p in sys.argv[6:]]
base = f"http://127.0.0.1:{web_port}"
password = "kelud-siaga-3"
control = f"{tmp}/run/corong.sock"
daemon_log = f"{tmp}/daemon.log"


def call(driver, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(driver + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["value"]


def loud(payload):
    """A PCMU payload with sound in it (G.711 silence is 0xFF/0x7F)."""
    return sum(1 for b in payload if (b & 0x7F) < 0x60) > 20


def ask(request):
    """Send one request on the control socket: (wall clock just before the
    write, the final reply)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(control)
        s.settimeout(15)
        line = (json.dumps({"v": 1, **request}) + "\n").encode()
        t0 = time.time()
        s.sendall(line)
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit(f"control socket closed: {request}")
            buf += chunk
            while b"\n" in buf:
                one, buf = buf.split(b"\n", 1)
                reply = json.loads(one)
                if "ok" in reply:
                    if not reply["ok"]:
                        raise SystemExit(f"{request['cmd']}: {reply['error']}")
                    return t0, reply


def log_times(message):
    """Wall-clock times (s) of the daemon's log lines containing `message`."""
    out = []
    for line in open(daemon_log, errors="replace"):
        if message in line:
            stamp = line.split(" ", 1)[0]
            try:
                out.append(datetime.datetime.fromisoformat(stamp).timestamp())
            except ValueError:
                pass
    return out


def figures(name, values):
    return (f"{name}, {len(values)} runs: p50 {pct(values, 50):.1f} ms, p99 {pct(values, 99):.1f} ms, "
            f"min {min(values):.1f}, max {max(values):.1f} ms")


# The zones' poles: one socket each (so none answers "unreachable"); the
# first zone's packets carry kernel receive stamps.
zones = [Zone(p) for p in ports]
for z in zones:
    z.s.setblocking(False)
watch = zones[0]


def drain():
    for z in zones:
        try:
            while True:
                z.s.recv(2048)
        except BlockingIOError:
            pass


def first_loud_packet(within):
    """Kernel stamp (s) of the next non-silent packet on the watched zone."""
    end = time.time() + within
    while True:
        try:
            data, at = watch.recv_stamped()
        except BlockingIOError:
            if time.time() > end:
                raise SystemExit(f"no audio within {within} s")
            time.sleep(0.0002)
            continue
        if loud(data[12:]):
            return at


dport = 0
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    dport = s.getsockname()[1]
driver_proc = subprocess.Popen(["chromedriver", f"--port={dport}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
driver = f"http://127.0.0.1:{dport}"
S = None
try:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", dport), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
        "binary": "/usr/bin/chromium",
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-extensions", "--no-proxy-server"]}}}}
    sid = call(driver, "POST", "/session", caps)["sessionId"]
    S = f"/session/{sid}"
    el = "element-6066-11e4-a52e-4f735466cecf"

    def find(css):
        return call(driver, "POST", S + "/element", {"using": "css selector", "value": css})[el]

    def click(css):
        call(driver, "POST", S + f"/element/{find(css)}/click", {})

    def js(script, *args):
        return call(driver, "POST", S + "/execute/sync", {"script": script, "args": list(args)})

    def wait(script, timeout=10):
        end = time.monotonic() + timeout
        while True:
            v = js(script)
            if v is not None and v is not False:
                return v
            if time.monotonic() > end:
                raise SystemExit(f"timed out: {script}")
            time.sleep(0.005)

    call(driver, "POST", S + "/url", {"url": base + "/login"})
    call(driver, "POST", S + f"/element/{find('#username')}/value", {"text": "sri"})
    call(driver, "POST", S + f"/element/{find('#password')}/value", {"text": password})
    click("#login")
    wait("return document.querySelectorAll('#zones li.zone').length > 0 && "
         "document.querySelector('#zones .state').textContent !== '…'")

    # The browser's wall clock against this process's: the offset of the
    # tightest of 30 round trips (it bounds any disagreement between
    # performance.timeOrigin and CLOCK_REALTIME).
    best = None
    for _ in range(30):
        a = time.time()
        b = js("return performance.timeOrigin + performance.now()") / 1000
        c = time.time()
        if best is None or c - a < best[1]:
            best = (b - (a + c) / 2, c - a)
    print(f"browser clock - CLOCK_REALTIME: {best[0] * 1000:+.2f} ms "
          f"(within ±{best[1] * 500:.2f} ms, the tightest WebDriver round trip)")

    # Page weight: what the board's page loads, as served (no
    # compression).
    names = js("return performance.getEntriesByType('resource').map(e => e.name)")
    weight = 0
    parts = []
    for n in names:
        if "/assets/" in n:
            with urllib.request.urlopen(n, timeout=10) as r:
                size = len(r.read())
            parts.append(f"{n.rsplit('/', 1)[1]} {size} B")
            weight += size
    # The page's HTML as served, fetched by the page with its session.
    fetched = js("const x = new XMLHttpRequest(); x.open('GET', '/', false); x.send(); "
                 "return new TextEncoder().encode(x.responseText).length")
    weight += fetched
    weight_line = (f"board page weight: {weight} B ({weight / 1024:.1f} KiB): HTML {fetched} B, "
                   + ", ".join(parts))

    # 1. Confirm emergency to sound. The bench's own listener, capturing on
    # the window: it runs before the button's handler (which posts).
    js("window.__clicks = []; window.addEventListener('click', (e) => {"
       " if (e.target && e.target.id === 'confirm-yes')"
       "  window.__clicks.push(performance.timeOrigin + performance.now()); }, true);")
    # And a wrapper around fetch noting when the page calls it and when the
    # answer's headers arrive (a fetch whose body nobody reads never gets
    # a resource timing entry).
    js("window.__fetches = []; const f = window.fetch; window.fetch = function (url, opts) {"
       " const rec = {url: String(url), called: performance.timeOrigin + performance.now()};"
       " window.__fetches.push(rec);"
       " return f.call(this, url, opts).then((r) => {"
       "  rec.answered = performance.timeOrigin + performance.now(); return r; }); };")
    from_click, from_command, by_socket, rows = [], [], [], []
    message = js("return document.getElementById('emergency-text').value")
    for i in range(runs + 1):
        click("#emergency")
        wait("return document.getElementById('confirm').open")
        js("window.__fetches = []")
        # Commands arrive at any phase of the engine's packet clock.
        time.sleep(random.uniform(0, 0.05))
        drain()
        t_command = time.time()
        click("#confirm-yes")
        at = first_loud_packet(15)
        clicked = wait("return window.__clicks.length > 0 && window.__clicks.pop()") / 1000
        # The POST's call and its answer's headers, in the browser's clock.
        timing = wait("const f = window.__fetches.filter(f => f.url === '/api/emergency').pop();"
                      " return f && f.answered && [f.called, f.answered]")
        wait("return document.getElementById('banner').hidden === false")
        click("#emergency-stop")
        wait("return document.getElementById('banner').hidden === true")
        rendered = [t for t in log_times("speech rendered") if t >= clicked]
        started = [t for t in log_times("EMERGENCY started") if t >= clicked]
        cached = "cached=true" in [l for l in open(daemon_log) if "speech rendered" in l][-1]
        row = {
            "from_click": (at - clicked) * 1000,
            "from_command": (at - t_command) * 1000,
            "command_to_click": (clicked - t_command) * 1000,
            "click_to_fetch": timing[0] - clicked * 1000,
            "fetch_to_speech": rendered[0] * 1000 - timing[0] if rendered else float("nan"),
            "speech_to_started": (started[0] - rendered[0]) * 1000 if rendered and started else float("nan"),
            "started_to_wire": (at - started[0]) * 1000 if started else float("nan"),
            "fetch_to_reply": timing[1] - timing[0],
            "cached": cached,
        }
        if i == 0:
            warm = row
        else:
            rows.append(row)
            from_click.append(row["from_click"])
            from_command.append(row["from_command"])
        time.sleep(0.2)
        if i == 0:
            continue
        # The peer in the same run: the same emergency over the control
        # socket (as `corong emergency --text`), from writing the request.
        drain()
        time.sleep(random.uniform(0, 0.05))
        t0, _ = ask({"cmd": "emergency", "text": message, "zones": ["all"]})
        by_socket.append((first_loud_packet(15) - t0) * 1000)
        ask({"cmd": "emergency", "zones": ["all"], "stop": True})
        wait("return document.getElementById('banner').hidden === true")
        time.sleep(0.2)
    print(f"warm-up run (speech cached: {warm['cached']}): click -> first non-silent packet "
          f"{warm['from_click']:.1f} ms, of which fetch called -> speech rendered {warm['fetch_to_speech']:.1f} ms")
    print(figures("click on confirm emergency (browser's click event) -> first non-silent RTP packet", from_click))
    print(figures("WebDriver click command -> first non-silent RTP packet (as before)", from_command))
    print(figures("the same emergency over the control socket -> first non-silent RTP packet", by_socket))
    print(f"speech found in the cache in {sum(r['cached'] for r in rows)} of {len(rows)} runs")
    print("where the time goes (p50 / p99 / max over the runs, ms):")
    for key, what in [
        ("command_to_click", "WebDriver command -> browser's click event"),
        ("click_to_fetch", "click event -> fetch called (page's JS)"),
        ("fetch_to_speech", "fetch called -> daemon: speech ready (HTTP, axum, session, loop, cache)"),
        ("speech_to_started", "speech ready -> daemon: EMERGENCY started (loop)"),
        ("started_to_wire", "EMERGENCY started -> first non-silent packet (engine, wire)"),
        ("fetch_to_reply", "fetch called -> the reply's headers in the browser"),
    ]:
        v = [r[key] for r in rows]
        print(f"  {what:66s} {pct(v, 50):7.1f} {pct(v, 99):7.1f} {max(v):7.1f}")

    # 2. The first synthesis of a text, and the same text again.
    text = f"Uji sintesis suara nomor {random.randrange(10 ** 9)}. Harap tenang dan ikuti petunjuk petugas."
    t0, _ = ask({"cmd": "say_preview", "text": text})
    first = (time.time() - t0) * 1000
    t0, _ = ask({"cmd": "say_preview", "text": text})
    again = (time.time() - t0) * 1000
    print(f"say_preview over the control socket: first synthesis {first:.1f} ms, the same text cached {again:.1f} ms")

    # 3. A zone's change to the board. The bench's own observer on the
    # zone's "playing" cell: a record whenever its text differs.
    zone = "zona-2" if len(ports) > 1 else "zona-1"
    idle = js("return document.getElementById('zones').dataset.idle")
    js("const cell = document.querySelector('li[data-zone=\"' + arguments[0] + '\"] .playing');"
       " window.__seen = [];  let last = cell.textContent;"
       " new MutationObserver(() => { const t = cell.textContent; if (t !== last) { last = t;"
       "  window.__seen.push([performance.timeOrigin + performance.now(), t]); } })"
       ".observe(cell, {childList: true, characterData: true, subtree: true});", zone)

    def board_change(request, shows_idle):
        js("window.__seen = []")
        time.sleep(random.uniform(0, 0.05))
        t0, _ = ask(request)
        replied = (time.time() - t0) * 1000
        want = "===" if shows_idle else "!=="
        seen = wait(f"const s = window.__seen.filter(x => x[1] {want} {json.dumps(idle)});"
                    " return s.length > 0 && s[0][0]")
        return seen - t0 * 1000, replied

    wait(f"return document.querySelector('li[data-zone=\"{zone}\"] .playing').textContent === {json.dumps(idle)}")
    starts, stops, start_replies, stop_replies = [], [], [], []
    for _ in range(runs):
        shown, replied = board_change({"cmd": "announce", "files": [wav], "zones": [zone], "chime": False}, False)
        starts.append(shown)
        start_replies.append(replied)
        time.sleep(random.uniform(0.2, 0.4))
        shown, replied = board_change({"cmd": "stop", "zones": [zone]}, True)
        stops.append(shown)
        stop_replies.append(replied)
        time.sleep(random.uniform(0.2, 0.4))
    print(figures(f"announce on {zone} (control socket) -> board shows it (SSE, DOM)", starts))
    print(figures(f"  (announce -> its reply on the socket)", start_replies))
    print(figures(f"stop on {zone} (control socket) -> board shows it idle (SSE, DOM)", stops))
    print(figures(f"  (stop -> its reply on the socket, sent once the zone is released)", stop_replies))
    print(figures("either change -> board (SSE, DOM)", starts + stops))

    print(weight_line)
    pid = int(open(f"{tmp}/daemon.pid").read())
    rss = [l for l in open(f"/proc/{pid}/status") if l.startswith(("VmRSS", "VmHWM"))]
    print(f"daemon with the console open, {len(ports)} zones: " + ", ".join(l.split(':')[0] + ' ' + ' '.join(l.split()[1:]) for l in rss))
finally:
    if S:
        try:
            call(driver, "DELETE", S)
        except Exception:
            pass
    driver_proc.kill()
