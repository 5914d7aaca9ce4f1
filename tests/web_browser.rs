//! The web console in a real browser: Debian's headless chromium driven
//! through chromedriver (W3C WebDriver, spoken here over plain HTTP on
//! 127.0.0.1; nothing downloaded). Log in, see both zones, press the
//! emergency button, confirm; the banner appears through server-sent
//! events and RTP audio arrives on the zones; stop it. Then upload a WAV
//! through the announce form (its tone arrives over RTP) and export the
//! as-run log as CSV. Screenshots of the board and of the confirmation go
//! to `docs/`.
//!
//! Slow (a browser start): its own test binary.

mod common;
#[path = "web_support/http.rs"]
mod http;

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::require_peer;
use common::station::{free_port_pair, Station};
use serde_json::{json, Value};

const PASSWORD: &str = "kelud-siaga-3";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver on a loopback port, killed when dropped.
struct Driver {
    child: Child,
    addr: SocketAddr,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = http::request(
            self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            &[],
            b"",
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Driver {
        let port = free_port_pair();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let end = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < end, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut d = Driver {
            child,
            addr,
            session: String::new(),
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "eager",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1100,800",
                         "--no-first-run", "--disable-extensions",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--disable-default-apps", "--no-proxy-server",
                         "--dns-prefetch-disable", "--disable-features=Translate,MediaRouter,OptimizationHints"]
            }
        }}});
        let v = d.call("POST", "/session", Some(caps));
        d.session = v["sessionId"].as_str().expect("a session").to_string();
        d
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let a = http::request(
            self.addr,
            method,
            path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        let v: Value = serde_json::from_str(&a.body)
            .unwrap_or_else(|_| panic!("webdriver {path}: {} {}", a.status, a.body));
        assert_eq!(a.status, 200, "webdriver {path}: {v}");
        v["value"].clone()
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    fn go(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({"url": url})));
    }

    fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            &self.s("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT].as_str().unwrap().to_string()
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{e}/click")),
            Some(json!({})),
        );
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{e}/value")),
            Some(json!({"text": text})),
        );
    }

    fn script(&self, js: &str) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({"script": js, "args": []})),
        )
    }

    /// Poll `js` until it returns true.
    fn wait_true(&self, js: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        while self.script(js) != Value::Bool(true) {
            assert!(Instant::now() < end, "timed out waiting for {js}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn screenshot(&self, path: &std::path::Path) {
        let v = self.call("GET", &self.s("/screenshot"), None);
        let png = base64_decode(v.as_str().unwrap());
        assert_eq!(&png[1..4], b"PNG");
        std::fs::write(path, png).unwrap();
    }
}

/// Standard base64 (WebDriver's screenshots).
fn base64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// PCMU bytes far from silence (0xFF/0x7F).
fn loudness(payload: &[u8]) -> usize {
    payload.iter().filter(|&&b| (b & 0x7f) < 0x60).count()
}

#[test]
fn an_operator_starts_and_stops_an_emergency_in_a_real_browser() {
    if !require_peer("chromium") || !require_peer("chromedriver") || !require_peer("espeak-ng") {
        return;
    }
    let (p1, p2) = (free_port_pair(), free_port_pair());
    let rtp = UdpSocket::bind(("127.0.0.1", p1)).unwrap();
    rtp.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let _rtp2 = UdpSocket::bind(("127.0.0.1", p2)).unwrap();
    let st = Station::new();
    // A schedule that fires once, two days from now at noon: inside the
    // board's week, never during the test.
    let soon = chrono::Utc::now() + chrono::Duration::days(2);
    let (day, month) = (soon.format("%-d"), soon.format("%-m"));
    st.config(&format!(
        "[[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{p1}\"]\ncodec = \"pcmu\"\n\n\
         [[zones]]\nname = \"pasar-wlingi\"\nrtp = [\"127.0.0.1:{p2}\"]\ncodec = \"pcmu\"\n\n\
         [[schedules]]\nname = \"tahun-baru\"\ncron = \"0 0 3 1 1 *\"\nplaylist = \"tahun-baru\"\n\
         zones = [\"pasar-wlingi\"]\nexcept_dates = [\"2099-01-01\"]\n\n\
         [[schedules]]\nname = \"pengajian\"\ncron = \"0 0 12 {day} {month} *\"\nplaylist = \"tahun-baru\"\n\
         zones = [\"alun-alun\"]\n\n\
         [web]\nlisten = \"127.0.0.1:0\"\n"
    ));
    common::tone_wav(&st.path("media/tahun-baru.wav"), 440.0, 0.5);
    st.playlist("tahun-baru", &["../media/tahun-baru.wav"]);
    http::add_user(&st, "sri", "operator", PASSWORD);
    http::add_user(&st, "ana", "admin", PASSWORD);
    let d = st.start();
    let web = http::web_addr(&d);
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");

    let b = Driver::start();
    b.go(&format!("http://{web}/login"));
    b.type_into("#username", "sri");
    b.type_into("#password", PASSWORD);
    b.click("#login");
    // The board, both zones, filled in by the first server-sent event.
    b.wait_true(
        "return document.querySelectorAll('#zones li.zone').length === 2 && \
         document.querySelector('#zones .state').textContent !== '…'",
        Duration::from_secs(10),
    );
    let names = b.script(
        "return Array.from(document.querySelectorAll('#zones li h3')).map(e => e.textContent)",
    );
    assert_eq!(names, json!(["alun-alun", "pasar-wlingi"]));
    assert_eq!(
        b.script("return document.getElementById('banner').hidden"),
        json!(true)
    );

    b.click("#emergency");
    b.wait_true(
        "return document.getElementById('confirm').open",
        Duration::from_secs(5),
    );
    let named = b.script("return document.getElementById('confirm-zones').textContent");
    assert_eq!(
        named,
        json!("alun-alun, pasar-wlingi"),
        "the confirmation names the zones"
    );
    b.screenshot(&docs.join("web-confirm.png"));

    // Silence before.
    let mut buf = [0u8; 2048];
    for _ in 0..5 {
        if let Ok(n) = rtp.recv(&mut buf) {
            assert_eq!(loudness(&buf[12..n]), 0, "loud before the emergency");
        }
    }
    let clicked = Instant::now();
    b.click("#confirm-yes");
    let first_audio = loop {
        assert!(
            clicked.elapsed() < Duration::from_secs(15),
            "no audio on the zone; daemon log:\n{}",
            d.log_text()
        );
        if let Ok(n) = rtp.recv(&mut buf) {
            if loudness(&buf[12..n]) > 20 {
                break clicked.elapsed();
            }
        }
    };
    // The banner comes by the event stream (the page never polls).
    b.wait_true(
        "return document.getElementById('banner').hidden === false",
        Duration::from_secs(5),
    );
    let banner = b.script("return document.getElementById('banner').textContent");
    assert!(
        banner.as_str().unwrap().contains("alun-alun"),
        "banner names the zones: {banner}"
    );
    b.screenshot(&docs.join("web-board.png"));
    eprintln!("click on confirm to the first non-silent RTP packet: {first_audio:?}");

    b.click("#emergency-stop");
    b.wait_true(
        "return document.getElementById('banner').hidden === true",
        Duration::from_secs(5),
    );
    let (_, log, _) = st.client(&["log", "--json"]);
    assert!(log.contains("emergency:web:sri"), "{log}");

    announce_through_the_page_and_export_the_log(&b, &st, &d, &rtp);
    pause_and_resume_a_schedule_as_an_admin(&b, &st);
    drop(b);
    assert!(d.stop().success());
}

/// Upload a WAV through the announce form and queue it on one zone: it
/// shows in the queue (event stream) and its tone arrives over RTP; then
/// the as-run log's CSV export, fetched by the page's own link, holds the
/// same rows as `corong log --json`, with the account's name.
fn announce_through_the_page_and_export_the_log(
    b: &Driver,
    st: &Station,
    d: &common::station::Daemon,
    rtp: &UdpSocket,
) {
    // "Listen first": the daemon's speech of a text plays in the page
    // (a blob the CSP lets the <audio> element load).
    b.type_into("#announce-text", "Selamat pagi");
    b.click("#announce-listen");
    b.wait_true(
        "const a = document.getElementById('announce-preview'); \
         return !a.hidden && a.src.startsWith('blob:') && a.duration > 0.3",
        Duration::from_secs(10),
    );
    b.script("document.getElementById('announce-text').value = ''");
    let tone = st.path("media/kabar.wav");
    common::tone_wav(&tone, 880.0, 1.0);
    b.type_into("#announce-file", tone.to_str().unwrap());
    // The chosen file plays from the browser's own copy: its whole second.
    b.wait_true(
        "const a = document.getElementById('announce-preview'); \
         return a.src.startsWith('blob:') && Math.abs(a.duration - 1.0) < 0.05",
        Duration::from_secs(5),
    );
    b.click("#announce input[name=zones][value=\"alun-alun\"]");
    b.click("#announce-chime"); // untick: the tone alone
    let mut buf = [0u8; 2048];
    rtp.set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    while rtp.recv(&mut buf).is_ok() {} // what was sent before
    rtp.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    b.click("#announce-go");
    b.wait_true(
        "return document.getElementById('announce-result').className === 'ok'",
        Duration::from_secs(10),
    );
    // Live in the queue section (the page never polls).
    b.wait_true(
        "return Array.from(document.querySelectorAll('#queue tr'))\
         .some(r => r.textContent.includes('operator:web:sri'))",
        Duration::from_secs(5),
    );
    // Its 880 Hz tone on the zone: 0.5 s of 20 ms windows near 880 Hz.
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut near = 0;
    while near < 25 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the uploaded tone did not arrive ({near} windows); daemon log:\n{}",
            d.log_text()
        );
        if let Ok(n) = rtp.recv(&mut buf) {
            let mut pcm = vec![0f32; n - 12];
            corong::rtp::pcmu::decode_into(&buf[12..n], &mut pcm);
            samples.extend_from_slice(&pcm);
            near = common::count_near(&common::frequency_track(&samples, 8000, 160), 880.0, 0.06);
        }
    }
    // Played out: gone from the queue, then in the log.
    b.wait_true(
        "return !Array.from(document.querySelectorAll('#queue tr'))\
         .some(r => r.textContent.includes('operator:web:sri'))",
        Duration::from_secs(10),
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    b.script(&format!(
        "document.getElementById('log-date').value = '{today}'; \
         document.getElementById('log-origin').value = 'web:sri';"
    ));
    b.click("#log-show");
    b.wait_true(
        "return Array.from(document.querySelectorAll('#log tr'))\
         .some(r => r.textContent.includes('operator:web:sri') && r.textContent.includes('completed'))",
        Duration::from_secs(5),
    );
    // The whole console, announce to log, for docs/web.md.
    b.call(
        "POST",
        &b.s("/window/rect"),
        Some(json!({"width": 1100, "height": 2000})),
    );
    b.screenshot(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/web-console.png"));
    let csv = b.call(
        "POST",
        &b.s("/execute/async"),
        Some(
            json!({"script": "const done = arguments[arguments.length - 1]; \
            fetch(document.getElementById('log-csv').href).then(r => r.text()).then(done);",
            "args": []}),
        ),
    );
    let csv = csv.as_str().unwrap();
    let mut lines = csv.split("\r\n").filter(|l| !l.is_empty());
    assert_eq!(
        lines.next(),
        Some("zone,job,origin,file,started_at,ended_at,how,reason")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // The same rows as the CLI's, filtered the same way.
    let (_, log, _) = st.client(&["log", "--json"]);
    let log: Value = serde_json::from_str(&log).unwrap();
    let expected: Vec<&Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["origin"].as_str().unwrap().contains("web:sri"))
        .collect();
    assert_eq!(rows.len(), expected.len(), "{csv}\n{log}");
    for (row, e) in rows.iter().zip(&expected) {
        assert_eq!(row[0], e["zone"]);
        assert_eq!(row[1], e["job"].to_string());
        assert_eq!(row[2], e["origin"]);
        assert_eq!(row[3], e["file"]);
        assert_eq!(row[4], e["started_at"]);
        assert_eq!(row[6], e["how"]);
    }
    let played = rows
        .iter()
        .find(|r| r[2] == "operator:web:sri")
        .unwrap_or_else(|| panic!("{csv}"));
    assert_eq!((played[0], played[6]), ("alun-alun", "completed"), "{csv}");
    let kept = std::path::Path::new(played[3]);
    assert_eq!(kept.parent().unwrap(), st.path("state/uploads"), "{csv}");
    assert_eq!(std::fs::read(kept).unwrap(), std::fs::read(&tone).unwrap());
    assert!(rows.iter().any(|r| r[2] == "emergency:web:sri"), "{csv}");
}

/// An operator's schedules table has no buttons; an admin's has Jeda
/// (pause): pressed, the row says who paused it and offers Lanjutkan
/// (resume), and the daemon agrees. The holiday shows in its column.
fn pause_and_resume_a_schedule_as_an_admin(b: &Driver, st: &Station) {
    b.wait_true(
        "return document.querySelectorAll('#schedules tr').length === 2",
        Duration::from_secs(5),
    );
    // The week's view: seven days, the noon fire on its day, nothing on
    // the others.
    assert_eq!(
        b.script("return document.querySelectorAll('#week-days th').length"),
        json!(7)
    );
    let cells =
        b.script("return [...document.querySelectorAll('#week td')].map((td) => td.textContent)");
    let cells: Vec<&str> = cells
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        cells
            .iter()
            .filter(|c| c.contains("12:00 pengajian"))
            .count(),
        1,
        "{cells:?}"
    );
    assert!(
        cells.iter().filter(|c| **c == "tidak ada").count() >= 5,
        "{cells:?}"
    );
    assert_eq!(
        b.script("return document.querySelectorAll('#schedules button').length"),
        json!(0),
        "an operator cannot pause"
    );
    b.click("header form button");
    b.wait_true(
        "return !!document.getElementById('username')",
        Duration::from_secs(5),
    );
    b.type_into("#username", "ana");
    b.type_into("#password", PASSWORD);
    b.click("#login");
    b.wait_true(
        "return !!document.querySelector('#schedules button.pause')",
        Duration::from_secs(10),
    );
    let row = b.script("return document.querySelector('#schedules tr').textContent");
    assert!(row.as_str().unwrap().contains("2099-01-01"), "{row}");
    b.click("#schedules button.pause");
    b.wait_true(
        "return document.querySelector('#schedules tr').textContent.includes('dijeda oleh web:ana sejak') \
         && !!document.querySelector('#schedules button.resume')",
        Duration::from_secs(5),
    );
    let (_, out, _) = st.client(&["schedule", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schedules"][0]["paused"]["by"], "web:ana", "{v}");
    b.call(
        "POST",
        &b.s("/window/rect"),
        Some(json!({"width": 1400, "height": 700})),
    );
    b.script(
        "document.querySelector('#schedules').closest('.scroll').scrollLeft = 0; \
         document.getElementById('schedules-title').scrollIntoView()",
    );
    b.screenshot(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/web-schedules.png"));
    b.click("#schedules button.resume");
    b.wait_true(
        "return document.querySelector('#schedules tr').textContent.includes('aktif')",
        Duration::from_secs(5),
    );
    let (_, out, _) = st.client(&["schedule", "--json"]);
    assert!(!out.contains("paused"), "{out}");
}
