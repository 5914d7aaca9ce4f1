//! The `local` output (cargo feature `local-audio`): a zone played through
//! the sound card, captured with ALSA's file device (see PEERS.md, "A sound
//! card that is a file"), and a zone whose sound card cannot be opened.
//!
//! Run with `cargo test --features local-audio --test local`.
#![cfg(feature = "local-audio")]

mod common;

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::station::{cron_in, Station};
use common::tone_wav;

const RATE: u32 = 48_000;

/// The tests that time a sound card, and the microphone test, run one at
/// a time: ALSA's file device is not paced, so the microphone test's
/// capture reads as fast as the CPU allows, and a card's output paced
/// against the clock on the same loaded cores loses its timing.
static ONE_CARD_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_card_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_CARD_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An ALSA config whose default device is `default_pcm`, and a `tofile`
/// device writing a 48 kHz stereo S16_LE WAV to `capture`. Returns the
/// value for `ALSA_CONFIG_PATH`.
fn alsa_config(st: &Station, default_pcm: &str, capture: &Path) -> OsString {
    let conf = st.path("asound.conf");
    fs::write(
        &conf,
        format!(
            "pcm.!default {{ type plug slave {{ pcm \"{default_pcm}\" format S16_LE rate 48000 channels 2 }} }}\n\
             pcm.tofile {{ type file slave.pcm \"null\" file \"{}\" format \"wav\" }}\n",
            capture.display()
        ),
    )
    .unwrap();
    let mut v = OsString::from("/usr/share/alsa/alsa.conf:");
    v.push(conf.as_os_str());
    v
}

/// The first channel of what the ALSA file device wrote: a 44-byte WAV
/// header (checked: PCM, 2 channels, 48 kHz, 16 bits) and S16_LE frames.
/// The data is read to the end of the file, whether or not the header's
/// sizes were written at close.
fn read_capture(path: &Path) -> Vec<f32> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() > 44, "capture is {} bytes", bytes.len());
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(&bytes[8..16], b"WAVEfmt ");
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    assert_eq!(u16_at(20), 1, "PCM");
    assert_eq!(u16_at(22), 2, "channels");
    assert_eq!(u32_at(24), RATE, "rate");
    assert_eq!(u16_at(34), 16, "bits");
    assert_eq!(&bytes[36..40], b"data");
    bytes[44..]
        .chunks_exact(4)
        .map(|f| i16::from_le_bytes([f[0], f[1]]) as f32 / 32768.0)
        .collect()
}

/// The longest run of samples quieter than `floor` inside `samples`.
fn longest_hush(samples: &[f32], floor: f32) -> usize {
    let (mut run, mut worst) = (0, 0);
    for s in samples {
        if s.abs() < floor {
            run += 1;
            worst = worst.max(run);
        } else {
            run = 0;
        }
    }
    worst
}

fn zones_json(st: &Station) -> serde_json::Value {
    let (code, out, err) = st.client(&["zones", "--json"]);
    assert_eq!(code, 0, "corong zones --json: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn zone<'a>(zones: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    zones["zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["name"] == name)
        .unwrap_or_else(|| panic!("no zone {name}: {zones:#}"))
}

/// A scheduled 1 kHz tone on a zone with `local = true` and a recorder:
/// what the sound card played (captured by the ALSA file device) is the
/// tone, at 1 kHz, at the recorder's level, and without a gap.
#[test]
fn a_local_zone_plays_the_scheduled_tone_through_the_sound_card() {
    let _card = one_card_at_a_time();
    let st = Station::new();
    tone_wav(&st.path("media/tone.wav"), 1000.0, 2.0);
    st.playlist("tone", &["../media/tone.wav"]);
    let capture = st.path("card.wav");
    let alsa = alsa_config(&st, "tofile", &capture);
    st.config(&format!(
        "[[zones]]\nname = \"kiosk\"\nlocal = true\nwav = \"rec.wav\"\n\n\
         [[schedules]]\nname = \"s\"\ncron = \"{}\"\nplaylist = \"tone\"\nzones = [\"kiosk\"]\n",
        cron_in(3)
    ));
    let started = Instant::now();
    let d = st.start_with_env(&[("ALSA_CONFIG_PATH", &alsa)]);
    d.wait_log("playing through the sound card", Duration::from_secs(5));
    let z = zones_json(&st);
    let kiosk = zone(&z, "kiosk");
    assert_eq!(kiosk["health"], "streaming", "{kiosk:#}");
    let endpoints: Vec<&str> = kiosk["endpoint_health"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["endpoint"].as_str().unwrap())
        .collect();
    assert!(endpoints.contains(&"local:default"), "{kiosk:#}");
    d.wait_log("how=completed", Duration::from_secs(12));
    // The card plays PREFILL behind the zone.
    std::thread::sleep(Duration::from_millis(600));
    let log = d.log_text();
    assert!(d.stop().success(), "{log}");
    let ran = started.elapsed().as_secs_f64();

    let card = read_capture(&capture);
    // The file device does not keep time; the output holds it to the clock.
    let captured = card.len() as f64 / RATE as f64;
    assert!(
        captured <= ran + 0.1 && captured > ran - 1.5,
        "{captured:.2} s captured while the daemon ran {ran:.2} s"
    );
    let (rec, rec_rate) = common::read_wav_mono(&st.path("rec.wav"));
    assert_eq!(rec_rate, RATE);
    let (a, b) = common::active_span(&card, 0.05).expect("no tone on the sound card");
    let (ra, rb) = common::active_span(&rec, 0.05).expect("no tone in the recording");
    let played = (b - a) as f64 / RATE as f64;
    assert!(
        (played - 2.0).abs() < 0.01,
        "the card played {played:.3} s of tone, expected 2 s"
    );
    let tone = &card[a..b];
    let freq = common::tone_frequency(tone, RATE);
    assert!((freq - 1000.0).abs() < 1.0, "pitch {freq:.2} Hz");
    // No underrun inside the tone: a 1 kHz sine at 0.4 is never below 0.01
    // for more than a sample or two.
    let hush = longest_hush(tone, 0.01);
    assert!(hush <= 3, "a gap of {hush} samples in the tone");
    // Level: the recorder's, within 0.1 dB, and the source's 0.4 peak
    // within the zone's normalisation.
    let mid = |s: &[f32]| {
        let n = s.len();
        common::rms(&s[n / 4..3 * n / 4])
    };
    let (card_rms, rec_rms) = (mid(tone), mid(&rec[ra..rb]));
    let db = 20.0 * (card_rms / rec_rms).log10();
    eprintln!(
        "card rms {card_rms:.4}, recorder rms {rec_rms:.4} ({db:+.3} dB), {freq:.3} Hz; \
         {captured:.2} s captured in {ran:.2} s"
    );
    assert!(
        db.abs() < 0.1,
        "card {card_rms:.4} vs recorder {rec_rms:.4}"
    );
    assert!(card_rms > 0.05, "rms {card_rms}");
}

/// No usable sound card (the default device names a PCM that does not
/// exist): the daemon starts, the local zone is listed degraded with the
/// error, and the recorder zone records the scheduled tone.
#[test]
fn without_a_sound_card_the_local_zone_is_degraded_and_the_others_play() {
    let st = Station::new();
    tone_wav(&st.path("media/tone.wav"), 1000.0, 1.0);
    st.playlist("tone", &["../media/tone.wav"]);
    let alsa = alsa_config(&st, "no_such_card", &st.path("unused.wav"));
    st.config(&format!(
        "[[zones]]\nname = \"kiosk\"\nlocal = true\n\n\
         [[zones]]\nname = \"arsip\"\nwav = \"rec.wav\"\n\n\
         [[schedules]]\nname = \"s\"\ncron = \"{}\"\nplaylist = \"tone\"\nzones = [\"kiosk\", \"arsip\"]\n",
        cron_in(3)
    ));
    let d = st.start_with_env(&[("ALSA_CONFIG_PATH", &alsa)]);
    let z = zones_json(&st);
    let kiosk = zone(&z, "kiosk");
    assert_eq!(kiosk["health"], "degraded", "{kiosk:#}");
    let err = kiosk["error"].as_str().unwrap_or_default();
    assert!(err.contains("sound card"), "{kiosk:#}");
    let ep = &kiosk["endpoint_health"][0];
    assert_eq!(ep["endpoint"], "local:default", "{kiosk:#}");
    assert_eq!(ep["health"], "degraded", "{kiosk:#}");
    assert_eq!(zone(&z, "arsip")["health"], "streaming", "{z:#}");
    let end = Instant::now() + Duration::from_secs(5);
    while !d.log_text().contains("the zone is degraded") {
        assert!(Instant::now() < end, "not logged:\n{}", d.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }

    d.wait_log_count("how=completed", 2, Duration::from_secs(12));
    let log = d.log_text();
    assert!(d.stop().success(), "{log}");
    assert!(!st.path("unused.wav").exists());
    let (rec, rate) = common::read_wav_mono(&st.path("rec.wav"));
    let (a, b) = common::active_span(&rec, 0.05).expect("no tone recorded");
    let secs = (b - a) as f64 / rate as f64;
    assert!((secs - 1.0).abs() < 0.01, "recorded {secs:.3} s of tone");
    let freq = common::tone_frequency(&rec[a..b], rate);
    assert!((freq - 1000.0).abs() < 1.0, "{freq}");
}

/// `corong receive --local`: a daemon streams a scheduled 1 kHz tone over
/// RTP to 127.0.0.1; the receiver plays it through the sound card (the
/// ALSA file device): 1 s of tone at 1 kHz, at the source's level (0.4
/// peak), without a gap.
#[test]
fn the_receiver_plays_the_zone_through_the_sound_card() {
    let _card = one_card_at_a_time();
    let st = Station::new();
    let port = common::station::free_port_pair();
    tone_wav(&st.path("media/tone.wav"), 1000.0, 1.0);
    st.playlist("tone", &["../media/tone.wav"]);
    let capture = st.path("pole.wav");
    let alsa = alsa_config(&st, "tofile", &capture);
    st.config(&format!(
        "[loudness]\nnormalize = false  # the level is checked against the source\n\n\
         [[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:{port}\"]\n\n\
         [[schedules]]\nname = \"s\"\ncron = \"{}\"\nplaylist = \"tone\"\nzones = [\"pasar\"]\n",
        cron_in(3)
    ));
    let d = st.start();
    let out = common::station::corong()
        .args(["receive", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--local", "--duration", "6"])
        .env("ALSA_CONFIG_PATH", &alsa)
        .env_remove("RUST_LOG")
        .output()
        .expect("run corong receive");
    let log = d.log_text();
    assert!(d.stop().success(), "{log}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "corong receive: {stderr}");
    assert!(
        stderr.contains("playing through the sound card"),
        "{stderr}"
    );

    let card = read_capture(&capture);
    let (a, b) = common::active_span(&card, 0.05).unwrap_or_else(|| {
        panic!(
            "no tone in {} s of sound card:\n{stderr}\n{log}",
            card.len() as f64 / RATE as f64
        )
    });
    let played = (b - a) as f64 / RATE as f64;
    assert!(
        (played - 1.0).abs() < 0.01,
        "the card played {played:.3} s of tone, expected 1 s"
    );
    let tone = &card[a..b];
    let freq = common::tone_frequency(tone, RATE);
    assert!((freq - 1000.0).abs() < 1.0, "pitch {freq:.2} Hz");
    let hush = longest_hush(tone, 0.01);
    assert!(hush <= 3, "a gap of {hush} samples in the tone");
    let n = tone.len();
    let level = common::rms(&tone[n / 4..3 * n / 4]);
    let want = 0.4 / 2f64.sqrt();
    let db = 20.0 * (level / want).log10();
    assert!(
        db.abs() < 0.1,
        "rms {level:.4}, expected {want:.4} ({db:+.2} dB)"
    );
}

/// `corong page --from-mic`: the default capture device is ALSA's file
/// plugin reading a raw 700 Hz tone as if it were a microphone (PEERS.md);
/// the page carries it to the zone, at its pitch. The plugin is not paced
/// (it gives its file as fast as it is read), so this checks the content,
/// not the timing.
#[test]
fn a_page_from_the_microphone_reaches_the_zone() {
    let _card = one_card_at_a_time();
    let st = Station::new();
    let port = common::station::free_port_pair();
    let rx = std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // Two seconds of 700 Hz at half scale, 48 kHz mono S16_LE.
    let raw = st.path("mic.raw");
    let tone: Vec<u8> = (0..2 * RATE)
        .flat_map(|i| {
            let s = 0.5 * (2.0 * std::f64::consts::PI * 700.0 * i as f64 / RATE as f64).sin();
            ((s * 32767.0) as i16).to_le_bytes()
        })
        .collect();
    fs::write(&raw, tone).unwrap();
    let conf = st.path("asound.conf");
    fs::write(
        &conf,
        format!(
            "pcm.!default {{ type plug slave {{ pcm \"mic\" format S16_LE rate 48000 channels 1 }} }}\n\
             pcm.mic {{ type file slave.pcm \"null\" file \"/dev/null\" infile \"{}\" format \"raw\" }}\n",
            raw.display()
        ),
    )
    .unwrap();
    let mut alsa = OsString::from("/usr/share/alsa/alsa.conf:");
    alsa.push(conf.as_os_str());
    st.config(&format!(
        "[loudness]\nnormalize = false\n\n[[zones]]\nname = \"pasar\"\nrtp = [\"127.0.0.1:{port}\"]\n"
    ));
    let d = st.start();
    let heard = std::thread::spawn(move || {
        let mut samples = Vec::new();
        let mut buf = [0u8; 4096];
        let end = Instant::now() + Duration::from_secs(8);
        while Instant::now() < end {
            if let Ok(n) = rx.recv(&mut buf) {
                samples.extend(
                    buf[12..n]
                        .chunks_exact(2)
                        .map(|b| i16::from_be_bytes([b[0], b[1]]) as f32 / 32768.0),
                );
            }
        }
        samples
    });
    let out = common::station::corong()
        .arg("--socket")
        .arg(st.socket())
        .args([
            "page",
            "--from-mic",
            "--zones",
            "pasar",
            "--no-chime",
            "--max-s",
            "3",
        ])
        .env("ALSA_CONFIG_PATH", &alsa)
        .env_remove("RUST_LOG")
        .output()
        .expect("run corong page");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let samples = heard.join().unwrap();
    let log = d.log_text();
    assert!(d.stop().success(), "{log}");
    let (a, b) = common::active_span(&samples, 0.1)
        .unwrap_or_else(|| panic!("no sound on the zone:\n{stderr}\n{log}"));
    assert!(
        b - a > RATE as usize / 2,
        "only {} ms of sound on the zone:\n{stderr}",
        (b - a) * 1000 / RATE as usize
    );
    // The unpaced capture is held to the page's pace (a full queue waits a
    // moment for room), but on a loaded machine a block may still be
    // dropped (and said so): the tone is checked window by window, 200 ms
    // each, so a block boundary's phase jump costs a window a crossing or
    // two (before the wait, CI's rehearsal dropped 54 blocks: 10 of 14
    // windows within 2%).
    let mut track: Vec<f64> = common::frequency_track(&samples[a..b], RATE, RATE as usize / 5)
        .into_iter()
        .filter(|f| *f > 0.0)
        .collect();
    track.sort_by(f64::total_cmp);
    assert!(!track.is_empty(), "no tone windows:\n{stderr}");
    let median = track[track.len() / 2];
    assert!(
        (median - 700.0).abs() <= 7.0,
        "pitch {median:.1} Hz on the zone (median of {track:?}), 700 Hz spoken:\n{stderr}"
    );
    let near = common::count_near(&track, 700.0, 0.02);
    assert!(
        near * 2 >= track.len(),
        "only {near} of {} windows near 700 Hz: {track:?}\n{stderr}",
        track.len()
    );
    assert!(
        stderr.contains("on air in pasar"),
        "the operator was not told: {stderr}"
    );
}
