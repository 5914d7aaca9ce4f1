//! An emergency always gets through, and nothing accepted is lost in
//! silence: a real daemon, real clients, and the RTP that arrives.
//!
//! Each test here is a fault a campaign against the daemon found: a config
//! broken on disk, files that block whoever opens them, connections held
//! idle, a zone holding more jobs than its mixer has places, a stop that
//! answered before it took effect, and a dead pole shown as streaming.

mod common;

use std::net::UdpSocket;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::station::{corong, free_port_pair, Daemon, Station};
use common::tone_wav;
use corong::control::protocol::Reply;

/// A station with one L16 RTP zone, `alun-alun`, whose packets arrive on
/// the returned socket, and `media/alarm.wav` and `media/short.wav`.
fn rtp_station() -> (Station, UdpSocket) {
    let st = Station::new();
    let port = free_port_pair();
    let sock = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    st.config(&good_zones(port));
    tone_wav(&st.path("media/alarm.wav"), 900.0, 2.0);
    tone_wav(&st.path("media/short.wav"), 500.0, 0.1);
    (st, sock)
}

fn good_zones(port: u16) -> String {
    format!("[[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{port}\"]\ncodec = \"l16\"\n")
}

/// When the first RTP packet with sound in it arrives, within `timeout`.
/// Packets already waiting are read too: call it right after the request.
fn first_sound(sock: &UdpSocket, timeout: Duration) -> Option<Instant> {
    let end = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        if let Ok(n) = sock.recv(&mut buf) {
            // L16: 12 header bytes, then big-endian samples; silence is 0.
            if n > 12 && buf[12..n].chunks(2).any(|s| s != [0, 0]) {
                return Some(Instant::now());
            }
        }
    }
    None
}

/// Throw away what has arrived so far.
fn drain(sock: &UdpSocket) {
    sock.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    while sock.recv(&mut buf).is_ok() {}
    sock.set_nonblocking(false).unwrap();
}

/// `corong ARGS` run in the station's folder, finding the daemon the way
/// an operator's shell does: through the config, with no `--socket` and
/// no `CORONG_SOCKET`.
fn operator(st: &Station, args: &[&str]) -> Output {
    corong()
        .arg("--config")
        .arg(st.path("config.toml"))
        .args(args)
        .env_remove("CORONG_SOCKET")
        .current_dir(st.dir.path())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Start an emergency with `media/alarm.wav`; assert it answered and that
/// sound reached the wire within 1 s of the request.
fn emergency_reaches_the_air(st: &Station, sock: &UdpSocket) {
    drain(sock);
    let asked = Instant::now();
    let out = operator(st, &["emergency", "media/alarm.wav"]);
    assert!(
        out.status.success(),
        "emergency: {} {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let heard = first_sound(sock, Duration::from_secs(2)).expect("no sound on the zone");
    let took = heard - asked;
    assert!(took < Duration::from_secs(1), "on air after {took:?}");
}

fn stop_emergency(st: &Station) {
    let out = operator(st, &["emergency", "--stop"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_config_broken_on_disk_does_not_stand_between_an_operator_and_the_daemon() {
    let (st, sock) = rtp_station();
    let d = st.start();
    let good = std::fs::read_to_string(st.path("config.toml")).unwrap();
    let broken = [
        ("an unknown key", format!("{good}\n[daemon2]\nx = 1\n")),
        ("a syntax error", format!("{good}\n[[zones]\nname = \"x")),
        (
            "a missing playlist",
            format!(
                "{good}\n[[schedules]]\nname = \"pagi\"\ncron = \"0 0 6 * * *\"\nplaylist = \"tidak-ada\"\nzones = [\"all\"]\n"
            ),
        ),
    ];
    for (what, config) in broken {
        std::fs::write(st.path("config.toml"), &config).unwrap();
        // `check` says what is wrong...
        assert!(!operator(&st, &["check"]).status.success(), "{what}");
        // ...and the emergency still goes on air and stops.
        emergency_reaches_the_air(&st, &sock);
        let status = operator(&st, &["status"]);
        assert!(status.status.success(), "{what}: {}", text(&status.stderr));
        stop_emergency(&st);
        // A reload names the file and keeps the running config.
        let reload = operator(&st, &["reload"]);
        assert!(!reload.status.success(), "{what}: reload accepted");
        let err = text(&reload.stderr);
        assert!(err.contains("config.toml"), "{what}: {err}");
        let zones = operator(&st, &["zones", "--json"]);
        assert!(text(&zones.stdout).contains("alun-alun"), "{what}");
    }
    let log = d.log_text();
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("reload refused"))
        .collect();
    assert!(refusals.len() >= 6, "{log}");
    for line in refusals {
        assert!(
            line.contains("config.toml"),
            "reload refusal without the file: {line}"
        );
    }
}

#[test]
fn files_that_never_end_are_refused_and_the_emergency_gets_through() {
    let (st, sock) = rtp_station();
    let _d = st.start();
    let fifo = st.path("media/pipa.wav");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    std::fs::create_dir(st.path("media/folder.wav")).unwrap();
    let cases: [(&Path, &str); 3] = [
        (&fifo, "FIFO"),
        (&st.path("media/folder.wav"), "directory"),
        (Path::new("/dev/zero"), "device"),
    ];
    for (file, word) in cases {
        let announce = {
            let cmd = corong()
                .arg("--socket")
                .arg(st.socket())
                .arg("announce")
                .arg(file)
                .current_dir(st.dir.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            cmd
        };
        // The emergency from another operator, while that request is in.
        std::thread::sleep(Duration::from_millis(100));
        emergency_reaches_the_air(&st, &sock);
        let out = announce.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}: {}",
            file.display(),
            text(&out.stdout)
        );
        let err = text(&out.stderr);
        assert!(
            err.contains(word) && err.contains(&*file.to_string_lossy()),
            "{err}"
        );
        stop_emergency(&st);
    }
}

#[test]
fn idle_connections_do_not_lock_out_an_emergency() {
    let (st, sock) = rtp_station();
    let _d = st.start();
    for n in [64, 200] {
        let idle: Vec<UnixStream> = (0..n)
            .map(|_| UnixStream::connect(st.socket()).unwrap())
            .collect();
        emergency_reaches_the_air(&st, &sock);
        let status = operator(&st, &["status"]);
        assert!(
            status.status.success(),
            "{n} idle: {}",
            text(&status.stderr)
        );
        stop_emergency(&st);
        drop(idle);
    }
}

#[test]
fn an_idle_connection_is_closed_soon_after_it_sends_nothing() {
    let (st, _sock) = rtp_station();
    let _d = st.start();
    let mut idle = UnixStream::connect(st.socket()).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 16];
    let n = std::io::Read::read(&mut idle, &mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the daemon said something to a silent client");
    let held = t.elapsed();
    assert!(held < Duration::from_secs(5), "held for {held:?}");
}

/// The as-run rows of the last hour, parsed.
fn as_run(st: &Station) -> Vec<corong::control::protocol::AsRunRow> {
    let out = st.client(&["log", "--json", "--limit", "10000"]);
    assert_eq!(out.0, 0, "{}", out.2);
    match serde_json::from_str::<Reply>(&out.1).unwrap() {
        Reply::Log(log) => log.entries,
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_accepted_announcement_on_a_crowded_zone_plays() {
    let (st, _sock) = rtp_station();
    let _d = st.start();
    let mut ids = Vec::new();
    for _ in 0..80 {
        let (code, out, err) = st.client(&["announce", "media/short.wav", "--no-chime"]);
        assert_eq!(code, 0, "{err}");
        ids.push(out.lines().next().unwrap().trim().parse::<i64>().unwrap());
    }
    // 80 x 0.1 s, each with its fades: well under a minute.
    let end = Instant::now() + Duration::from_secs(60);
    let mut missing: Vec<i64>;
    loop {
        let rows = as_run(&st);
        missing = ids
            .iter()
            .copied()
            .filter(|id| {
                !rows
                    .iter()
                    .any(|r| r.job.0 == *id && r.how == "completed" && r.zone == "alun-alun")
            })
            .collect();
        if missing.is_empty() || Instant::now() > end {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(missing.is_empty(), "accepted but never played: {missing:?}");
    // Each played once.
    let rows = as_run(&st);
    for id in ids {
        let n = rows.iter().filter(|r| r.job.0 == id).count();
        assert_eq!(n, 1, "job {id} has {n} rows");
    }
}

#[test]
fn a_crowded_zone_still_takes_an_emergency_at_once() {
    let (st, sock) = rtp_station();
    tone_wav(&st.path("media/long.wav"), 500.0, 5.0);
    let _d = st.start();
    for _ in 0..70 {
        let (code, _, err) = st.client(&["announce", "media/long.wav", "--no-chime"]);
        assert_eq!(code, 0, "{err}");
    }
    emergency_reaches_the_air(&st, &sock);
    // Silence after the stop: the announcements wait behind it, so stop
    // the zone altogether and check the queue is empty.
    let (code, out, err) = st.client(&["stop"]);
    assert_eq!(code, 0, "{out} {err}");
    let (code, out, _) = st.client(&["queue", "--json"]);
    assert_eq!(code, 0);
    match serde_json::from_str::<Reply>(&out).unwrap() {
        Reply::Queue(q) => assert!(q.jobs.is_empty(), "{:?}", q.jobs),
        other => panic!("{other:?}"),
    }
}

/// Whether `status` shows anything at emergency priority.
fn emergency_in_status(st: &Station) -> bool {
    let (code, out, err) = st.client(&["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    match serde_json::from_str::<Reply>(&out).unwrap() {
        Reply::Status(s) => s
            .zones
            .iter()
            .any(|z| z.playing.as_ref().is_some_and(|p| p.priority >= 250)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_stop_answers_once_the_zones_are_released() {
    let (st, sock) = rtp_station();
    let _d: Daemon = st.start();
    for round in 0..5 {
        emergency_reaches_the_air(&st, &sock);
        let deadline = Instant::now() + Duration::from_secs(2);
        while !emergency_in_status(&st) {
            assert!(Instant::now() < deadline, "status never showed it");
            std::thread::sleep(Duration::from_millis(20));
        }
        let (code, out, err) = if round % 2 == 0 {
            st.client(&["emergency", "--stop"])
        } else {
            st.client(&["stop"])
        };
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("alun-alun"), "{out}");
        assert!(
            !emergency_in_status(&st),
            "round {round}: status still shows the emergency after `{out}`"
        );
    }
}

/// The zone of `status --json`.
fn zone_status(st: &Station) -> corong::control::protocol::ZoneStatus {
    let (code, out, err) = st.client(&["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    match serde_json::from_str::<Reply>(&out).unwrap() {
        Reply::Status(s) => s.zones.into_iter().next().unwrap(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_dead_pole_shows_unreachable_and_a_live_one_loses_nothing() {
    let st = Station::new();
    let dead = free_port_pair();
    let live_port = free_port_pair();
    let live = UdpSocket::bind(("127.0.0.1", live_port)).unwrap();
    live.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    st.config(&format!(
        "[[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{dead}\", \"127.0.0.1:{live_port}\"]\ncodec = \"pcmu\"\n"
    ));
    let d = st.start();
    let end = Instant::now() + Duration::from_secs(5);
    let zone = loop {
        let z = zone_status(&st);
        if z.endpoint_health.iter().any(|e| e.health == "unreachable") || Instant::now() > end {
            break z;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let e = &zone.endpoint_health[0];
    assert_eq!(e.endpoint, format!("rtp://127.0.0.1:{dead}"));
    assert_eq!(e.health, "unreachable", "{zone:?}");
    assert!(e.since.is_some(), "{e:?}");
    assert!(
        e.error.as_deref().unwrap().contains("nothing listens"),
        "{e:?}"
    );
    assert_eq!(zone.endpoint_health[1].health, "streaming");
    assert_eq!(zone.state, "degraded", "one of two poles is down");
    d.wait_log("destination unreachable", Duration::from_secs(2));

    // The live pole got every packet meanwhile: consecutive sequence
    // numbers over two seconds.
    let mut seqs = Vec::new();
    let mut buf = [0u8; 2048];
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if let Ok(n) = live.recv(&mut buf) {
            if n > 12 && buf[1] & 0x7f == 0 {
                seqs.push(u16::from_be_bytes([buf[2], buf[3]]));
            }
        }
    }
    assert!(seqs.len() >= 80, "{} packets", seqs.len());
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0].wrapping_add(1), "the live pole lost a packet");
    }

    // The dead pole comes back: so does its health.
    let _back = UdpSocket::bind(("127.0.0.1", dead)).unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let z = zone_status(&st);
        if z.state == "streaming" {
            break;
        }
        assert!(Instant::now() < end, "still {z:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    d.wait_log("destination reachable again", Duration::from_secs(2));
}

#[test]
fn cancelling_a_long_job_mid_way_writes_no_errors() {
    let (st, _sock) = rtp_station();
    let d = st.start();
    let files: Vec<String> = (0..64)
        .map(|_| st.path("media/short.wav").to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["announce", "--no-chime"];
    args.extend(files.iter().map(String::as_str));
    let (code, out, err) = st.client(&args);
    assert_eq!(code, 0, "{err}");
    let id = out.trim().to_string();
    d.wait_log(
        &format!("on air zone=alun-alun job={id} item=3"),
        Duration::from_secs(10),
    );
    let (code, _, err) = st.client(&["cancel", &id]);
    assert_eq!(code, 0, "{err}");
    d.wait_log(
        &format!("ended zone=alun-alun job={id}"),
        Duration::from_secs(5),
    );
    std::thread::sleep(Duration::from_millis(300));
    let log = d.log_text();
    assert!(!log.contains(" ERROR "), "{log}");
}
