//! Decoding real files made by ffmpeg: every supported format arrives at
//! 48 kHz with the right pitch, level and length.

mod common;

use std::path::{Path, PathBuf};

use common::{require_peer, rms, run, tone_frequency};
use corong::media::{self, tone, Decoder, MediaError, SourceInfo};

const OUT_RATE: u32 = 48000;
/// One 20 ms packet at 48 kHz.
const PACKET: usize = 960;
/// Length tolerance for lossy formats: 1 ms. Encoder delay and padding are
/// trimmed (MP3 from the LAME header, Vorbis from the granule positions, AAC
/// from the MP4 edit list, whose length is in the movie timescale, 1 ms in
/// ffmpeg's files); measured errors are a few frames.
const LOSSY_TOLERANCE: usize = 48;
const SECONDS: f64 = 2.0;

/// Make a sine file with ffmpeg: `freq` Hz, amplitude exactly 0.5 in every
/// channel. (`common::ffmpeg_tone` scales ffmpeg's `sine` source, whose
/// amplitude is 1/8, so its files are at 1/16 and its stereo at -3 dB
/// more; the level checks here need the stated amplitude.)
fn tone_file(path: &Path, freq: f64, seconds: f64, rate: u32, channels: u16, opts: &[&str]) {
    let one = format!("0.5*sin(2*PI*{freq}*t)");
    let exprs = vec![one; channels as usize].join("|");
    let src = format!("aevalsrc={exprs}:s={rate}:d={seconds}");
    let mut cmd = std::process::Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-f", "lavfi", "-i", &src])
        .args(opts)
        .arg(path);
    run(&mut cmd);
}

/// Decode all of `path` to `OUT_RATE`, `channels` channels, in reads of one
/// packet.
fn decode_all(path: &Path, channels: u16) -> Result<(Vec<f32>, SourceInfo), MediaError> {
    let mut d = Decoder::open(path, OUT_RATE, channels)?;
    let mut out = Vec::new();
    loop {
        let before = out.len();
        let n = d.read(&mut out, PACKET)?;
        assert_eq!(out.len() - before, n * channels as usize);
        assert!(n <= PACKET);
        if n == 0 {
            break;
        }
    }
    Ok((out, d.source_info().clone()))
}

struct Case {
    file: &'static str,
    freq: f64,
    rate: u32,
    channels: u16,
    ffmpeg_opts: &'static [&'static str],
    codec: &'static str,
    /// How far the decoded length may be from the source's, in frames at
    /// 48 kHz.
    length_tolerance: usize,
}

fn check_format(case: Case) {
    if !require_peer("ffmpeg") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(case.file);
    tone_file(
        &path,
        case.freq,
        SECONDS,
        case.rate,
        case.channels,
        case.ffmpeg_opts,
    );
    let (out, info) = decode_all(&path, 1).unwrap();
    assert_eq!(info.sample_rate, case.rate, "{}", case.file);
    assert_eq!(info.channels, case.channels, "{}", case.file);
    assert_eq!(info.codec, case.codec, "{}", case.file);

    let want_len = (SECONDS * OUT_RATE as f64) as usize;
    let diff = out.len() as i64 - want_len as i64;
    eprintln!(
        "{}: {} frames, {diff:+} from the source",
        case.file,
        out.len()
    );
    assert!(
        diff.unsigned_abs() as usize <= case.length_tolerance,
        "{}: {} frames decoded, source has {want_len}",
        case.file,
        out.len()
    );

    // Measure away from the edges (encoders fade or pad there).
    let mid = &out[OUT_RATE as usize / 4..out.len() - OUT_RATE as usize / 4];
    let f = tone_frequency(mid, OUT_RATE);
    assert!(
        (f - case.freq).abs() <= case.freq * 0.005,
        "{}: tone at {f:.1} Hz, want {}",
        case.file,
        case.freq
    );
    let level_db = 20.0 * (rms(mid) / (0.5 / 2f64.sqrt())).log10();
    assert!(
        level_db.abs() <= 1.0,
        "{}: level {level_db:+.2} dB from the source",
        case.file
    );
}

#[test]
fn mp3_44k1_stereo() {
    check_format(Case {
        file: "tone.mp3",
        freq: 1000.0,
        rate: 44100,
        channels: 2,
        ffmpeg_opts: &["-c:a", "libmp3lame", "-b:a", "128k"],
        codec: "mp3",
        length_tolerance: LOSSY_TOLERANCE,
    });
}

#[test]
fn flac_24bit_96k() {
    const OPTS: &[&str] = &[
        "-c:a",
        "flac",
        "-sample_fmt",
        "s32",
        "-bits_per_raw_sample",
        "24",
    ];
    check_format(Case {
        file: "tone.flac",
        freq: 1000.0,
        rate: 96000,
        channels: 1,
        ffmpeg_opts: OPTS,
        codec: "flac",
        length_tolerance: 0,
    });
    if !require_peer("ffmpeg") {
        return;
    }
    // The case above is only worth its name if the file really is 24-bit
    // at 96 kHz: read the FLAC STREAMINFO block.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tone.flac");
    tone_file(&path, 1000.0, 0.5, 96000, 1, OPTS);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..4], b"fLaC");
    assert_eq!(bytes[4] & 0x7f, 0, "STREAMINFO comes first");
    // STREAMINFO from byte 8: 2+2+3+3 bytes of block and frame sizes, then
    // 20 bits of sample rate, 3 of channels - 1, 5 of bits per sample - 1.
    let packed = u64::from_be_bytes(bytes[18..26].try_into().unwrap());
    assert_eq!(packed >> 44, 96000, "sample rate");
    assert_eq!((packed >> 36 & 0x1f) + 1, 24, "bits per sample");
}

#[test]
fn ogg_vorbis_22k05_mono() {
    check_format(Case {
        file: "tone.ogg",
        freq: 1000.0,
        rate: 22050,
        channels: 1,
        ffmpeg_opts: &["-c:a", "libvorbis", "-q:a", "5"],
        codec: "vorbis",
        length_tolerance: LOSSY_TOLERANCE,
    });
}

#[test]
fn wav_8bit_8k() {
    check_format(Case {
        file: "tone8.wav",
        freq: 440.0,
        rate: 8000,
        channels: 1,
        ffmpeg_opts: &["-c:a", "pcm_u8"],
        codec: "pcm_u8",
        length_tolerance: 0,
    });
}

#[test]
fn wav_24bit_48k_stereo() {
    check_format(Case {
        file: "tone24.wav",
        freq: 1000.0,
        rate: 48000,
        channels: 2,
        ffmpeg_opts: &["-c:a", "pcm_s24le"],
        codec: "pcm_s24le",
        length_tolerance: 0,
    });
}

#[test]
fn wav_float_32k() {
    check_format(Case {
        file: "tonef.wav",
        freq: 1000.0,
        rate: 32000,
        channels: 1,
        ffmpeg_opts: &["-c:a", "pcm_f32le"],
        codec: "pcm_f32le",
        length_tolerance: 0,
    });
}

#[test]
fn m4a_aac_44k1() {
    check_format(Case {
        file: "tone.m4a",
        freq: 1000.0,
        rate: 44100,
        channels: 2,
        ffmpeg_opts: &["-c:a", "aac", "-b:a", "128k"],
        codec: "aac",
        length_tolerance: LOSSY_TOLERANCE,
    });
}

/// Make a 2 s 1 kHz FLAC at 44.1 kHz in a tempdir.
fn flac_tone(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    tone_file(
        &path,
        1000.0,
        SECONDS,
        44100,
        1,
        &["-c:a", "flac", "-f", "flac"],
    );
    path
}

#[test]
fn stereo_output_duplicates_mono() {
    if !require_peer("ffmpeg") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = flac_tone(dir.path(), "mono.flac");
    let (out, _) = decode_all(&path, 2).unwrap();
    let (mono, _) = decode_all(&path, 1).unwrap();
    assert_eq!(out.len(), 2 * mono.len());
    for (frame, m) in out.chunks_exact(2).zip(&mono) {
        assert_eq!(frame[0], frame[1]);
        assert_eq!(frame[0], *m);
    }
}

#[test]
fn wrong_extension_still_decodes() {
    if !require_peer("ffmpeg") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = flac_tone(dir.path(), "really-flac.mp3");
    let (out, info) = decode_all(&path, 1).unwrap();
    assert_eq!(info.codec, "flac");
    assert_eq!(out.len(), 96000);
}

fn assert_names_file(err: &MediaError, path: &Path) {
    let text = err.to_string();
    assert!(
        text.contains(&path.display().to_string()),
        "error doesn't name the file: {text}"
    );
    assert!(!text.contains('\n'), "error is more than one line: {text}");
    eprintln!("{text}");
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nothing-here.mp3");
    let err = Decoder::open(&path, OUT_RATE, 1).err().unwrap();
    assert!(matches!(err, MediaError::Open { .. }));
    assert_names_file(&err, &path);
    assert_names_file(&media::check(&path, OUT_RATE).unwrap_err(), &path);
}

#[test]
fn empty_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.wav");
    std::fs::write(&path, b"").unwrap();
    let err = Decoder::open(&path, OUT_RATE, 1).err().unwrap();
    assert_names_file(&err, &path);
}

#[test]
fn garbage_with_mp3_extension_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lagu.mp3");
    let text = "Ini bukan lagu, hanya teks biasa. ".repeat(2000);
    std::fs::write(&path, text).unwrap();
    let err = Decoder::open(&path, OUT_RATE, 1).err().unwrap();
    assert_names_file(&err, &path);
}

#[test]
fn random_bytes_end_in_an_error_or_cleanly() {
    // Pseudo-random bytes may contain MP3 frame syncs; whatever the probe
    // makes of them, decoding ends without a panic or a hang.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noise.mp3");
    let mut x: u32 = 0x1234_5678;
    let bytes: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(&path, bytes).unwrap();
    match decode_all(&path, 1) {
        Ok((out, _)) => assert!(out.len() < 48000 * 60),
        Err(e) => assert_names_file(&e, &path),
    }
}

#[test]
fn header_only_wav_ends_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("header.wav");
    tone::write_wav(&path, &[], 48000, 1).unwrap();
    match decode_all(&path, 1) {
        Ok((out, _)) => assert!(out.is_empty()),
        Err(e) => assert_names_file(&e, &path),
    }
    // `corong check` calls a file without audio an error.
    assert_names_file(&media::check(&path, OUT_RATE).unwrap_err(), &path);
}

#[test]
fn truncated_flac_ends_early_or_errors() {
    if !require_peer("ffmpeg") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let full = flac_tone(dir.path(), "full.flac");
    let bytes = std::fs::read(&full).unwrap();
    let path = dir.path().join("half.flac");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    match decode_all(&path, 1) {
        Ok((out, _)) => {
            eprintln!("truncated FLAC: {} frames", out.len());
            assert!(out.len() < 96000);
        }
        Err(e) => assert_names_file(&e, &path),
    }
}

#[test]
fn duration_limit_stops_decoding() {
    if !require_peer("ffmpeg") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = flac_tone(dir.path(), "long.flac");
    let opts = media::DecodeOptions {
        max_duration: std::time::Duration::from_millis(500),
        ..Default::default()
    };
    let mut d = Decoder::open_with(&path, OUT_RATE, 1, opts).unwrap();
    let mut out = Vec::new();
    while d.read(&mut out, PACKET).unwrap() > 0 {}
    assert_eq!(out.len(), 24000);
}

#[test]
fn chime_starts_and_ends_without_a_click() {
    let rate = 48000;
    let c = tone::chime(rate);
    let steps: Vec<f32> = c.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    let edge = rate as usize / 100; // 10 ms
    let steady = steps[edge..steps.len() - edge]
        .iter()
        .fold(0.0f32, |m, &s| m.max(s));
    let start = steps[..edge].iter().fold(0.0f32, |m, &s| m.max(s));
    let end = steps[steps.len() - edge..]
        .iter()
        .fold(0.0f32, |m, &s| m.max(s));
    assert!(start <= steady * 1.5, "start step {start}, steady {steady}");
    assert!(end <= steady * 1.5, "end step {end}, steady {steady}");
    assert!(c[0].abs() < 1e-3 && c[c.len() - 1].abs() < 1e-3);
}

#[test]
fn alert_tone_alternates_800_and_1000_hz() {
    let rate = 48000;
    let a = tone::alert_tone(rate, 2.0);
    assert_eq!(a.len(), 96000);
    // Quarter-second segments; measure inside each, away from the changes.
    for (seg, want) in [(0, 800.0), (1, 1000.0), (2, 800.0), (5, 1000.0)] {
        let start = seg * rate as usize / 4 + 1200;
        let f = tone_frequency(&a[start..start + 9600], rate);
        assert!((f - want).abs() < want * 0.01, "segment {seg}: {f} Hz");
    }
    // No clicks: no step larger than the 1 kHz sine's own largest step.
    let max_step = a
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0f32, f32::max);
    let sine_step = (0.5 * 2.0 * std::f64::consts::PI * 1000.0 / rate as f64) as f32;
    assert!(
        max_step <= sine_step * 1.01,
        "step {max_step} vs {sine_step}"
    );
}

#[test]
fn chime_decodes_back_through_a_wav() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chime.wav");
    let c = tone::chime(44100);
    tone::write_wav(&path, &c, 44100, 1).unwrap();
    let (out, info) = decode_all(&path, 1).unwrap();
    assert_eq!(info.sample_rate, 44100);
    assert_eq!(out.len(), (c.len() as u64 * 48000).div_ceil(44100) as usize);
}

/// A tone that starts at 0.5 s starts at 0.5 s after decoding: encoder delay
/// is trimmed and the resampler's delay is not added.
#[test]
fn onset_is_not_shifted() {
    if !require_peer("ffmpeg") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, u32, &[&str]); 4] = [
        ("onset.mp3", 44100, &["-c:a", "libmp3lame", "-b:a", "128k"]),
        ("onset.m4a", 44100, &["-c:a", "aac", "-b:a", "128k"]),
        ("onset.ogg", 22050, &["-c:a", "libvorbis"]),
        ("onset.flac", 96000, &["-c:a", "flac"]),
    ];
    for (name, rate, opts) in cases {
        let path = dir.path().join(name);
        let src = format!("aevalsrc=0.5*sin(2*PI*1000*t)*gte(t\\,0.5):s={rate}:d=1.5");
        let mut cmd = std::process::Command::new("ffmpeg");
        cmd.args(["-v", "error", "-y", "-f", "lavfi", "-i", &src])
            .args(opts)
            .arg(&path);
        run(&mut cmd);
        let (out, _) = decode_all(&path, 1).unwrap();
        let (start, _) = common::active_span(&out, 0.1).unwrap();
        let shift = start as i64 - 24000;
        eprintln!("{name}: onset {shift:+} frames");
        assert!(shift.abs() <= 48, "{name}: onset shifted by {shift} frames");
    }
}

/// The sample media shipped in `media/` (made by `media/make-media.sh`)
/// pass `corong check` and play for about as long as README.md says.
#[test]
fn shipped_sample_media_decode() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("media");
    for (name, codec, seconds) in [
        ("chime.wav", "pcm_s16le", 1.8..2.5),
        ("tune.flac", "flac", 18.0..24.0),
        ("pengumuman.ogg", "vorbis", 3.0..8.0),
        ("lagu.mp3", "mp3", 13.0..18.0),
    ] {
        let path = dir.join(name);
        let info = media::check(&path, OUT_RATE).unwrap();
        assert_eq!(info.codec, codec, "{name}");
        let (out, _) = decode_all(&path, 2).unwrap();
        let secs = out.len() as f64 / 2.0 / OUT_RATE as f64;
        assert!(seconds.contains(&secs), "{name}: {secs:.2} s");
        assert!(rms(&out) > 0.02, "{name} is nearly silent");
        assert!(out.iter().all(|s| s.abs() <= 1.0), "{name} clips");
    }
}

/// 5.1 folds down to stereo by position: front left stays left, the LFE is
/// dropped.
#[test]
fn surround_folds_down_by_position() {
    if !require_peer("ffmpeg") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("surround.flac");
    let tone = "0.5*sin(2*PI*1000*t)";
    // FL FR FC LFE BL BR: tone in front left and in the LFE only.
    let src = format!("aevalsrc={tone}|0|0|{tone}|0|0:c=5.1:s=48000:d=1");
    let mut cmd = std::process::Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-f", "lavfi", "-i", &src])
        .args(["-c:a", "flac"])
        .arg(&path);
    run(&mut cmd);
    let (out, info) = decode_all(&path, 2).unwrap();
    assert_eq!(info.channels, 6);
    let left: Vec<f32> = out.iter().step_by(2).copied().collect();
    let right: Vec<f32> = out.iter().skip(1).step_by(2).copied().collect();
    assert!(rms(&left) > 0.05, "left {}", rms(&left));
    assert!(rms(&right) < 1e-4, "right {}", rms(&right));
}
