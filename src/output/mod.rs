//! Outputs: where a zone's mixed audio goes, one packet time at a time.
//!
//! - `build.rs`: [`build`]: a zone's outputs opened from its config, with
//!   its endpoints and what tells their health.
//! - `endpoint.rs`: [`Endpoint`], where a zone plays, as every reader
//!   names it (`rtp://IP:PORT`, `wav:PATH`, `local:DEVICE`).
//! - `rtp.rs`: RTP over UDP, unicast and multicast, with RTCP sender
//!   reports on port + 1 (the wire itself, codecs included, is
//!   `crate::rtp`).
//! - `icmp.rs`: ICMP port-unreachable reports for unicast destinations.
//! - `sdp.rs`: the SDP a receiver needs for a zone.
//! - `wav.rs`: the recorder zone: a WAV file of what the zone plays.
//! - `icecast.rs`: an Icecast source: the zone as Ogg Opus or MP3 over an
//!   HTTP `PUT`, from its own thread, with the title of what plays
//!   (`icecast/source.rs`, `encoder.rs`, `ogg.rs`, `mp3.rs`, `title.rs`,
//!   `metadata.rs`).
//! - `local.rs` (cargo feature `local-audio`): the kiosk's own sound card,
//!   through rodio; also the sink of `corong receive --local`.
//!
//! Every [`Output::write`] runs on the engine thread: it must not block,
//! lock or allocate. Sends that fail are counted in [`OutputHealth`] and never
//! stop the engine; the control plane reads the counters and logs.

pub mod build;
pub mod endpoint;
pub mod fanout;
pub mod health;
pub mod icecast;
pub mod icmp;
#[cfg(feature = "local-audio")]
pub mod local;
pub mod rtp;
pub mod sdp;
pub mod wav;

use std::time::{Instant, SystemTime};

/// The 16-bit sample conversion every output uses (L16's, on the wire).
pub use crate::rtp::l16::to_i16;
pub use build::{build, BuildError, Built, BuiltEndpoint, RtpReturn};
pub use endpoint::Endpoint;
pub use health::{Fault, OutputHealth};

use crate::config::{Daemon, Zone};
use crate::rtp::{Codec, LayoutError, PacketLayout};

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

/// What a zone's outputs are handed every packet time: interleaved f32 at
/// the zone's mix rate ([`Zone::mix_rate`]) and channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneFormat {
    pub rate: u32,
    pub channels: u16,
    pub frames_per_packet: usize,
}

impl ZoneFormat {
    pub fn of(zone: &Zone, daemon: &Daemon) -> ZoneFormat {
        let rate = zone.mix_rate(daemon.sample_rate);
        ZoneFormat {
            rate,
            channels: zone.channels,
            frames_per_packet: daemon.frames_per_packet_at(rate),
        }
    }

    /// How `codec` sends this audio: what the sender sends and the SDP
    /// announces.
    pub fn rtp_layout(&self, codec: Codec) -> Result<PacketLayout, LayoutError> {
        PacketLayout::new(codec, self.rate, self.channels, self.frames_per_packet)
    }
}
