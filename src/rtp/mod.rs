//! The RTP wire (RFC 3550, payload formats from RFC 3551): what the
//! sender (`output/rtp.rs`), the SDP (`output/sdp.rs`), the pole receiver
//! (`receive/`) and the daemon's RTCP reader (`daemon/receivers.rs`) agree
//! on, in one place.
//!
//! - [`codec`]: the payload formats ([`Codec`]: payload type, clock, rate,
//!   channels, bytes) and [`PacketLayout`], how one packet time is cut into
//!   packets: the one function the sender and the SDP both use.
//! - [`encode`]: one packet time of a zone's audio to payloads, per codec.
//! - [`l16`], [`pcmu`]: the sample formats (G.711 mu-law with its
//!   decimator down to 8 kHz).
//! - [`g722`]: the G.722 encoder and decoder (QMF and sub-band ADPCM).
//! - [`opus`]: the Opus encoder (system libopus), payload type, clock and
//!   packet durations, and the table of contents of a packet.
//! - [`header`]: the 12-byte RTP header, written and parsed.
//! - [`rtcp`]: sender and receiver reports with their SDES CNAME, BYE,
//!   parsing what comes back, NTP timestamps.
//!
//! A leaf: it imports nothing else of corong, so that `config` can hold a
//! [`Codec`]. Adding a codec is a change here (a variant of [`Codec`], its
//! arm in [`encode::Encoder`]) plus its own encoder file; its decoder
//! is the receiver's (`receive/decode.rs`).

pub mod codec;
pub mod encode;
pub mod g722;
pub mod header;
pub mod l16;
pub mod opus;
pub mod pcmu;
pub mod rtcp;

pub use codec::{Codec, LayoutError, PacketLayout};
pub use encode::EncodeOptions;

/// Largest RTP payload sent, in bytes (as ffmpeg's `pkt_size=1292` minus
/// the 12-byte header). Leaves room for IP, UDP and tunnel headers under a
/// 1500-byte MTU: IP speakers and paging adapters often cannot reassemble
/// fragments, and one lost fragment loses the whole packet.
pub const MAX_PAYLOAD: usize = 1280;

/// The RTCP port that goes with an RTP port: the next one (RFC 3550
/// section 11); `None` for 65535, which has no next.
pub fn rtcp_port(rtp_port: u16) -> Option<u16> {
    rtp_port.checked_add(1)
}

/// Datagrams longer than this are dropped unread, RTP or RTCP (an Ethernet
/// MTU: corong never sends more, and a bigger one is not ours).
pub const MAX_DATAGRAM: usize = 1500;
