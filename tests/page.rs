//! `corong page --mode record` end to end: a real daemon, the real client
//! fed on its standard input, and what the zone's recorder got.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::station::{corong, Station};
use common::{read_wav_mono, require_peer, rms, tone_frequency};

const RATE: usize = 48_000;

/// A WAV stream as a pipe carries it: 16 kHz mono, a 700 Hz tone of
/// `amplitude` for `seconds`, the header's lengths unknown (0xFFFFFFFF).
fn wav_stream(amplitude: f32, seconds: f32) -> Vec<u8> {
    let rate = 16_000u32;
    let mut b = b"RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00".to_vec();
    b.extend(rate.to_le_bytes());
    b.extend((rate * 2).to_le_bytes());
    b.extend([2, 0, 16, 0]);
    b.extend(b"data\xff\xff\xff\xff");
    for i in 0..(rate as f32 * seconds) as usize {
        let v = amplitude * (2.0 * std::f32::consts::PI * 700.0 * i as f32 / rate as f32).sin();
        b.extend(((v * 32767.0) as i16).to_le_bytes());
    }
    b
}

fn page(st: &Station, args: &[&str]) -> Command {
    let mut cmd = corong();
    cmd.arg("--socket")
        .arg(st.socket())
        .args(["page", "--from-stdin", "--mode", "record"])
        .args(args)
        .current_dir(st.path(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn db(x: f64) -> f64 {
    20.0 * x.log10()
}

/// Nothing is on air while the operator speaks; then the recording plays
/// once, whole, at the zone's loudness target (not at the speaker's
/// level), and the as-run log has it from the `page` origin.
#[test]
fn a_recorded_page_plays_whole_and_normalised_after_the_speaker_ends() {
    let st = Station::new();
    st.config("[[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n");
    let d = st.start();
    let stream = wav_stream(0.05, 2.0);
    let mut child = page(&st, &["--zones", "pasar", "--no-chime"])
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let half = 44 + (stream.len() - 44) / 2;
    stdin.write_all(&stream[..half]).unwrap();
    stdin.flush().unwrap();
    // Speaking: a second passes and nothing goes on air.
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        !d.log_text().contains("on air zone=pasar"),
        "on air while recording:\n{}",
        d.log_text()
    );
    stdin.write_all(&stream[half..]).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    let id: i64 = stdout.trim().parse().expect("the job id on stdout");
    assert!(
        stderr.contains(&format!("recorded 2.0 s, queued as job {id} for pasar")),
        "{stderr}"
    );
    d.wait_log("how=completed", Duration::from_secs(10));

    let (code, log, err) = st.client(&["log", "--json"]);
    assert_eq!(code, 0, "{err}");
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let row = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["job"] == id)
        .unwrap_or_else(|| panic!("no as-run row of job {id}: {log}"));
    assert!(
        row["origin"].as_str().unwrap().starts_with("page:"),
        "{row}"
    );
    assert_eq!(row["how"], "completed", "{row}");
    assert!(d.stop().success());

    let (s, rate) = read_wav_mono(&st.path("rec.wav"));
    assert_eq!(rate as usize, RATE);
    let (start, end) = common::active_span(&s, 0.02).expect("the page played");
    let seconds = (end - start) as f64 / RATE as f64;
    assert!((seconds - 2.0).abs() < 0.06, "{seconds} s of page");
    let body = &s[start + RATE / 10..end - RATE / 10];
    assert!((tone_frequency(body, rate) - 700.0).abs() < 2.0);
    // Spoken at -29 dBFS (RMS); played at the -16 LUFS target, which for
    // a 700 Hz tone is about -15.4 dBFS RMS.
    let level = db(rms(body));
    assert!(
        (-17.5..=-13.5).contains(&level),
        "played at {level:.1} dBFS"
    );
}

/// `--max-s` ends an input that never ends; what came until then plays.
#[test]
fn max_s_ends_an_endless_input() {
    if !require_peer("ffmpeg") {
        return;
    }
    let st = Station::new();
    st.config("[[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n");
    let d = st.start();
    let mut source = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "sine=f=700:r=8000"])
        .args(["-f", "s16le", "-ac", "1", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let out = page(
        &st,
        &[
            "--format",
            "s16le",
            "--rate",
            "8000",
            "--max-s",
            "2",
            "--zones",
            "pasar",
            "--no-chime",
        ],
    )
    .stdin(source.stdout.take().unwrap())
    .output()
    .unwrap();
    let _ = source.kill();
    let _ = source.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("recorded 2.0 s, queued as job"), "{stderr}");
    assert!(t0.elapsed() < Duration::from_secs(20));
    d.wait_log("how=completed", Duration::from_secs(10));
    assert!(d.stop().success());
    let (s, _) = read_wav_mono(&st.path("rec.wav"));
    let (start, end) = common::active_span(&s, 0.02).expect("the page played");
    let seconds = (end - start) as f64 / RATE as f64;
    assert!((seconds - 2.0).abs() < 0.06, "{seconds} s of page");
}

/// Input that is not audio: one clear line, exit 2, nothing sent; the
/// daemon goes on.
#[test]
fn input_that_is_not_audio_is_refused_in_one_line() {
    let st = Station::new();
    st.config("[[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n");
    let d = st.start();
    let mut child = page(&st, &["--zones", "pasar"]).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(&b"<html>not audio</html>".repeat(100))
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "corong: standard input is not a WAV stream: no RIFF WAVE header"
    );
    let (code, _, err) = st.client(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(!d.log_text().contains("recorded page"));
    assert!(d.stop().success());
}
