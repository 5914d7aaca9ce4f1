//! Pausing a schedule against a real daemon: a paused schedule puts
//! nothing on its zone's RTP when its times pass, the log and the as-run
//! log say why and who; the pause outlives `reload` and a restart; resume
//! lets the next fire play; a run on air when paused plays to its end.
//! Over HTTP only an admin may pause or resume,
//! and the console's schedules show who paused. Only 127.0.0.1.

mod common;
#[path = "web_support/http.rs"]
mod http;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::station::{free_port_pair, Daemon, Station};
use common::tone_wav;
use http::*;

const PASSWORD: &str = "kelud-siaga-3";

/// A PCMU zone on `port`, schedule `pagi` every two seconds playing a
/// 0.3 s tone, and the web console.
fn station(port: u16) -> Station {
    let st = Station::new();
    tone_wav(&st.path("media/tone.wav"), 1000.0, 0.3);
    st.playlist("pagi", &["../media/tone.wav"]);
    st.config(&format!(
        "[[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{port}\"]\ncodec = \"pcmu\"\n\n\
         [[schedules]]\nname = \"pagi\"\ncron = \"*/2 * * * * *\"\nplaylist = \"pagi\"\n\
         zones = [\"alun-alun\"]\nexcept_dates = [\"2099-08-17\"]\n\n\
         [loudness]\nnormalize = false\n\n\
         [web]\nlisten = \"127.0.0.1:0\"\n"
    ));
    st
}

/// PCMU packets whose payload is far from silence (0xFF/0x7F).
fn loud(packet: &[u8]) -> bool {
    packet.len() > 12 && packet[12..].iter().filter(|&&b| (b & 0x7f) < 0x60).count() > 20
}

/// Whether a loud packet arrives on `rtp` within `limit`.
fn sound_within(rtp: &UdpSocket, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        if let Ok(n) = rtp.recv(&mut buf) {
            if loud(&buf[..n]) {
                return true;
            }
        }
    }
    false
}

/// Read `rtp` until the daemon's log holds `count` skipped fires; panic on
/// a loud packet meanwhile.
fn silent_until_skipped(d: &Daemon, rtp: &UdpSocket, count: usize) {
    let end = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 2048];
    while d.log_text().matches("fire skipped: paused by").count() < count {
        assert!(Instant::now() < end, "no skipped fire:\n{}", d.log_text());
        if let Ok(n) = rtp.recv(&mut buf) {
            assert!(!loud(&buf[..n]), "a paused schedule was heard on its zone");
        }
    }
}

fn schedule_json(st: &Station) -> serde_json::Value {
    let (code, out, err) = st.client(&["schedule", "--json"]);
    assert_eq!(code, 0, "{out} {err}");
    serde_json::from_str(&out).unwrap()
}

/// Wait until no loud packet has arrived for a whole second (a run that
/// fired before the pause ends; it is not cut).
fn quiet_for_a_second(rtp: &UdpSocket) {
    let end = Instant::now() + Duration::from_secs(10);
    let mut last_loud = Instant::now();
    let mut buf = [0u8; 2048];
    while last_loud.elapsed() < Duration::from_secs(1) {
        assert!(Instant::now() < end, "the zone never fell silent");
        if let Ok(n) = rtp.recv(&mut buf) {
            if loud(&buf[..n]) {
                last_loud = Instant::now();
            }
        }
    }
}

#[test]
fn a_paused_schedule_stays_silent_across_reload_and_restart_and_resumes() {
    let port = free_port_pair();
    let rtp = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    rtp.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let st = station(port);
    let d = st.start();
    // It plays before it is paused.
    assert!(sound_within(&rtp, Duration::from_secs(5)), "never fired");

    // A misspelt name: one line, with the near one.
    let (code, out, err) = st.client(&["schedule", "pause", "pagii"]);
    assert_ne!(code, 0, "{out}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("did you mean `pagi`"), "{err}");

    let (code, out, err) = st.client(&["schedule", "pause", "pagi"]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("paused schedule `pagi`"), "{out}");
    let v = schedule_json(&st);
    let paused = &v["schedules"][0]["paused"];
    let by = paused["by"].as_str().expect("paused.by").to_string();
    assert!(!by.is_empty() && !by.starts_with("web:"), "{v}");
    assert!(paused["since"].as_str().unwrap().contains('T'), "{v}");
    assert_eq!(v["schedules"][0]["except_dates"][0], "2099-08-17", "{v}");
    let (_, human, _) = st.client(&["schedule"]);
    assert!(human.contains(&format!("PAUSED by {by}")), "{human}");

    quiet_for_a_second(&rtp);
    let seen = d.log_text().matches("fire skipped: paused by").count();
    silent_until_skipped(&d, &rtp, seen + 2);
    let (_, log, _) = st.client(&["log", "--json"]);
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let reason = format!("paused by {by}");
    let skipped = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["how"] == "skipped" && e["reason"] == reason.as_str())
        .inspect(|e| {
            assert_eq!(e["origin"], "schedule:pagi");
            assert_eq!(e["zone"], "alun-alun");
        })
        .count();
    assert!(skipped >= 2, "{log}");
    // Counted as fires that played nothing (`/metrics`).
    let (_, status, _) = st.client(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let (fires, missed) = (
        &status["daemon"]["fires"],
        &status["daemon"]["fires_missed"],
    );
    assert!(missed.as_u64().unwrap_or(0) >= 2, "{status}");
    assert!(fires.as_u64() >= missed.as_u64(), "{status}");

    // A reload keeps it.
    let (code, out, err) = st.client(&["reload"]);
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(
        schedule_json(&st)["schedules"][0]["paused"]["by"],
        by.as_str()
    );
    let seen = d.log_text().matches("fire skipped: paused by").count();
    silent_until_skipped(&d, &rtp, seen + 1);

    // So does a restart.
    assert!(d.stop().success());
    let d = st.start();
    assert_eq!(
        schedule_json(&st)["schedules"][0]["paused"]["by"],
        by.as_str()
    );
    silent_until_skipped(&d, &rtp, 1);

    // Resumed: the next fire plays.
    let (code, out, err) = st.client(&["schedule", "resume", "pagi"]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("resumed schedule `pagi`"), "{out}");
    assert!(schedule_json(&st)["schedules"][0].get("paused").is_none());
    assert!(
        sound_within(&rtp, Duration::from_secs(5)),
        "resumed but not heard:\n{}",
        d.log_text()
    );
    d.wait_log("schedule resumed", Duration::from_secs(1));
    assert!(d.stop().success());
}

#[test]
fn only_an_admin_pauses_from_the_console_and_the_board_shows_who() {
    let port = free_port_pair();
    let _rtp = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let st = station(port);
    add_user(&st, "wati", "viewer", PASSWORD);
    add_user(&st, "sri", "operator", PASSWORD);
    add_user(&st, "ana", "admin", PASSWORD);
    let d = st.start();
    let addr = web_addr(&d);
    let body = r#"{"name":"pagi"}"#;
    for who in ["wati", "sri"] {
        let cookie = login(addr, who, PASSWORD).cookie().unwrap();
        for path in ["/api/schedules/pause", "/api/schedules/resume"] {
            let a = post_json(addr, path, &cookie, body);
            assert_eq!(a.status, 403, "{who} {path}: {a:?}");
            assert_eq!(a.json()["code"], "denied");
        }
    }
    assert!(schedule_json(&st)["schedules"][0].get("paused").is_none());

    let ana = login(addr, "ana", PASSWORD).cookie().unwrap();
    let a = post_json(addr, "/api/schedules/pause", &ana, r#"{"name":"pagj"}"#);
    assert_eq!(a.status, 404, "{a:?}");
    assert!(a.json()["error"]
        .as_str()
        .unwrap()
        .contains("did you mean `pagi`"));
    let a = post_json(addr, "/api/schedules/pause", &ana, body);
    assert_eq!(a.status, 200, "{a:?}");
    let s = get(addr, "/api/schedule", &ana).json();
    assert_eq!(s["schedules"][0]["paused"]["by"], "web:ana", "{s}");
    assert_eq!(s["schedules"][0]["except_dates"][0], "2099-08-17", "{s}");
    d.wait_log("schedule paused", Duration::from_secs(1));
    assert!(
        !d.log_lines(&["schedule paused", "web:ana"]).is_empty(),
        "{}",
        d.log_text()
    );
    // The admin's board has the button; an operator's has none.
    let page = get(addr, "/", &ana).body;
    assert!(page.contains("data-admin=\"true\""), "{page}");
    let sri = login(addr, "sri", PASSWORD).cookie().unwrap();
    assert!(get(addr, "/", &sri).body.contains("data-admin=\"false\""));

    let a = post_json(addr, "/api/schedules/resume", &ana, body);
    assert_eq!(a.status, 200, "{a:?}");
    assert!(get(addr, "/api/schedule", &ana).json()["schedules"][0]
        .get("paused")
        .is_none());
    // Both actions are in the as-run log (the proof of play), with who.
    let (_, log, _) = st.client(&["log", "--json"]);
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let actions: Vec<(&str, &str, &str)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["how"] == "paused" || e["how"] == "resumed")
        .inspect(|e| assert_eq!(e["origin"], "schedule:pagi (web:ana)", "{e}"))
        .map(|e| {
            (
                e["how"].as_str().unwrap(),
                e["zone"].as_str().unwrap(),
                e["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("paused", "alun-alun", "paused by web:ana"),
            (
                "resumed",
                "alun-alun",
                "resumed by web:ana (paused by web:ana)"
            )
        ],
        "{log}"
    );
    assert!(d.stop().success());
}

/// Pausing stops the next fires, not the run on air: a 2 s run paused
/// half-way plays to its end and is logged `completed`.
#[test]
fn a_run_playing_when_paused_plays_to_its_end() {
    let port = free_port_pair();
    let rtp = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    rtp.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let st = Station::new();
    tone_wav(&st.path("media/long.wav"), 1000.0, 2.0);
    st.playlist("sore", &["../media/long.wav"]);
    let cron = common::station::cron_in(3);
    st.config(&format!(
        "[[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:{port}\"]\ncodec = \"pcmu\"\n\n\
         [[schedules]]\nname = \"sore\"\ncron = \"{cron}\"\nplaylist = \"sore\"\nzones = [\"pasar\"]\n\n\
         [loudness]\nnormalize = false\n"
    ));
    let d = st.start();
    assert!(sound_within(&rtp, Duration::from_secs(10)), "never fired");
    let (code, out, err) = st.client(&["schedule", "pause", "sore"]);
    assert_eq!(code, 0, "{out} {err}");
    // Half a second after the pause it is still on the zone.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        sound_within(&rtp, Duration::from_millis(300)),
        "the pause cut the run"
    );
    d.wait_log("how=completed", Duration::from_secs(5));
    let (_, log, _) = st.client(&["log", "--json"]);
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let hows: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["how"].as_str().unwrap())
        .collect();
    // The run's item, and the pause itself (a row, not an item).
    assert_eq!(hows, ["completed", "paused"], "{log}");
    assert!(d.stop().success());
}
