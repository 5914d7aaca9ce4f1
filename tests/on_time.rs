//! On time, every time: a long file never measured before goes on air when
//! it is asked for (an announcement) or when its schedule fires, not after
//! its whole-file loudness measurement. It starts at a provisional gain from
//! its opening, which for a steady file is already the target.
//!
//! The zone is an L16 RTP stream on 127.0.0.1, read with the kernel's
//! receive stamps, so "on air" is when the first non-silent packet left the
//! daemon, whatever the test thread was doing.

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::station::{cron_in, free_port_pair, Station};
use common::StampedSocket;

/// The long files' rate: 8 kHz mono keeps 20 minutes at 19 MB.
const FILE_RATE: u32 = 8_000;
/// The tone's amplitude: 20 log10(0.05) - 3.01 = -29.0 LUFS (BS.1770, a
/// 1 kHz sine in one channel), 13 LU under the default -16 LUFS target.
const AMPLITUDE: f32 = 0.05;
/// A first packet later than this after its moment is late.
const ON_TIME: Duration = Duration::from_millis(100);

/// One test at a time: each daemon's measuring thread keeps a core busy
/// with its long file, and two at once on a small machine would measure
/// the machine, not the daemon.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A 1 kHz sine of `minutes` at [`AMPLITUDE`], 8 kHz mono 16-bit: one
/// 8-sample period repeated, so writing 20 minutes takes no time.
fn long_tone(path: &Path, minutes: u32) {
    tone(path, minutes * 60, AMPLITUDE);
}

/// [`long_tone`] of `seconds` at `amplitude`.
fn tone(path: &Path, seconds: u32, amplitude: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: FILE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let period: Vec<i16> = (0..8)
        .map(|i| {
            let s = amplitude * (2.0 * std::f32::consts::PI * i as f32 / 8.0).sin();
            (s * i16::MAX as f32).round() as i16
        })
        .collect();
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let mut i16w = w.get_i16_writer(FILE_RATE * seconds);
    for _ in 0..FILE_RATE * seconds / 8 {
        for &s in &period {
            i16w.write_sample(s);
        }
    }
    i16w.flush().unwrap();
    w.finalize().unwrap();
}

/// Packets of an L16 zone on `port`: each one's kernel receive time and its
/// samples, from a thread that reads until `seconds` after the first
/// non-silent one (or 30 s without one).
fn listen(port: u16, seconds: f64) -> mpsc::Receiver<(Duration, Vec<f32>)> {
    let sock = StampedSocket::bind(port);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut first: Option<Duration> = None;
        let give_up = SystemTime::now() + Duration::from_secs(30);
        while SystemTime::now() < give_up {
            let Ok((n, at)) = sock.recv(&mut buf) else {
                continue;
            };
            let samples: Vec<f32> = buf[12..n]
                .chunks_exact(2)
                .map(|b| i16::from_be_bytes([b[0], b[1]]) as f32 / 32768.0)
                .collect();
            if first.is_none() && samples.iter().any(|s| s.abs() > 0.003) {
                first = Some(at);
            }
            if first.is_some_and(|f| (at - f).as_secs_f64() > seconds) {
                break;
            }
            if tx.send((at, samples)).is_err() {
                break;
            }
        }
    });
    rx
}

/// The receive time of the first packet with sound, and the samples from
/// it on, waiting up to 30 s.
fn first_sound(rx: &mpsc::Receiver<(Duration, Vec<f32>)>) -> (Duration, Vec<f32>) {
    let mut first = None;
    let mut samples = Vec::new();
    while let Ok((at, s)) = rx.recv_timeout(Duration::from_secs(30)) {
        if first.is_none() && s.iter().any(|x| x.abs() > 0.003) {
            first = Some(at);
        }
        if first.is_some() {
            samples.extend(s);
        }
    }
    (first.expect("no sound arrived"), samples)
}

/// The loudness of a steady 1 kHz sine from its RMS, LUFS (mono, BS.1770:
/// the K-weighting is 0 dB there, so it is 10 log10(mean square) - 0.691).
fn sine_lufs(samples: &[f32]) -> f64 {
    let ms = samples.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / samples.len() as f64;
    10.0 * ms.log10() - 0.691
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

fn zone_config(port: u16) -> String {
    format!("[[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{port}\"]\n")
}

/// `corong announce` of a 20-minute file never measured: its first sound
/// leaves the daemon within 100 ms of the client's answer, where it used
/// to wait for the whole file's measurement (seconds).
#[test]
fn an_announcement_of_a_long_file_never_measured_goes_on_air_at_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let st = Station::new();
    long_tone(&st.path("media/panjang.wav"), 20);
    let port = free_port_pair();
    st.config(&zone_config(port));
    let d = st.start();
    // The chime and the alert signal are measured at start-up: let that
    // finish, so the measurer is free and only the long file is new.
    std::thread::sleep(Duration::from_millis(500));
    let rx = listen(port, 3.0);
    let file = st.path("media/panjang.wav");
    let asked = now();
    let (code, out, err) = st.client(&["announce", "--no-chime", file.to_str().unwrap()]);
    let answered = now();
    assert_eq!(code, 0, "announce failed: {out}{err}");
    let (first, samples) = first_sound(&rx);
    // The request is in once the client has its answer (the job is
    // durable then); starting a debug client process costs tens of
    // milliseconds before that, which is the client's, not the daemon's.
    let late = first.saturating_sub(answered);
    eprintln!(
        "first sound {late:?} after the answer, {:?} after the client started",
        first.saturating_sub(asked)
    );
    assert!(
        late <= ON_TIME,
        "on air {late:?} after the answer:\n{}",
        d.log_text()
    );
    let provisional = d.log_lines(&["provisional gain"]);
    eprintln!("{provisional:?}");
    assert!(
        !provisional.is_empty(),
        "no provisional gain logged:\n{}",
        d.log_text()
    );
    // Steady tone: the opening's gain is the whole file's.
    let lufs = sine_lufs(&samples[48_000..]);
    assert!((lufs + 16.0).abs() <= 1.0, "arrived at {lufs:.2} LUFS");
}

/// A cron time `lead` from now, at a whole second, and that second since
/// the epoch; returns once the daemon should start so that the schedule
/// fires 1 s after its start.
fn fire_one_second_after_startup(lead: u64) -> (String, Duration) {
    use chrono::{TimeZone, Timelike, Utc};
    let fire = Duration::from_secs(now().as_secs() + lead);
    let at = Utc.timestamp_opt(fire.as_secs() as i64, 0).unwrap();
    let cron = format!("{} {} {} * * *", at.second(), at.minute(), at.hour());
    // Waiting for a moment on the clock, not for a condition.
    let start = fire - Duration::from_secs(1);
    std::thread::sleep(start.saturating_sub(now()));
    (cron, fire)
}

/// A schedule that fires 1 s after start-up plays a 20-minute file never
/// measured (its measurement, asked for at start-up, is still running):
/// the first sound leaves within 100 ms of the fire time, it plays at the
/// provisional gain from its opening (logged), and over its later part
/// (2 to 6 s in, past the fade-in and the first gating blocks) the tone
/// arrives within 1 LU of the target.
#[test]
fn a_schedule_of_a_long_file_never_measured_starts_at_its_fire_time() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let st = Station::new();
    long_tone(&st.path("media/panjang.wav"), 20);
    st.playlist("panjang", &["../media/panjang.wav"]);
    let port = free_port_pair();
    let rx = listen(port, 7.0);
    let (cron, fire) = fire_one_second_after_startup(3);
    st.config(&format!(
        "{}\n[[schedules]]\nname = \"panjang\"\ncron = \"{cron}\"\nplaylist = \"panjang\"\nzones = [\"alun-alun\"]\n",
        zone_config(port)
    ));
    let started = now();
    let d = st.start();
    let (first, samples) = first_sound(&rx);
    let late = first.saturating_sub(fire);
    eprintln!(
        "daemon started {:?} before the fire time; first sound {late:?} after it",
        fire.saturating_sub(started)
    );
    assert!(
        first + Duration::from_millis(50) >= fire,
        "played before its time"
    );
    assert!(
        late <= ON_TIME,
        "on air {late:?} after the fire time:\n{}",
        d.log_text()
    );
    // Its whole measurement was not there: it started at the opening's.
    let provisional = d.log_lines(&["provisional gain", "panjang.wav"]);
    assert_eq!(provisional.len(), 1, "{}", d.log_text());
    let later = &samples[2 * 48_000..6 * 48_000];
    let lufs = sine_lufs(later);
    eprintln!("2 to 6 s in: {lufs:.2} LUFS");
    assert!((lufs + 16.0).abs() <= 1.0, "arrived at {lufs:.2} LUFS");
}

/// The playlists are measured soonest fire first: a schedule listed last
/// that fires in a minute comes before one listed first that fires in two
/// hours, and one that never fires again comes last.
#[test]
fn schedules_are_ordered_soonest_fire_first() {
    use chrono::{TimeZone, Utc};
    let from = Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap();
    let mut never = common::schedule("lalu", "0 0 9 * * *", &["all"]);
    never.active_until = Some(chrono::NaiveDate::from_ymd_opt(2026, 12, 5).unwrap());
    let schedules = vec![
        common::schedule("siang", "0 0 12 * * *", &["all"]),
        never,
        common::schedule("sebentar", "0 1 10 * * *", &["all"]),
        common::schedule("sore", "0 0 15 * * *", &["all"]),
    ];
    let order = corong::schedule::soonest_first(&schedules, chrono_tz::UTC, from, None);
    assert_eq!(order, vec![2, 0, 3, 1]);
}

/// At start-up the daemon has the playlist of the schedule that fires
/// first measured first, whatever the config order; `corong status` says
/// how many files still wait for their measurement, in its JSON and in a
/// line of its own.
#[test]
fn the_next_schedule_is_measured_first_and_status_counts_what_waits() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let st = Station::new();
    common::tone_wav(&st.path("media/siang.wav"), 440.0, 2.0);
    common::tone_wav(&st.path("media/segera.wav"), 660.0, 2.0);
    // Long enough to still be waiting when status asks.
    long_tone(&st.path("media/panjang.wav"), 5);
    st.playlist("siang", &["../media/siang.wav"]);
    st.playlist("segera", &["../media/segera.wav"]);
    st.playlist("panjang", &["../media/panjang.wav", "../media/panjang.wav"]);
    let port = free_port_pair();
    let far = |h: i64| cron_in(h * 3600);
    st.config(&format!(
        "{}\n[[schedules]]\nname = \"panjang\"\ncron = \"{}\"\nplaylist = \"panjang\"\nzones = [\"alun-alun\"]\n\
         \n[[schedules]]\nname = \"siang\"\ncron = \"{}\"\nplaylist = \"siang\"\nzones = [\"alun-alun\"]\n\
         \n[[schedules]]\nname = \"segera\"\ncron = \"{}\"\nplaylist = \"segera\"\nzones = [\"alun-alun\"]\n",
        zone_config(port),
        far(3),
        far(2),
        far(1),
    ));
    let d = st.start();
    let (code, json, err) = st.client(&["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let pending = v["loudness_pending"].as_u64().expect("loudness_pending");
    assert!(pending >= 1, "the long file waits: {json}");
    let (code, human, _) = st.client(&["status"]);
    assert_eq!(code, 0);
    assert!(human.contains("still to measure"), "{human}");
    // Once all is measured the count is 0 and the line is gone.
    let end = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, json, _) = st.client(&["status", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        if v["loudness_pending"].as_u64() == Some(0) {
            break;
        }
        assert!(std::time::Instant::now() < end, "still pending: {json}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, human, _) = st.client(&["status"]);
    assert!(!human.contains("still to measure"), "{human}");
    let measured: Vec<String> = d
        .log_lines(&["loudness measured"])
        .into_iter()
        .filter(|l| l.contains("media/"))
        .collect();
    let at = |f: &str| measured.iter().position(|l| l.contains(f)).unwrap();
    assert!(
        at("segera.wav") < at("siang.wav") && at("siang.wav") < at("panjang.wav"),
        "{measured:#?}"
    );
}

/// `loudness_pending` from `corong status --json`.
fn pending(st: &Station) -> Option<u64> {
    let (_, json, _) = st.client(&["status", "--json"]);
    serde_json::from_str::<serde_json::Value>(&json).ok()?["loudness_pending"].as_u64()
}

/// Wait (up to `limit`) until nothing waits for its measurement.
fn wait_all_measured(st: &Station, limit: Duration) {
    let end = std::time::Instant::now() + limit;
    while pending(st) != Some(0) {
        assert!(
            std::time::Instant::now() < end,
            "still {:?} to measure",
            pending(st)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Integrated loudness of 48 kHz mono samples (EBU R128), LUFS.
fn integrated_lufs(samples: &[f32]) -> f64 {
    let mut meter = ebur128::EbuR128::new(1, 48_000, ebur128::Mode::I).unwrap();
    meter.add_frames_f32(samples).unwrap();
    meter.loudness_global().unwrap()
}

/// The speech test's loudness target, LUFS.
const SPEECH_TARGET: f64 = -30.0;

/// Speech never waits for a measurement, an emergency's included: the
/// voice's reference speech, rendered and measured at start-up like the
/// alert signal, sets the level of any speech not measured yet. espeak-ng
/// speaks at about -21.5 LUFS, so speech played unchanged (as emergencies
/// played it before) would arrive 8.5 LU over a -30 LUFS target; it
/// arrives within 2 LU of it. `say` spends no time on its speech's opening
/// either.
#[test]
fn speech_plays_at_its_voices_level_and_never_waits_for_a_measurement() {
    if !common::require_peer("espeak-ng") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let st = Station::new();
    let port = free_port_pair();
    // A target under espeak-ng's level: no true-peak ceiling holds the
    // gain back (it does at -16 LUFS: espeak-ng's peaks are high).
    st.config(&format!(
        "[loudness]\ntarget_lufs = {SPEECH_TARGET}\n\n{}",
        zone_config(port)
    ));
    let d = st.start();
    // The reference speech (rendered first), the alert and the chime.
    d.wait_log("tts/level/", Duration::from_secs(60));
    wait_all_measured(&st, Duration::from_secs(60));
    let rx = listen(port, 10.0);
    let (code, out, err) = st.client(&[
        "emergency",
        "--text",
        "Gempa bumi. Segera keluar dari gedung melalui pintu darurat terdekat.",
    ]);
    let answered = now();
    assert_eq!(code, 0, "emergency failed: {out}{err}");
    let (first, samples) = first_sound(&rx);
    let late = first.saturating_sub(answered);
    eprintln!("emergency: first sound {late:?} after the answer");
    assert!(late <= ON_TIME, "on air {late:?} after the answer");
    // The alert signal lasts 4 s; the message (repeated) follows.
    let speech = integrated_lufs(&samples[(4.5 * 48_000.0) as usize..]);
    eprintln!("emergency speech: {speech:.2} LUFS");
    assert!(
        (speech - SPEECH_TARGET).abs() <= 2.0,
        "emergency speech at {speech:.2} LUFS:\n{}",
        d.log_text()
    );
    let (code, _, err) = st.client(&["emergency", "--stop"]);
    assert_eq!(code, 0, "{err}");

    let rx = listen(port, 3.0);
    let (code, out, err) = st.client(&["say", "--no-chime", "Selamat datang di alun-alun kota."]);
    let answered = now();
    assert_eq!(code, 0, "say failed: {out}{err}");
    let (first, samples) = first_sound(&rx);
    let late = first.saturating_sub(answered);
    let speech = integrated_lufs(&samples);
    eprintln!("say: first sound {late:?} after the answer, {speech:.2} LUFS");
    assert!(late <= ON_TIME, "on air {late:?} after the answer");
    assert!(
        (speech - SPEECH_TARGET).abs() <= 2.0,
        "speech at {speech:.2} LUFS"
    );
    let opening = d.log_lines(&["provisional gain"]);
    assert!(
        opening.is_empty(),
        "speech measured its opening: {opening:#?}"
    );
    // `say`'s speech is new to the cache when it starts: the voice's level.
    let level = d.log_lines(&["plays at its voice's level"]);
    assert!(!level.is_empty(), "{}", d.log_text());
}

/// One RTP packet as it arrived: kernel receive time, RTP timestamp,
/// whether it held sound.
type Arrival = (Duration, u32, bool);

/// Every packet to `port` until `stop` is set.
fn record(port: u16, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Vec<Arrival> {
    let sock = StampedSocket::bind(port);
    let mut buf = [0u8; 2048];
    let mut got = Vec::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let Ok((n, at)) = sock.recv(&mut buf) else {
            continue;
        };
        let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let sound = buf[12..n]
            .chunks_exact(2)
            .any(|b| i16::from_be_bytes([b[0], b[1]]).unsigned_abs() > 100);
        got.push((at, ts, sound));
    }
    got
}

/// The p90 of |D(i-1, i)| (RFC 3550: how much later or earlier than its
/// RTP timestamp says each packet arrived, against the one before), ms.
/// The p90, not the p99: on the shared 2-core VM some 5% of pairs are 10 ms
/// off in either phase, measuring or not (p95 8.9 and 10.0 ms, p99 10.0
/// and 10.0 ms, p90 0.02 and 0.04 ms in one run), so above the p90 the
/// figure is the host's, not corong's.
fn jitter_p90(pairs: &[f64]) -> f64 {
    let mut v = pairs.to_vec();
    v.sort_by(f64::total_cmp);
    v[(v.len() * 90 / 100).min(v.len() - 1)]
}

/// A playlist of 50 files measured in the background while a schedule
/// plays: the zone's send jitter (packet arrival against the RTP clock on
/// a loopback socket) while they are measured is no worse than once all
/// are measured, same daemon, same schedule playing. The bound allows for
/// a busy shared machine (the larger of 2 ms more and twice the quiet
/// figure) but not for the measuring threads taking the engine's core:
/// that costs a scheduler slice, several ms, at every packet they delay.
#[test]
fn fifty_files_measured_in_the_background_leave_the_send_jitter_alone() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let st = Station::new();
    let mut lines = Vec::new();
    for n in 0..50 {
        // Each its own content (its own hash): 15 s at its own level.
        let name = format!("lagu-{n:02}.wav");
        tone(
            &st.path(&format!("media/{name}")),
            15,
            0.02 + 0.001 * n as f32,
        );
        lines.push(format!("../media/{name}"));
    }
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    st.playlist("lagu", &lines);
    // Plays throughout: it outlasts the measuring (and the 240 s limit).
    long_tone(&st.path("media/panjang.wav"), 5);
    st.playlist("panjang", &["../media/panjang.wav"]);
    let port = free_port_pair();
    // 10 ms packets: one RTP packet a packet time (20 ms of L16 at 48 kHz
    // goes out as two packets at once, which would read as 10 ms jitter).
    st.config(&format!(
        "packet_ms = 10\n{}\n[[schedules]]\nname = \"panjang\"\ncron = \"{}\"\nplaylist = \"panjang\"\nzones = [\"alun-alun\"]\n\
         \n[[schedules]]\nname = \"lagu\"\ncron = \"{}\"\nplaylist = \"lagu\"\nzones = [\"alun-alun\"]\n",
        zone_config(port),
        cron_in(2),
        cron_in(3600),
    ));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let recorder = {
        let stop = stop.clone();
        std::thread::spawn(move || record(port, stop))
    };
    let d = st.start();
    // What waits for its measurement, over time, until 10 s after the last.
    let mut polls: Vec<(Duration, u64)> = Vec::new();
    // Nice 19 on a loaded machine is slow, and should be.
    let end = std::time::Instant::now() + Duration::from_secs(240);
    let mut done_at = None;
    while done_at.is_none_or(|t: Duration| now() < t + Duration::from_secs(10)) {
        assert!(std::time::Instant::now() < end, "never all measured");
        let p = pending(&st).expect("status");
        let at = now();
        polls.push((at, p));
        if p == 0 && done_at.is_none() {
            done_at = Some(at);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let packets = recorder.join().unwrap();
    let measured = d.log_lines(&["loudness measured", "lagu-"]).len();
    assert_eq!(measured, 50, "{}", d.log_text());
    // From the first sound on: the schedule plays throughout.
    let from = packets.iter().position(|p| p.2).expect("no sound arrived");
    let class = |t: Duration| -> Option<bool> {
        let before = polls.iter().rev().find(|p| p.0 <= t)?.1;
        let after = polls.iter().find(|p| p.0 >= t)?.1;
        match (before > 0, after > 0) {
            (true, true) => Some(true),
            (false, false) => Some(false),
            _ => None,
        }
    };
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for w in packets[from..].windows(2) {
        let (a, b) = (w[0], w[1]);
        assert!(b.2, "the schedule went silent");
        let (Some(ca), Some(cb)) = (class(a.0), class(b.0)) else {
            continue;
        };
        if ca != cb {
            continue;
        }
        let wall = (b.0.as_secs_f64() - a.0.as_secs_f64()) * 1000.0;
        let rtp = b.1.wrapping_sub(a.1) as f64 / 48.0;
        (if ca { &mut with } else { &mut without }).push((wall - rtp).abs());
    }
    assert!(
        with.len() >= 200 && without.len() >= 200,
        "too few packets to compare: {} while measuring, {} after",
        with.len(),
        without.len()
    );
    let (j_with, j_without) = (jitter_p90(&with), jitter_p90(&without));
    for (what, v) in [("while measuring", &with), ("after", &without)] {
        let mut v = v.clone();
        v.sort_by(f64::total_cmp);
        let at = |q: usize| v[(v.len() * q / 100).min(v.len() - 1)];
        eprintln!(
            "|D| {what}: p50 {:.3} p90 {:.3} p95 {:.3} p99 {:.3} max {:.3} ms",
            at(50),
            at(90),
            at(95),
            at(99),
            v[v.len() - 1]
        );
    }
    eprintln!(
        "send jitter p90: {j_with:.3} ms while measuring ({} packets), {j_without:.3} ms after ({} packets)",
        with.len(),
        without.len()
    );
    let bound = (j_without + 2.0).max(2.0 * j_without);
    assert!(
        j_with <= bound,
        "jitter p90 {j_with:.3} ms while measuring, {j_without:.3} ms after (bound {bound:.3})"
    );
}

/// `corong check --measure` warms the cache the daemon reads: it creates
/// the state store, measures every file of every playlist side by side,
/// and says so; a second run finds them all; a daemon started then
/// measures none of them again, and plays a long file at its whole-file
/// gain from its first play (no provisional gain).
#[test]
fn check_measure_warms_the_cache_the_daemon_reads() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let st = Station::new();
    let mut lines = Vec::new();
    for n in 0..6 {
        let name = format!("lagu-{n}.wav");
        tone(
            &st.path(&format!("media/{name}")),
            30,
            0.02 + 0.005 * n as f32,
        );
        lines.push(format!("../media/{name}"));
    }
    long_tone(&st.path("media/panjang.wav"), 10);
    lines.push("../media/panjang.wav".into());
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    st.playlist("lagu", &lines);
    let port = free_port_pair();
    st.config(&format!(
        "{}\n[[schedules]]\nname = \"lagu\"\ncron = \"{}\"\nplaylist = \"lagu\"\nzones = [\"alun-alun\"]\n",
        zone_config(port),
        cron_in(3600),
    ));
    let check = || {
        let out = common::station::corong()
            .args(["check", "--measure", "--config"])
            .arg(st.path("config.toml"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{text}");
        text.lines()
            .find(|l| l.starts_with("loudness: "))
            .unwrap_or_else(|| panic!("no loudness line:\n{text}"))
            .to_string()
    };
    assert!(!st.path("state").exists());
    let first = check();
    eprintln!("{first}");
    assert!(
        first.starts_with("loudness: 7 measured (0.22 h of audio), 0 found in the cache, 0 failed"),
        "{first}"
    );
    assert!(st.path("state/corong.db").exists());
    let second = check();
    assert!(
        second
            .starts_with("loudness: 0 measured (0.00 h of audio), 7 found in the cache, 0 failed"),
        "{second}"
    );
    let d = st.start();
    wait_all_measured(&st, Duration::from_secs(30));
    let rx = listen(port, 2.0);
    let file = st.path("media/panjang.wav");
    let (code, out, err) = st.client(&["announce", "--no-chime", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, samples) = first_sound(&rx);
    let lufs = sine_lufs(&samples[48_000..]);
    assert!((lufs + 16.0).abs() <= 1.0, "arrived at {lufs:.2} LUFS");
    let again = d.log_lines(&["loudness measured", "media/"]);
    assert!(again.is_empty(), "measured again: {again:#?}");
    let provisional = d.log_lines(&["provisional gain"]);
    assert!(provisional.is_empty(), "{provisional:#?}");
}
