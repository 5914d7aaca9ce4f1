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
        if let Some(r) = log.entries.into_iter().find(|r| r.job.0 == id) {
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
            .find(|r| r.job.0 == id && r.how == "completed")
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
    assert_eq!(code, 2, "a bad value: {err}");
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
    // A zone with nothing on it says so, rather than "stopped".
    let (code, out, err) = st.client(&["stop", "--zones", "alun-alun"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "nothing was playing on alun-alun");
}

#[test]
fn an_unknown_voice_is_refused_with_near_ones() {
    if !common::require_peer("espeak-ng") {
        return;
    }
    let (st, _d) = blitar();
    let (code, _, err) = st.client(&["say", "Selamat pagi", "--voice", "xyzzy"]);
    assert_eq!(code, 2, "a bad value: {err}");
    assert!(err.contains("unknown voice `xyzzy`"), "{err}");
    let (code, _, err) = st.client(&["say", "Selamat pagi", "--voice", "indonesia"]);
    assert_eq!(code, 2, "{err}");
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

/// Whether this process runs as root (needed to start a daemon as another
/// user).
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn a_file_only_the_operator_can_read_is_sent_over_the_socket() {
    if !is_root() {
        assert!(
            std::env::var_os("CORONG_REQUIRE_PEERS").is_none(),
            "this test starts the daemon as `nobody`: it needs root"
        );
        eprintln!("skipped: needs root to run the daemon as another user");
        return;
    }
    // The daemon runs as `nobody` in a folder it owns; the announcement
    // lies in root's private folder, as in an operator's 0700 home.
    let st = Station::new();
    st.config("[[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n");
    let chown = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(st.dir.path())
        .status()
        .unwrap();
    assert!(chown.success());
    std::fs::set_permissions(
        st.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let private = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        private.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let secret = private.path().join("pengumuman.wav");
    tone_wav(&secret, 700.0, 1.0);

    let log = std::fs::File::create(st.path("daemon.log")).unwrap();
    let child = std::os::unix::process::CommandExt::uid(
        std::os::unix::process::CommandExt::gid(&mut common::station::corong(), 65534),
        65534,
    )
    .arg("daemon")
    .arg("--config")
    .arg(st.path("config.toml"))
    .env_remove("RUST_LOG")
    .stdout(std::process::Stdio::null())
    .stderr(log)
    .spawn()
    .unwrap();
    let d = Daemon {
        child,
        log: st.path("daemon.log"),
    };
    d.wait_log("corong daemon started", Duration::from_secs(10));

    let (code, out, err) =
        st.client(&["announce", secret.to_str().unwrap(), "--no-chime", "--wait"]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        err.contains("the daemon cannot read"),
        "{err}\n{}",
        d.log_text()
    );
    let kept = d.log_lines(&["upload kept"]);
    assert_eq!(kept.len(), 1, "{}", d.log_text());
    // What played is the operator's file: the recording has its tone.
    let (code, out, _) = st.client(&["log", "--json"]);
    assert_eq!(code, 0);
    let Reply::Log(log) = reply(&out) else {
        panic!("{out}")
    };
    let row = log
        .entries
        .iter()
        .find(|r| r.how == "completed")
        .expect("played");
    assert!(
        row.file.contains("/uploads/") && row.file.ends_with(".wav"),
        "{row:?}"
    );
    drop(d);
    let (samples, rate) = common::read_wav_mono(&st.path("rec.wav"));
    let (from, to) = common::active_span(&samples, 0.05).expect("the tone is in the recording");
    let f = common::tone_frequency(&samples[from..to], rate);
    assert!((f - 700.0).abs() < 7.0, "{f} Hz");
}

#[test]
fn hostile_uploads_are_refused_and_leave_nothing() {
    use std::io::{BufRead, BufReader, Write};
    let (st, _d) = blitar();
    let uploads = st.path("state/uploads");
    // Too large, announced up front: refused before a byte is read.
    let mut s = std::os::unix::net::UnixStream::connect(st.socket()).unwrap();
    writeln!(
        s,
        r#"{{"v":1,"cmd":"upload","name":"besar.wav","size":{}}}"#,
        (1u64 << 30) + 1
    )
    .unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    assert!(
        line.contains("bad_request") && line.contains("1073741824"),
        "{line}"
    );
    // Half the bytes, then the client goes.
    let mut s = std::os::unix::net::UnixStream::connect(st.socket()).unwrap();
    writeln!(
        s,
        r#"{{"v":1,"cmd":"upload","name":"../../etc/cron.d/x","size":1000}}"#
    )
    .unwrap();
    s.write_all(&[7u8; 500]).unwrap();
    drop(s);
    std::thread::sleep(Duration::from_millis(300));
    let left: Vec<_> = std::fs::read_dir(&uploads)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
    // Garbage, whole: kept by content, but refused as audio when announced.
    let mut s = std::os::unix::net::UnixStream::connect(st.socket()).unwrap();
    writeln!(
        s,
        r#"{{"v":1,"cmd":"upload","name":"../../x.wav","size":1000}}"#
    )
    .unwrap();
    s.write_all(&[7u8; 1000]).unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let path = v["result"]["path"].as_str().unwrap().to_string();
    assert!(path.starts_with(uploads.to_str().unwrap()), "{path}");
    assert!(path.ends_with(".wav") && !path.contains(".."), "{path}");
    let (code, _, err) = st.client(&["announce", &path]);
    assert_eq!(code, 1, "{err}");
    let (_, out, _) = st.client(&["queue", "--json"]);
    assert!(!out.contains("\"id\""), "{out}");
}
