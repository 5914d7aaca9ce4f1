"""The web console's figures (issue 15), driven by bench/web.sh.

Through headless chromium (chromedriver, W3C WebDriver over HTTP on
127.0.0.1): RUNS times, press "confirm emergency" and time from the click
command to the first non-silent RTP packet on a zone (both ends on
this process's monotonic clock; the click includes WebDriver's own
round trip, so the figure is an upper bound); then the
board's page weight (HTML + CSS + JS, as served) and the daemon's RSS with
the console open on ZONES zones.

    python3 bench/web.py CORONG DIR WEB_PORT RUNS PORT...
"""
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

corong, tmp, web_port, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ports = [int(p) for p in sys.argv[5:]]
base = f"http://127.0.0.1:{web_port}"
password = "kelud-siaga-3"


def call(driver, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(driver + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["value"]


def loud(payload):
    return sum(1 for b in payload if (b & 0x7F) < 0x60) > 20


# The zones' poles: one socket each (so none answers "unreachable").
socks = []
for p in ports:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", p))
    s.setblocking(False)
    socks.append(s)
watch = socks[0]


def drain():
    for s in socks:
        try:
            while True:
                s.recv(2048)
        except BlockingIOError:
            pass


dport = 0
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    dport = s.getsockname()[1]
driver_proc = subprocess.Popen(["chromedriver", f"--port={dport}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
driver = f"http://127.0.0.1:{dport}"
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

    def js(script):
        return call(driver, "POST", S + "/execute/sync", {"script": script, "args": []})

    def wait(script, timeout=10):
        end = time.monotonic() + timeout
        while js(script) is not True:
            if time.monotonic() > end:
                raise SystemExit(f"timed out: {script}")
            time.sleep(0.01)

    call(driver, "POST", S + "/url", {"url": base + "/login"})
    call(driver, "POST", S + f"/element/{find('#username')}/value", {"text": "sri"})
    call(driver, "POST", S + f"/element/{find('#password')}/value", {"text": password})
    click("#login")
    wait("return document.querySelectorAll('#zones li.zone').length > 0 && "
         "document.querySelector('#zones .state').textContent !== '…'")

    lat = []
    for i in range(runs):
        click("#emergency")
        wait("return document.getElementById('confirm').open")
        drain()
        t0 = time.monotonic()
        click("#confirm-yes")
        while True:
            try:
                data = watch.recv(2048)
            except BlockingIOError:
                if time.monotonic() - t0 > 15:
                    raise SystemExit("no audio within 15 s")
                time.sleep(0.0002)
                continue
            if loud(data[12:]):
                lat.append((time.monotonic() - t0) * 1000)
                break
        wait("return document.getElementById('banner').hidden === false")
        click("#emergency-stop")
        wait("return document.getElementById('banner').hidden === true")
        time.sleep(0.2)
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(round(q * (len(lat) - 1))))]
    print(f"click on confirm emergency -> first non-silent RTP packet, {len(lat)} runs: "
          f"p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, min {lat[0]:.1f}, max {lat[-1]:.1f} ms")

    # Page weight: what the board's page loads, as served (no compression).
    names = js("return performance.getEntriesByType('resource').map(e => e.name)")
    total = 0
    parts = []
    for n in names:
        if "/assets/" in n:
            with urllib.request.urlopen(n, timeout=10) as r:
                size = len(r.read())
            parts.append(f"{n.rsplit('/', 1)[1]} {size} B")
            total += size
    # The page's HTML as served, fetched by the page with its session.
    fetched = js("const x = new XMLHttpRequest(); x.open('GET', '/', false); x.send(); "
                 "return new TextEncoder().encode(x.responseText).length")
    total += fetched
    print(f"board page weight: {total} B ({total / 1024:.1f} KiB): HTML {fetched} B, " + ", ".join(parts))

    pid = int(open(f"{tmp}/daemon.pid").read())
    rss = [l for l in open(f"/proc/{pid}/status") if l.startswith(("VmRSS", "VmHWM"))]
    print(f"daemon with the console open, {len(ports)} zones: " + ", ".join(l.split(':')[0] + ' ' + ' '.join(l.split()[1:]) for l in rss))
finally:
    try:
        call(driver, "DELETE", S)
    except Exception:
        pass
    driver_proc.kill()
