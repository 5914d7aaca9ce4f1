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
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: FILE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let period: Vec<i16> = (0..8)
        .map(|i| {
            let s = AMPLITUDE * (2.0 * std::f32::consts::PI * i as f32 / 8.0).sin();
            (s * i16::MAX as f32).round() as i16
        })
        .collect();
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let mut i16w = w.get_i16_writer(FILE_RATE * 60 * minutes);
    for _ in 0..FILE_RATE * 60 * minutes / 8 {
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

/// A schedule that fires 3 s after start-up plays a 20-minute file never
/// measured (its measurement, asked for at start-up, is still running):
/// the first sound is within 100 ms of the fire time, and the tone arrives
/// within 1 LU of the target.
#[test]
fn a_schedule_of_a_long_file_never_measured_starts_at_its_fire_time() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let st = Station::new();
    // 60 minutes: its measurement takes longer than the 3 s to the fire
    // time on any machine, so the old code would have waited.
    long_tone(&st.path("media/panjang.wav"), 60);
    st.playlist("panjang", &["../media/panjang.wav"]);
    let port = free_port_pair();
    let cron = cron_in(3);
    let fire_s: u64 = {
        // cron_in's seconds, minutes, hours of today (UTC).
        let f: Vec<u64> = cron
            .split_whitespace()
            .take(3)
            .map(|x| x.parse().unwrap())
            .collect();
        let day = now().as_secs() / 86_400 * 86_400;
        let t = day + f[2] * 3600 + f[1] * 60 + f[0];
        // Past midnight between here and the fire time: tomorrow's.
        if t + 10 < now().as_secs() {
            t + 86_400
        } else {
            t
        }
    };
    st.config(&format!(
        "{}\n[[schedules]]\nname = \"panjang\"\ncron = \"{cron}\"\nplaylist = \"panjang\"\nzones = [\"alun-alun\"]\n",
        zone_config(port)
    ));
    let rx = listen(port, 3.0);
    let d = st.start();
    let (first, samples) = first_sound(&rx);
    let fire = Duration::from_secs(fire_s);
    let late = first.saturating_sub(fire);
    eprintln!("first sound {late:?} after the fire time");
    assert!(
        first + Duration::from_millis(50) >= fire,
        "played before its time"
    );
    assert!(
        late <= ON_TIME,
        "on air {late:?} after the fire time:\n{}",
        d.log_text()
    );
    // The later part of what arrived (after the fade-in and the first
    // second) is at the target.
    let lufs = sine_lufs(&samples[48_000..]);
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
