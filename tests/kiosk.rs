//! End to end for the unattended kiosk: systemd's notify protocol (READY,
//! WATCHDOG, STOPPING) against a socket the test makes, SIGTERM with a job
//! on air, and a state directory that is read-only or fills up while the
//! zones play. The real `corong` binary runs on a temporary folder.

mod common;

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use common::station::{corong, free_port_pair, Daemon, Station};
use common::{tone_wav, StampedSocket};

/// Start `corong daemon` on the station's config with extra environment.
fn start_with_env(st: &Station, env: &[(&str, String)]) -> Daemon {
    let log = st.path("daemon.log");
    let file = fs::File::create(&log).unwrap();
    let mut cmd = corong();
    cmd.arg("daemon")
        .arg("--config")
        .arg(st.path("config.toml"))
        .env_remove("RUST_LOG")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::null())
        .stderr(file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("start corong daemon");
    let d = Daemon { child, log };
    d.wait_log("corong daemon started", Duration::from_secs(10));
    d
}

/// What a `NOTIFY_SOCKET` received: each datagram's lines, and when.
struct NotifyListener {
    socket: UnixDatagram,
    path: PathBuf,
}

impl NotifyListener {
    fn bind(st: &Station) -> NotifyListener {
        let path = st.path("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        NotifyListener { socket, path }
    }

    fn env(&self) -> (&'static str, String) {
        ("NOTIFY_SOCKET", self.path.display().to_string())
    }

    /// Datagrams until `until` (each with the wall-clock and monotonic time
    /// it was read).
    fn collect_until(&self, until: Instant) -> Vec<(String, SystemTime, Instant)> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < until {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                got.push((text, SystemTime::now(), Instant::now()));
            }
        }
        got
    }

    /// Wait for a datagram containing `needle`; panic after `timeout`.
    fn wait_for(&self, needle: &str, timeout: Duration) -> (String, SystemTime, Instant) {
        let end = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        let mut seen = Vec::new();
        while Instant::now() < end {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if text.lines().any(|l| l == needle) {
                    return (text, SystemTime::now(), Instant::now());
                }
                seen.push(text);
            }
        }
        panic!("no `{needle}` on NOTIFY_SOCKET within {timeout:?}; got {seen:?}");
    }
}

/// Every RTP packet that arrives on a port: sequence number and arrival.
struct RtpWatch {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<(u16, Instant)>>,
}

impl RtpWatch {
    fn start(port: u16) -> RtpWatch {
        let sock = std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 2048];
            while !flag.load(Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    if n >= 12 {
                        got.push((u16::from_be_bytes([buf[2], buf[3]]), Instant::now()));
                    }
                }
            }
            got
        });
        RtpWatch { stop, thread }
    }

    fn finish(self) -> Vec<(u16, Instant)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// At least `min` packets, consecutive sequence numbers (nothing lost or
/// skipped), and no silence on the wire longer than `max_gap`.
fn assert_streamed_without_gaps(packets: &[(u16, Instant)], min: usize, max_gap: Duration) {
    assert!(
        packets.len() >= min,
        "only {} packets (wanted {min})",
        packets.len()
    );
    for w in packets.windows(2) {
        assert_eq!(
            w[1].0,
            w[0].0.wrapping_add(1),
            "sequence jumps from {} to {}",
            w[0].0,
            w[1].0
        );
        let gap = w[1].1 - w[0].1;
        assert!(gap <= max_gap, "{gap:?} without a packet");
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn sigterm(d: &Daemon) {
    // SAFETY: kill(2) with the pid of a child we spawned and still own.
    unsafe {
        libc::kill(d.child.id() as i32, libc::SIGTERM);
    }
}

/// READY=1 arrives only after every zone's first packet went out, with a
/// STATUS line; then WATCHDOG=1 at half of WATCHDOG_USEC; on SIGTERM,
/// STOPPING=1.
#[test]
fn ready_after_every_zone_streamed_then_watchdog_pings_then_stopping() {
    let st = Station::new();
    let (p1, p2) = (free_port_pair(), free_port_pair());
    st.config(&format!(
        "[[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:{p1}\"]\n\n\
         [[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{p2}\"]\ncodec = \"pcmu\"\n"
    ));
    let first_packet = |port: u16| {
        let sock = StampedSocket::bind(port);
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            sock.recv(&mut buf).expect("a first RTP packet").1
        })
    };
    let (first1, first2) = (first_packet(p1), first_packet(p2));
    let notify = NotifyListener::bind(&st);
    let d = start_with_env(&st, &[notify.env(), ("WATCHDOG_USEC", "300000".into())]);
    let (ready, ready_wall, ready_at) = notify.wait_for("READY=1", Duration::from_secs(5));
    let since_epoch = ready_wall.duration_since(SystemTime::UNIX_EPOCH).unwrap();
    for (zone, first) in [("pasar", first1), ("alun-alun", first2)] {
        let sent = first.join().unwrap();
        assert!(
            sent <= since_epoch,
            "READY=1 came before zone {zone}'s first packet"
        );
    }
    assert!(
        ready.contains("STATUS=2 zones streaming, 0 jobs on air"),
        "{ready:?}"
    );

    let got = notify.collect_until(ready_at + Duration::from_millis(1600));
    let pings: Vec<Instant> = got
        .iter()
        .filter(|(t, ..)| t.lines().any(|l| l == "WATCHDOG=1"))
        .map(|(_, _, at)| *at)
        .collect();
    // Every 150 ms: about 10 in 1.6 s.
    assert!(pings.len() >= 7, "{} watchdog pings in 1.6 s", pings.len());
    for w in pings.windows(2) {
        assert!(
            w[1] - w[0] < Duration::from_millis(400),
            "pings {:?} apart",
            w[1] - w[0]
        );
    }

    sigterm(&d);
    notify.wait_for("STOPPING=1", Duration::from_secs(2));
    assert!(d.stop().success());
}

/// The test hook freezes the engine thread 1.5 s after it starts: watchdog
/// pings come before, and stop after (the daemon says why), so systemd would
/// restart it. A frozen engine still lets the daemon shut down.
#[test]
fn a_frozen_engine_stops_the_watchdog_pings() {
    let st = Station::new();
    let port = free_port_pair();
    st.config(&format!(
        "[[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:{port}\"]\n"
    ));
    let notify = NotifyListener::bind(&st);
    let d = start_with_env(
        &st,
        &[
            notify.env(),
            ("WATCHDOG_USEC", "200000".into()),
            ("CORONG_TEST_FREEZE_ENGINE_AFTER_MS", "1500".into()),
        ],
    );
    let (_, _, ready_at) = notify.wait_for("READY=1", Duration::from_secs(5));
    let got = notify.collect_until(ready_at + Duration::from_millis(4000));
    let pings: Vec<Duration> = got
        .iter()
        .filter(|(t, ..)| t.lines().any(|l| l == "WATCHDOG=1"))
        .map(|(_, _, at)| *at - ready_at)
        .collect();
    let before = pings
        .iter()
        .filter(|t| **t < Duration::from_secs(1))
        .count();
    let after = pings
        .iter()
        .filter(|t| **t > Duration::from_millis(2500))
        .count();
    assert!(before >= 5, "pings while the engine ran: {pings:?}");
    assert_eq!(after, 0, "pings after the engine froze: {pings:?}");
    d.wait_log("withholding pings", Duration::from_secs(1));

    let t0 = Instant::now();
    let status = d.stop();
    assert!(status.success());
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
}

/// SIGTERM with an announcement on air on an RTP zone and a recorder zone;
/// returns the time from the signal to the exit. Asserts a clean exit, the
/// item logged as interrupted on both zones in the as-run log, and the job
/// kept pending so that it plays again after the restart.
fn sigterm_with_a_job_playing() -> Duration {
    let st = Station::new();
    let port = free_port_pair();
    tone_wav(&st.path("media/long.wav"), 1000.0, 20.0);
    st.config(&format!(
        "[[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:{port}\"]\n\n\
         [[zones]]\nname = \"arsip\"\nwav = \"rec.wav\"\n"
    ));
    let mut d = st.start();
    let (code, id, err) = st.client(&["announce", "media/long.wav", "--no-chime"]);
    assert_eq!(code, 0, "{err}");
    let id = id.trim().to_string();
    d.wait_log(
        &format!("on air zone=pasar job={id}"),
        Duration::from_secs(5),
    );
    d.wait_log(
        &format!("on air zone=arsip job={id}"),
        Duration::from_secs(5),
    );
    std::thread::sleep(Duration::from_millis(300));

    let t0 = Instant::now();
    sigterm(&d);
    let status = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "no exit 5 s after SIGTERM:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    let took = t0.elapsed();
    let log = d.log_text();
    drop(d);
    assert!(status.success(), "{status:?}\n{log}");
    assert!(log.contains("how=interrupted"), "{log}");

    let store = corong::store::Store::open(&st.path("state")).unwrap();
    let rows = store.query_as_run(None, None, None).unwrap();
    for zone in ["pasar", "arsip"] {
        let row = rows
            .iter()
            .find(|r| r.zone == zone && r.file.ends_with("long.wav"))
            .unwrap_or_else(|| panic!("no as-run row on {zone}: {rows:?}"));
        assert_eq!(row.how, corong::store::How::Interrupted, "{row:?}");
        assert_eq!(row.job.map(|j| j.0.to_string()), Some(id.clone()));
    }
    let pending = store.unfinished().unwrap();
    assert!(
        pending.iter().any(|j| j.id.0.to_string() == id),
        "the interrupted job plays again after a restart"
    );
    // The recorder's file was finalized: a readable WAV.
    let rec = hound::WavReader::open(st.path("rec.wav")).unwrap();
    assert!(rec.duration() > 0);
    took
}

#[test]
fn sigterm_with_a_job_playing_exits_within_2_s_and_logs_it_interrupted() {
    let took = sigterm_with_a_job_playing();
    eprintln!("SIGTERM to exit: {} ms", took.as_millis());
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

/// The figure for the report: the median of 10 SIGTERM-to-exit times with
/// a job on air. `cargo test --test kiosk -- --ignored --nocapture sigterm_median`
#[test]
#[ignore]
fn sigterm_median_of_10() {
    let mut times: Vec<Duration> = (0..10).map(|_| sigterm_with_a_job_playing()).collect();
    times.sort();
    let ms: Vec<u128> = times.iter().map(|t| t.as_millis()).collect();
    eprintln!(
        "SIGTERM to exit, 10 runs (ms, sorted): {ms:?}; median {:.1} ms",
        (times[4] + times[5]).as_secs_f64() * 1000.0 / 2.0
    );
}

/// A filesystem mounted for a test, unmounted when dropped.
struct Mount {
    path: PathBuf,
}

impl Mount {
    /// Run `mount ARGS`; panic loudly if it fails (the caller checked that we
    /// are root, so a failure is unexpected).
    fn run_mount(args: &[&str], path: &Path) -> Mount {
        let out = Command::new("mount").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "mount {args:?} failed as root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Mount {
            path: path.to_path_buf(),
        }
    }

    fn tmpfs(path: &Path, size: &str) -> Mount {
        fs::create_dir_all(path).unwrap();
        let opts = format!("size={size},mode=0755");
        Mount::run_mount(
            &["-t", "tmpfs", "-o", &opts, "tmpfs", path.to_str().unwrap()],
            path,
        )
    }

    /// `from` mounted read-only at `path`.
    fn read_only_bind(from: &Path, path: &Path) -> Mount {
        fs::create_dir_all(path).unwrap();
        let m = Mount::run_mount(
            &["--bind", from.to_str().unwrap(), path.to_str().unwrap()],
            path,
        );
        let out = Command::new("mount")
            .args(["-o", "remount,ro,bind", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "remount read-only failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        m
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Still busy (a daemon that would not die): detach it.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// Write `path` until the filesystem is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = fs::File::create(path).unwrap();
    let block = vec![0u8; 4096];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
}

/// The state directory is a tiny tmpfs that is already full when the
/// daemon starts: it starts, streams, and refuses announcements.
#[test]
fn a_state_dir_full_at_start_refuses_announcements_and_the_zones_play() {
    if !is_root() {
        eprintln!("skipping: mounting a tmpfs needs root");
        return;
    }
    let (st, port) = storage_station();
    let _tmpfs = Mount::tmpfs(&st.path("state"), "64k");
    fill(&st.path("state/filler"));
    let rtp = RtpWatch::start(port);
    let d = st.start();
    d.wait_log("every zone is streaming", Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(500));
    let (code, out, err) = st.client(&["announce", "media/short.wav", "--no-chime"]);
    assert_ne!(code, 0, "accepted on a full disk: {out}");
    assert!(err.contains("state store"), "{err}");
    assert!(err.contains("full"), "{err}");
    let (code, _, err) = st.client(&["queue"]);
    assert_eq!(code, 0, "queue: {err}");
    std::thread::sleep(Duration::from_millis(1000));
    assert!(d.stop().success());
    assert_streamed_without_gaps(&rtp.finish(), 60, Duration::from_millis(250));
}

/// A station with one RTP zone and a short announcement file.
fn storage_station() -> (Station, u16) {
    let st = Station::new();
    let port = free_port_pair();
    tone_wav(&st.path("media/short.wav"), 800.0, 0.5);
    st.config(&format!(
        "[[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:{port}\"]\n"
    ));
    (st, port)
}

/// The state directory is a read-only mount (holding a store written
/// earlier): the daemon starts and streams, says why in its log, refuses
/// announcements naming the state store, and still answers `queue`.
#[test]
fn a_read_only_state_dir_refuses_announcements_and_the_zones_play_on() {
    if !is_root() {
        eprintln!("skipping: a read-only bind mount needs root (chmod does not stop root)");
        return;
    }
    let (st, port) = storage_station();
    // A store with its schema, written while the folder was writable.
    drop(corong::store::Store::open(&st.path("state-src")).unwrap());
    let _ro = Mount::read_only_bind(&st.path("state-src"), &st.path("state"));

    let rtp = RtpWatch::start(port);
    let d = st.start();
    d.wait_log("read-only", Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(500));
    let (code, out, err) = st.client(&["announce", "media/short.wav", "--no-chime"]);
    assert_ne!(code, 0, "accepted on a read-only store: {out}");
    assert!(err.contains("state store"), "{err}");
    assert!(err.contains("read-only"), "{err}");
    assert!(out.is_empty(), "printed an id: {out}");
    eprintln!("refused: {}", err.trim());
    let (code, _, err) = st.client(&["queue"]);
    assert_eq!(code, 0, "queue: {err}");
    std::thread::sleep(Duration::from_millis(1000));
    let status = st.client(&["status"]);
    assert_eq!(status.0, 0, "{status:?}");
    assert!(d.stop().success());
    // About 1.5 s at 50 packets a second, none missing.
    assert_streamed_without_gaps(&rtp.finish(), 60, Duration::from_millis(250));
}

/// The state directory is a small tmpfs that fills up while the daemon
/// runs: announcements are accepted while the store can keep them, then
/// refused with the store's message; every accepted one is in the queue;
/// the zone streams throughout and `queue` answers.
#[test]
fn a_state_dir_that_fills_up_refuses_announcements_and_the_zones_play_on() {
    if !is_root() {
        eprintln!("skipping: mounting a tmpfs needs root");
        return;
    }
    let (st, port) = storage_station();
    let _tmpfs = Mount::tmpfs(&st.path("state"), "1m");
    let rtp = RtpWatch::start(port);
    let d = st.start();
    d.wait_log("every zone is streaming", Duration::from_secs(2));
    let streaming_since = Instant::now();

    fill(&st.path("state/filler"));
    let mut accepted = Vec::new();
    let mut refusal = None;
    for _ in 0..40 {
        let (code, out, err) = st.client(&[
            "announce",
            "media/short.wav",
            "--no-chime",
            "--at",
            "2099-01-01 08:00",
        ]);
        if code == 0 {
            accepted.push(out.trim().to_string());
        } else {
            refusal = Some(err);
            break;
        }
    }
    let err = refusal.unwrap_or_else(|| panic!("40 announcements accepted on a full disk"));
    eprintln!(
        "{} accepted on the full disk, then refused: {}",
        accepted.len(),
        err.trim()
    );
    assert!(err.contains("state store"), "{err}");
    assert!(err.contains("full"), "{err}");
    d.wait_log("full disk", Duration::from_secs(1));
    // Refused from now on, with the same message.
    let (code, _, err2) = st.client(&["announce", "media/short.wav", "--no-chime"]);
    assert_ne!(code, 0);
    assert!(err2.contains("state store"), "{err2}");

    let (code, queue, qerr) = st.client(&["queue", "--json"]);
    assert_eq!(code, 0, "queue: {qerr}");
    let queue: serde_json::Value = serde_json::from_str(&queue).unwrap();
    let ids: Vec<String> = queue["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].to_string())
        .collect();
    for id in &accepted {
        assert!(
            ids.contains(id),
            "accepted job {id} is not in the queue: {ids:?}"
        );
    }
    // Watch long enough for the 60 packets below (1.2 s), however fast the
    // store refused: a refusal at the first try left too short a window.
    std::thread::sleep(Duration::from_millis(500).max(
        (streaming_since + Duration::from_millis(1600)).saturating_duration_since(Instant::now()),
    ));
    assert!(d.stop().success());
    assert_streamed_without_gaps(&rtp.finish(), 60, Duration::from_millis(250));
}

/// The health `corong zones --json` gives the zone `name`, with its error.
fn zone_health(st: &Station, name: &str) -> (String, String) {
    let (code, out, err) = st.client(&["zones", "--json"]);
    assert_eq!(code, 0, "zones: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let zone = v["zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["name"] == name)
        .unwrap_or_else(|| panic!("no zone {name}: {out}"))
        .clone();
    (
        zone["health"].as_str().unwrap_or_default().to_string(),
        zone["error"].as_str().unwrap_or_default().to_string(),
    )
}

/// Poll the zone's health until it is `want`; panic with the log if not.
fn wait_health(st: &Station, d: &Daemon, name: &str, want: &str, timeout: Duration) -> String {
    let end = Instant::now() + timeout;
    loop {
        let (health, error) = zone_health(st, name);
        if health == want {
            return error;
        }
        if Instant::now() > end {
            panic!(
                "zone {name} is {health} ({error}), not {want}, after {timeout:?}:\n{}",
                d.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A recorder zone whose folder is a small tmpfs that fills up: the zone
/// turns degraded naming the file and the cause; once space is freed it
/// records again by itself (no restart, no SIGHUP), says so, turns healthy,
/// and the WAV, valid, holds what played after the recovery.
#[test]
fn a_recorder_on_a_full_disk_records_again_once_space_is_freed() {
    if !is_root() {
        if std::env::var("CORONG_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("this test fills a tmpfs, which needs root (CORONG_REQUIRE_PEERS=1)");
        }
        eprintln!("skipping: mounting a tmpfs needs root");
        return;
    }
    let st = Station::new();
    tone_wav(&st.path("media/tone.wav"), 1000.0, 1.0);
    st.config("[[zones]]\nname = \"arsip\"\nwav = \"rec/arsip.wav\"\n");
    let _tmpfs = Mount::tmpfs(&st.path("rec"), "4m");
    let wav = st.path("rec/arsip.wav");
    let d = st.start();
    d.wait_log("every zone is streaming", Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(1500));

    fill(&st.path("rec/filler"));
    let error = wait_health(&st, &d, "arsip", "degraded", Duration::from_secs(5));
    assert!(error.contains(&wav.display().to_string()), "{error}");
    assert!(error.contains("No space left on device"), "{error}");
    let lines = d.log_lines(&["cannot write the recording", &wav.display().to_string()]);
    assert_eq!(lines.len(), 1, "logged once:\n{}", d.log_text());
    // Still degraded a while later: nothing was freed.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(zone_health(&st, "arsip").0, "degraded");

    fs::remove_file(st.path("rec/filler")).unwrap();
    // The backoff is at most 5 s.
    d.wait_log(
        &format!("recording to {} again", wav.display()),
        Duration::from_secs(8),
    );
    wait_health(&st, &d, "arsip", "streaming", Duration::from_secs(3));
    let (code, _, err) = st.client(&["announce", "media/tone.wav", "--no-chime", "--wait"]);
    assert_eq!(code, 0, "announce: {err}");
    assert!(d.stop().success());

    let mut reader = hound::WavReader::open(&wav).unwrap();
    let frames = reader.duration() as usize;
    let samples: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect();
    assert_eq!(samples.len(), frames, "the header is right");
    let (start, end) =
        common::active_span(&samples, 0.1).expect("the announcement after recovery is recorded");
    let freq = common::tone_frequency(&samples[start..end], 48_000);
    assert!((freq - 1000.0).abs() < 10.0, "{freq} Hz");
    assert!(end - start > 40_000, "{} frames of the tone", end - start);
}

/// Slow work runs beside the control loop. With espeak-ng taking 3 s (a
/// wrapper that sleeps before it renders), a `say` waits for its speech, but meanwhile
/// `status` answers, an announcement on another zone is accepted and goes
/// on air, and the watchdog pings go on.
#[test]
fn slow_speech_holds_up_nothing_else() {
    if !common::require_peer("espeak-ng") {
        return;
    }
    let st = Station::new();
    let (p1, p2) = (free_port_pair(), free_port_pair());
    st.config(&format!(
        "[[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:{p1}\"]\n\n\
         [[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{p2}\"]\n"
    ));
    let real = Command::new("sh")
        .args(["-c", "command -v espeak-ng"])
        .output()
        .unwrap();
    let real = String::from_utf8_lossy(&real.stdout).trim().to_string();
    let bin = st.path("slow-bin");
    fs::create_dir_all(&bin).unwrap();
    let marker = st.path("espeak-started");
    let wrapper = bin.join("espeak-ng");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \"$*\" in *-w*) echo started > '{}'; sleep 3;; esac\nexec '{real}' \"$@\"\n",
            marker.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let tone = st.path("tone.wav");
    tone_wav(&tone, 1000.0, 1.0);

    let notify = NotifyListener::bind(&st);
    let d = start_with_env(
        &st,
        &[
            notify.env(),
            ("WATCHDOG_USEC", "300000".into()),
            ("PATH", path),
        ],
    );
    notify.wait_for("READY=1", Duration::from_secs(5));

    let say_done = Arc::new(AtomicBool::new(false));
    let say = {
        let socket = st.socket();
        let done = say_done.clone();
        std::thread::spawn(move || {
            let t0 = Instant::now();
            let out = corong()
                .arg("--socket")
                .arg(socket)
                .args([
                    "say",
                    "Perhatian, uji suara",
                    "--zones",
                    "pasar",
                    "--no-chime",
                ])
                .output()
                .unwrap();
            done.store(true, Ordering::Release);
            (out, t0.elapsed())
        })
    };
    let end = Instant::now() + Duration::from_secs(10);
    while !marker.exists() {
        if say_done.load(Ordering::Acquire) || Instant::now() > end {
            let (out, took) = say.join().unwrap();
            panic!(
                "espeak-ng was not run: say ended after {took:?}: {}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                d.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    let t0 = Instant::now();
    let (code, out, err) = st.client(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "status took {:?} while espeak-ng ran",
        t0.elapsed()
    );
    let (code, out, err) = st.client(&[
        "announce",
        tone.to_str().unwrap(),
        "--zones",
        "alun-alun",
        "--no-chime",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    d.wait_log("on air zone=alun-alun", Duration::from_secs(2));
    if say_done.load(Ordering::Acquire) {
        let (out, took) = say.join().unwrap();
        panic!(
            "the announcement waited for the speech: say took {took:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The watchdog keeps pinging while espeak-ng still runs.
    let got = notify.collect_until(Instant::now() + Duration::from_millis(1200));
    let pings: Vec<Instant> = got
        .iter()
        .filter(|(t, ..)| t.lines().any(|l| l == "WATCHDOG=1"))
        .map(|(_, _, at)| *at)
        .collect();
    assert!(pings.len() >= 5, "{} watchdog pings in 1.2 s", pings.len());

    let (out, took) = say.join().unwrap();
    assert!(
        out.status.success(),
        "say after {took:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log_text()
    );
    assert!(took >= Duration::from_secs(3), "say took {took:?}");
    d.wait_log("speech rendered", Duration::from_secs(5));
    let log = d.log.clone();
    let status = d.stop();
    assert!(
        status.success(),
        "{status:?}\n{}",
        fs::read_to_string(log).unwrap_or_default()
    );
}

/// A C shim for `LD_PRELOAD`: `fsync` and `fdatasync` take 2 s while the
/// file named by `CORONG_TEST_SLOW_SYNC` exists (a failing SD card).
const SLOW_SYNC_C: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

static void slow_disk(void) {
    const char *flag = getenv("CORONG_TEST_SLOW_SYNC");
    if (flag && access(flag, F_OK) == 0) sleep(2);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    slow_disk();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    slow_disk();
    return real(fd);
}
"#;

/// SQLite's syncs run beside the control loop. With every `fsync` taking
/// 2 s, an announcement's answer waits until its job is on disk, but
/// meanwhile it goes on air, `status` answers, and the watchdog pings go on.
#[test]
fn a_slow_disk_holds_up_only_the_answer_that_waits_for_it() {
    if !common::require_peer("cc") {
        return;
    }
    let st = Station::new();
    let port = free_port_pair();
    st.config(&format!(
        "[[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:{port}\"]\n"
    ));
    let src = st.path("slowsync.c");
    let shim = st.path("slowsync.so");
    fs::write(&src, SLOW_SYNC_C).unwrap();
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&shim)
        .arg(&src)
        .arg("-ldl")
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let flag = st.path("disk-is-slow");
    let tone = st.path("tone.wav");
    tone_wav(&tone, 1000.0, 1.0);

    let notify = NotifyListener::bind(&st);
    let d = start_with_env(
        &st,
        &[
            notify.env(),
            ("WATCHDOG_USEC", "300000".into()),
            ("LD_PRELOAD", shim.display().to_string()),
            ("CORONG_TEST_SLOW_SYNC", flag.display().to_string()),
        ],
    );
    notify.wait_for("READY=1", Duration::from_secs(5));
    fs::write(&flag, b"").unwrap();

    let announce = {
        let socket = st.socket();
        let tone = tone.clone();
        std::thread::spawn(move || {
            let t0 = Instant::now();
            let out = corong()
                .arg("--socket")
                .arg(socket)
                .arg("announce")
                .arg(tone)
                .args(["--zones", "pasar", "--no-chime"])
                .output()
                .unwrap();
            (out, t0.elapsed())
        })
    };
    // Accepted and on air before the disk has it.
    d.wait_log("announcement accepted", Duration::from_secs(5));
    d.wait_log("on air zone=pasar", Duration::from_secs(1));
    let t0 = Instant::now();
    let (code, out, err) = st.client(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "status took {:?} while the disk synced",
        t0.elapsed()
    );
    let got = notify.collect_until(Instant::now() + Duration::from_millis(1200));
    let pings = got
        .iter()
        .filter(|(t, ..)| t.lines().any(|l| l == "WATCHDOG=1"))
        .count();
    assert!(
        pings >= 3,
        "{pings} watchdog pings in 1.2 s while the disk synced"
    );

    let (out, took) = announce.join().unwrap();
    assert!(
        out.status.success(),
        "announce after {took:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log_text()
    );
    // The answer came only when the job was on disk.
    assert!(
        took >= Duration::from_secs(2),
        "announce answered after {took:?}"
    );
    fs::remove_file(&flag).unwrap();
    let log = d.log.clone();
    let status = d.stop();
    assert!(
        status.success(),
        "{status:?}\n{}",
        fs::read_to_string(log).unwrap_or_default()
    );
}
