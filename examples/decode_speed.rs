//! Decode and resample one media file as fast as possible, through the same
//! [`Decoder`] the daemon's decoder workers use, and print how many times
//! faster than real time that was.
//!
//! `cargo run --release --example decode_speed -- FILE [RATE] [CHANNELS]`
//! (defaults: 48000 Hz, 1 channel: the engine format of the shipped
//! config). `bench/decode.sh` runs it beside ffmpeg.
//!
//! Output, one line: `FILE audio_s=… wall_s=… x_realtime=…`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use corong::media::Decoder;

/// Frames asked for per read: what a decoder worker asks for at a time.
const CHUNK_FRAMES: usize = 4096;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: decode_speed FILE [RATE] [CHANNELS]");
        return ExitCode::from(2);
    };
    let rate: u32 = args.next().and_then(|r| r.parse().ok()).unwrap_or(48_000);
    let channels: u16 = args.next().and_then(|c| c.parse().ok()).unwrap_or(1);

    let start = Instant::now();
    let mut decoder = match Decoder::open(&path, rate, channels) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("decode_speed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut buf = Vec::with_capacity(CHUNK_FRAMES * channels as usize);
    let mut frames = 0u64;
    loop {
        buf.clear();
        match decoder.read(&mut buf, CHUNK_FRAMES) {
            Ok(0) => break,
            Ok(n) => frames += n as u64,
            Err(e) => {
                eprintln!("decode_speed: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let audio = frames as f64 / rate as f64;
    println!(
        "{} audio_s={audio:.3} wall_s={wall:.4} x_realtime={:.1}",
        path.display(),
        audio / wall
    );
    ExitCode::SUCCESS
}
