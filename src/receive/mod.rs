//! `corong receive`: the pole-side receiver.
//!
//! It receives a zone's RTP stream (unicast, or a multicast group joined on
//! a named interface), puts it through a jitter buffer, and plays every
//! sample at the sender's wall-clock time for it plus a fixed latency, so
//! that receivers with synchronized clocks play in lockstep. It reports
//! reception back to the sender in RTCP receiver reports. It plays into a
//! WAV file (with a sidecar giving the wall-clock time of its first
//! sample) or, with the cargo feature `local-audio`, through the sound card
//! (`--local`): both are a [`sink::Sink`].
//!
//! The road a packet takes, one file per idea:
//! - [`socket`]: binding, joining the group, RTCP on port + 1.
//! - RTP and RTCP parsing with bounds, the payload formats, the report
//!   packets: the wire module, `crate::rtp`, shared with the sender.
//! - [`jitter`]: the buffer by RTP timestamp; loss, reordering,
//!   duplicates, late packets, a sender that restarts.
//! - [`decode`]: payloads to samples per codec; G.722's and Opus's
//!   decoders keep their state, and Opus fills a lost packet with
//!   libopus's concealment and in-band FEC.
//! - [`clock`]: which timestamp is due when (sender reports, or arrival).
//! - [`playout`]: the one thread: waits for packets and deadlines, follows
//!   the target by inserting or dropping single samples, renders blocks.
//! - [`conceal`]: fills holes and splices without clicks.
//! - [`report`]: RTCP receiver reports with SDES CNAME.
//! - [`sink`]: where the audio goes: the WAV file and its sidecar, or the
//!   sound card.
//!
//! `docs/receiver.md` says how to run it on a pole.

pub mod clock;
pub mod conceal;
pub mod decode;
pub mod jitter;
pub mod playout;
pub mod report;
pub mod sink;
pub mod socket;

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::rtp::Codec;
use playout::{Receiver, Settings, SinkFactory};
use sink::{Sink, WavSink};
use socket::Interface;

/// `corong receive` arguments.
#[derive(Debug, Args)]
pub struct ReceiveArgs {
    /// Where the stream arrives: a unicast ADDR:PORT (0.0.0.0 for every
    /// interface) or a multicast GROUP:PORT. RTCP uses PORT + 1.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: SocketAddrV4,
    /// Interface to join a multicast group on: its IPv4 address or its name
    /// (eth0). Default: the kernel's choice by its routes.
    #[arg(long, value_name = "IP|NAME")]
    pub interface: Option<Interface>,
    /// The codec to receive; default: whichever arrives first (PT 96 is
    /// L16, PT 0 is PCMU, PT 9 is G.722, PT 111 is Opus).
    #[arg(long, value_enum, value_name = "C")]
    pub codec: Option<Codec>,
    /// Sample rate of an L16 stream (the daemon's `sample_rate`).
    #[arg(long, value_name = "HZ", default_value_t = 48_000,
          value_parser = clap::value_parser!(u32).range(8000..=192_000))]
    pub rate: u32,
    /// Channels of an L16 stream (the zone's `channels`), and of what an
    /// Opus stream is played as; PCMU and G.722 are always mono.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=2))]
    pub channels: u16,
    /// Record what plays to this WAV file (and its wall-clock start to
    /// PATH.json).
    #[arg(
        long,
        value_name = "PATH",
        conflicts_with = "local",
        required_unless_present = "local"
    )]
    pub wav: Option<PathBuf>,
    /// Play through the sound card (a build with `--features local-audio`).
    #[arg(long)]
    pub local: bool,
    /// With `--local`: the ALSA device (as `aplay -L` lists them; default:
    /// ALSA's default device).
    #[arg(long, value_name = "NAME", requires = "local")]
    pub device: Option<String>,
    /// Play each sample this long after the sender's wall-clock time for it.
    #[arg(long, value_name = "N", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(20..=2000))]
    pub latency_ms: u32,
    /// Stop after this many seconds (default: run until SIGINT or SIGTERM).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
}

/// Run `corong receive`.
pub fn main(args: ReceiveArgs) -> ExitCode {
    crate::logging::init();
    // Before any other thread starts, so that every thread blocks them.
    let stop = match stop_on_signals() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("corong: cannot wait for signals: {e}");
            return ExitCode::from(1);
        }
    };
    if args.local && !cfg!(feature = "local-audio") {
        eprintln!("corong: --local: this corong was built without the sound card; build with `cargo build --release --features local-audio`, or use --wav PATH");
        return ExitCode::from(2);
    }
    let duration = match args.duration {
        Some(s) if !(s.is_finite() && s > 0.0 && s < 1e9) => {
            eprintln!("corong: --duration must be a positive number of seconds");
            return ExitCode::from(2);
        }
        s => s.map(Duration::from_secs_f64),
    };
    let (rtp, rtcp) = match socket::open(args.listen, args.interface.as_ref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("corong: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(1);
        }
    };
    let latency = Duration::from_millis(args.latency_ms as u64);
    let make_sink: SinkFactory = match args.wav.clone() {
        Some(wav) => {
            let listen = args.listen.to_string();
            Box::new(move |codec, rate, channels| {
                let meta = serde_json::json!({
                    "codec": codec.name(),
                    "latency_ms": latency.as_millis() as u64,
                    "listen": listen,
                });
                let sink = WavSink::create(&wav, rate, channels, meta)?;
                Ok(Box::new(sink) as Box<dyn Sink>)
            })
        }
        None => card_sink(args.device.clone(), latency),
    };
    let (listening, silence_hint) = silence_words(args.listen, args.interface.as_ref());
    let settings = Settings {
        codec: args.codec,
        l16_rate: args.rate,
        l16_channels: args.channels,
        latency,
        duration,
        cname: cname(),
        listening,
        silence_hint,
    };
    let interface = args
        .interface
        .as_ref()
        .map_or_else(|| "by route".to_string(), |i| i.to_string());
    tracing::info!(listen = %args.listen, interface = %interface, "corong receive started");
    match Receiver::new(rtp, rtcp, settings, make_sink).run(stop) {
        Ok(summary) => {
            tracing::info!(%summary, "corong receive stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("corong: receive failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// What is listened on, and the warning for when nothing arrives there.
/// Without `--interface` a multicast group is joined where the kernel's
/// routes say, which on a pole with two interfaces is often not the one
/// facing the kiosk: the warning says so and names the option.
fn silence_words(listen: SocketAddrV4, interface: Option<&Interface>) -> (String, String) {
    let after = playout::SILENCE_WARNING.as_secs();
    if !listen.ip().is_multicast() {
        return (
            listen.to_string(),
            format!(
                "no packet on {listen} after {after} s: is the zone's `rtp` this address and port, and is the daemon streaming?"
            ),
        );
    }
    let (group, port) = (listen.ip(), listen.port());
    match interface {
        Some(i) => {
            let name = match i {
                Interface::Address(a) => a.to_string(),
                Interface::Name(n) => n.clone(),
            };
            (
                format!("group {group} port {port} on interface {name}"),
                format!(
                    "no packet for group {group} port {port} on interface {name} after {after} s: is the zone's `rtp` this group and port, is the daemon streaming, and does multicast reach this interface?"
                ),
            )
        }
        None => (
            format!("group {group} port {port} (interface: the kernel's choice)"),
            format!(
                "no packet for group {group} port {port} after {after} s on the interface the kernel chose (no --interface): name the one facing the kiosk with --interface NAME or --interface IP (127.0.0.1 for a daemon on this machine)"
            ),
        ),
    }
}

/// The sound card sink, opened when the stream's format is known.
#[cfg(feature = "local-audio")]
fn card_sink(device: Option<String>, latency: Duration) -> SinkFactory {
    Box::new(move |_codec, rate, channels| {
        let sink = sink::CardSink::open(device.as_deref(), rate, channels)?;
        if sink.delay() + Duration::from_millis(20) > latency {
            return Err(std::io::Error::other(format!(
                "the sound card plays {} ms after it is given a sample: raise --latency-ms above {} ms",
                sink.delay().as_millis(),
                (sink.delay() + Duration::from_millis(20)).as_millis()
            )));
        }
        Ok(Box::new(sink) as Box<dyn Sink>)
    })
}

/// Refused in `main` before this is reached.
#[cfg(not(feature = "local-audio"))]
fn card_sink(_device: Option<String>, _latency: Duration) -> SinkFactory {
    Box::new(|_, _, _| {
        Err(std::io::Error::other(
            "built without the sound card (--features local-audio)",
        ))
    })
}

/// `receive-PID@HOST`: unique per process on a host, as RTCP wants.
fn cname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    let host = if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "localhost".into()
    };
    format!("receive-{}@{host}", std::process::id())
}

/// A flag set when SIGINT or SIGTERM arrives, so that the receiver
/// finishes its WAV and exits 0. The signals are blocked in the calling
/// thread (and so in every thread it starts after) and taken by a thread of
/// their own with `sigwait`: no handler, no global.
fn stop_on_signals() -> std::io::Result<Arc<AtomicBool>> {
    // SAFETY: `set` is a valid sigset_t, initialised by sigemptyset before
    // use; pthread_sigmask only reads it.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        set
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut signal = 0;
            // SAFETY: `set` and `signal` are valid for the call; the
            // signals in `set` are blocked in every thread.
            if unsafe { libc::sigwait(&set, &mut signal) } == 0 {
                flag.store(true, Ordering::Relaxed);
            }
        })?;
    Ok(stop)
}
