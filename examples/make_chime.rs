//! Write corong's pre-announcement chime as a 16-bit mono WAV.
//!
//! `cargo run --example make_chime -- [OUT.wav] [RATE]`
//! (defaults: `media/chime.wav`, 48000 Hz). `media/make-media.sh` runs it.

use std::path::PathBuf;
use std::process::ExitCode;

use corong::media::tone;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "media/chime.wav".into()));
    let rate: u32 = match args.next().map(|r| r.parse()) {
        None => 48000,
        Some(Ok(r)) if r > 0 => r,
        Some(_) => {
            eprintln!("make_chime: RATE must be a positive number of Hz");
            return ExitCode::FAILURE;
        }
    };
    let samples = tone::chime(rate);
    if let Err(e) = tone::write_wav(&out, &samples, rate, 1) {
        eprintln!("make_chime: {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    println!(
        "{}: {:.2} s at {rate} Hz",
        out.display(),
        samples.len() as f64 / rate as f64
    );
    ExitCode::SUCCESS
}
