//! Loudness normalisation and dead air, end to end: files of very different
//! loudness go through a real daemon into a recorder zone, and ffmpeg's
//! EBU R128 meter (a reference nobody here wrote) reads what arrived.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::station::{cron_in, Station};
use common::{read_wav_mono, require_peer};

const RATE: u32 = 48_000;

/// What ffmpeg's `ebur128` filter says about a file: integrated loudness
/// (LUFS) and true peak (dBTP), from its summary.
fn ffmpeg_r128(path: &Path) -> (f64, f64) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-af", "ebur128=peak=true", "-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffmpeg ebur128 failed: {text}");
    let summary = text
        .split("Summary:")
        .nth(1)
        .unwrap_or_else(|| panic!("no ebur128 summary in: {text}"));
    let value = |label: &str| -> f64 {
        summary
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no `{label}` in the summary: {summary}"))
    };
    let true_peak = summary
        .split("True peak:")
        .nth(1)
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.trim().strip_prefix("Peak:"))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or_else(|| panic!("no true peak in the summary: {summary}"));
    (value("I:"), true_peak)
}

/// A mono 48 kHz WAV from an ffmpeg `aevalsrc` expression.
fn make(st: &Station, name: &str, expr: &str, seconds: f64) {
    common::run(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("aevalsrc={expr}:s={RATE}:d={seconds}"))
            .args(["-c:a", "pcm_s16le"])
            .arg(st.path(&format!("media/{name}"))),
    );
}

/// Stretches of `samples` with sound in them, split at silences of at least
/// `min_gap` seconds: (start, end) sample indices.
fn segments(samples: &[f32], min_gap: f64) -> Vec<(usize, usize)> {
    let window = (RATE / 50) as usize; // 20 ms
    let gap_windows = (min_gap * 50.0) as usize;
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut quiet_run = usize::MAX;
    for (i, w) in samples.chunks(window).enumerate() {
        let loud = w.iter().any(|s| s.abs() > 0.003);
        if loud {
            if quiet_run >= gap_windows {
                out.push((i * window, (i + 1) * window));
            } else if let Some(last) = out.last_mut() {
                last.1 = (i * window + w.len()).min(samples.len());
            }
            quiet_run = 0;
        } else {
            quiet_run = quiet_run.saturating_add(1);
        }
    }
    out
}

fn write_mono(path: &Path, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample((s * 32767.0).round() as i16).unwrap();
    }
    w.finalize().unwrap();
}

/// Rows in the state store's loudness cache.
fn cached_rows(st: &Station) -> i64 {
    let conn = rusqlite::Connection::open(st.path("state/corong.db")).unwrap();
    conn.query_row("SELECT count(*) FROM loudness", [], |r| r.get(0))
        .unwrap()
}

/// The loudness of each item on the recording, as ffmpeg measures it, and
/// the recording's own true peak and largest sample.
fn measure_recording(st: &Station, rec: &str) -> (Vec<f64>, f64, f32) {
    let (samples, rate) = read_wav_mono(&st.path(rec));
    assert_eq!(rate, RATE);
    let segs = segments(&samples, 0.4);
    let mut lufs = Vec::new();
    for (n, (a, b)) in segs.iter().enumerate() {
        // Leave out the 10 ms fades at either end.
        let cut = (RATE / 20) as usize;
        let piece = &samples[a + cut..b - cut];
        let p = st.path(&format!("{rec}.seg{n}.wav"));
        write_mono(&p, piece);
        lufs.push(ffmpeg_r128(&p).0);
    }
    let (_, peak) = ffmpeg_r128(&st.path(rec));
    let max = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    (lufs, peak, max)
}

/// Two files 20 LU apart (-30 and -10 LUFS) and one whose peaks forbid the
/// full gain arrive at -16 LUFS (the first two) within 1 LU by ffmpeg's
/// meter, and nothing on the recording passes the -1 dBTP ceiling. A second
/// daemon on the same state finds every file in the store's cache and
/// measures nothing, yet plays at the same loudness.
#[test]
fn items_arrive_at_the_target_loudness_under_the_ceiling_measured_once() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    // A 997 Hz sine of amplitude A reads 20 log10(A) - 3.01 LUFS (BS.1770).
    make(&st, "quiet.wav", "0.0447*sin(2*PI*997*t)", 5.0);
    // Louder, and two tones so it is not the same signal.
    make(
        &st,
        "loud.wav",
        "0.30*sin(2*PI*300*t)+0.30*sin(2*PI*1200*t)",
        5.0,
    );
    // Quiet, with one 3 ms burst near full scale: its peak, not its
    // loudness, decides the gain.
    make(
        &st,
        "peaky.wav",
        r"if(between(t\,2\,2.003)\,0.95\,0.0447)*sin(2*PI*997*t)",
        5.0,
    );
    make(&st, "gap.wav", "0", 1.0);
    let (p_lufs, p_peak) = ffmpeg_r128(&st.path("media/peaky.wav"));
    let (q, _) = ffmpeg_r128(&st.path("media/quiet.wav"));
    let (l, _) = ffmpeg_r128(&st.path("media/loud.wav"));
    assert!((q + 30.0).abs() < 1.0, "quiet source reads {q} LUFS");
    assert!((l + 10.0).abs() < 1.5, "loud source reads {l} LUFS");
    st.playlist(
        "campur",
        &[
            "../media/quiet.wav",
            "../media/gap.wav",
            "../media/loud.wav",
            "../media/gap.wav",
            "../media/peaky.wav",
        ],
    );
    let config = |rec: &str| {
        st.config(&format!(
            "[[zones]]\nname = \"pasar\"\nwav = \"{rec}\"\n\n\
             [[schedules]]\nname = \"campur\"\ncron = \"{}\"\nplaylist = \"campur\"\nzones = [\"pasar\"]\n",
            cron_in(2)
        ))
    };

    config("rec1.wav");
    let d = st.start();
    d.wait_log("ended zone=pasar job=", Duration::from_secs(30));
    let log1 = d.log_text();
    assert!(d.stop().success());
    // Four distinct files (gap.wav twice), each measured once.
    for f in ["quiet.wav", "loud.wav", "peaky.wav", "gap.wav"] {
        let n = log1
            .lines()
            .filter(|l| l.contains("loudness measured") && l.contains(f))
            .count();
        assert_eq!(n, 1, "{f} measured {n} times:\n{log1}");
    }
    // Those four, and the chime, the alert signal and (with espeak-ng) the
    // voice's reference speech, measured at start-up.
    let speech = std::process::Command::new("espeak-ng")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert_eq!(cached_rows(&st), 6 + i64::from(speech));

    let (lufs, peak, max) = measure_recording(&st, "rec1.wav");
    eprintln!("arrived: {lufs:?} LUFS; true peak {peak} dBTP; largest sample {max}");
    assert_eq!(lufs.len(), 3, "three items on the recording: {lufs:?}");
    for (what, got) in [("-30 LUFS file", lufs[0]), ("-10 LUFS file", lufs[1])] {
        assert!(
            (got + 16.0).abs() <= 1.0,
            "the {what} arrived at {got:.2} LUFS, target -16"
        );
    }
    // The peaky file gets only the gain that takes its peak to the ceiling
    // (ceiling minus its true peak), which leaves it short of the target.
    let expected = p_lufs + (-1.0 - p_peak);
    assert!(
        expected < -18.0,
        "test signal: the peaky file ({p_lufs} LUFS, {p_peak} dBTP) should not reach the target"
    );
    assert!(
        (lufs[2] - expected).abs() < 0.5,
        "the peaky file arrived at {:.2} LUFS, expected {expected:.2} (its peak decides)",
        lufs[2]
    );
    let ceiling = 10f32.powf(-1.0 / 20.0);
    assert!(
        max <= ceiling,
        "a sample of {max} passes the -1 dBTP ceiling ({ceiling})"
    );
    // ffmpeg's and the ebur128 crate's true-peak estimates differ by a few
    // hundredths of a dB (their oversampling filters differ).
    assert!(peak <= -0.9, "true peak {peak} dBTP on the recording");

    // Again, on a new daemon with the same state: nothing is measured.
    config("rec2.wav");
    let d = st.start();
    d.wait_log("ended zone=pasar job=", Duration::from_secs(30));
    let log2 = d.log_text();
    assert!(d.stop().success());
    assert!(
        !log2.contains("loudness measured"),
        "the second daemon measured again:\n{log2}"
    );
    assert_eq!(cached_rows(&st), 6 + i64::from(speech));
    let (lufs2, _, _) = measure_recording(&st, "rec2.wav");
    assert_eq!(lufs2.len(), 3, "{lufs2:?}");
    for (a, b) in lufs.iter().zip(&lufs2) {
        assert!((a - b).abs() < 0.2, "first run {lufs:?}, second {lufs2:?}");
    }
}

/// A silent file in a playlist is logged as dead air and skipped after
/// `dead_air_s`; the next item plays right after.
#[test]
fn a_silent_file_is_skipped_as_dead_air() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    make(&st, "satu.wav", "0.3*sin(2*PI*500*t)", 2.0);
    make(&st, "kosong.wav", "0", 20.0);
    make(&st, "dua.wav", "0.3*sin(2*PI*800*t)", 2.0);
    st.playlist(
        "pagi",
        &[
            "../media/satu.wav",
            "../media/kosong.wav",
            "../media/dua.wav",
        ],
    );
    st.config(&format!(
        "[loudness]\ndead_air_s = 2\n\n\
         [[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n\n\
         [[schedules]]\nname = \"pagi\"\ncron = \"{}\"\nplaylist = \"pagi\"\nzones = [\"pasar\"]\n",
        cron_in(2)
    ));
    let d = st.start();
    d.wait_log("ended zone=pasar job=", Duration::from_secs(30));
    let log = d.log_text();
    assert!(d.stop().success());
    let skipped: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("skipped: dead air") && l.contains("kosong.wav"))
        .collect();
    assert_eq!(skipped.len(), 1, "one dead-air line for kosong.wav:\n{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("on air") && l.contains("dua.wav")),
        "the next item went on air:\n{log}"
    );

    // On the recording: 500 Hz, about 2 s of silence, then 800 Hz; not the
    // 20 s the blank file lasts.
    let (samples, _) = read_wav_mono(&st.path("rec.wav"));
    let segs = segments(&samples, 0.5);
    assert_eq!(segs.len(), 2, "two tones on the recording: {segs:?}");
    let f0 = common::tone_frequency(&samples[segs[0].0..segs[0].1], RATE);
    let f1 = common::tone_frequency(&samples[segs[1].0..segs[1].1], RATE);
    assert!(
        (f0 - 500.0).abs() < 10.0 && (f1 - 800.0).abs() < 10.0,
        "{f0} {f1}"
    );
    let silence = (segs[1].0 - segs[0].1) as f64 / RATE as f64;
    assert!(
        (1.5..3.5).contains(&silence),
        "{silence:.2} s of silence between the items (dead_air_s = 2)"
    );

    // The as-run log has it as failed, with the reason.
    let conn = rusqlite::Connection::open(st.path("state/corong.db")).unwrap();
    let rows: Vec<(String, Option<String>, i64)> = conn
        .prepare(
            "SELECT how, reason, ended_at_ms - started_at_ms FROM as_run
             WHERE file LIKE '%kosong.wav'",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 1, "one as-run row for the blank file: {rows:?}");
    let (how, reason, ms) = &rows[0];
    assert_eq!(how, "failed");
    assert!(
        reason.as_deref().is_some_and(|r| r.starts_with("dead air")),
        "{reason:?}"
    );
    // On air for the dead-air time, then cut.
    assert!((1500..3500).contains(ms), "on air {ms} ms");
}

/// `corong check` prints each file's loudness and the gain it will get, and
/// warns (without failing) about a file too quiet for `max_gain_db`.
#[test]
fn check_prints_loudness_and_gain_and_warns_when_too_quiet() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    make(&st, "quiet.wav", "0.0447*sin(2*PI*997*t)", 3.0);
    // -50 LUFS: 34 dB short of the target, with max_gain_db 20.
    make(&st, "bisik.wav", "0.00447*sin(2*PI*997*t)", 3.0);
    st.playlist("p", &["../media/quiet.wav", "../media/bisik.wav"]);
    st.config(
        "[loudness]\nmax_gain_db = 20\n\n\
         [[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n\n\
         [[schedules]]\nname = \"p\"\ncron = \"0 0 6 * * *\"\nplaylist = \"p\"\nzones = [\"pasar\"]\n",
    );
    let out = common::station::corong()
        .args(["check", "--config"])
        .arg(st.path("config.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // "ok: PATH (...; -30.0 LUFS, -27.0 dBTP, gain +14.0 dB)"
    let numbers = |file: &str| -> (f64, f64) {
        let line = text
            .lines()
            .find(|l| l.starts_with("ok: ") && l.contains(file))
            .unwrap_or_else(|| panic!("no line for {file}:\n{text}"));
        let lufs = line
            .split(" LUFS")
            .next()
            .and_then(|a| a.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no loudness in `{line}`"));
        let gain = line
            .split("gain ")
            .nth(1)
            .and_then(|g| g.split(" dB").next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no gain in `{line}`"));
        (lufs, gain)
    };
    let (lufs, gain) = numbers("quiet.wav");
    assert!((lufs + 30.0).abs() < 0.5, "{lufs}");
    assert!((gain - (-16.0 - lufs)).abs() < 0.05, "{gain}");
    let (lufs, gain) = numbers("bisik.wav");
    assert!((lufs + 50.0).abs() < 0.5, "{lufs}");
    assert_eq!(gain, 20.0);
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("warning:") && l.contains("too quiet"))
        .collect();
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(
        warnings[0].contains("bisik.wav") && warnings[0].contains("p.m3u:3:1"),
        "the warning names the file and its playlist line: {}",
        warnings[0]
    );
}

/// The target is per zone, and the zone's `gain_db` applies on top: one
/// file on two zones arrives at -16 LUFS on one and at -23 - 3 = -26 LUFS on
/// the other.
#[test]
fn each_zone_has_its_own_target_and_gain_on_top() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    make(
        &st,
        "lagu.wav",
        "0.2*sin(2*PI*440*t)+0.1*sin(2*PI*3000*t)",
        5.0,
    );
    st.playlist("p", &["../media/lagu.wav"]);
    st.config(&format!(
        "[[zones]]\nname = \"pasar\"\nwav = \"pasar.wav\"\n\n\
         [[zones]]\nname = \"masjid\"\nwav = \"masjid.wav\"\nloudness_target_lufs = -23.0\ngain_db = -3.0\n\n\
         [[schedules]]\nname = \"p\"\ncron = \"{}\"\nplaylist = \"p\"\nzones = [\"all\"]\n",
        cron_in(2)
    ));
    let d = st.start();
    d.wait_log_count("how=completed", 2, Duration::from_secs(30));
    assert!(d.stop().success());
    for (rec, want) in [("pasar.wav", -16.0), ("masjid.wav", -26.0)] {
        let (lufs, _, _) = measure_recording(&st, rec);
        assert_eq!(lufs.len(), 1, "{rec}: {lufs:?}");
        assert!(
            (lufs[0] - want).abs() <= 1.0,
            "{rec}: {:.2} LUFS, wanted {want}",
            lufs[0]
        );
    }
}
