//! What arrives on the wire: RTP packets and RTCP sender reports, parsed
//! with bounds checks (the `rtp-types` and `rtcp-types` crates), and the
//! payload formats corong sends.
//!
//! Anything malformed is refused here, before it touches the jitter buffer:
//! datagrams over [`MAX_DATAGRAM`] bytes, versions other than 2, headers
//! that claim more CSRCs, extension or padding than the datagram holds.

use rtcp_types::{Compound, Packet as RtcpPacket};
use rtp_types::RtpPacket;

use crate::output::pcmu;

/// Datagrams longer than this are dropped unread (an Ethernet MTU: corong
/// never sends more, and a bigger one is not ours).
pub const MAX_DATAGRAM: usize = 1500;

/// The payload formats corong sends (RFC 3551): L16 mono or stereo
/// (interleaved, the channels set by `--channels`), PCMU mono.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Codec {
    /// 16-bit linear PCM, big-endian, dynamic PT 96, clock = sample rate
    /// (48 kHz unless `--rate` says otherwise).
    L16,
    /// G.711 mu-law, PT 0, 8000 Hz.
    Pcmu,
}

impl Codec {
    /// The codec a payload type stands for, as corong uses them.
    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            96 => Some(Codec::L16),
            0 => Some(Codec::Pcmu),
            _ => None,
        }
    }

    pub fn payload_type(self) -> u8 {
        match self {
            Codec::L16 => 96,
            Codec::Pcmu => 0,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::L16 => "l16",
            Codec::Pcmu => "pcmu",
        }
    }

    /// Samples (of all channels together) in a payload of `bytes` bytes.
    pub fn samples_in(self, bytes: usize) -> usize {
        match self {
            Codec::L16 => bytes / 2,
            Codec::Pcmu => bytes,
        }
    }

    /// Decode the payload into `out` (as many samples as both hold), as
    /// f32 in -1..1. A trailing odd byte of L16 is ignored.
    pub fn decode(self, payload: &[u8], out: &mut [f32]) {
        match self {
            Codec::L16 => {
                for (o, b) in out.iter_mut().zip(payload.chunks_exact(2)) {
                    *o = i16::from_be_bytes([b[0], b[1]]) as f32 / 32768.0;
                }
            }
            Codec::Pcmu => {
                for (o, &b) in out.iter_mut().zip(payload) {
                    *o = pcmu::decode(b) as f32 / 32768.0;
                }
            }
        }
    }
}

/// The fields of an RTP packet the receiver uses.
#[derive(Debug, Clone, Copy)]
pub struct Rtp<'a> {
    pub ssrc: u32,
    pub seq: u16,
    pub timestamp: u32,
    pub payload_type: u8,
    pub payload: &'a [u8],
}

/// Parse an RTP packet; `None` when it is malformed or too big.
pub fn parse_rtp(data: &[u8]) -> Option<Rtp<'_>> {
    if data.len() > MAX_DATAGRAM {
        return None;
    }
    let p = RtpPacket::parse(data).ok()?;
    let offset = p.payload_offset();
    let payload = data.get(offset..offset + p.payload_len())?;
    Some(Rtp {
        ssrc: p.ssrc(),
        seq: p.sequence_number(),
        timestamp: p.timestamp(),
        payload_type: p.payload_type(),
        payload,
    })
}

/// A sender report's clock mapping: the sender's wall-clock time (NTP
/// format) of the sample with RTP timestamp `rtp_timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport {
    pub ssrc: u32,
    pub ntp: u64,
    pub rtp_timestamp: u32,
}

/// The first sender report in an RTCP compound packet, if any.
pub fn parse_sender_report(data: &[u8]) -> Option<SenderReport> {
    if data.len() > MAX_DATAGRAM {
        return None;
    }
    for packet in Compound::parse(data).ok()? {
        match packet {
            Ok(RtcpPacket::Sr(sr)) => {
                return Some(SenderReport {
                    ssrc: sr.ssrc(),
                    ntp: sr.ntp_timestamp(),
                    rtp_timestamp: sr.rtp_timestamp(),
                })
            }
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
    None
}

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: i128 = 2_208_988_800;

/// A 64-bit NTP timestamp as nanoseconds since the Unix epoch.
pub fn ntp_to_unix_ns(ntp: u64) -> i128 {
    let secs = (ntp >> 32) as i128 - NTP_UNIX_OFFSET;
    let frac = ((ntp & 0xFFFF_FFFF) as i128 * 1_000_000_000) >> 32;
    secs * 1_000_000_000 + frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_bounds() {
        let mut p = vec![
            0x80, 96, 0x12, 0x34, 0, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2,
        ];
        let r = parse_rtp(&p).unwrap();
        assert_eq!((r.seq, r.timestamp, r.ssrc), (0x1234, 256, 0xdead_beef));
        assert_eq!(r.payload, &[1, 2]);
        p[0] = 0x8f; // 15 CSRCs that are not there
        assert!(parse_rtp(&p).is_none());
        p[0] = 0x40; // version 1
        assert!(parse_rtp(&p).is_none());
        assert!(parse_rtp(&[0x80; 11]).is_none());
        let mut big = vec![0u8; MAX_DATAGRAM + 1];
        big[0] = 0x80;
        assert!(parse_rtp(&big).is_none());
    }

    #[test]
    fn decode_l16_and_pcmu() {
        let mut out = [0.0; 2];
        Codec::L16.decode(&[0x40, 0x00, 0xc0, 0x00, 0x7f], &mut out);
        assert_eq!(out, [0.5, -0.5]);
        Codec::Pcmu.decode(&[pcmu::encode(8000), pcmu::encode(-8000)], &mut out);
        assert!((out[0] - 8000.0 / 32768.0).abs() < 0.01 && out[1] < -0.2);
        assert_eq!(Codec::L16.samples_in(961), 480);
    }

    #[test]
    fn ntp_conversion() {
        let ntp = ((NTP_UNIX_OFFSET as u64 + 10) << 32) | (1 << 31);
        assert_eq!(ntp_to_unix_ns(ntp), 10_500_000_000);
    }

    #[test]
    fn sender_report_from_compound() {
        use rtcp_types::RtcpPacketWriterExt;
        let sr = rtcp_types::SenderReport::builder(7)
            .ntp_timestamp(0x1_0000_0002)
            .rtp_timestamp(99);
        let mut buf = vec![0u8; 64];
        let n = rtcp_types::CompoundBuilder::default()
            .add_packet(sr)
            .write_into(&mut buf)
            .unwrap();
        let got = parse_sender_report(&buf[..n]).unwrap();
        assert_eq!(
            got,
            SenderReport {
                ssrc: 7,
                ntp: 0x1_0000_0002,
                rtp_timestamp: 99
            }
        );
        assert!(parse_sender_report(&[0x80, 201, 0, 1, 0, 0, 0, 0]).is_none());
    }
}
