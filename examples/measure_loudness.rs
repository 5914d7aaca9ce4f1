//! Measure files the way corong does (`corong::media::loudness::measure`),
//! at each file's own rate and channel count, and print the integrated
//! loudness, the true peak and the time it took. `bench/loudness.sh` puts
//! these beside ffmpeg's `ebur128` filter.
//!
//! `cargo run --release --example measure_loudness -- FILE...`

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use corong::media::{self, loudness};

fn main() -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    for arg in std::env::args().skip(1) {
        let path = Path::new(&arg);
        let info = match media::check(path, 48_000) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("{e}");
                status = ExitCode::FAILURE;
                continue;
            }
        };
        let begin = Instant::now();
        match loudness::measure(path, info.sample_rate, info.channels) {
            Ok(m) => println!(
                "{arg}\t{:.2}\t{:.2}\t{:.0}",
                m.integrated_lufs,
                m.true_peak_dbtp,
                begin.elapsed().as_secs_f64() * 1000.0
            ),
            Err(e) => {
                eprintln!("{e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}
