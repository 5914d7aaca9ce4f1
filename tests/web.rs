//! The web console over HTTP against a real daemon: who may do what, the
//! Origin check, the login rate limit, bounds on bodies, `promtool` on
//! `/metrics`, and an emergency from the API that puts audio on the zone
//! and on the event stream. Only 127.0.0.1.

mod common;
#[path = "web_support/http.rs"]
mod http;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::station::{free_port_pair, Station};
use http::*;

const PASSWORD: &str = "kelud-siaga-3";

/// A station with one PCMU zone on `port` and the web console on a port
/// the kernel picks.
fn station(port: u16) -> Station {
    let st = Station::new();
    st.config(&format!(
        "[[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{port}\"]\ncodec = \"pcmu\"\n\n\
         [web]\nlisten = \"127.0.0.1:0\"\n"
    ));
    st
}

fn queue_is_empty(st: &Station) -> bool {
    let (code, out, err) = st.client(&["queue", "--json"]);
    assert_eq!(code, 0, "{out} {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["jobs"].as_array().unwrap().is_empty()
}

#[test]
fn roles_origin_rate_limit_and_bounds_are_enforced_on_the_server() {
    let port = free_port_pair();
    let _rtp = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let st = station(port);
    add_user(&st, "wati", "viewer", PASSWORD);
    add_user(&st, "sri", "operator", PASSWORD);
    let d = st.start();
    let addr = web_addr(&d);

    // No session: the API refuses, the board sends to the login page.
    let a = request(addr, "GET", "/api/status", &[], b"");
    assert_eq!(a.status, 401, "{a:?}");
    let a = request(addr, "GET", "/", &[], b"");
    assert_eq!(
        (a.status, a.header("location")),
        (303, Some("/login")),
        "{a:?}"
    );
    let a = post_json(addr, "/api/emergency", "", r#"{"text":"x"}"#);
    assert_eq!(a.status, 401, "{a:?}");
    // Security headers on every page.
    let a = request(addr, "GET", "/login", &[], b"");
    assert_eq!(a.status, 200);
    let csp = a.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(a.header("x-frame-options"), Some("DENY"));
    assert!(!a.body.contains("<script>"), "no inline script: {}", a.body);

    // A viewer sees the status (the same JSON as `corong status --json`)...
    let login = login(addr, "wati", PASSWORD);
    assert_eq!(login.status, 303, "{login:?}");
    let set = login
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let viewer = login.cookie().unwrap();
    let a = get(addr, "/api/status", &viewer);
    assert_eq!(a.status, 200, "{a:?}");
    let v = a.json();
    assert_eq!(v["type"], "status");
    assert_eq!(v["zones"][0]["name"], "alun-alun");
    let (_, cli, _) = st.client(&["status", "--json"]);
    let cli: serde_json::Value = serde_json::from_str(&cli).unwrap();
    assert_eq!(
        cli.as_object().unwrap().keys().collect::<Vec<_>>(),
        v.as_object().unwrap().keys().collect::<Vec<_>>(),
        "same shape as the CLI's"
    );
    // ...but cannot start an emergency: 403, nothing queued.
    let a = post_json(addr, "/api/emergency", &viewer, r#"{"text":"banjir"}"#);
    assert_eq!(a.status, 403, "{a:?}");
    assert_eq!(a.json()["code"], "denied");
    assert!(queue_is_empty(&st));

    // An operator with a forged Origin, a foreign Referer, or neither: 403.
    let sri = http::login(addr, "sri", PASSWORD).cookie().unwrap();
    for headers in [
        vec![("Origin", "http://evil.example"), ("Cookie", sri.as_str())],
        vec![
            ("Referer", "http://evil.example/page"),
            ("Cookie", sri.as_str()),
        ],
        vec![("Cookie", sri.as_str())],
    ] {
        let mut h = headers.clone();
        h.push(("Content-Type", "application/json"));
        let a = request(addr, "POST", "/api/emergency", &h, br#"{"text":"banjir"}"#);
        assert_eq!(a.status, 403, "{headers:?}: {a:?}");
        assert_eq!(a.json()["code"], "forbidden_origin");
    }
    let forged_login = request(
        addr,
        "POST",
        "/login",
        &[
            ("Origin", "http://evil.example"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        format!("username=sri&password={PASSWORD}").as_bytes(),
    );
    assert_eq!(forged_login.status, 403);
    assert!(queue_is_empty(&st));

    // JSON sent as a "simple" cross-site form would (text/plain): 415.
    let a = request(
        addr,
        "POST",
        "/api/emergency",
        &[
            ("Origin", &origin(addr)),
            ("Cookie", &sri),
            ("Content-Type", "text/plain"),
        ],
        br#"{"text":"banjir"}"#,
    );
    assert_eq!(a.status, 415, "{a:?}");
    assert!(queue_is_empty(&st));
    // Bad JSON: a clear 400; an oversized body: 413; nothing queued.
    let a = post_json(addr, "/api/emergency", &sri, r#"{"text": "#);
    assert_eq!(a.status, 400, "{a:?}");
    assert!(
        a.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("bad JSON body"),
        "{a:?}"
    );
    let a = post_json(addr, "/api/emergency", &sri, r#"{"txt":"banjir"}"#);
    assert_eq!(a.status, 400, "{a:?}");
    assert!(a.body.contains("txt"), "names the field: {a:?}");
    let big = format!(r#"{{"text":"{}"}}"#, "a".repeat(64 * 1024));
    let a = post_json(addr, "/api/emergency", &sri, &big);
    assert_eq!(a.status, 413, "{a:?}");
    assert!(queue_is_empty(&st));

    // Wrong passwords: refused, then rate-limited, even the right one.
    for _ in 0..5 {
        let a = http::login(addr, "sri", "salah-sandi");
        assert_eq!(a.status, 401, "{a:?}");
        assert!(a.cookie().is_none());
    }
    let a = http::login(addr, "sri", "salah-sandi");
    assert_eq!(a.status, 429, "{a:?}");
    let a = http::login(addr, "sri", PASSWORD);
    assert_eq!(a.status, 429, "the right password waits too: {a:?}");
    assert!(a.cookie().is_none());
    // The session from before still works (the limit is on logins).
    assert_eq!(get(addr, "/api/status", &sri).status, 200);

    // Logout ends the session.
    let o = origin(addr);
    let a = request(
        addr,
        "POST",
        "/logout",
        &[("Origin", &o), ("Cookie", &viewer)],
        b"",
    );
    assert_eq!(a.status, 303);
    assert_eq!(get(addr, "/api/status", &viewer).status, 401);
    assert!(d.stop().success());
}

#[test]
fn a_non_loopback_listen_without_tls_is_refused_at_start() {
    let st = Station::new();
    st.config(
        "[[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:5004\"]\n\n[web]\nlisten = \"0.0.0.0:8080\"\n",
    );
    let out = common::station::corong()
        .arg("daemon")
        .arg("--config")
        .arg(st.path("config.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("`listen`"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.contains("0.0.0.0:8080") && line.contains("`tls_cert`") && line.contains("`tls_key`"),
        "{line}"
    );
    assert!(line.contains("config.toml"), "names the file: {line}");
    // Nothing was started: no state, no socket.
    assert!(!st.path("state").exists());
    // A cert without a key is refused too.
    st.config(
        "[[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:5004\"]\n\n[web]\nlisten = \"127.0.0.1:8080\"\ntls_cert = \"c.pem\"\n",
    );
    let (code, out, err) = st.client(&["check"]);
    assert_ne!(code, 0);
    assert!(
        format!("{out}{err}").contains("`tls_cert` without `tls_key`"),
        "{out}{err}"
    );
}

#[test]
fn metrics_pass_promtool_and_an_emergency_from_the_api_is_on_air_and_on_the_event_stream() {
    let port = free_port_pair();
    let rtp = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    rtp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let st = station(port);
    common::tone_wav(&st.path("media/evakuasi.wav"), 600.0, 3.0);
    add_user(&st, "sri", "operator", PASSWORD);
    let d = st.start();
    let addr = web_addr(&d);
    let sri = http::login(addr, "sri", PASSWORD).cookie().unwrap();

    // /metrics before: no login needed from loopback; promtool accepts it.
    let m = request(addr, "GET", "/metrics", &[], b"");
    assert_eq!(m.status, 200);
    assert!(
        m.body.contains("corong_zone_on_air{zone=\"alun-alun\"} 0"),
        "{}",
        m.body
    );
    assert!(m.body.contains("corong_emergency_active 0"), "{}", m.body);
    promtool(&m.body);

    let mut events = Events::open(addr, &sri);
    events.wait(Duration::from_secs(5), |v| v["type"] == "status");

    // The idle zone streams silence: nothing loud before the emergency.
    let mut buf = [0u8; 2048];
    for _ in 0..10 {
        if let Ok(n) = rtp.recv(&mut buf) {
            assert!(loudness(&buf[12..n]) == 0, "loud before the emergency");
        }
    }
    let file = st.path("media/evakuasi.wav");
    let body = serde_json::json!({"file": file, "zones": ["alun-alun"]}).to_string();
    let sent = Instant::now();
    let a = post_json(addr, "/api/emergency", &sri, &body);
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json()["type"], "announced", "{a:?}");

    // Non-silent PCMU arrives on the zone.
    let loud = loop {
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "no audio on the zone"
        );
        if let Ok(n) = rtp.recv(&mut buf) {
            if loudness(&buf[12..n]) > 20 {
                break sent.elapsed();
            }
        }
    };
    // The event stream says who is on air, with the account's name.
    let v = events.wait(Duration::from_secs(5), |v| {
        v["zones"][0]["playing"]["origin"] == "emergency:web:sri"
    });
    assert_eq!(v["zones"][0]["name"], "alun-alun");
    let m = request(addr, "GET", "/metrics", &[], b"");
    assert!(m.body.contains("corong_emergency_active 1"), "{}", m.body);
    assert!(
        m.body.contains("corong_zone_on_air{zone=\"alun-alun\"} 1"),
        "{}",
        m.body
    );
    promtool(&m.body);
    // The counters of the issue's list: packets sent to the zone's pole,
    // failed sends, the engine's lateness histogram, fires, decode errors,
    // the state directory's free space.
    let value = |name: &str| -> f64 {
        m.body
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{}", m.body))
    };
    let endpoint = format!("{{zone=\"alun-alun\",endpoint=\"rtp://127.0.0.1:{port}\"}}");
    assert!(value(&format!("corong_output_packets_sent_total{endpoint}")) > 10.0);
    assert_eq!(
        value(&format!("corong_output_send_errors_total{endpoint}")),
        0.0
    );
    let ticks = value("corong_engine_send_lateness_seconds_count");
    assert!(ticks > 10.0, "{ticks}");
    assert_eq!(
        value("corong_engine_send_lateness_seconds_bucket{le=\"+Inf\"}"),
        ticks
    );
    assert_eq!(value("corong_schedule_fires_total"), 0.0);
    assert_eq!(value("corong_decode_errors_total"), 0.0);
    assert!(value("corong_state_disk_free_bytes") > 0.0);

    let a = post_json(addr, "/api/emergency/stop", &sri, "{}");
    assert_eq!(a.status, 200, "{a:?}");
    events.wait(Duration::from_secs(5), |v| {
        v["zones"][0]["playing"].is_null()
    });
    // The as-run log names the account.
    let (_, log, _) = st.client(&["log", "--json"]);
    assert!(log.contains("emergency:web:sri"), "{log}");
    eprintln!("emergency request to first non-silent packet: {loud:?}");
    assert!(d.stop().success());
}

/// PCMU bytes far from silence (0xFF/0x7F): a tone swings well away.
fn loudness(payload: &[u8]) -> usize {
    payload.iter().filter(|&&b| (b & 0x7f) < 0x60).count()
}

/// `promtool check metrics` on `text`; fails the test on any complaint.
fn promtool(text: &str) {
    if !common::require_peer("promtool") {
        return;
    }
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {} {}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn accounts_are_managed_with_the_cli_and_tokens_authenticate_the_api() {
    let port = free_port_pair();
    let _rtp = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let st = station(port);
    let cfg = st.path("config.toml");
    let user = |args: &[&str]| {
        let out = common::station::corong()
            .arg("--config")
            .arg(&cfg)
            .arg("user")
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // No default account.
    let (code, out, _) = user(&["list", "--json"]);
    assert_eq!((code, out.trim()), (0, "[]"));
    add_user(&st, "budi", "admin", PASSWORD);
    let (code, _, err) = user(&["add", "budi", "--role", "viewer", "--password-stdin"]);
    assert_ne!(code, 0);
    assert!(err.contains("exists"), "{err}");
    let (code, _, err) = user(&["add", "x", "--role", "chief"]);
    assert_ne!(code, 0);
    assert!(err.contains("unknown role `chief`"), "{err}");
    let (code, out, _) = user(&["list", "--json"]);
    assert_eq!(code, 0);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["name"], "budi");
    assert_eq!(list[0]["role"], "admin");
    // The database holds a hash, not the password.
    let db = std::fs::read(st.path("state/corong.db")).unwrap_or_default();
    let wal = std::fs::read(st.path("state/corong.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(!bytes
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes()));
    }

    let d = st.start();
    let addr = web_addr(&d);
    let (code, token, _) = user(&["token", "budi"]);
    assert_eq!(code, 0);
    let token = token.trim();
    assert_eq!(token.len(), 64);
    let bearer = format!("Bearer {token}");
    let a = request(
        addr,
        "GET",
        "/api/status",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(a.status, 200, "{a:?}");
    // A token needs no Origin (a browser never sends one by itself).
    let a = request(
        addr,
        "POST",
        "/api/emergency/stop",
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        b"{}",
    );
    assert_eq!(a.status, 200, "{a:?}");
    let a = request(
        addr,
        "GET",
        "/api/status",
        &[("Authorization", "Bearer 00")],
        b"",
    );
    assert_eq!(a.status, 401);

    // A new password ends sessions; removal ends the account.
    let session = http::login(addr, "budi", PASSWORD).cookie().unwrap();
    assert_eq!(get(addr, "/api/status", &session).status, 200);
    let passwd = common::station::corong()
        .arg("--config")
        .arg(&cfg)
        .args(["user", "passwd", "budi", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .output_with_stdin("baru-sandi-42\n");
    assert!(passwd.status.success());
    assert_eq!(get(addr, "/api/status", &session).status, 401);
    assert_eq!(http::login(addr, "budi", "baru-sandi-42").status, 303);
    let (code, _, _) = user(&["remove", "budi"]);
    assert_eq!(code, 0);
    let a = request(
        addr,
        "GET",
        "/api/status",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(a.status, 401);
    assert!(d.stop().success());
}

trait OutputWithStdin {
    fn output_with_stdin(&mut self, input: &str) -> std::process::Output;
}

impl OutputWithStdin for std::process::Command {
    fn output_with_stdin(&mut self, input: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = self
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

/// The files kept in the state directory's upload folder (leftovers of
/// broken uploads included).
fn uploads(st: &Station) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(st.path("state/uploads"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The web's bound on an uploaded file (`src/web/upload.rs`).
const MAX_UPLOAD: usize = 32 << 20;

#[test]
fn announcements_from_the_web_are_bounded_checked_and_need_an_operator() {
    let port = free_port_pair();
    let _rtp = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let st = station(port);
    add_user(&st, "wati", "viewer", PASSWORD);
    add_user(&st, "sri", "operator", PASSWORD);
    let wav_path = st.path("media/tone.wav");
    common::tone_wav(&wav_path, 440.0, 1.0);
    let wav = std::fs::read(&wav_path).unwrap();
    let d = st.start();
    let addr = web_addr(&d);
    let own = origin(addr);
    let wati = http::login(addr, "wati", PASSWORD).cookie().unwrap();
    let sri = http::login(addr, "sri", PASSWORD).cookie().unwrap();
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%dT12:00")
        .to_string();
    let good = |file_name| {
        vec![
            Part {
                name: "file",
                file_name: Some(file_name),
                bytes: &wav,
            },
            field("zones", "alun-alun"),
            field("at", &tomorrow),
        ]
    };

    // A viewer may not announce, cancel or skip: 403, nothing stored.
    let a = announce(addr, &wati, &own, &good("tone.wav"));
    assert_eq!(
        (a.status, a.json()["code"].as_str()),
        (403, Some("denied")),
        "{a:?}"
    );
    for (path, body) in [("/api/cancel", r#"{"id":1}"#), ("/api/skip", "{}")] {
        let a = post_json(addr, path, &wati, body);
        assert_eq!(a.status, 403, "{path}: {a:?}");
    }
    // A forged Origin is refused on every new endpoint, even an operator's.
    let a = announce(addr, &sri, "http://evil.example", &good("tone.wav"));
    assert_eq!(a.json()["code"], "forbidden_origin", "{a:?}");
    for (path, body) in [("/api/cancel", r#"{"id":1}"#), ("/api/skip", "{}")] {
        let a = request(
            addr,
            "POST",
            path,
            &[
                ("Origin", "http://evil.example"),
                ("Cookie", &sri),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        );
        assert_eq!(a.status, 403, "{path}: {a:?}");
        assert_eq!(a.json()["code"], "forbidden_origin");
    }
    assert!(uploads(&st).is_empty(), "{:?}", uploads(&st));
    assert!(queue_is_empty(&st));

    // A path in the file's name: refused, nothing stored anywhere.
    for name in ["../../evil.wav", "/tmp/evil.wav", "..\\\\evil.wav"] {
        let a = announce(addr, &sri, &own, &good(name));
        assert_eq!(a.status, 400, "{name}: {a:?}");
        assert!(
            a.json()["error"].as_str().unwrap().contains("not a path"),
            "{a:?}"
        );
    }
    assert!(uploads(&st).is_empty(), "{:?}", uploads(&st));
    assert!(!st.path("evil.wav").exists() && !st.path("state/evil.wav").exists());

    // One byte over the bound: 413 with the reason, and no leftover.
    let big = vec![0u8; MAX_UPLOAD + 1];
    let a = announce(
        addr,
        &sri,
        &own,
        &[
            Part {
                name: "file",
                file_name: Some("besar.wav"),
                bytes: &big,
            },
            field("zones", "alun-alun"),
        ],
    );
    assert_eq!(a.status, 413, "{}", a.status);
    let error = a.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("32 MiB") && error.contains("nothing was stored"),
        "{error}"
    );
    assert!(uploads(&st).is_empty(), "{:?}", uploads(&st));
    // A body announced as far larger is refused before it is read.
    let a = claimed_huge(addr, &sri, &own);
    assert_eq!(a.status, 413, "{a:?}");
    assert!(uploads(&st).is_empty());

    // Not audio: the daemon's own check refuses it, and the copy goes.
    let junk = b"ini bukan audio ".repeat(200);
    let a = announce(
        addr,
        &sri,
        &own,
        &[
            Part {
                name: "file",
                file_name: Some("rusak.wav"),
                bytes: &junk,
            },
            field("zones", "alun-alun"),
        ],
    );
    assert_eq!(a.status, 422, "{a:?}");
    assert!(uploads(&st).is_empty(), "{:?}", uploads(&st));
    // An unknown field is named.
    let a = announce(addr, &sri, &own, &[field("path", "/etc/passwd")]);
    assert_eq!(a.status, 400);
    assert!(a.body.contains("`path`"), "{a:?}");
    assert!(queue_is_empty(&st));

    // A good file for tomorrow: kept under its content's hash, queued as
    // the operator's, seen by `corong queue`; then cancelled from the web.
    // Played three times, 15 minutes apart (the form's repeat fields).
    let mut parts = good("Pengumuman Pagi.WAV");
    parts.push(field("repeat", "3"));
    parts.push(field("interval_min", "15"));
    let a = announce(addr, &sri, &own, &parts);
    assert_eq!(a.status, 200, "{a:?}");
    let v = a.json();
    assert_eq!(v["type"], "announced");
    let id = v["id"].as_i64().unwrap();
    let kept = uploads(&st);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        kept[0].ends_with(".wav") && kept[0].len() == 64 + 4,
        "{kept:?}"
    );
    assert_eq!(
        std::fs::read(st.path("state/uploads").join(&kept[0])).unwrap(),
        wav
    );
    let q = get(addr, "/api/queue", &wati);
    assert_eq!(q.status, 200, "a viewer sees the queue: {q:?}");
    let job = &q.json()["jobs"][0];
    assert_eq!(job["id"].as_i64(), Some(id));
    assert_eq!(job["origin"], "operator:web:sri");
    assert_eq!(job["repeat"], 3, "{job}");
    let db = rusqlite::Connection::open(st.path("state/corong.db")).unwrap();
    let interval: i64 = db
        .query_row(
            "SELECT repeat_interval_ms FROM jobs WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(interval, 900_000);
    assert!(job["files"][0].as_str().unwrap().ends_with(&kept[0]));
    let a = post_json(addr, "/api/cancel", &sri, &format!(r#"{{"id":{id}}}"#));
    assert_eq!(a.status, 200, "{a:?}");
    assert!(queue_is_empty(&st));
    // Skip and cancel from the web while it plays: both in the as-run log,
    // with the account's name.
    let now = [
        Part {
            name: "file",
            file_name: Some("a.wav"),
            bytes: &wav,
        },
        field("zones", "alun-alun"),
        field("chime", "off"),
    ];
    let skipped = start_playing(addr, &sri, &own, &now);
    let a = post_json(addr, "/api/skip", &sri, r#"{"zones":["alun-alun"]}"#);
    assert_eq!(a.status, 200, "{a:?}");
    let row = log_row(addr, &wati, skipped);
    assert_eq!(
        (row["how"].as_str(), row["reason"].as_str()),
        (Some("skipped"), Some("skipped by web:sri")),
        "{row}"
    );
    let cancelled = start_playing(addr, &sri, &own, &now);
    let a = post_json(
        addr,
        "/api/cancel",
        &sri,
        &format!(r#"{{"id":{cancelled}}}"#),
    );
    assert_eq!(a.status, 200, "{a:?}");
    let row = log_row(addr, &wati, cancelled);
    assert_eq!(
        (
            row["origin"].as_str(),
            row["how"].as_str(),
            row["reason"].as_str()
        ),
        (
            Some("operator:web:sri"),
            Some("cancelled"),
            Some("cancelled by web:sri")
        ),
        "{row}"
    );
    // Text to speak, as `corong say`, for tomorrow.
    if common::require_peer("espeak-ng") {
        let a = announce(
            addr,
            &sri,
            &own,
            &[
                field("text", "Besok pagi kerja bakti di alun-alun."),
                field("zones", "alun-alun"),
                field("at", &tomorrow),
            ],
        );
        assert_eq!(a.status, 200, "{a:?}");
        let q = get(addr, "/api/queue", &wati).json();
        let job = &q["jobs"][0];
        assert_eq!(
            (job["kind"].as_str(), job["origin"].as_str()),
            (Some("say"), Some("operator:web:sri")),
            "{q}"
        );
    }
    let a = post_json(addr, "/api/cancel", &sri, r#"{"id":"x"}"#);
    assert_eq!(a.status, 400, "{a:?}");
    assert!(d.stop().success());
}

/// Announce `parts` now and wait until the queue shows it playing; its id.
fn start_playing(addr: std::net::SocketAddr, cookie: &str, origin: &str, parts: &[Part]) -> i64 {
    let a = announce(addr, cookie, origin, parts);
    assert_eq!(a.status, 200, "{a:?}");
    let id = a.json()["id"].as_i64().unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let q = get(addr, "/api/queue", cookie).json();
        let playing = q["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"].as_i64() == Some(id) && j["state"] == "playing");
        if playing {
            return id;
        }
        assert!(Instant::now() < end, "job {id} never played: {q}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait for job `id`'s row in `/api/log` to say how it ended.
fn log_row(addr: std::net::SocketAddr, cookie: &str, id: i64) -> serde_json::Value {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let log = get(addr, "/api/log?origin=web:sri", cookie).json();
        let row = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["job"].as_i64() == Some(id) && r["how"] != "playing")
            .cloned();
        if let Some(row) = row {
            return row;
        }
        assert!(
            Instant::now() < end,
            "job {id} did not end in the log: {log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `POST /api/announce` whose Content-Length claims 1 GiB; only the start
/// is sent.
fn claimed_huge(addr: std::net::SocketAddr, cookie: &str, origin: &str) -> Answer {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST /api/announce HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\nCookie: {cookie}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {}\r\nConnection: close\r\n\r\n--b\r\n",
        1u64 << 30
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no answer: {text:?}"));
    let (_, body) = text.split_once("\r\n\r\n").unwrap_or(("", ""));
    Answer {
        status,
        headers: Vec::new(),
        body: body.to_string(),
        raw: body.as_bytes().to_vec(),
    }
}
