//! A decoder that seeks mid-item (a zone resuming on a decoder of its own)
//! gives the frames a decode from the start gives there, in every format
//! that can seek; one that cannot seek exactly (Ogg Vorbis) says so, and
//! the caller decodes from the start instead. The inputs are made with
//! ffmpeg.

mod common;

use std::path::Path;

use corong::media::Decoder;

/// Decode `path` to `rate` Hz mono: `frames` frames from `frame` on, by
/// seeking when `seek`, else by reading from the start.
fn window(path: &Path, rate: u32, frame: usize, frames: usize, seek: bool) -> Vec<f32> {
    let mut d = Decoder::open(path, rate, 1).unwrap();
    let mut out = Vec::new();
    if seek {
        d.seek_to(frame as u64)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    } else {
        while out.len() < frame {
            let want = (frame - out.len()).min(4096);
            assert!(d.read(&mut out, want).unwrap() > 0);
        }
        out.clear();
    }
    while out.len() < frames {
        let want = (frames - out.len()).min(4096);
        assert!(d.read(&mut out, want).unwrap() > 0, "{}", path.display());
    }
    out
}

#[test]
fn every_format_that_seeks_lands_on_the_frame_a_decode_from_the_start_reaches() {
    if !common::require_peer("ffmpeg") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Noise over a tone: a frame off shows.
    let src = dir.path().join("src.wav");
    common::run(std::process::Command::new("ffmpeg").args([
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "aevalsrc=0.3*sin(2*PI*440*t):s=44100:d=40",
        "-f",
        "lavfi",
        "-i",
        "anoisesrc=c=pink:r=44100:a=0.2:d=40",
        "-filter_complex",
        "[0][1]amix=inputs=2:normalize=0",
        src.to_str().unwrap(),
    ]));
    let formats: [(&str, &[&str]); 4] = [
        ("flac", &["-c:a", "flac"]),
        ("mp3", &["-c:a", "libmp3lame", "-b:a", "192k"]),
        ("m4a", &["-c:a", "aac", "-b:a", "160k"]),
        ("ogg", &["-c:a", "libvorbis", "-q:a", "4"]),
    ];
    for (ext, args) in formats {
        let path = dir.path().join(format!("music.{ext}"));
        let mut cmd = std::process::Command::new("ffmpeg");
        cmd.args(["-v", "error", "-y", "-i", src.to_str().unwrap()])
            .args(args)
            .arg(&path);
        common::run(&mut cmd);
        if ext == "ogg" {
            let mut d = Decoder::open(&path, 44_100, 1).unwrap();
            let why = d.seek_to(44_100).unwrap_err();
            assert!(why.contains("vorbis does not seek"), "{why}");
            continue;
        }
        for (rate, frame) in [(44_100, 30 * 44_100 + 1234), (48_000, 25 * 48_000 + 77)] {
            let by_seek = window(&path, rate, frame, 20_000, true);
            let by_reading = window(&path, rate, frame, 20_000, false);
            if ext == "m4a" {
                // AAC's decoder fills noise-substituted bands from a random
                // generator, so two decodes of the same frame differ a
                // little there (pink noise makes the encoder use them).
                // What must hold: the seek lands on the frame, far nearer
                // than one frame off.
                let rms = |a: &[f32], b: &[f32]| {
                    let n = a.len().min(b.len());
                    let sum: f64 = (0..n).map(|i| ((a[i] - b[i]) as f64).powi(2)).sum();
                    (sum / n as f64).sqrt()
                };
                let aligned = rms(&by_seek, &by_reading);
                let one_off = rms(&by_seek[1..], &by_reading);
                assert!(
                    aligned * 10.0 < one_off,
                    "{ext} to {rate} Hz at frame {frame}: RMS {aligned} from the decode from the start, {one_off} one frame off"
                );
                continue;
            }
            let worst = by_seek
                .iter()
                .zip(&by_reading)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            // Bit for bit, through the resampler too (it starts again on one
            // of its block boundaries). One frame off is about 0.05 here.
            assert!(
                worst == 0.0,
                "{ext} to {rate} Hz at frame {frame}: off by up to {worst}"
            );
        }
    }
}
