//! Files damaged while they play: truncated, or written over. What is there
//! goes on air, but the as-run row says `damaged` and why, and the daemon
//! log names the file; the zone goes on with the next item.

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::time::Duration;

use common::station::Station;
use corong::media::tone;

/// Bytes of one second of the 48 kHz mono 16-bit WAVs made here.
const SECOND: u64 = 96_000;
/// The WAV header before the data (hound writes 44 bytes).
const HEADER: u64 = 44;

fn tone_wav(st: &Station, name: &str, freq: f64, seconds: f64) {
    let samples = tone::sine(freq, 48_000, seconds, 0.4);
    tone::write_wav(&st.path(name), &samples, 48_000, 1).unwrap();
}

#[test]
fn a_file_cut_or_overwritten_while_it_plays_is_logged_damaged() {
    let st = Station::new();
    tone_wav(&st, "media/cut.wav", 700.0, 12.0);
    tone_wav(&st, "media/noisy.wav", 900.0, 8.0);
    tone_wav(&st, "media/whole.wav", 1100.0, 0.5);
    st.config("[[zones]]\nname = \"pasar\"\nwav = \"rec.wav\"\n");
    let d = st.start();
    for file in ["media/cut.wav", "media/noisy.wav", "media/whole.wav"] {
        let (code, _, err) = st.client(&["announce", file, "--no-chime"]);
        assert_eq!(code, 0, "{err}");
    }

    // The decoders work 2 s ahead of the air: a second into each item,
    // what follows its fourth second has not been read yet.
    d.wait_log("on air zone=pasar job=1", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(1));
    std::fs::File::options()
        .write(true)
        .open(st.path("media/cut.wav"))
        .unwrap()
        .set_len(HEADER + 4 * SECOND)
        .unwrap();
    d.wait_log("on air zone=pasar job=2", Duration::from_secs(15));
    std::thread::sleep(Duration::from_secs(1));
    let mut f = std::fs::File::options()
        .write(true)
        .open(st.path("media/noisy.wav"))
        .unwrap();
    f.seek(SeekFrom::Start(HEADER + 5 * SECOND)).unwrap();
    let noise: Vec<u8> = (0..SECOND).map(|i| (i * 7919 % 251) as u8).collect();
    f.write_all(&noise).unwrap();
    drop(f);
    d.wait_log("ended zone=pasar job=3", Duration::from_secs(20));
    let (code, log, err) = st.client(&["log", "--json"]);
    assert_eq!(code, 0, "{err}");
    // Both are counted as decode errors (`/metrics`: corong_decode_errors_total).
    let (code, status, err) = st.client(&["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["daemon"]["decode_errors"], 2, "{status}");
    let text = d.log_text();
    drop(d);

    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let rows = log["entries"].as_array().unwrap();
    let row = |name: &str| -> (String, String) {
        let r: Vec<&serde_json::Value> = rows
            .iter()
            .filter(|r| r["file"].as_str().unwrap().ends_with(name))
            .collect();
        assert_eq!(r.len(), 1, "{name}: {rows:#?}");
        (
            r[0]["how"].as_str().unwrap().to_string(),
            r[0]["reason"].as_str().unwrap_or("").to_string(),
        )
    };

    let (how, reason) = row("media/cut.wav");
    assert_eq!(how, "damaged", "{reason}");
    assert!(reason.contains("cut short"), "{reason}");
    assert!(reason.contains("of the 12.0 s"), "{reason}");
    let (how, reason) = row("media/noisy.wav");
    assert_eq!(how, "damaged", "{reason}");
    assert!(reason.contains("changed while it played"), "{reason}");
    assert_eq!(row("media/whole.wav"), ("completed".into(), String::new()));

    // One warning each, naming the file.
    for name in ["media/cut.wav", "media/noisy.wav"] {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(" WARN ") && l.contains(name))
            .collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert!(lines[0].contains("damaged: "), "{}", lines[0]);
    }
}
