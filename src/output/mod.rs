//! Outputs: where a zone's mixed audio goes, one packet time at a time.
//!
//! - `rtp.rs`: RTP over UDP (L16, PCMU), unicast and multicast, with RTCP
//!   sender reports on port + 1.
//! - `sdp.rs`: the SDP a receiver needs for a zone.
//! - `wav.rs`: the recorder zone: a WAV file of what the zone plays.
//! - `pcmu.rs`: G.711 mu-law and the 48 kHz -> 8 kHz decimator.
//!
//! Every [`Output::write`] runs on the engine thread: it must not block,
//! lock or allocate. Sends that fail are counted in [`OutputHealth`] and never
//! stop the engine; the control plane reads the counters and logs.

pub mod health;
pub mod pcmu;
pub mod rtp;
pub mod sdp;
pub mod wav;

use std::time::{Instant, SystemTime};

pub use health::OutputHealth;

/// The packet time being produced.
#[derive(Debug, Clone, Copy)]
pub struct Tick {
    /// Packets produced before this one since the engine started.
    pub index: u64,
    /// The monotonic deadline this packet is due at.
    pub deadline: Instant,
    /// Wall-clock time of the deadline (for RTCP's NTP timestamps).
    pub wall: SystemTime,
}

/// Something that takes a zone's audio every packet time.
pub trait Output: Send {
    /// Take one packet of the zone's audio: interleaved f32 at the engine
    /// rate with the zone's channel count, `frames_per_packet` frames.
    /// Runs on the engine thread: no blocking, locking or allocation.
    fn write(&mut self, pcm: &[f32], tick: &Tick);

    /// Counters the control plane reads (sent, errors, last error).
    fn health(&self) -> std::sync::Arc<OutputHealth>;
}
