//! End to end: a CAP document appears in a feed served on 127.0.0.1, the
//! daemon lists it as pending with the matched zone, nothing plays until an
//! operator confirms, then the playbook's audio arrives over RTP on the
//! matched zone only.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::station::{free_port_pair, Station};
use common::tone_wav;

/// Serve `pages` (path -> body) on 127.0.0.1 until the test ends.
fn serve(pages: Arc<Mutex<Vec<(String, String)>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
            }
            let body = pages
                .lock()
                .unwrap()
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, b)| b.clone());
            let (status, body) = match body {
                Some(b) => ("200 OK", b),
                None => ("404 Not Found", String::new()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

/// Whether an L16 RTP packet carries sound (not the silence between items).
fn loud(packet: &[u8]) -> bool {
    packet.len() > 12
        && packet[12..]
            .chunks_exact(2)
            .any(|s| i16::from_be_bytes([s[0], s[1]]).unsigned_abs() > 1000)
}

/// Loud packets received on `sock` within `span`.
fn count_loud(sock: &UdpSocket, span: Duration) -> usize {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let end = Instant::now() + span;
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while Instant::now() < end {
        if let Ok(len) = sock.recv(&mut buf) {
            n += usize::from(loud(&buf[..len]));
        }
    }
    n
}

/// A test document of `tests/data/alerts`.
fn test_doc(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/alerts")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An RSS index whose items link to `(document, guid)` under `base`.
fn rss_index(base: &str, items: &[(&str, &str)]) -> String {
    let items: String = items
        .iter()
        .map(|(doc, guid)| {
            format!("<item><title>Hujan</title><link>{base}/{doc}</link><guid>{guid}</guid></item>")
        })
        .collect();
    format!("<rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>")
}

/// A pole on loopback: its port (RTCP on the next) and its socket.
fn pole() -> (u16, UdpSocket) {
    let port = free_port_pair();
    (port, UdpSocket::bind(("127.0.0.1", port)).unwrap())
}

fn alerts_json(station: &Station) -> serde_json::Value {
    let (code, out, err) = station.client(&["alerts", "--json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn a_feed_alert_waits_for_confirm_then_plays_on_the_matched_zone_only() {
    let station = Station::new();
    tone_wav(&station.path("media/hujan.wav"), 440.0, 1.0);
    let nowcast = test_doc("nowcast.xml");
    let empty_index = rss_index("", &[]);
    let pages = Arc::new(Mutex::new(vec![
        ("/rss.xml".to_string(), empty_index),
        ("/nowcast.xml".to_string(), nowcast),
    ]));
    let base = serve(pages.clone());
    let (p_wlingi, wlingi) = pole();
    let (p_kota, kota) = pole();
    station.config(&format!(
        r#"
[[zones]]
name = "wlingi"
rtp = ["127.0.0.1:{p_wlingi}"]
location = [-8.08, 112.32]

[[zones]]
name = "kota"
rtp = ["127.0.0.1:{p_kota}"]
location = [-8.30, 112.60]

[[alerts.feeds]]
name = "uji"
kind = "cap-rss"
url = "{base}/rss.xml"
poll_s = 1

[[alerts.playbooks]]
name = "hujan"
when = {{ event = "Hujan Lebat*", severity = ["Severe", "Extreme"] }}
file = "media/hujan.wav"
"#
    ));
    let daemon = station.start();
    daemon.wait_log("polling feed", Duration::from_secs(5));
    assert_eq!(alerts_json(&station)["alerts"], serde_json::json!([]));

    // The document appears in the index.
    pages.lock().unwrap()[0].1 = rss_index(
        &base,
        &[("nowcast.xml", "2.49.0.1.360.0.2026.12.06.15.35.001")],
    );
    let appeared = Instant::now();
    let alert = loop {
        let v = alerts_json(&station);
        if let Some(a) = v["alerts"].as_array().and_then(|a| a.first()).cloned() {
            break a;
        }
        assert!(
            appeared.elapsed() < Duration::from_secs(10),
            "no alert after 10 s:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // Within two polls of 1 s (and the test's own polling).
    assert!(
        appeared.elapsed() < Duration::from_secs(4),
        "{:?}",
        appeared.elapsed()
    );
    assert_eq!(alert["state"], "pending", "{alert}");
    assert_eq!(alert["zones"], serde_json::json!(["wlingi"]));
    assert_eq!(alert["playbook"], "hujan");
    assert_eq!(alert["source"], "uji");

    // Nothing on air while it waits.
    assert_eq!(count_loud(&wlingi, Duration::from_millis(1500)), 0);
    assert_eq!(count_loud(&kota, Duration::from_millis(100)), 0);

    let (code, out, err) = station.client(&["alerts", "confirm", "1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("alert 1 confirmed"), "{out}");
    let kota_thread = std::thread::spawn(move || count_loud(&kota, Duration::from_secs(4)));
    let heard = count_loud(&wlingi, Duration::from_secs(4));
    assert!(heard > 10, "only {heard} loud packets on the matched zone");
    assert_eq!(
        kota_thread.join().unwrap(),
        0,
        "sound on a zone the alert does not cover"
    );

    let v = alerts_json(&station);
    assert_eq!(v["alerts"][0]["state"], "on-air");
    assert!(v["alerts"][0]["job"].as_u64().is_some(), "{v}");
    // Seen twice (the index is polled every second): still one alert.
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1);
    // Confirming again is refused, in one line.
    let (code, _, err) = station.client(&["alerts", "confirm", "1"]);
    assert_ne!(code, 0);
    assert!(err.contains("not pending"), "{err}");
    // The document was kept as it came.
    let kept: Vec<_> = std::fs::read_dir(station.path("state/alerts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(kept.iter().any(|n| n.ends_with("-uji.xml")), "{kept:?}");
    assert!(daemon.log_text().contains("ALERT on air"));
    daemon.stop();

    // A restart: the feed still lists the document; nothing replays, the
    // alert is still listed as it was.
    let daemon = station.start();
    daemon.wait_log("alerts restored", Duration::from_secs(5));
    daemon.wait_log_count("alert document read", 1, Duration::from_secs(5));
    assert_eq!(
        count_loud(&wlingi, Duration::from_secs(3)),
        0,
        "replayed after a restart"
    );
    let v = alerts_json(&station);
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["alerts"][0]["state"], "on-air");
    // The inbox is in SQLite: the alert's row says it is on air, with its
    // job; its identity is among those seen.
    let db = rusqlite::Connection::open_with_flags(
        station.path("state/corong.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let (state, job): (String, Option<i64>) = db
        .query_row("SELECT state, job FROM alerts WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(state, "on-air");
    assert_eq!(job, v["alerts"][0]["job"].as_i64(), "{v}");
    let seen: i64 = db
        .query_row("SELECT COUNT(*) FROM alerts_seen", [], |r| r.get(0))
        .unwrap();
    assert_eq!(seen, 1);
    daemon.stop();
}

/// `corong volcano`: each level reaches the zones within its ring only;
/// lowering to 1 stops the broadcast. An auto playbook plays a feed's
/// alert at once; a hostile document is refused, kept and logged, and the
/// feed goes on.
#[test]
fn volcano_rings_auto_mode_and_hostile_documents() {
    let station = Station::new();
    tone_wav(&station.path("media/kelud.wav"), 440.0, 3.0);
    tone_wav(&station.path("media/tsunami.wav"), 660.0, 1.0);
    let inatews = test_doc("inatews.xml");
    let hostile = test_doc("doctype-entity.xml");
    let pages = Arc::new(Mutex::new(vec![
        ("/warninggeof.xml".to_string(), inatews),
        ("/bad.xml".to_string(), hostile),
    ]));
    let base = serve(pages);
    let ports: Vec<u16> = (0..3).map(|_| free_port_pair()).collect();
    let socks: Vec<UdpSocket> = ports
        .iter()
        .map(|p| UdpSocket::bind(("127.0.0.1", *p)).unwrap())
        .collect();
    // pos: 1.4 km from the crater; desa: 3.4 km; pantai: on the coast,
    // far from Kelud, in the SIAGA district.
    station.config(&format!(
        r#"
[[zones]]
name = "pos"
rtp = ["127.0.0.1:{}"]
location = [-7.94, 112.30]

[[zones]]
name = "desa"
rtp = ["127.0.0.1:{}"]
location = [-7.955, 112.29]

[[zones]]
name = "pantai"
rtp = ["127.0.0.1:{}"]
location = [-8.33, 112.21]
areas = ["PANTAI-BLITAR"]

[[alerts.feeds]]
name = "inatews"
kind = "inatews"
url = "{base}/warninggeof.xml"
poll_s = 1

[[alerts.feeds]]
name = "rusak"
kind = "cap"
url = "{base}/bad.xml"
poll_s = 1

[[volcanoes]]
name = "kelud"
location = [-7.9300, 112.3080]
rings_km = {{ 2 = 2.0, 3 = 5.0 }}

[[alerts.playbooks]]
name = "tsunami-siaga"
when = {{ feed = "inatews", level = "SIAGA" }}
file = "media/tsunami.wav"
mode = "auto"

[[alerts.playbooks]]
name = "kelud-2"
when = {{ volcano = "kelud", level = 2 }}
file = "media/kelud.wav"
repeat_every_s = 10

[[alerts.playbooks]]
name = "kelud-3"
when = {{ volcano = "kelud", level = 3 }}
file = "media/kelud.wav"
repeat_every_s = 10
"#,
        ports[0], ports[1], ports[2]
    ));
    let daemon = station.start();
    // Auto: the tsunami SIAGA plays on the coast at once, with no confirm.
    let heard = count_loud(&socks[2], Duration::from_secs(4));
    assert!(
        heard > 10,
        "the auto playbook did not play: {heard}\n{}",
        daemon.log_text()
    );
    // The hostile document: refused, kept with its reason, logged; the
    // other feed went on.
    daemon.wait_log("alert document refused", Duration::from_secs(5));
    let refused: Vec<_> = std::fs::read_dir(station.path("state/alerts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".refused.txt"))
        .collect();
    assert!(!refused.is_empty());
    let v = alerts_json(&station);
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["alerts"][0]["state"], "on-air");
    assert_eq!(v["alerts"][0]["zones"], serde_json::json!(["pantai"]));

    // Level 2: the 2 km ring (pos) only.
    let (code, out, err) = station.client(&["volcano", "kelud", "2"]);
    assert_eq!(code, 0, "{out}{err}");
    let desa = socks[1].try_clone().unwrap();
    let other = std::thread::spawn(move || count_loud(&desa, Duration::from_secs(2)));
    assert!(count_loud(&socks[0], Duration::from_secs(2)) > 10);
    assert_eq!(other.join().unwrap(), 0, "level 2 reached the 3.4 km zone");
    // Level 3 (by name): the 5 km ring, both.
    let (code, _, err) = station.client(&["volcano", "kelud", "siaga"]);
    assert_eq!(code, 0, "{err}");
    let pos = socks[0].try_clone().unwrap();
    let other = std::thread::spawn(move || count_loud(&pos, Duration::from_secs(2)));
    assert!(count_loud(&socks[1], Duration::from_secs(2)) > 10);
    assert!(other.join().unwrap() > 10);
    // Back to 1: it stops on both.
    let (code, _, err) = station.client(&["volcano", "kelud", "1"]);
    assert_eq!(code, 0, "{err}");
    // What was already in flight drains first.
    let _ = count_loud(&socks[0], Duration::from_millis(500));
    let _ = count_loud(&socks[1], Duration::from_millis(100));
    let pos = socks[0].try_clone().unwrap();
    let other = std::thread::spawn(move || count_loud(&pos, Duration::from_secs(2)));
    assert_eq!(count_loud(&socks[1], Duration::from_secs(2)), 0);
    assert_eq!(other.join().unwrap(), 0);
    let v = alerts_json(&station);
    let states: Vec<&str> = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["on-air", "cancelled", "cancelled", "ignored"],
        "{v}"
    );
    let (code, _, err) = station.client(&["volcano", "merapi", "2"]);
    assert_ne!(code, 0);
    assert!(err.contains("unknown volcano `merapi`"), "{err}");
    daemon.stop();
}

/// `GET /metrics` from the console on `web`, as text.
fn metrics(web: std::net::SocketAddr) -> String {
    let mut s = std::net::TcpStream::connect(web).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {web}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut s, &mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text
}

fn status_json(station: &Station) -> serde_json::Value {
    let (code, out, err) = station.client(&["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A feed whose server does not answer is shown failing in `status` (and
/// logged once, not every poll); a reload that points it elsewhere
/// restarts its poller, which then reads the new server.
#[test]
fn a_failing_feed_is_shown_and_a_reload_repoints_it() {
    let station = Station::new();
    tone_wav(&station.path("media/hujan.wav"), 440.0, 0.5);
    // A port with nothing listening: connection refused.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let port = free_port_pair();
    let web = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let zone = format!(
        "[web]\nlisten = \"{web}\"\n\n[[zones]]\nname = \"wlingi\"\nrtp = [\"127.0.0.1:{port}\"]\nlocation = [-8.08, 112.32]\n\n\
         [[alerts.playbooks]]\nname = \"hujan\"\n\
         when = {{ event = \"Hujan Lebat*\" }}\nfile = \"media/hujan.wav\"\n"
    );
    let feed = |url: &str| {
        format!("{zone}\n[[alerts.feeds]]\nname = \"uji\"\nkind = \"cap\"\nurl = \"{url}\"\npoll_s = 1\n")
    };
    station.config(&feed(&format!("http://{dead}/nowcast.xml")));
    let daemon = station.start();
    let since = Instant::now();
    let failing = loop {
        let v = status_json(&station);
        if v["feeds"][0]["state"] == "failing" {
            break v["feeds"][0].clone();
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the feed is not shown failing: {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(failing["name"], "uji");
    assert_eq!(failing["kind"], "cap");
    assert!(failing["failing_since"].is_string(), "{failing}");
    assert!(failing["last_ok"].is_null(), "{failing}");
    assert!(!failing["error"].as_str().unwrap().is_empty(), "{failing}");
    let (code, out, _) = station.client(&["status"]);
    assert_eq!(code, 0);
    assert!(out.contains("! feed uji (cap): failing since "), "{out}");
    let m = metrics(web);
    assert!(
        m.contains("\ncorong_alert_feed_up{feed=\"uji\",kind=\"cap\"} 0\n"),
        "{m}"
    );
    assert!(
        !m.contains("corong_alert_feed_last_ok_timestamp_seconds{"),
        "{m}"
    );
    // Several failed polls, one log line.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        daemon.log_text().matches("feed poll failed").count(),
        1,
        "{}",
        daemon.log_text()
    );

    // Pointed at a server that answers, by a reload: the new poller reads
    // it and the alert waits for an operator.
    let nowcast = test_doc("nowcast.xml");
    let base = serve(Arc::new(Mutex::new(vec![(
        "/nowcast.xml".to_string(),
        nowcast,
    )])));
    station.config(&feed(&format!("{base}/nowcast.xml")));
    let (code, out, err) = station.client(&["reload"]);
    assert_eq!(code, 0, "{out}{err}");
    daemon.wait_log("the hazard feeds changed", Duration::from_secs(5));
    let since = Instant::now();
    loop {
        let v = status_json(&station);
        let alerts = alerts_json(&station);
        if v["feeds"][0]["state"] == "ok" && alerts["alerts"][0]["state"] == "pending" {
            assert_eq!(v["feeds"][0]["url"], format!("{base}/nowcast.xml"));
            assert!(v["feeds"][0]["failing_since"].is_null(), "{v}");
            let m = metrics(web);
            assert!(
                m.contains("\ncorong_alert_feed_up{feed=\"uji\",kind=\"cap\"} 1\n"),
                "{m}"
            );
            assert!(
                m.contains(
                    "\ncorong_alert_feed_last_ok_timestamp_seconds{feed=\"uji\",kind=\"cap\"} "
                ),
                "{m}"
            );
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the repointed feed was not read: {v}\n{alerts}\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    daemon.stop();
}

/// An Exercise (a drill) from a feed plays only on the zones marked
/// `drill = true` among those it covers; a zone it covers that is not
/// marked stays silent.
#[test]
fn an_exercise_plays_on_the_drill_zones_only() {
    let station = Station::new();
    tone_wav(&station.path("media/latihan.wav"), 440.0, 1.0);
    let exercise = test_doc("exercise.xml");
    let pages = Arc::new(Mutex::new(vec![("/latihan.xml".to_string(), exercise)]));
    let base = serve(pages);
    let (p_drill, drill) = pole();
    let (p_other, other) = pole();
    // Both zones are in the drill's district; only one takes part.
    station.config(&format!(
        r#"
[[zones]]
name = "pantai"
rtp = ["127.0.0.1:{p_drill}"]
areas = ["PANGGUNGREJO"]
drill = true

[[zones]]
name = "pasar"
rtp = ["127.0.0.1:{p_other}"]
areas = ["PANGGUNGREJO"]

[[alerts.feeds]]
name = "latihan"
kind = "cap"
url = "{base}/latihan.xml"
poll_s = 1

[[alerts.playbooks]]
name = "evakuasi"
when = {{ event = "*Tsunami*" }}
file = "media/latihan.wav"
mode = "auto"
"#
    ));
    let daemon = station.start();
    let other_thread = std::thread::spawn(move || count_loud(&other, Duration::from_secs(5)));
    let heard = count_loud(&drill, Duration::from_secs(5));
    assert!(
        heard > 10,
        "only {heard} loud packets on the drill zone:\n{}",
        daemon.log_text()
    );
    assert_eq!(
        other_thread.join().unwrap(),
        0,
        "the drill played on a zone not marked for drills"
    );
    let v = alerts_json(&station);
    let a = &v["alerts"][0];
    assert_eq!(a["zones"], serde_json::json!(["pantai"]), "{v}");
    assert_eq!(a["state"], "on-air", "{v}");
    daemon.stop();
}

/// The CAP lifecycle over HTTP: the same nowcast from two feeds is one
/// alert; its Update takes its place (the zone the update no longer covers
/// falls silent, the other plays the new words); the Cancel stops it.
#[test]
fn two_feeds_one_alert_an_update_replaces_and_a_cancel_stops() {
    let station = Station::new();
    tone_wav(&station.path("media/hujan.wav"), 440.0, 30.0);
    let pages = Arc::new(Mutex::new(vec![
        ("/rss.xml".to_string(), String::new()),
        ("/nowcast.xml".to_string(), test_doc("nowcast.xml")),
        ("/update.xml".to_string(), test_doc("nowcast-update.xml")),
        ("/cancel.xml".to_string(), test_doc("nowcast-cancel.xml")),
    ]));
    let base = serve(pages.clone());
    pages.lock().unwrap()[0].1 = rss_index(&base, &[("nowcast.xml", "n1")]);
    let (p_wlingi, wlingi) = pole();
    let (p_kanigoro, kanigoro) = pole();
    station.config(&format!(
        r#"
[[zones]]
name = "wlingi"
rtp = ["127.0.0.1:{p_wlingi}"]
location = [-8.08, 112.32]

[[zones]]
name = "kanigoro"
rtp = ["127.0.0.1:{p_kanigoro}"]
location = [-8.13, 112.22]

[[alerts.feeds]]
name = "bmkg-rss"
kind = "cap-rss"
url = "{base}/rss.xml"
poll_s = 1

[[alerts.feeds]]
name = "bmkg-cap"
kind = "cap"
url = "{base}/nowcast.xml"
poll_s = 1

[[alerts.playbooks]]
name = "hujan"
when = {{ event = "Hujan Lebat*" }}
file = "media/hujan.wav"
mode = "auto"
"#
    ));
    let daemon = station.start();
    // Both feeds read it (each keeps what it read): one alert, on both
    // zones.
    let kept = |feed: &str| {
        std::fs::read_dir(station.path("state/alerts"))
            .map(|d| {
                d.flatten().any(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .ends_with(&format!("-{feed}.xml"))
                })
            })
            .unwrap_or(false)
    };
    let start = Instant::now();
    while !(kept("bmkg-rss") && kept("bmkg-cap")) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not read by both feeds:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let v = alerts_json(&station);
    assert_eq!(v["alerts"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["alerts"][0]["state"], "on-air", "{v}");
    assert_eq!(
        v["alerts"][0]["zones"],
        serde_json::json!(["wlingi", "kanigoro"])
    );
    let job = v["alerts"][0]["job"].as_u64().expect("the alert's job");
    let k = kanigoro.try_clone().unwrap();
    let other = std::thread::spawn(move || count_loud(&k, Duration::from_secs(1)));
    assert!(count_loud(&wlingi, Duration::from_secs(1)) > 10);
    assert!(other.join().unwrap() > 10);

    // The Update (wlingi only) takes its place, inside the same job.
    pages.lock().unwrap()[0].1 = rss_index(&base, &[("nowcast.xml", "n1"), ("update.xml", "n2")]);
    let start = Instant::now();
    let v = loop {
        let v = alerts_json(&station);
        if v["alerts"].as_array().unwrap().len() == 2 {
            break v;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no update: {v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(v["alerts"][0]["state"], "cancelled", "{v}");
    assert_eq!(v["alerts"][1]["state"], "on-air", "{v}");
    assert_eq!(v["alerts"][1]["zones"], serde_json::json!(["wlingi"]));
    assert_eq!(v["alerts"][1]["job"].as_u64(), Some(job), "{v}");
    let (code, out, err) = station.client(&["queue", "--json"]);
    assert_eq!(code, 0, "{err}");
    let queue: serde_json::Value = serde_json::from_str(&out).unwrap();
    let jobs: Vec<_> = queue["jobs"]
        .as_array()
        .unwrap_or_else(|| panic!("{queue}"))
        .iter()
        .map(|j| (j["id"].as_u64(), j["origin"].as_str().map(str::to_string)))
        .collect();
    assert_eq!(jobs, [(Some(job), Some("alert:2".to_string()))], "{queue}");
    // The old words cut off on both zones, logged once each.
    let (_, log, _) = station.client(&["log", "--json"]);
    assert_eq!(log.matches("replaced by alert 2").count(), 2, "{log}");
    // What was in flight drains, then kanigoro is silent and wlingi plays.
    let _ = count_loud(&kanigoro, Duration::from_millis(500));
    let k = kanigoro.try_clone().unwrap();
    let other = std::thread::spawn(move || count_loud(&k, Duration::from_secs(2)));
    assert!(count_loud(&wlingi, Duration::from_secs(2)) > 10);
    assert_eq!(
        other.join().unwrap(),
        0,
        "the update's lost zone still plays"
    );

    // The Cancel stops it.
    pages.lock().unwrap()[0].1 = rss_index(
        &base,
        &[
            ("nowcast.xml", "n1"),
            ("update.xml", "n2"),
            ("cancel.xml", "n3"),
        ],
    );
    let start = Instant::now();
    loop {
        let v = alerts_json(&station);
        if v["alerts"][1]["state"] == "cancelled" {
            assert_eq!(v["alerts"][2]["state"], "ignored", "{v}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no cancel: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = count_loud(&wlingi, Duration::from_millis(500));
    assert_eq!(
        count_loud(&wlingi, Duration::from_secs(2)),
        0,
        "still on air after the Cancel"
    );
    daemon.stop();
}
