//! `corong page`: a person speaking to the zones.
//!
//! `--mode live` (the default) puts the speaker on air as the audio comes
//! (`page_live.rs`; from RTP: `page_rtp.rs`).
//!
//! `--mode record` records the input first (bounded by `--max-s`), sends
//! the recording to the daemon (an upload, as for a file the daemon cannot
//! read) and queues it as one announcement of the `page` origin: chimed,
//! normalised to each zone's loudness like any announcement, at priority
//! `live` unless told otherwise. Nothing is on air while the operator
//! speaks, so there is no feedback from a nearby pole and no echo.
//!
//! The input: `--from-stdin`, a WAV stream (as `arecord` or `sox` write
//! it, whatever length its header claims: `media/wav_stream.rs`) or raw s16le with `--rate` and
//! `--channels`. It ends at the end of the input, at `--max-s`, or on
//! Ctrl-C (what was recorded is still queued).

use std::io::{self, IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use clap::{Args, ValueEnum};

use super::client::{fail_as, print_error_json, Target};
pub use super::page_input::Format;
use super::page_input::{catch_ctrl_c, end_on_enter, meter, open_input, INTERRUPTED};
use crate::control::protocol::{Delivery, ErrorCode, Reply, Request, Response, MAX_PAGE_S};
use crate::priority::Priority;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// On air as it comes.
    Live,
    /// Recorded, then queued as one announcement.
    Record,
}

/// `corong page`'s arguments.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["from_stdin", "from_rtp", "from_mic"])))]
pub struct PageArgs {
    /// Zones and groups, comma separated; `all` is every zone.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    zones: Vec<String>,
    /// background, program, announcement, live, or 0..=249.
    #[arg(long, value_name = "P", default_value = "live")]
    priority: Priority,
    /// live: on air as it comes; record: recorded, then queued.
    #[arg(long, value_enum, default_value_t = Mode::Live)]
    mode: Mode,
    /// No chime before the page.
    #[arg(long)]
    no_chime: bool,
    /// The page ends after this many seconds of input.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    max_s: u32,
    /// A live page ends after this long without input (a shorter gap is
    /// heard as silence).
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    silence_s: f64,
    /// Read the audio from standard input.
    #[arg(long)]
    from_stdin: bool,
    /// The input's format (with --from-stdin).
    #[arg(long, value_enum, default_value_t = Format::Wav)]
    format: Format,
    /// Sample rate of s16le input (a WAV's must agree with its header).
    #[arg(long, value_name = "HZ")]
    rate: Option<u32>,
    /// Channels of s16le input (a WAV's must agree with its header).
    #[arg(long, value_name = "N")]
    channels: Option<u16>,
    /// Receive the page as RTP on ADDR:PORT.
    #[arg(long, value_name = "ADDR:PORT")]
    from_rtp: Option<String>,
    /// The RTP stream's codec (with --from-rtp).
    #[arg(long, value_name = "CODEC")]
    codec: Option<String>,
    /// The kiosk's microphone (cargo feature `local-audio`).
    #[arg(long)]
    from_mic: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

impl PageArgs {
    pub fn json(&self) -> bool {
        self.json
    }
}

/// What was recorded: interleaved samples.
#[derive(Debug)]
pub struct Recording {
    pub samples: Vec<i16>,
    pub rate: u32,
    pub channels: u16,
}

impl Recording {
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / self.channels.max(1) as f64 / self.rate.max(1) as f64
    }

    /// The recording as a WAV file's bytes.
    pub fn to_wav(&self) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: self.channels,
            sample_rate: self.rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = io::Cursor::new(Vec::with_capacity(44 + self.samples.len() * 2));
        let mut w = hound::WavWriter::new(&mut out, spec).expect("a WAV header in memory");
        for &s in &self.samples {
            w.write_sample(s).expect("writing to memory");
        }
        w.finalize().expect("writing to memory");
        out.into_inner()
    }
}

/// Read a page from `input` until it ends, `max_s` seconds of it, or
/// Ctrl-C; `progress(seconds, peak)` is called about ten times a second of
/// audio. Errors are one line.
pub fn record<'a>(
    input: impl Read + 'a,
    format: Format,
    rate: Option<u32>,
    channels: Option<u16>,
    max_s: u32,
    progress: impl FnMut(f64, f32),
) -> Result<Recording, String> {
    let (rate, channels, next) = open_input(input, format, rate, channels)?;
    record_from(rate, channels, next, max_s, progress)
}

/// [`record`] from samples already opened (a microphone, a stream).
pub fn record_from(
    rate: u32,
    channels: u16,
    mut next: super::page_input::Samples<'_>,
    max_s: u32,
    mut progress: impl FnMut(f64, f32),
) -> Result<Recording, String> {
    let max_s = max_s.min(MAX_PAGE_S);
    let limit = max_s as usize * rate as usize * channels as usize;
    let step = (rate as usize / 10).max(1) * channels as usize;
    let mut samples = Vec::new();
    let mut peak = 0f32;
    while samples.len() < limit && !INTERRUPTED.load(Ordering::Relaxed) {
        match next() {
            None => break,
            Some(Ok(s)) => {
                peak = peak.max((s as f32 / 32768.0).abs());
                samples.push(s);
                if samples.len() % step == 0 {
                    progress(samples.len() as f64 / (rate as f64 * channels as f64), peak);
                    peak = 0.0;
                }
            }
            Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A stream whose header claimed more than came (a pipe's WAV
            // header cannot know its length): the end.
            Some(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Some(Err(e)) => return Err(format!("reading standard input: {e}")),
        }
    }
    // Whole frames only.
    samples.truncate(samples.len() / channels as usize * channels as usize);
    if samples.is_empty() {
        return Err("nothing was recorded: the input ended before any audio".into());
    }
    Ok(Recording {
        samples,
        rate,
        channels,
    })
}

/// The microphone's rate, channels and samples; Enter on the terminal
/// ends the page. Without `local-audio` this is refused before it is
/// called.
fn open_mic() -> Result<(u32, u16, super::page_input::Samples<'static>), String> {
    #[cfg(feature = "local-audio")]
    {
        let opened = super::page_mic::open();
        if opened.is_ok() && io::stdin().is_terminal() {
            end_on_enter();
        }
        opened
    }
    #[cfg(not(feature = "local-audio"))]
    Err("--from-mic needs the cargo feature local-audio".into())
}

/// Run `corong page`.
pub fn run(target: &Target<'_>, args: PageArgs) -> ExitCode {
    let usage = |message: &str| {
        if target.json {
            print_error_json(ErrorCode::BadRequest, message);
        }
        eprintln!("corong: {message}");
        ExitCode::from(2)
    };
    if args.codec.is_some() && args.from_rtp.is_none() {
        return usage("--codec goes with --from-rtp");
    }
    if args.from_rtp.is_some() && args.mode == Mode::Record {
        return usage("--from-rtp pages are live: drop --mode record");
    }
    if args.from_mic && cfg!(not(feature = "local-audio")) {
        return usage(
            "--from-mic needs corong built with the cargo feature local-audio; or page with --from-stdin (e.g. arecord -t wav | corong page --from-stdin)",
        );
    }
    if args.max_s == 0 || args.max_s > MAX_PAGE_S {
        return usage(&format!(
            "--max-s must be 1..={MAX_PAGE_S}, not {}",
            args.max_s
        ));
    }
    if !(0.1..=600.0).contains(&args.silence_s) {
        return usage(&format!(
            "--silence-s must be 0.1..=600 seconds, not {}",
            args.silence_s
        ));
    }
    let delivery = Delivery {
        zones: args.zones.clone(),
        priority: Some(args.priority),
        chime: !args.no_chime,
        ..Delivery::default()
    };
    // Zones and priority are checked before anyone speaks.
    let probe = Request::Page {
        file: PathBuf::from("/"),
        recorded_ms: 0,
        delivery: delivery.clone(),
    };
    if let Err(e) = probe.validate() {
        return usage(&e.to_string());
    }
    if args.mode == Mode::Live {
        let (opened, source) = match &args.from_rtp {
            None if args.from_mic => (open_mic(), "the microphone"),
            Some(addr) => {
                let codec = args.codec.as_deref().unwrap_or("pcmu");
                let opened = super::page_rtp::open(addr, codec, args.rate);
                if opened.is_ok() && io::stdin().is_terminal() {
                    end_on_enter();
                }
                (opened, "the RTP stream")
            }
            None => (
                open_input(io::stdin().lock(), args.format, args.rate, args.channels),
                "standard input",
            ),
        };
        let (rate, channels, next) = match opened {
            Ok(x) => x,
            Err(e) => return usage(&e),
        };
        let opts = super::page_live::LiveOptions {
            delivery: Delivery {
                wait: true,
                ..delivery
            },
            max_s: args.max_s,
            gap_ms: (args.silence_s * 1000.0).round() as u32,
            source,
        };
        return super::page_live::run(target, rate, channels, next, opts);
    }
    catch_ctrl_c();
    let terminal = io::stderr().is_terminal() && !target.json;
    if terminal {
        eprintln!(
            "recording: end with Ctrl-C or at the end of the input (at most {} s)",
            args.max_s
        );
    }
    let progress = |s, peak| {
        if terminal {
            meter("recording", s, peak)
        }
    };
    let recorded = if args.from_mic {
        open_mic().and_then(|(rate, channels, next)| {
            record_from(rate, channels, next, args.max_s, progress)
        })
    } else {
        record(
            io::stdin().lock(),
            args.format,
            args.rate,
            args.channels,
            args.max_s,
            progress,
        )
    };
    if terminal {
        eprintln!();
    }
    let recording = match recorded {
        Ok(r) => r,
        Err(e) => {
            if target.json {
                print_error_json(ErrorCode::BadRequest, &e);
            }
            eprintln!("corong: {e}");
            return ExitCode::from(2);
        }
    };
    let seconds = recording.seconds();
    let mut client = match target.connect() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let uploaded = match client.upload_bytes("page.wav", &recording.to_wav()) {
        Ok(u) => u,
        Err(e) => return fail_as(target, &e),
    };
    let req = Request::Page {
        file: uploaded.path,
        recorded_ms: (seconds * 1000.0).round() as u64,
        delivery,
    };
    let mut client = match target.connect() {
        Ok(c) => c,
        Err(code) => return code,
    };
    match client.request(&req) {
        Ok(Response::Ok(Reply::Announced(a))) => {
            if target.json {
                super::client::print_json(&Reply::Announced(a));
            } else {
                println!("{}", a.id);
                eprintln!(
                    "recorded {seconds:.1} s, queued as job {} for {}",
                    a.id,
                    a.zones.join(", ")
                );
            }
            ExitCode::SUCCESS
        }
        Ok(Response::Err { code, error }) => fail_as(
            target,
            &crate::control::ClientError::Refused {
                code,
                message: error,
            },
        ),
        Ok(other) => fail_as(
            target,
            &crate::control::ClientError::Protocol(format!("unexpected reply to page: {other:?}")),
        ),
        Err(e) => fail_as(target, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, seconds: f32) -> Vec<i16> {
        (0..(rate as f32 * seconds) as usize)
            .map(|i| {
                (8000.0 * (2.0 * std::f32::consts::PI * 700.0 * i as f32 / rate as f32).sin())
                    as i16
            })
            .collect()
    }

    #[test]
    fn a_raw_stream_is_recorded_up_to_max_s() {
        let samples = tone(8000, 5.0);
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let r = record(&bytes[..], Format::S16le, Some(8000), None, 2, |_, _| {}).unwrap();
        assert_eq!((r.rate, r.channels), (8000, 1));
        assert_eq!(r.samples, samples[..16_000]);
    }

    /// A WAV header written to a pipe cannot know the length: what comes
    /// is what counts, whatever the header claims.
    #[test]
    fn a_wav_stream_whose_header_claims_more_ends_with_its_input() {
        let samples = tone(16_000, 1.0);
        let r = Recording {
            samples: samples.clone(),
            rate: 16_000,
            channels: 1,
        };
        let mut wav = r.to_wav();
        wav[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        wav[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        let got = record(&wav[..], Format::Wav, None, None, 120, |_, _| {}).unwrap();
        assert_eq!((got.rate, got.channels), (16_000, 1));
        assert_eq!(got.samples, samples);
        assert!((got.seconds() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn bad_input_is_one_clear_line() {
        let garbage = b"this is not audio at all, just words".repeat(10);
        let e = record(&garbage[..], Format::Wav, None, None, 120, |_, _| {}).unwrap_err();
        assert!(e.starts_with("standard input is not a WAV stream"), "{e}");
        let wav = Recording {
            samples: tone(16_000, 0.5),
            rate: 16_000,
            channels: 1,
        }
        .to_wav();
        let e = record(&wav[..], Format::Wav, Some(48_000), None, 120, |_, _| {}).unwrap_err();
        assert_eq!(
            e,
            "the WAV stream is 16000 Hz, not the 48000 Hz --rate says"
        );
        let e = record(&b""[..], Format::S16le, Some(8000), None, 120, |_, _| {}).unwrap_err();
        assert_eq!(e, "nothing was recorded: the input ended before any audio");
        let e = record(&b"\0\0"[..], Format::S16le, None, None, 120, |_, _| {}).unwrap_err();
        assert!(e.contains("needs --rate") && !e.contains('\n'), "{e}");
    }
}
