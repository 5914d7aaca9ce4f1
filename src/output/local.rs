//! The kiosk's own sound card, through rodio (cargo feature `local-audio`).
//!
//! [`SoundCard::write`] runs on the engine thread (or the receiver's playout
//! thread): it copies the packet into a lock-free ring ([`rtrb`]) and
//! returns; a full ring drops the packet and counts it. On the sound card's
//! own thread (cpal's, driven by rodio's mixer) [`RingSource`] reads the
//! ring:
//!
//! - it starts, and starts again after running dry, only once the ring
//!   holds [`PREFILL`] of audio, playing silence until then, so that the
//!   card's periods find whole packets;
//! - on an underrun it plays silence (never an old sample) and counts it;
//! - it never runs more than [`AHEAD`] in front of the monotonic clock
//!   since it (re)started. A real card never asks that far ahead; a device
//!   that does not keep time (ALSA's `null` and `file` devices, used to
//!   capture what a card would have played) would otherwise spin a core
//!   and drain the ring faster than the zone fills it.
//!
//! Opening happens on a thread of its own that keeps the device open until
//! the output is dropped (or [`SoundCard::close`]d). A card that cannot be
//! opened is an error for the caller (the daemon marks the zone degraded
//! and plays its other outputs on); a card that goes away later sets the
//! output's [`Fault`].

use std::num::NonZero;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rodio::cpal::traits::HostTrait;
use rodio::{CpalErrorKind, DeviceSinkBuilder, Source};

use super::{Fault, Output, OutputHealth, Tick};

/// Audio the ring holds before the card starts (or restarts) on it: the
/// output's latency, on top of the card's own buffer.
/// It covers a card period (rodio asks for 50 ms) and a packet (20 ms).
pub const PREFILL: Duration = Duration::from_millis(100);
/// How far in front of the monotonic clock the card may read: more than a
/// card period, less than [`PREFILL`] (so a reader held to it never drains
/// the ring of a zone that fills it in real time).
pub const AHEAD: Duration = Duration::from_millis(60);
/// Capacity of the ring.
const RING: Duration = Duration::from_millis(600);
/// Frames between two looks at the clock.
const PACE_EVERY: u64 = 240;

/// A sound card a zone (or the receiver) plays through.
pub struct SoundCard {
    producer: rtrb::Producer<f32>,
    channels: usize,
    health: Arc<OutputHealth>,
    fault: Arc<Fault>,
    /// Dropping it lets the device thread close the card.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// The device's own buffer, as opened.
    device_buffer: Duration,
    /// What was opened, for the log.
    pub description: String,
}

impl SoundCard {
    /// Open `device` (an ALSA device name; `None`: the default one) for
    /// `rate` Hz, `channels` interleaved. Fails when there is no such card
    /// or it cannot be opened; the error says which and why.
    pub fn open(device: Option<&str>, rate: u32, channels: u16) -> Result<SoundCard, String> {
        let samples = |d: Duration| (d.as_secs_f64() * rate as f64) as usize * channels as usize;
        let (producer, consumer) = rtrb::RingBuffer::new(samples(RING));
        let health = Arc::new(OutputHealth::default());
        let fault = Arc::new(Fault::default());
        let (opened_tx, opened_rx) = mpsc::channel::<Result<(String, Duration), String>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let name = device.map(str::to_string);
        let (h, f) = (health.clone(), fault.clone());
        let thread = std::thread::Builder::new()
            .name("corong-card".into())
            .spawn(move || {
                let source = RingSource::new(consumer, rate, channels, h.clone());
                let sink = match open_sink(name.as_deref(), rate, channels, h, f) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                let config = *sink.config();
                let buffer = match config.buffer_size() {
                    rodio::cpal::BufferSize::Fixed(n) => {
                        Duration::from_secs_f64(*n as f64 / config.sample_rate().get() as f64)
                    }
                    rodio::cpal::BufferSize::Default => Duration::ZERO,
                };
                let description = format!(
                    "{} ({} Hz, {} channels)",
                    name.as_deref().unwrap_or("default"),
                    config.sample_rate(),
                    config.channel_count()
                );
                sink.mixer().add(source);
                let _ = opened_tx.send(Ok((description, buffer)));
                // Keep the card open until the output goes.
                let _ = stop_rx.recv();
                let mut sink = sink;
                sink.log_on_drop(false);
                drop(sink);
            })
            .map_err(|e| format!("cannot start the sound card thread: {e}"))?;
        match opened_rx.recv() {
            Ok(Ok((description, device_buffer))) => Ok(SoundCard {
                producer,
                channels: channels as usize,
                health,
                fault,
                stop: Some(stop_tx),
                thread: Some(thread),
                device_buffer,
                description,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err("the sound card thread ended while opening the card".into())
            }
        }
    }

    /// Set when the card went away: the output is dead until restarted.
    pub fn fault(&self) -> Arc<Fault> {
        self.fault.clone()
    }

    /// How long after [`SoundCard::write`] a sample is heard, nominally:
    /// the ring's prefill and the device's buffer.
    pub fn delay(&self) -> Duration {
        PREFILL + self.device_buffer
    }

    /// Close the card and wait until it is closed (the ALSA file device
    /// finishes its file then).
    pub fn close(mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Output for SoundCard {
    fn write(&mut self, pcm: &[f32], _tick: &Tick) {
        match self.producer.write_chunk_uninit(pcm.len()) {
            Ok(chunk) => {
                chunk.fill_from_iter(pcm.iter().copied());
                self.health.record_sent(pcm.len() * 4);
            }
            Err(_) => self.health.record_dropped(pcm.len() / self.channels),
        }
    }

    fn health(&self) -> Arc<OutputHealth> {
        self.health.clone()
    }
}

/// Find the device and open it for our rate and channels (or, failing
/// that, whatever it offers: rodio's mixer converts).
fn open_sink(
    device: Option<&str>,
    rate: u32,
    channels: u16,
    health: Arc<OutputHealth>,
    fault: Arc<Fault>,
) -> Result<rodio::MixerDeviceSink, String> {
    let host = rodio::cpal::default_host();
    let dev = match device {
        None => host
            .default_output_device()
            .ok_or("no sound card: ALSA has no default output device")?,
        Some(name) => {
            let id: rodio::cpal::DeviceId = format!("alsa:{name}")
                .parse()
                .map_err(|e| format!("sound card `{name}`: {e}"))?;
            host.device_by_id(&id).ok_or_else(|| {
                format!("no sound card `{name}`: not among ALSA's devices (see `aplay -L`)")
            })?
        }
    };
    let which = device.unwrap_or("default");
    let on_error = move |e: rodio::CpalError| card_error(&e, &fault, &health);
    DeviceSinkBuilder::from_device(dev)
        .map_err(|e| format!("sound card `{which}`: {e}"))?
        .with_channels(NonZero::new(channels).ok_or("0 channels")?)
        .with_sample_rate(NonZero::new(rate).ok_or("rate 0")?)
        .with_error_callback(on_error)
        .open_sink_or_fallback()
        .map_err(|e| format!("cannot open sound card `{which}`: {e}"))
}

/// An error the card's stream reports (on its own thread): counted; a card
/// that is gone (ALSA's ENODEV when a USB card is pulled, a stream that must
/// be rebuilt) sets the fault, which turns the zone degraded.
fn card_error(e: &rodio::CpalError, fault: &Fault, health: &OutputHealth) {
    match e.kind() {
        CpalErrorKind::DeviceNotAvailable
        | CpalErrorKind::StreamInvalidated
        | CpalErrorKind::HostUnavailable => {
            fault.set(format!("the sound card went away: {e}"));
        }
        _ => {}
    }
    health.send_errors.fetch_add(1, Ordering::Relaxed);
    health.last_error.store(-1, Ordering::Relaxed);
}

/// The ring, as rodio reads it. See the module docs.
struct RingSource {
    ring: rtrb::Consumer<f32>,
    channels: NonZero<u16>,
    rate: NonZero<u32>,
    health: Arc<OutputHealth>,
    /// Samples of the current frame still to give.
    left: u16,
    /// Playing from the ring; false: filling it (silence meanwhile).
    playing: bool,
    prefill: usize,
    /// When the current run (filling or playing) began, and the frames
    /// given since.
    since: Instant,
    given: u64,
    ahead: u64,
}

impl RingSource {
    fn new(
        ring: rtrb::Consumer<f32>,
        rate: u32,
        channels: u16,
        health: Arc<OutputHealth>,
    ) -> RingSource {
        let frames = |d: Duration| (d.as_secs_f64() * rate as f64) as u64;
        RingSource {
            ring,
            channels: NonZero::new(channels.max(1)).expect("max(1)"),
            rate: NonZero::new(rate.max(1)).expect("max(1)"),
            health,
            left: 0,
            playing: false,
            prefill: frames(PREFILL) as usize * channels as usize,
            since: Instant::now(),
            given: 0,
            ahead: frames(AHEAD),
        }
    }

    fn restart(&mut self, playing: bool) {
        self.playing = playing;
        self.since = Instant::now();
        self.given = 0;
    }

    /// Hold the reader to the monotonic clock (plus [`AHEAD`]).
    fn pace(&mut self) {
        let elapsed = self.since.elapsed().as_secs_f64();
        let due = (elapsed * self.rate.get() as f64) as u64 + self.ahead;
        if self.given > due {
            let early = (self.given - due) as f64 / self.rate.get() as f64;
            std::thread::sleep(Duration::from_secs_f64(early));
        }
    }

    fn start_frame(&mut self) {
        self.left = self.channels.get();
        self.given += 1;
        if self.given % PACE_EVERY == 0 {
            self.pace();
        }
        let ready = self.ring.slots();
        if self.playing {
            if ready < self.left as usize {
                self.health.underruns.fetch_add(1, Ordering::Relaxed);
                self.restart(false);
            }
        } else if ready >= self.prefill {
            self.restart(true);
        }
    }
}

impl Iterator for RingSource {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        if self.left == 0 {
            self.start_frame();
        }
        self.left -= 1;
        if self.playing {
            Some(self.ring.pop().unwrap_or(0.0))
        } else {
            Some(0.0)
        }
    }
}

impl Source for RingSource {
    fn current_span_len(&self) -> Option<usize> {
        None
    }

    fn channels(&self) -> rodio::ChannelCount {
        self.channels
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        self.rate
    }

    fn total_duration(&self) -> Option<Duration> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(rate: u32, channels: u16) -> (rtrb::Producer<f32>, RingSource) {
        let (p, c) = rtrb::RingBuffer::new(rate as usize * channels as usize);
        let h = Arc::new(OutputHealth::default());
        (p, RingSource::new(c, rate, channels, h))
    }

    #[test]
    fn plays_silence_until_prefilled_then_the_ring_in_order_then_silence_on_underrun() {
        let rate = 2000; // PREFILL = 200 frames
        let (mut p, mut s) = source(rate, 2);
        for i in 0..100 {
            p.push(i as f32).unwrap();
        }
        // 50 frames in the ring: not enough, silence, and the ring untouched.
        assert!((0..20).all(|_| s.next() == Some(0.0)));
        assert_eq!(s.ring.slots(), 100);
        for i in 100..400 {
            p.push(i as f32).unwrap();
        }
        // Now the ring plays, from its start, in order.
        let got: Vec<f32> = (0..400).map(|_| s.next().unwrap()).collect();
        let want: Vec<f32> = (0..400).map(|i| i as f32).collect();
        assert_eq!(got, want);
        // Dry: silence, counted once.
        assert!((0..50).all(|_| s.next() == Some(0.0)));
        assert_eq!(s.health.underruns.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_card_that_goes_away_sets_the_fault_and_a_glitch_does_not() {
        let (fault, health) = (Fault::default(), OutputHealth::default());
        let glitch = rodio::CpalError::with_message(CpalErrorKind::DeviceBusy, "busy");
        card_error(&glitch, &fault, &health);
        assert_eq!(fault.get(), None);
        assert_eq!(health.send_errors.load(Ordering::Relaxed), 1);
        let gone = rodio::CpalError::new(CpalErrorKind::DeviceNotAvailable);
        card_error(&gone, &fault, &health);
        let why = fault.get().expect("fault set");
        assert!(why.starts_with("the sound card went away"), "{why}");
        assert_eq!(health.send_errors.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_reader_that_runs_ahead_of_the_clock_is_held_back() {
        let rate = 8000;
        let (_p, mut s) = source(rate, 1);
        let start = Instant::now();
        // Half a second of frames, asked for at once.
        for _ in 0..rate / 2 {
            s.next();
        }
        let took = start.elapsed();
        let least = Duration::from_millis(500) - AHEAD - Duration::from_millis(20);
        assert!(took >= least, "took {took:?}, expected at least {least:?}");
    }
}
