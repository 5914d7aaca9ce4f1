//! The sounds corong makes itself, end to end: the emergency sequence
//! (alert signal, then the message repeated without gaps) on a recorder
//! zone, and `corong say` through espeak-ng arriving on the wire.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::station::{free_port_pair, Station};
use common::{count_near, ffmpeg_tone, frequency_track, read_wav_mono, require_peer};

const RATE: u32 = 48_000;
/// 40 ms windows for the frequency timeline.
const WINDOW: usize = 1920;
const WINDOW_S: f64 = WINDOW as f64 / RATE as f64;

/// The emergency sequence follows voice-alarm practice: an alert signal of
/// 3 to 10 s before the first message, and the message repeated with no
/// silence longer than 10 s, until stopped.
#[test]
fn the_emergency_alert_lasts_3_to_10_s_and_repeats_leave_no_long_gap() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    ffmpeg_tone(&st.path("media/evakuasi.wav"), 1500.0, 2.0, RATE, 1, &[]);
    st.config("[[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n");
    let d = st.start();
    let (code, out, err) = st.client(&["emergency", "media/evakuasi.wav"]);
    assert_eq!(code, 0, "emergency: {out} {err}");
    // The alert (4 s) and a few repeats of the 2 s message.
    d.wait_log_count("on air zone=pasar", 5, Duration::from_secs(20));
    let (code, out, err) = st.client(&["emergency", "--stop"]);
    assert_eq!(code, 0, "emergency --stop: {out} {err}");
    d.wait_log("ended zone=pasar", Duration::from_secs(5));
    let log = d.log_text();
    assert!(d.stop().success());

    let (rec, _) = read_wav_mono(&st.path("rec.wav"));
    let track = frequency_track(&rec, RATE, WINDOW);
    let near = |f: f64, tol: f64| move |x: &f64| (x - f).abs() <= f * tol;
    let is_alert = |x: &f64| near(800.0, 0.06)(x) || near(1000.0, 0.06)(x);
    let first_sound = track.iter().position(|&f| f > 0.0).expect("sound");
    let last_sound = track.iter().rposition(|&f| f > 0.0).unwrap();
    let first_message = track
        .iter()
        .position(near(1500.0, 0.04))
        .expect("the message played");
    // The alert: from the first sound to the first message, and it is the
    // alert signal all along (800/1000 Hz, a few windows straddling a
    // change excepted).
    let alert_s = (first_message - first_sound) as f64 * WINDOW_S;
    assert!(
        (3.0..=10.0).contains(&alert_s),
        "alert signal of {alert_s:.2} s before the message"
    );
    let alert_windows = track[first_sound..first_message]
        .iter()
        .filter(|x| is_alert(x))
        .count();
    assert!(
        alert_windows as f64 >= 0.8 * (first_message - first_sound) as f64,
        "the alert stretch is 800/1000 Hz: {alert_windows} of {} windows",
        first_message - first_sound
    );
    // After the alert: the message again and again, no alert, and no
    // silence longer than 10 s (in fact none longer than a window or two).
    let after = &track[first_message..=last_sound];
    assert_eq!(after.iter().filter(|x| is_alert(x)).count(), 0);
    let mut longest_gap = 0usize;
    let mut run = 0usize;
    for &f in after {
        run = if f == 0.0 { run + 1 } else { 0 };
        longest_gap = longest_gap.max(run);
    }
    let gap_s = longest_gap as f64 * WINDOW_S;
    assert!(gap_s <= 10.0, "a silence of {gap_s:.2} s between repeats");
    assert!(gap_s <= 0.1, "a silence of {gap_s:.2} s between repeats");
    let message_s = count_near(after, 1500.0, 0.04) as f64 * WINDOW_S;
    assert!(
        message_s >= 3.5,
        "the 2 s message played {message_s:.2} s in all: it repeats"
    );
    eprintln!("alert {alert_s:.2} s, longest gap {gap_s:.2} s, message {message_s:.2} s in all");
    let repeats = log
        .lines()
        .filter(|l| l.contains("on air zone=pasar") && l.contains("evakuasi.wav"))
        .count();
    assert!(
        repeats >= 2,
        "the message went on air {repeats} times:\n{log}"
    );
}

/// `corong say` renders speech with espeak-ng: it arrives on the wire as
/// audio; a second identical request uses the cached rendering.
#[test]
fn say_speaks_on_the_wire_and_caches_the_speech() {
    if !require_peer("ffmpeg") || !require_peer("espeak-ng") {
        return;
    }
    let st = Station::new();
    let port = free_port_pair();
    let sock = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    st.config(&format!(
        "[[zones]]\nname = \"alun-alun\"\nrtp = [\"127.0.0.1:{port}\"]\n"
    ));
    let d = st.start();
    let text = "Sekarang pukul dua belas siang";
    // Speech: L16 payloads with a real level, for about the phrase's
    // length (espeak-ng takes 1.5 to 3 s for it).
    let listen = |sock: &UdpSocket, for_s: f64| -> f64 {
        let mut buf = [0u8; 2048];
        let mut loud_packets = 0usize;
        let end = Instant::now() + Duration::from_secs_f64(for_s);
        while Instant::now() < end {
            let Ok(n) = sock.recv(&mut buf) else { continue };
            let peak = buf[12..n]
                .chunks_exact(2)
                .map(|b| i16::from_be_bytes([b[0], b[1]]).unsigned_abs())
                .max()
                .unwrap_or(0);
            if peak > 1000 {
                loud_packets += 1;
            }
        }
        // Packets are 10 ms (L16 mono 48 kHz, split to fit a frame).
        loud_packets as f64 * 0.010
    };
    for round in 0..2 {
        let (code, out, err) = st.client(&["say", text, "--no-chime"]);
        assert_eq!(code, 0, "say (round {round}): {out} {err}");
        let spoken = listen(&sock, 5.0);
        eprintln!("round {round}: {spoken:.2} s of speech");
        assert!(
            (0.8..=6.0).contains(&spoken),
            "round {round}: {spoken:.2} s of speech on the wire"
        );
    }
    let log = d.log_text();
    assert!(d.stop().success());
    let rendered: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("speech rendered"))
        .collect();
    assert_eq!(rendered.len(), 2, "{log}");
    assert!(rendered[0].contains("cached=false"), "{}", rendered[0]);
    assert!(rendered[1].contains("cached=true"), "{}", rendered[1]);
    let wavs = std::fs::read_dir(st.path("state/tts"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "wav")
        })
        .count();
    assert_eq!(wavs, 1, "one rendering in the cache");
}

/// A schedule can carry text instead of a playlist (a time signal): it is
/// rendered with espeak-ng at start, and spoken on its zones when it fires.
#[test]
fn a_schedule_speaks_its_text_when_it_fires() {
    if !require_peer("espeak-ng") {
        return;
    }
    let st = Station::new();
    st.config(&format!(
        "[loudness]\nnormalize = false\n\n\
         [[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n\n\
         [[schedules]]\nname = \"waktu\"\ncron = \"{}\"\ntext = \"Sekarang pukul dua belas siang\"\nzones = [\"pasar\"]\n",
        common::station::cron_in(3)
    ));
    let (code, out, _) = st.client(&["schedule", "--config", "config.toml", "--next", "1"]);
    assert!(
        out.contains("say: Sekarang pukul dua belas siang"),
        "{code}: {out}"
    );
    let d = st.start();
    d.wait_log("schedule fired", Duration::from_secs(6));
    d.wait_log("ended zone=pasar", Duration::from_secs(8));
    let log = d.log_text();
    assert!(d.stop().success());
    assert!(log.contains("text=Sekarang pukul dua belas siang"), "{log}");
    // Speech: about 1.5 to 3 s of sound on the recording.
    let (rec, _) = read_wav_mono(&st.path("rec.wav"));
    let loud = rec
        .chunks(WINDOW)
        .filter(|w| w.iter().any(|s| s.abs() > 0.05))
        .count();
    let secs = loud as f64 * WINDOW_S;
    assert!((1.0..4.0).contains(&secs), "{secs:.2} s of speech");
    // Rendered once, into the speech cache.
    let cached = std::fs::read_dir(st.path("state/tts")).unwrap().count();
    assert_eq!(cached, 1);
}

/// `[announcements.chimes.LEVEL]`: a `live` announcement here has no chime
/// before and its own chime after; an `announcement` keeps the default
/// chime before.
#[test]
fn each_priority_level_plays_its_own_chimes() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    ffmpeg_tone(&st.path("media/pesan.wav"), 700.0, 0.4, RATE, 1, &[]);
    ffmpeg_tone(&st.path("media/akhir.wav"), 900.0, 0.3, RATE, 1, &[]);
    st.config(
        "[[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n\n\
         [announcements.chimes.live]\nbefore = \"none\"\nafter = \"media/akhir.wav\"\n",
    );
    let d = st.start();
    let (code, out, err) = st.client(&[
        "announce",
        "media/pesan.wav",
        "--priority",
        "live",
        "--wait",
    ]);
    assert_eq!(code, 0, "live: {out} {err}");
    let (code, out, err) = st.client(&["announce", "media/pesan.wav", "--wait"]);
    assert_eq!(code, 0, "announcement: {out} {err}");
    let on_air: Vec<String> = d.log_lines(&["on air zone=pasar"]);
    assert!(d.stop().success());
    let files: Vec<&str> = on_air
        .iter()
        .map(|l| l.rsplit("file=").next().unwrap().trim())
        .collect();
    assert_eq!(files.len(), 4, "{on_air:#?}");
    assert!(files[0].ends_with("media/pesan.wav"), "{files:?}");
    assert!(files[1].ends_with("media/akhir.wav"), "{files:?}");
    assert!(files[2].ends_with("chime.wav"), "{files:?}");
    assert!(files[3].ends_with("media/pesan.wav"), "{files:?}");
}

/// A configured alert signal must last 3 to 10 s: `corong check` says so.
#[test]
fn check_refuses_an_alert_signal_outside_3_to_10_s() {
    if !require_peer("ffmpeg") {
        return;
    }
    for (secs, ok) in [(1.0, false), (4.0, true), (12.0, false)] {
        let st = Station::new();
        ffmpeg_tone(&st.path("media/alert.wav"), 900.0, secs, RATE, 1, &[]);
        st.config(
            "[[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n\n\
             [announcements]\nalert = \"media/alert.wav\"\n",
        );
        let out = common::station::corong()
            .args(["check", "--config"])
            .arg(st.path("config.toml"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.success(), ok, "{secs} s: {text}");
        assert_eq!(
            text.contains("alert signal of 3 to 10 s"),
            !ok,
            "{secs} s: {text}"
        );
    }
}
