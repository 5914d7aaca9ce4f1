//! What a newcomer's trial tripped over, as an operator sees it: names,
//! times and what the daemon says back.

mod common;

use std::time::{Duration, Instant};

use common::station::{Daemon, Station};
use common::tone_wav;
use corong::control::protocol::Reply;

/// A station in Blitar's time zone with a recorder zone `pasar`, a second
/// zone `alun-alun` and a group `kota`, and `media/lagu.wav` (3 s).
fn blitar() -> (Station, Daemon) {
    let st = Station::new();
    let text = "[daemon]\ntimezone = \"Asia/Jakarta\"\ncontrol_socket = \"run/corong.sock\"\nstate_dir = \"state\"\n\n\
        [[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n\n\
        [[zones]]\nname = \"alun-alun\"\nwav = \"rec2.wav\"\n\n\
        [groups]\nkota = [\"pasar\", \"alun-alun\"]\n";
    std::fs::write(st.path("config.toml"), text).unwrap();
    tone_wav(&st.path("media/lagu.wav"), 440.0, 3.0);
    let d = st.start();
    (st, d)
}

fn reply(out: &str) -> Reply {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn a_misspelt_zone_gets_a_suggestion() {
    let (st, _d) = blitar();
    for (typed, meant) in [
        ("pasr", "pasar"),
        ("Pasar", "pasar"),
        ("alun-alum", "alun-alun"),
    ] {
        let (code, _, err) = st.client(&["announce", "media/lagu.wav", "--zones", typed]);
        assert_eq!(code, 1, "{typed}");
        assert!(
            err.contains(&format!(
                "unknown zone or group `{typed}` (did you mean `{meant}`?)"
            )),
            "{err}"
        );
    }
    let (code, _, err) = st.client(&["log", "--zone", "kota"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("`kota` is a group (pasar, alun-alun); `log --zone` takes one zone"),
        "{err}"
    );
    let (code, _, err) = st.client(&["log", "--limit", "0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--limit must be 1 or more"), "{err}");
}

#[test]
fn times_carry_the_daemons_offset_and_the_log_shows_what_is_on_air() {
    let (st, d) = blitar();
    let (code, out, err) = st.client(&[
        "announce",
        "media/lagu.wav",
        "--zones",
        "pasar",
        "--no-chime",
    ]);
    assert_eq!(code, 0, "{err}");
    let id: i64 = out.lines().next().unwrap().trim().parse().unwrap();
    // While it plays, `log` has it, with no end yet.
    let end = Instant::now() + Duration::from_secs(5);
    let row = loop {
        let (code, out, err) = st.client(&["log", "--json"]);
        assert_eq!(code, 0, "{err}");
        let Reply::Log(log) = reply(&out) else {
            panic!("{out}")
        };
        if let Some(r) = log.entries.into_iter().find(|r| r.job == id) {
            break r;
        }
        assert!(Instant::now() < end, "the item on air is not in the log");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(row.how, "playing");
    assert_eq!(row.ended_at, None);
    assert!(row.started_at.ends_with("+07:00"), "{}", row.started_at);

    let (_, out, _) = st.client(&["status", "--json"]);
    let Reply::Status(status) = reply(&out) else {
        panic!("{out}")
    };
    assert!(
        status.daemon.started_at.ends_with("+07:00"),
        "{}",
        status.daemon.started_at
    );
    let playing = status.zones[0].playing.as_ref().expect("pasar plays");
    assert!(playing.since.ends_with("+07:00"), "{}", playing.since);

    let (code, out, err) = st.client(&[
        "announce",
        "media/lagu.wav",
        "--at",
        "2099-01-01 10:00",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let Reply::Announced(a) = reply(&out) else {
        panic!("{out}")
    };
    assert_eq!(a.not_before.as_deref(), Some("2099-01-01T10:00:00+07:00"));
    let (_, out, _) = st.client(&["queue", "--json"]);
    assert!(out.contains("2099-01-01T10:00:00+07:00"), "{out}");

    // Once played, its row has an end, in the same offset.
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, out, _) = st.client(&["log", "--json"]);
        let Reply::Log(log) = reply(&out) else {
            panic!("{out}")
        };
        if let Some(r) = log
            .entries
            .iter()
            .find(|r| r.job == id && r.how == "completed")
        {
            assert!(r.ended_at.as_deref().unwrap().ends_with("+07:00"));
            break;
        }
        assert!(Instant::now() < end, "never completed");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The daemon's own log lines are in the same time zone.
    let log = d.log_text();
    let first = log
        .lines()
        .find(|l| l.contains("corong daemon started"))
        .unwrap();
    let stamp = first.split_whitespace().next().unwrap();
    assert!(stamp.ends_with("+07:00"), "{first}");
    assert!(
        !log.contains("Some("),
        "debug formatting in the log:\n{log}"
    );
}

#[test]
fn times_as_operators_write_them_and_what_an_emergency_says() {
    let (st, _d) = blitar();
    // Midnight has passed today (unless this runs at 00:00:00 sharp).
    let (code, out, err) = st.client(&["announce", "media/lagu.wav", "--at", "00.00"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.trim().parse::<i64>().is_ok(), "{out}");
    assert!(
        err.contains("corong: warning: 00.00 has passed today: it plays tomorrow"),
        "{err}"
    );
    let (code, _, err) = st.client(&["announce", "media/lagu.wav", "--at", "2027-02-30 10:00"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("2027-02-30 does not exist: February 2027 has 28 days"),
        "{err}"
    );

    let (code, _, err) = st.client(&["emergency", "media/lagu.wav", "--zones", "pasar"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("on air now in pasar"), "{err}");
    assert!(!err.contains("queued"), "{err}");
    let (code, _, err) = st.client(&["emergency", "--stop"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn an_unknown_voice_is_refused_with_near_ones() {
    if !common::require_peer("espeak-ng") {
        return;
    }
    let (st, _d) = blitar();
    let (code, _, err) = st.client(&["say", "Selamat pagi", "--voice", "xyzzy"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("unknown voice `xyzzy`"), "{err}");
    let (code, _, err) = st.client(&["say", "Selamat pagi", "--voice", "indonesia"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("indonesian"), "{err}");
    let (_, out, _) = st.client(&["queue", "--json"]);
    assert!(!out.contains("\"id\""), "something was queued: {out}");
}

#[test]
fn json_errors_are_objects_on_stdout_and_exit_codes_follow_one_table() {
    let (st, d) = blitar();
    let json = |out: &str| -> serde_json::Value {
        serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    // Refused by the daemon as not found: 1.
    let (code, out, err) = st.client(&["announce", "media/lagu.wav", "--zones", "pasr", "--json"]);
    assert_eq!(code, 1, "{err}");
    let v = json(&out);
    assert_eq!(v["ok"], false);
    assert_eq!(v["code"], "not_found");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("did you mean `pasar`"),
        "{v}"
    );
    // A bad value, caught by the daemon: 2, as one caught by the client.
    let (code, out, _) = st.client(&["announce", "media/lagu.wav", "--at", "besok", "--json"]);
    assert_eq!(code, 2);
    assert_eq!(json(&out)["code"], "bad_request");
    let (code, out, _) = st.client(&["announce", "media/lagu.wav", "--repeat", "0", "--json"]);
    assert_eq!(code, 2);
    assert_eq!(json(&out)["code"], "bad_request");
    // An unknown zone is 1 everywhere, `zones --sdp` included.
    let (code, _, err) = st.client(&["--config", "config.toml", "zones", "--sdp", "pasr"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("did you mean `pasar`"), "{err}");
    // No daemon: 3, and still an object.
    drop(d);
    let (code, out, _) = st.client(&["status", "--json"]);
    assert_eq!(code, 3);
    assert_eq!(json(&out)["code"], "unavailable");
}
