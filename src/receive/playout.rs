//! The receiver's one thread: packets in, blocks out on time.
//!
//! It waits in `ppoll` on both sockets until the next block's deadline
//! (an absolute `CLOCK_MONOTONIC` instant, [`BLOCK`] apart from the start,
//! never accumulating rounding), takes every packet that arrived into the
//! jitter buffer, and at each deadline renders one block:
//!
//! 1. The block's first sample plays at the wall-clock time of its deadline
//!    (`CLOCK_REALTIME`, read beside the monotonic clock, plus the sink's
//!    delay). [`Timing::target`] says which RTP timestamp is due then.
//! 2. The playout position follows that target. Within a sample it is left
//!    alone. Further off, one sample is dropped or inserted in the block (two
//!    when more than [`FAST_SLEW`] off), where the waveform is flattest, so
//!    the correction is inaudible: this absorbs clock drift and the change
//!    from arrival timing to sender-report timing. Further off than
//!    [`MAX_SLEW`] (a sender restart, a clock step), the position jumps and
//!    the concealer splices old into new.
//! 3. The samples are read from the jitter buffer, holes concealed, the
//!    block written to the sink, and the buffer consumed up to the new
//!    position.
//!
//! Positions and corrections count frames (one sample per channel); a
//! stereo L16 stream is read and written interleaved, concealed frame by
//! frame (one pitch period for all channels, so they stay in step through
//! a hole), and corrected by one sample per channel, each channel at its
//! own flattest place in the block.
//!
//! Nothing is written to the sink until the first packet's audio is due;
//! from then on every block is, silence included, so the recording is one
//! unbroken timeline. A run is stopped by the flag it is given (set on
//! SIGINT and SIGTERM by `corong receive`) or its duration; the sink is
//! finished either way.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::clock::{Mode, Timing};
use super::conceal::Concealer;
use super::decode::Decoder;
use super::jitter::{Counters, Insert, JitterBuffer};
use super::report::{LastSr, Reporter};
use super::sink::Sink;
use crate::engine::clock::Pacer;
use crate::rtp::header::parse as parse_rtp;
use crate::rtp::rtcp::{parse_sender_report, SenderReport};
use crate::rtp::{Codec, MAX_DATAGRAM};

/// Output block length.
pub const BLOCK: Duration = Duration::from_millis(5);
/// Beyond this much timing error, correct two samples a block, not one.
pub const FAST_SLEW: Duration = Duration::from_millis(5);
/// Beyond this much timing error, jump (splice) rather than slew.
pub const MAX_SLEW: Duration = Duration::from_millis(50);
/// Packets taken from a socket per wake-up at most, so a flood cannot
/// starve the playout.
const MAX_PACKETS_PER_WAKE: usize = 256;
/// With no packet this long after the start, warn (with
/// [`Settings::silence_hint`]): a multicast join on the wrong interface
/// otherwise looks exactly like a quiet zone.
pub const SILENCE_WARNING: Duration = Duration::from_secs(3);

/// What the receiver is told to do.
pub struct Settings {
    /// The codec to accept; `None`: the first of PT 96 (L16), 0 (PCMU),
    /// 9 (G.722) or 111 (Opus) that arrives.
    pub codec: Option<Codec>,
    /// Clock rate of L16 (PT 96).
    pub l16_rate: u32,
    /// Channels of L16 and of what Opus decodes to (PCMU and G.722 are
    /// always mono).
    pub l16_channels: u16,
    pub latency: Duration,
    pub duration: Option<Duration>,
    /// CNAME for the receiver reports.
    pub cname: String,
    /// What is listened on, for the warnings when nothing arrives:
    /// "239.255.0.1:5008 (joined on the kernel's choice of interface)".
    pub listening: String,
    /// Logged when nothing has arrived after [`SILENCE_WARNING`].
    pub silence_hint: String,
}

/// Opens the sink once the codec (and so the rate and channels) is known.
pub type SinkFactory = Box<dyn FnMut(Codec, u32, u16) -> io::Result<Box<dyn Sink>>>;

/// Counters of the playout, for the summary.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
struct PlayoutCounters {
    blocks: u64,
    inserted_samples: u64,
    dropped_samples: u64,
    splices: u64,
    sender_reports: u64,
    malformed: u64,
}

/// Everything that exists once the codec is known.
struct Playout {
    codec: Codec,
    /// Frames a second of what is played, and the RTP clock (G.722: half).
    rate: u32,
    clock_rate: u32,
    channels: usize,
    /// Frames per block.
    block_len: usize,
    buffer: JitterBuffer,
    timing: Timing,
    concealer: Concealer,
    sink: Box<dyn Sink>,
    origin: Instant,
    next_block: u64,
    /// Started writing; the generation of the stream the position is in.
    started: bool,
    generation: u64,
    position: i64,
    mode: Option<Mode>,
    /// Last timing error, samples (target minus position).
    error: f64,
    work: Vec<f32>,
    /// What follows the block, for the concealer to see audio returning.
    ahead: Vec<f32>,
    counters: PlayoutCounters,
}

impl Playout {
    fn deadline(&self, block: u64) -> Instant {
        self.origin + BLOCK * block as u32
    }
}

/// The receiver. See the module docs.
pub struct Receiver {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    settings: Settings,
    make_sink: SinkFactory,
    playout: Option<Playout>,
    reporter: Reporter,
    last_sr: Option<(SenderReport, LastSr)>,
    malformed: u64,
    /// Datagrams on the RTP socket, playable or not.
    datagrams: u64,
}

impl Receiver {
    pub fn new(
        rtp: UdpSocket,
        rtcp: UdpSocket,
        settings: Settings,
        make_sink: SinkFactory,
    ) -> Receiver {
        let reporter = Reporter::new(&settings.cname);
        Receiver {
            rtp,
            rtcp,
            settings,
            make_sink,
            playout: None,
            reporter,
            last_sr: None,
            malformed: 0,
            datagrams: 0,
        }
    }

    /// Run until `stop` is set or the duration is over; then finish the
    /// sink and return the summary. `stop` is looked at every wake-up (at
    /// most 100 ms apart). A duration that ends with no stream followed is
    /// an error (a check of a pole that heard nothing must not pass); a
    /// stop is not (a service stopped while its zone is quiet).
    pub fn run(mut self, stop: Arc<AtomicBool>) -> io::Result<serde_json::Value> {
        Pacer::tighten_timer_slack();
        let start = Instant::now();
        let end = self.settings.duration.map(|d| start + d);
        let mut buf = [0u8; MAX_DATAGRAM + 1];
        let mut warned = false;
        loop {
            let now = Instant::now();
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if end.is_some_and(|e| now >= e) {
                if self.playout.is_none() {
                    let secs = self.settings.duration.unwrap_or_default().as_secs_f64();
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        if self.datagrams == 0 {
                            format!("nothing arrived on {} in {secs} s", self.settings.listening)
                        } else {
                            format!(
                                "{} datagrams arrived on {} in {secs} s, but no RTP stream it can play",
                                self.datagrams, self.settings.listening
                            )
                        },
                    ));
                }
                break;
            }
            if !warned && self.datagrams == 0 && now >= start + SILENCE_WARNING {
                warned = true;
                tracing::warn!("{}", self.settings.silence_hint);
            }
            if let Some(p) = self.playout.as_mut() {
                let due = p.deadline(p.next_block);
                if now >= due {
                    self.render(due)?;
                    continue;
                }
            }
            let mut wake = now + Duration::from_millis(100);
            if let Some(p) = &self.playout {
                wake = wake.min(p.deadline(p.next_block));
            }
            if let Some(e) = end {
                wake = wake.min(e);
            }
            wait_readable(&[&self.rtp, &self.rtcp], wake - now);
            for _ in 0..MAX_PACKETS_PER_WAKE {
                let got = self.rtp.recv_from(&mut buf);
                if got.is_ok() {
                    self.datagrams += 1;
                }
                match got {
                    Ok((n, from)) if n <= MAX_DATAGRAM => self.on_rtp(&buf[..n], from)?,
                    Ok(_) => self.malformed += 1,
                    Err(_) => break,
                }
            }
            for _ in 0..MAX_PACKETS_PER_WAKE {
                match self.rtcp.recv_from(&mut buf) {
                    Ok((n, from)) if n <= MAX_DATAGRAM => self.on_rtcp(&buf[..n], from),
                    Ok(_) => self.malformed += 1,
                    Err(_) => break,
                }
            }
            if let Some(p) = &self.playout {
                if let Some(stream) = p.buffer.stream() {
                    let sr = self.last_sr.as_ref().filter(|(s, _)| s.ssrc == stream.ssrc);
                    let sr = sr.map(|(_, l)| l);
                    self.reporter
                        .maybe_send(Instant::now(), &self.rtcp, stream, sr);
                }
            }
        }
        self.finish()
    }

    fn finish(mut self) -> io::Result<serde_json::Value> {
        if let Some(stream) = self.playout.as_ref().and_then(|p| p.buffer.stream()) {
            let sr = self.last_sr.as_ref().filter(|(s, _)| s.ssrc == stream.ssrc);
            self.reporter
                .send_bye(Instant::now(), &self.rtcp, stream, sr.map(|(_, l)| l));
        }
        let summary = match self.playout.as_mut() {
            None => serde_json::json!({ "packets": 0, "malformed": self.malformed }),
            Some(p) => {
                let mut c = p.counters;
                c.malformed = self.malformed;
                let buffer: Counters = p.buffer.counters;
                let lost = p
                    .buffer
                    .stream()
                    .map_or(0, |s| s.expected() - s.received as i64);
                serde_json::json!({
                    "codec": p.codec.name(),
                    "buffer": buffer,
                    "playout": c,
                    "lost": lost,
                    "concealed_samples": p.concealer.concealed,
                    "timing": p.mode,
                    "timing_error_samples": p.error,
                    "sender_rate": p.timing.sender_rate(),
                    "receiver_reports": self.reporter.sent,
                })
            }
        };
        if let Some(p) = self.playout.as_mut() {
            p.sink.finish(summary.clone())?;
        }
        Ok(summary)
    }

    fn on_rtp(&mut self, data: &[u8], from: std::net::SocketAddr) -> io::Result<()> {
        let Some(packet) = parse_rtp(data) else {
            self.malformed += 1;
            return Ok(());
        };
        let wall = unix_ns(SystemTime::now());
        let now = Instant::now();
        if self.playout.is_none() {
            let codec = match self.settings.codec {
                Some(c) => c,
                None => match Codec::from_payload_type(packet.payload_type) {
                    Some(c) => c,
                    None => {
                        self.malformed += 1;
                        return Ok(());
                    }
                },
            };
            // What the codec decodes to: L16 and Opus at the channels
            // asked for (libopus mixes a stereo stream down or a mono one
            // up), PCMU and G.722 mono.
            let rate = Decoder::rate(codec, self.settings.l16_rate);
            let channels = codec.channels(self.settings.l16_channels.clamp(1, 2));
            let clock_rate = codec.clock_rate(rate);
            let sink = (self.make_sink)(codec, rate, channels)?;
            let block_len = (rate as u128 * BLOCK.as_nanos() / 1_000_000_000) as usize;
            let ch = channels as usize;
            let concealer = Concealer::with_channels(rate, ch);
            let lookahead = concealer.lookahead();
            tracing::info!(codec = codec.name(), rate, channels, "receiving");
            self.playout = Some(Playout {
                codec,
                rate,
                clock_rate,
                channels: ch,
                block_len,
                buffer: JitterBuffer::new(codec, rate, channels),
                timing: Timing::new(rate, self.settings.latency),
                ahead: vec![0.0; lookahead * ch],
                concealer,
                sink,
                origin: now,
                next_block: 0,
                started: false,
                generation: 0,
                position: 0,
                mode: None,
                error: 0.0,
                work: vec![0.0; (block_len + 2) * ch],
                counters: PlayoutCounters::default(),
            });
        }
        let p = self.playout.as_mut().expect("created above");
        let arrival_ts = (wall * p.clock_rate as i128 / 1_000_000_000) as u32;
        let outcome = p.buffer.insert(&packet, arrival_ts, now, from);
        if outcome == Insert::NewStream {
            p.timing.reset();
            p.mode = None;
            tracing::info!(
                ssrc = format_args!("{:08x}", packet.ssrc),
                from = %from,
                seq = packet.seq,
                "following stream"
            );
            if let Some((sr, _)) = self.last_sr.filter(|(s, _)| s.ssrc == packet.ssrc) {
                let ext = p
                    .buffer
                    .stream()
                    .expect("a stream")
                    .extend_ts(sr.rtp_timestamp);
                p.timing.on_sender_report(&sr, ext);
            }
        }
        if matches!(outcome, Insert::Stored | Insert::NewStream) {
            let ext = p
                .buffer
                .stream()
                .expect("a stream")
                .extend_ts(packet.timestamp);
            p.timing.on_packet(ext, wall);
        }
        Ok(())
    }

    fn on_rtcp(&mut self, data: &[u8], from: std::net::SocketAddr) {
        let Some(sr) = parse_sender_report(data) else {
            return;
        };
        let last = LastSr {
            ntp: sr.ntp,
            arrived: Instant::now(),
            from,
        };
        self.last_sr = Some((sr, last));
        if let Some(p) = self.playout.as_mut() {
            if let Some(stream) = p.buffer.stream().filter(|s| s.ssrc == sr.ssrc) {
                let ext = stream.extend_ts(sr.rtp_timestamp);
                p.timing.on_sender_report(&sr, ext);
                p.counters.sender_reports += 1;
            }
        }
    }

    /// Render the block due at `due`.
    fn render(&mut self, due: Instant) -> io::Result<()> {
        let p = self.playout.as_mut().expect("render needs a playout");
        p.next_block += 1;
        let wall = wall_ns_at(due) + p.sink.delay().as_nanos() as i128;
        let b = p.block_len;
        let target = match p.buffer.stream() {
            Some(_) => p.timing.target(wall),
            None => None,
        };
        if !p.started {
            let (Some((t, _)), Some(s)) = (target, p.buffer.stream()) else {
                return Ok(());
            };
            if t + (b as f64) < s.first_ts as f64 {
                return Ok(());
            }
            p.started = true;
            p.generation = p.buffer.generation();
            p.position = t.round() as i64;
            tracing::info!(
                latency_ms = self.settings.latency.as_millis() as u64,
                "playing"
            );
        }
        if p.generation != p.buffer.generation() {
            // A new stream: its timestamps have nothing to do with ours.
            p.generation = p.buffer.generation();
            if let Some((t, _)) = target {
                p.position = t.round() as i64;
            }
            p.concealer.splice();
            p.counters.splices += 1;
        }
        let mut correction: i64 = 0;
        if let Some((t, mode)) = target {
            if p.mode != Some(mode) {
                match mode {
                    Mode::SenderReports => tracing::info!("timing by the sender's reports"),
                    Mode::Arrival if p.timing.refused => tracing::warn!(
                        "sender reports disagree with arrival times by more than the latency allows: \
                         are both clocks synchronized? timing by arrival"
                    ),
                    Mode::Arrival => tracing::info!("timing by arrival until a sender report"),
                }
                p.mode = Some(mode);
            }
            let e = t - p.position as f64;
            let per_ms = p.rate as f64 / 1000.0;
            if e.abs() > MAX_SLEW.as_millis() as f64 * per_ms {
                tracing::info!(error_ms = e / per_ms, "timing jump: splicing");
                p.position = t.round() as i64;
                p.concealer.splice();
                p.counters.splices += 1;
            } else if e.abs() >= 1.0 {
                let n = if e.abs() > FAST_SLEW.as_millis() as f64 * per_ms {
                    2
                } else {
                    1
                };
                correction = if e > 0.0 { n } else { -n };
            }
            p.error = t - p.position as f64;
        }

        // Read what the corrected block needs; correct only clean audio.
        let ch = p.channels;
        let need = (b as i64 + correction) as usize;
        p.buffer.read(p.position, &mut p.work[..need * ch]);
        if correction != 0
            && (!p.concealer.is_normal() || p.work[..need * ch].iter().any(|v| v.is_nan()))
        {
            correction = 0;
        }
        let mut len = need;
        if correction != 0 {
            let n = correction.unsigned_abs() as usize;
            for k in 0..n {
                let range = (len * k / n).max(1)..(len * (k + 1) / n).min(len - 1);
                if correction > 0 {
                    len = drop_one(&mut p.work, ch, len, range);
                    p.counters.dropped_samples += 1;
                } else {
                    len = insert_one(&mut p.work, ch, len, range);
                    p.counters.inserted_samples += 1;
                }
            }
        } else {
            p.buffer.read(p.position, &mut p.work[..b * ch]);
            len = b;
        }
        debug_assert_eq!(len, b);
        p.buffer
            .read(p.position + b as i64 + correction, &mut p.ahead);
        let block = &mut p.work[..b * ch];
        p.concealer.process(block, &p.ahead);
        let wall_time = UNIX_EPOCH + Duration::from_nanos(wall.max(0) as u64);
        p.sink.write(block, wall_time)?;
        p.position += b as i64 + correction;
        p.buffer.consume(p.position);
        p.counters.blocks += 1;
        Ok(())
    }
}

/// Remove one sample from every channel of the first `len` frames of the
/// interleaved `buf` (`ch` channels), each where its own neighbours are
/// closest within `range`; the new length in frames. (Each channel picks
/// its own place: two tones rarely have a flat spot in common, and a
/// common one would step in one of them. The channels are then up to one
/// sample apart until the end of the block.)
fn drop_one(buf: &mut [f32], ch: usize, len: usize, range: std::ops::Range<usize>) -> usize {
    for c in 0..ch {
        let at = |f: usize| buf[f * ch + c];
        let k = range
            .clone()
            .min_by(|&a, &b| {
                let da = (at(a + 1) - at(a - 1)).abs();
                let db = (at(b + 1) - at(b - 1)).abs();
                da.total_cmp(&db)
            })
            .unwrap_or(1);
        for f in k..len - 1 {
            buf[f * ch + c] = buf[(f + 1) * ch + c];
        }
    }
    len - 1
}

/// Insert one sample into every channel of the first `len` frames of the
/// interleaved `buf` (`ch` channels; it has room for one more frame), each
/// after the sample of `range` closest to its successor, as their mean;
/// the new length in frames.
fn insert_one(buf: &mut [f32], ch: usize, len: usize, range: std::ops::Range<usize>) -> usize {
    for c in 0..ch {
        let at = |f: usize| buf[f * ch + c];
        let k = range
            .clone()
            .min_by(|&a, &b| {
                let da = (at(a + 1) - at(a)).abs();
                let db = (at(b + 1) - at(b)).abs();
                da.total_cmp(&db)
            })
            .unwrap_or(0);
        let mid = 0.5 * (at(k) + at(k + 1));
        for f in (k + 1..len).rev() {
            buf[(f + 1) * ch + c] = buf[f * ch + c];
        }
        buf[(k + 1) * ch + c] = mid;
    }
    len + 1
}

fn unix_ns(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// The wall-clock time (ns since the epoch) of the monotonic instant `at`,
/// by the clocks' offset now.
fn wall_ns_at(at: Instant) -> i128 {
    let mono = Instant::now();
    let wall = unix_ns(SystemTime::now());
    if at <= mono {
        wall - (mono - at).as_nanos() as i128
    } else {
        wall + (at - mono).as_nanos() as i128
    }
}

/// Sleep until one of `sockets` is readable, a signal arrives, or `timeout`.
fn wait_readable(sockets: &[&UdpSocket; 2], timeout: Duration) {
    let mut fds = sockets.map(|s| libc::pollfd {
        fd: s.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    });
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `fds` is a valid array of two pollfds and `ts` a valid
    // timespec, both live for the call; a null sigmask keeps the mask.
    unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_and_inserts_where_the_wave_is_flattest() {
        let mut b = [0.0, 0.5, 1.0, 1.0, 0.5, 0.0, 0.0];
        let len = drop_one(&mut b, 1, 6, 1..5);
        assert_eq!(&b[..len], &[0.0, 0.5, 1.0, 0.5, 0.0]);
        let mut b = [0.0, 0.5, 1.0, 0.9, 0.5, 0.0, 0.0];
        let len = insert_one(&mut b, 1, 6, 0..5);
        assert_eq!(&b[..len], &[0.0, 0.5, 1.0, 0.95, 0.9, 0.5, 0.0]);
    }

    #[test]
    fn stereo_corrections_happen_where_each_channel_is_flattest() {
        // Left is flat at frames 2-3, right at frames 4-5.
        let l = [0.0, 0.5, 1.0, 1.0, 0.5, 0.0, -0.5];
        let r = [-1.0, -0.5, 0.0, 0.5, 1.0, 1.0, 0.5];
        let mut b: Vec<f32> = l.iter().zip(&r).flat_map(|(&a, &b)| [a, b]).collect();
        b.extend([0.0; 2]);
        let len = drop_one(&mut b, 2, 7, 1..6);
        assert_eq!(len, 6);
        let left: Vec<f32> = b[..12].iter().step_by(2).copied().collect();
        let right: Vec<f32> = b[..12].iter().skip(1).step_by(2).copied().collect();
        assert_eq!(left, [0.0, 0.5, 1.0, 0.5, 0.0, -0.5]);
        assert_eq!(right, [-1.0, -0.5, 0.0, 0.5, 1.0, 0.5]);
        // Insert: each channel gets the mean of its own closest neighbours.
        let l = [0.0, 0.5, 1.0, 0.9, 0.5, 0.0];
        let r = [0.0, -0.5, -1.0, -0.5, 0.0, 0.2];
        let mut b: Vec<f32> = l.iter().zip(&r).flat_map(|(&a, &b)| [a, b]).collect();
        b.extend([0.0; 2]);
        let len = insert_one(&mut b, 2, 6, 0..5);
        assert_eq!(len, 7);
        let left: Vec<f32> = b.iter().step_by(2).copied().collect();
        let right: Vec<f32> = b.iter().skip(1).step_by(2).copied().collect();
        assert_eq!(left, [0.0, 0.5, 1.0, 0.95, 0.9, 0.5, 0.0]);
        assert_eq!(right, [0.0, -0.5, -1.0, -0.5, 0.0, 0.1, 0.2]);
    }
}
