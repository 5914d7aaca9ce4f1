//! The Icecast source: the zone's audio as Ogg Opus, sent to an Icecast
//! 2.4 server for listeners' phones and browsers (zone key `icecast`).
//!
//! The engine thread only copies each packet into a lock-free ring
//! ([`rtrb`], [`RING_SECONDS`] of audio) while the source is connected;
//! the source thread (`icecast/source.rs`) encodes 20 ms Opus frames,
//! gathers them into Ogg pages (`icecast/ogg.rs`) and writes them to the
//! server over an HTTP `PUT` (Basic auth, `Content-Type: audio/ogg`,
//! `ice-public: 0`, `ice-name` and `ice-description` from the zone). A
//! slow or dead server never reaches the engine:
//!
//! - While the source is not connected the engine drops each packet and
//!   counts it ([`OutputHealth::dropped_frames`]): nothing piles up, and
//!   listeners hear the zone live again once it reconnects, not what they
//!   missed. A ring full because the server stalls drops and counts too.
//! - A failed connection is tried again after [`RETRY_FIRST`], then twice
//!   as late each time up to [`RETRY_MAX`] (5 s), so a restarted server is
//!   fed again within seconds.
//! - Every new connection is a new Ogg stream (headers first), as Icecast
//!   and its listeners expect of a source that comes back.
//! - The log gets one line when the state changes (connected; a failure
//!   of a new kind, such as a refused password, said once however often it
//!   is retried; connected again), and [`Fault`] holds the failure while
//!   it lasts, so `status` and `zones` show the zone `degraded` with it.
//!
//! Not done: the title of what plays (an Ogg stream carries it in
//! `OpusTags`, which would need a new chained stream per item; Icecast's
//! admin metadata update does not apply to Ogg), MP3 (refused at load),
//! and TLS (the loader allows plain HTTP to a loopback server only).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::{Fault, Output, OutputHealth, Tick};
use crate::config::IcecastOutput as IcecastConfig;

mod ogg;
mod source;

pub use ogg::{crc32, PACKETS_PER_PAGE};
pub use source::{ICECAST_KBPS, RETRY_FIRST, RETRY_MAX};

/// Seconds of audio the ring holds before packets are dropped.
pub const RING_SECONDS: usize = 2;

/// A zone's Icecast source. See the module docs.
pub struct IcecastOutput {
    channels: usize,
    /// `None` only while dropping (dropping it tells the thread to end).
    producer: Option<rtrb::Producer<f32>>,
    connected: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    health: Arc<OutputHealth>,
    fault: Arc<Fault>,
}

impl IcecastOutput {
    /// Start the source thread for `zone`'s audio at `rate` Hz and
    /// `channels`: it connects at once and keeps trying. Errors: the rate
    /// is not one Opus takes (the loader refuses such zones), or the
    /// thread cannot start.
    pub fn start(
        zone: &str,
        config: &IcecastConfig,
        rate: u32,
        channels: u16,
    ) -> std::io::Result<IcecastOutput> {
        let (producer, consumer) =
            rtrb::RingBuffer::new(rate as usize * channels as usize * RING_SECONDS);
        let connected = Arc::new(AtomicBool::new(false));
        let health = Arc::new(OutputHealth::default());
        let fault = Arc::new(Fault::default());
        let mut source = source::Source::new(
            zone,
            config,
            rate,
            channels,
            consumer,
            connected.clone(),
            health.clone(),
            fault.clone(),
        )
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let thread = std::thread::Builder::new()
            .name("icecast-source".into())
            .spawn(move || source.run())?;
        Ok(IcecastOutput {
            channels: channels.max(1) as usize,
            producer: Some(producer),
            connected,
            thread: Some(thread),
            health,
            fault,
        })
    }

    /// Set while the source is not connected, with why.
    pub fn fault(&self) -> Arc<Fault> {
        self.fault.clone()
    }

    /// Whether the source is connected to the server now.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

impl Output for IcecastOutput {
    fn write(&mut self, pcm: &[f32], _tick: &Tick) {
        let Some(producer) = self.producer.as_mut() else {
            return;
        };
        let frames = pcm.len() / self.channels;
        if !self.connected.load(Ordering::Relaxed) {
            self.health.record_dropped(frames);
            return;
        }
        let samples = frames * self.channels;
        match producer.write_chunk_uninit(samples) {
            Ok(chunk) => {
                chunk.fill_from_iter(pcm[..samples].iter().copied());
            }
            Err(_) => self.health.record_dropped(frames),
        }
    }

    fn health(&self) -> Arc<OutputHealth> {
        self.health.clone()
    }
}

impl Drop for IcecastOutput {
    fn drop(&mut self) {
        // Abandoning the ring tells the thread to end the stream and stop.
        // (Outputs are dropped off the engine thread: the engine retires
        // them.)
        drop(self.producer.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
