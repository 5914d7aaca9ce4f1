//! How long a fork takes to catch up `AT` seconds into an item: open the
//! file, seek to the frame, and decode the first chunk after it, as a
//! decoder worker does for a zone that resumes on a decoder of its own;
//! and, for comparison, how long decoding from the item's start to there
//! (the way forks caught up before) takes.
//!
//! `cargo run --release --example catch_up -- FILE AT_SECONDS [RUNS]`
//! (engine format of the shipped config: 48 kHz mono). `bench/idle.sh`
//! runs it on 55-minute MP3 and FLAC files at 50 minutes.
//!
//! Output, one line: `FILE at_s=… seek_ms_median=… seek_ms_max=… decode_from_start_ms=…`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use corong::media::Decoder;

const RATE: u32 = 48_000;
/// Frames a decoder worker asks for at a time.
const CHUNK_FRAMES: usize = 4096;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(at)) = (
        args.next().map(PathBuf::from),
        args.next().and_then(|a| a.parse::<f64>().ok()),
    ) else {
        eprintln!("usage: catch_up FILE AT_SECONDS [RUNS]");
        return ExitCode::from(2);
    };
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(20);
    let frame = (at * RATE as f64) as u64;
    let mut buf = Vec::with_capacity(CHUNK_FRAMES);
    let mut times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let mut d = match Decoder::open(&path, RATE, 1) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("catch_up: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = d.seek_to(frame) {
            eprintln!("catch_up: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        buf.clear();
        if d.read(&mut buf, CHUNK_FRAMES).map_or(true, |n| n == 0) {
            eprintln!("catch_up: {}: nothing after {at} s", path.display());
            return ExitCode::FAILURE;
        }
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    // The old way, once: decode from the start and drop up to the frame.
    let start = Instant::now();
    let mut d = Decoder::open(&path, RATE, 1).expect("it opened above");
    let mut done = 0u64;
    while done < frame {
        buf.clear();
        let want = (frame - done).min(CHUNK_FRAMES as u64) as usize;
        match d.read(&mut buf, want) {
            Ok(0) | Err(_) => break,
            Ok(n) => done += n as u64,
        }
    }
    let from_start = start.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{} at_s={at} seek_ms_median={:.2} seek_ms_max={:.2} decode_from_start_ms={from_start:.0}",
        path.display(),
        times[times.len() / 2],
        times[times.len() - 1],
    );
    ExitCode::SUCCESS
}
