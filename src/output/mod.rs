//! Outputs: where a zone's mixed audio goes, one packet time at a time.
//!
//! - `rtp.rs`: RTP over UDP (L16, PCMU), unicast and multicast, with RTCP
//!   sender reports on port + 1.
//! - `icmp.rs`: ICMP port-unreachable reports for unicast destinations.
//! - `sdp.rs`: the SDP a receiver needs for a zone.
//! - `wav.rs`: the recorder zone: a WAV file of what the zone plays.
//! - `pcmu.rs`: G.711 mu-law and the 48 kHz -> 8 kHz decimator.
//! - `local.rs` (cargo feature `local-audio`): the kiosk's own sound card,
//!   through rodio; also the sink of `corong receive --local`.
//!
//! Every [`Output::write`] runs on the engine thread: it must not block,
//! lock or allocate. Sends that fail are counted in [`OutputHealth`] and never
//! stop the engine; the control plane reads the counters and logs.

pub mod health;
pub mod icmp;
#[cfg(feature = "local-audio")]
pub mod local;
pub mod pcmu;
pub mod rtp;
pub mod sdp;
pub mod wav;

use std::time::{Instant, SystemTime};

pub use health::{Fault, OutputHealth};

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

/// f32 in -1..1 to a 16-bit sample: clipped, rounded half away from zero.
/// Written out rather than with `f32::round`, which is a libm call on
/// baseline x86-64 and showed up in the engine thread's profile.
#[inline]
pub fn to_i16(s: f32) -> i16 {
    let x = s.clamp(-1.0, 1.0) * 32767.0;
    (x + 0.5f32.copysign(x)) as i16
}

#[cfg(test)]
mod tests {
    use super::to_i16;

    #[test]
    fn to_i16_rounds_half_away_from_zero_and_clips() {
        assert_eq!(to_i16(0.0), 0);
        assert_eq!(to_i16(1.0), 32767);
        assert_eq!(to_i16(-1.0), -32767);
        assert_eq!(to_i16(2.0), 32767);
        assert_eq!(to_i16(-7.5), -32767);
        assert_eq!(to_i16(1.5 / 32767.0), 2);
        assert_eq!(to_i16(-1.5 / 32767.0), -2);
        assert_eq!(to_i16(1.4 / 32767.0), 1);
        assert_eq!(to_i16(-0.4 / 32767.0), 0);
        for i in -1000..=1000 {
            let s = i as f32 / 1000.0;
            assert_eq!(to_i16(s), (s * 32767.0).round() as i16, "{s}");
        }
    }
}
