//! What every kind of page reads its input with: the input formats, the
//! samples of a stream as they come, Ctrl-C, and the level meter.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use clap::ValueEnum;

use crate::media::wav_stream::WavStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A WAV stream (its header gives rate and channels).
    Wav,
    /// Raw signed 16-bit little-endian samples (give --rate, --channels).
    S16le,
}

/// Set by SIGINT: stop recording, keep what was recorded.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Ctrl-C ends the recording, not the program. Without `SA_RESTART`, so
/// that a read waiting for input returns and sees it.
pub(super) fn catch_ctrl_c() {
    // SAFETY: a zeroed sigaction with a handler that only stores an atomic
    // (async-signal-safe), installed for SIGINT.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
    }
}

/// Enter on the terminal ends the page (when the audio does not come on
/// standard input).
pub(super) fn end_on_enter() {
    std::thread::spawn(|| {
        let mut line = String::new();
        if io::stdin().read_line(&mut line).is_ok() {
            INTERRUPTED.store(true, Ordering::Relaxed);
        }
    });
}

/// The input's rate, channels and samples, checked. Errors are one line.
pub(super) fn open_input<'a>(
    input: impl Read + 'a,
    format: Format,
    rate: Option<u32>,
    channels: Option<u16>,
) -> Result<(u32, u16, Samples<'a>), String> {
    let mut input = io::BufReader::with_capacity(64 * 1024, input);
    let (rate, channels, next): (u32, u16, Samples<'a>) = match format {
        Format::S16le => {
            let rate = rate.ok_or("--format s16le needs --rate (and --channels, default 1)")?;
            let channels = channels.unwrap_or(1);
            let next = move || {
                let mut b = [0u8; 2];
                match input.read_exact(&mut b) {
                    Ok(()) => Some(Ok(i16::from_le_bytes(b))),
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => None,
                    Err(e) => Some(Err(e)),
                }
            };
            (rate, channels, Box::new(next))
        }
        Format::Wav => {
            let mut stream = WavStream::open(input)
                .map_err(|e| format!("standard input is not a WAV stream: {e}"))?;
            let f = stream.format();
            if rate.is_some_and(|r| r != f.rate) {
                return Err(format!(
                    "the WAV stream is {} Hz, not the {} Hz --rate says",
                    f.rate,
                    rate.unwrap_or_default()
                ));
            }
            if channels.is_some_and(|c| c != f.channels) {
                return Err(format!(
                    "the WAV stream has {} channels, not the {} --channels says",
                    f.channels,
                    channels.unwrap_or_default()
                ));
            }
            (f.rate, f.channels, Box::new(move || stream.next_sample()))
        }
    };
    if !(1_000..=384_000).contains(&rate) {
        return Err(format!(
            "a sample rate of {rate} Hz is not audio: expected 1000..=384000"
        ));
    }
    if !(1..=8).contains(&channels) {
        return Err(format!("{channels} channels: expected 1..=8"));
    }
    Ok((rate, channels, next))
}

pub(super) type Samples<'a> = Box<dyn FnMut() -> Option<io::Result<i16>> + 'a>;

/// A level meter and the time on a terminal: `recording 3.2 s [#####   ]`.
pub(super) fn meter(what: &str, seconds: f64, peak: f32) {
    let db = 20.0 * peak.max(1e-6).log10();
    let filled = (((db + 60.0) / 60.0).clamp(0.0, 1.0) * 20.0).round() as usize;
    eprint!(
        "\r{what} {seconds:5.1} s [{}{}]",
        "#".repeat(filled),
        " ".repeat(20 - filled)
    );
    let _ = io::stderr().flush();
}
