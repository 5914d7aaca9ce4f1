//! RTCP (RFC 3550 section 6) as corong speaks it, and NTP timestamps.
//!
//! - The sender's compound packet ([`SenderReportPacket`]): an SR with no
//!   report blocks, then SDES with CNAME `corong@ZONE`.
//! - A receiver's ([`ReceiverReportPacket`]): an RR with one report block
//!   about the stream it plays, SDES with its CNAME, and a BYE when it
//!   stops.
//! - What comes back: the sender report a receiver plays by
//!   ([`parse_sender_report`]), and the reports, names and BYEs the daemon
//!   reads from its receivers ([`parse_feedback`]).
//!
//! Both packets are built once, in a buffer allocated at creation; only
//! their fields change per report. Parsing uses the `rtcp-types` crate,
//! with bounds checks; the tests parse what is built with it too.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rtcp_types::{Compound, Packet};

use super::MAX_DATAGRAM;

/// How often a report goes out (RFC 3550 suggests 5 s as the minimum
/// interval): the sender's by default, a receiver's on average.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
pub const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// SDES item type of a CNAME.
const CNAME: u8 = 1;

/// 64-bit NTP timestamp (seconds since 1900 . 32-bit fraction).
pub fn ntp_timestamp(wall: SystemTime) -> u64 {
    let since_unix = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_unix.as_secs() + NTP_UNIX_OFFSET;
    let frac = ((since_unix.subsec_nanos() as u64) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// A 64-bit NTP timestamp as nanoseconds since the Unix epoch.
pub fn ntp_to_unix_ns(ntp: u64) -> i128 {
    let secs = (ntp >> 32) as i128 - NTP_UNIX_OFFSET as i128;
    let frac = ((ntp & 0xFFFF_FFFF) as i128 * 1_000_000_000) >> 32;
    secs * 1_000_000_000 + frac
}

/// Append an SDES packet with one chunk: `ssrc`'s CNAME `cname` (cut at a
/// character boundary to SDES's 255 bytes), the item list ended by at
/// least one zero byte and padded to 32 bits.
fn push_sdes_cname(buf: &mut Vec<u8>, ssrc: u32, cname: &str) {
    let mut end = cname.len().min(255);
    while !cname.is_char_boundary(end) {
        end -= 1;
    }
    let name = &cname.as_bytes()[..end];
    let item_len = 2 + name.len();
    let pad = 4 - item_len % 4; // 1..=4 zero bytes
    let words = (4 + 4 + item_len + pad) / 4 - 1;
    // V=2, P=0, SC=1, PT=202.
    buf.extend_from_slice(&[0x81, 202]);
    buf.extend_from_slice(&(words as u16).to_be_bytes());
    buf.extend_from_slice(&ssrc.to_be_bytes());
    buf.push(CNAME);
    buf.push(name.len() as u8);
    buf.extend_from_slice(name);
    buf.extend(std::iter::repeat_n(0u8, pad));
}

/// The sender's report: SR (no report blocks) + SDES CNAME.
#[derive(Debug, Clone)]
pub struct SenderReportPacket {
    buf: Vec<u8>,
}

impl SenderReportPacket {
    pub fn new(ssrc: u32, cname: &str) -> SenderReportPacket {
        let mut buf = Vec::with_capacity(28 + 12 + 256);
        // SR: V=2, P=0, RC=0, PT=200, length 6 (32-bit words minus one).
        buf.extend_from_slice(&[0x80, 200, 0, 6]);
        buf.extend_from_slice(&ssrc.to_be_bytes());
        buf.extend_from_slice(&[0; 20]); // NTP, RTP timestamp, packets, octets
        push_sdes_cname(&mut buf, ssrc, cname);
        SenderReportPacket { buf }
    }

    /// The packet saying that the sample with RTP timestamp `rtp_timestamp`
    /// is due at NTP time `ntp`, after `packets` packets and `octets`
    /// payload octets (both wrap, per RFC 3550).
    pub fn fill(&mut self, ntp: u64, rtp_timestamp: u32, packets: u32, octets: u32) -> &[u8] {
        self.buf[8..16].copy_from_slice(&ntp.to_be_bytes());
        self.buf[16..20].copy_from_slice(&rtp_timestamp.to_be_bytes());
        self.buf[20..24].copy_from_slice(&packets.to_be_bytes());
        self.buf[24..28].copy_from_slice(&octets.to_be_bytes());
        &self.buf
    }
}

/// What a receiver says about one stream (RFC 3550 section 6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The stream's SSRC.
    pub ssrc: u32,
    /// Fraction of packets lost since the previous report, out of 256.
    pub fraction_lost: u8,
    /// Packets lost since it started (expected minus received; negative
    /// when duplicates outnumber losses); 24 bits on the wire.
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter, in RTP timestamp units.
    pub jitter: u32,
    /// The middle 32 bits of the last sender report's NTP timestamp (0:
    /// none yet).
    pub lsr: u32,
    /// Since that report, in 1/65536 s.
    pub dlsr: u32,
}

/// A receiver's report: RR with one block + SDES CNAME, and a BYE after
/// them when it stops.
#[derive(Debug, Clone)]
pub struct ReceiverReportPacket {
    ssrc: u32,
    buf: Vec<u8>,
    /// Where the BYE starts.
    bye_at: usize,
}

impl ReceiverReportPacket {
    pub fn new(ssrc: u32, cname: &str) -> ReceiverReportPacket {
        let mut buf = Vec::with_capacity(32 + 12 + 256 + 8);
        // RR: V=2, P=0, RC=1, PT=201, length 7 (8 words - 1).
        buf.extend_from_slice(&[0x81, 201, 0, 7]);
        buf.extend_from_slice(&ssrc.to_be_bytes());
        buf.extend_from_slice(&[0; 24]);
        push_sdes_cname(&mut buf, ssrc, cname);
        let bye_at = buf.len();
        // BYE: V=2, SC=1, PT=203, length 1.
        buf.extend_from_slice(&[0x81, 203, 0, 1]);
        buf.extend_from_slice(&ssrc.to_be_bytes());
        ReceiverReportPacket { ssrc, buf, bye_at }
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// RR + SDES about `block`.
    pub fn report(&mut self, block: &ReportBlock) -> &[u8] {
        self.fill(block);
        &self.buf[..self.bye_at]
    }

    /// RR + SDES + BYE: the last report (RFC 3550 6.6), so the sender can
    /// forget this receiver at once rather than time it out.
    pub fn report_and_bye(&mut self, block: &ReportBlock) -> &[u8] {
        self.fill(block);
        &self.buf
    }

    fn fill(&mut self, b: &ReportBlock) {
        // 24-bit signed, clamped.
        let cumulative = b.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32 & 0xff_ffff;
        let block = &mut self.buf[8..32];
        block[0..4].copy_from_slice(&b.ssrc.to_be_bytes());
        block[4..8].copy_from_slice(&cumulative.to_be_bytes());
        block[4] = b.fraction_lost;
        block[8..12].copy_from_slice(&b.highest_seq.to_be_bytes());
        block[12..16].copy_from_slice(&b.jitter.to_be_bytes());
        block[16..20].copy_from_slice(&b.lsr.to_be_bytes());
        block[20..24].copy_from_slice(&b.dlsr.to_be_bytes());
    }
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
            Ok(Packet::Sr(sr)) => {
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

/// What one compound packet from a stream's receivers says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Feedback {
    /// Each RR or SR: who sent it, and its block about our stream if it
    /// has one.
    pub reports: Vec<(u32, Option<ReportBlock>)>,
    /// SDES CNAMEs by SSRC.
    pub cnames: Vec<(u32, String)>,
    /// SSRCs that said BYE.
    pub byes: Vec<u32>,
}

/// Parse a compound packet sent back to the stream `our_ssrc`; `None` when
/// it is not RTCP, is cut short or is too big.
pub fn parse_feedback(data: &[u8], our_ssrc: u32) -> Option<Feedback> {
    if data.len() > MAX_DATAGRAM {
        return None;
    }
    let mut out = Feedback::default();
    for packet in Compound::parse(data).ok()? {
        match packet.ok()? {
            Packet::Rr(rr) => {
                let mine = rr.report_blocks().find(|b| b.ssrc() == our_ssrc);
                out.reports.push((rr.ssrc(), mine.map(|b| block(&b))));
            }
            Packet::Sr(sr) => {
                let mine = sr.report_blocks().find(|b| b.ssrc() == our_ssrc);
                out.reports.push((sr.ssrc(), mine.map(|b| block(&b))));
            }
            Packet::Sdes(sdes) => {
                for chunk in sdes.chunks() {
                    if let Some(item) = chunk.items().find(|i| i.type_() == CNAME) {
                        let name = String::from_utf8_lossy(item.value()).into_owned();
                        out.cnames.push((chunk.ssrc(), name));
                    }
                }
            }
            Packet::Bye(bye) => out.byes.extend(bye.ssrcs()),
            _ => {}
        }
    }
    Some(out)
}

fn block(b: &rtcp_types::ReportBlock<'_>) -> ReportBlock {
    // 24-bit two's complement.
    let raw = b.cumulative_lost() as i32;
    ReportBlock {
        ssrc: b.ssrc(),
        fraction_lost: b.fraction_lost(),
        cumulative_lost: (raw << 8) >> 8,
        highest_seq: b.extended_sequence_number(),
        jitter: b.interarrival_jitter(),
        lsr: b.last_sender_report_timestamp(),
        dlsr: b.delay_since_last_sender_report_timestamp(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_both_ways() {
        assert_eq!(ntp_timestamp(UNIX_EPOCH), NTP_UNIX_OFFSET << 32);
        let half = UNIX_EPOCH + Duration::from_millis(1500);
        assert_eq!(
            ntp_timestamp(half),
            ((NTP_UNIX_OFFSET + 1) << 32) | (1 << 31)
        );
        let ntp = ((NTP_UNIX_OFFSET + 10) << 32) | (1 << 31);
        assert_eq!(ntp_to_unix_ns(ntp), 10_500_000_000);
    }

    #[test]
    fn sender_report_parses() {
        let mut p = SenderReportPacket::new(0x1234_5678, "corong@alun-alun");
        let buf = p.fill(0x1_0000_0002, 99, 3, 480).to_vec();
        assert_eq!(buf.len() % 4, 0);
        let mut packets = Compound::parse(&buf).unwrap();
        match packets.next().unwrap().unwrap() {
            Packet::Sr(sr) => {
                assert_eq!(sr.ssrc(), 0x1234_5678);
                assert_eq!(
                    (sr.packet_count(), sr.octet_count(), sr.rtp_timestamp()),
                    (3, 480, 99)
                );
            }
            other => panic!("expected SR, got {other:?}"),
        }
        match packets.next().unwrap().unwrap() {
            Packet::Sdes(sdes) => {
                let chunk = sdes.chunks().next().unwrap();
                assert_eq!(chunk.ssrc(), 0x1234_5678);
                let item = chunk.items().next().unwrap();
                assert_eq!(item.type_(), 1);
                assert_eq!(item.value(), b"corong@alun-alun");
            }
            other => panic!("expected SDES, got {other:?}"),
        }
        assert!(packets.next().is_none());
        assert_eq!(
            parse_sender_report(&buf),
            Some(SenderReport {
                ssrc: 0x1234_5678,
                ntp: 0x1_0000_0002,
                rtp_timestamp: 99
            })
        );
        assert!(parse_sender_report(&[0x80, 201, 0, 1, 0, 0, 0, 0]).is_none());
    }

    #[test]
    fn every_cname_length_pads_and_long_ones_are_cut() {
        for n in 0..8 {
            let mut p = SenderReportPacket::new(1, &"x".repeat(n));
            let buf = p.fill(0, 0, 0, 0);
            assert!(Compound::parse(buf).unwrap().all(|p| p.is_ok()), "n={n}");
            let mut r = ReceiverReportPacket::new(1, &"x".repeat(n));
            let buf = r.report_and_bye(&ReportBlock::default());
            assert!(Compound::parse(buf).unwrap().all(|p| p.is_ok()), "n={n}");
        }
        // Cut at a character boundary to SDES's 255 bytes.
        let mut long = SenderReportPacket::new(1, &"é".repeat(200));
        let buf = long.fill(0, 0, 0, 0);
        assert!(buf.len() <= 28 + 8 + 2 + 255 + 4);
        assert!(Compound::parse(buf).unwrap().all(|p| p.is_ok()));
    }

    #[test]
    fn receiver_report_round_trips_through_the_daemons_parser() {
        let mut r = ReceiverReportPacket::new(7, "receive-1@tiang-07");
        let b = ReportBlock {
            ssrc: 0xabcd,
            fraction_lost: 38,
            cumulative_lost: -2,
            highest_seq: 65536 + 13,
            jitter: 12,
            lsr: 0x3344_5566,
            dlsr: 32768,
        };
        let fb = parse_feedback(r.report(&b), 0xabcd).unwrap();
        assert_eq!(fb.reports, vec![(7, Some(b))]);
        assert_eq!(fb.cnames, vec![(7, "receive-1@tiang-07".to_string())]);
        assert!(fb.byes.is_empty());
        let fb = parse_feedback(r.report_and_bye(&b), 0xabcd).unwrap();
        assert_eq!(fb.byes, vec![7]);
        // A block about another stream is not ours.
        let fb = parse_feedback(r.report(&b), 0x1111).unwrap();
        assert_eq!(fb.reports, vec![(7, None)]);
        // Cumulative loss is clamped to 24 bits.
        let big = ReportBlock {
            cumulative_lost: i32::MAX,
            ..b
        };
        let fb = parse_feedback(r.report(&big), 0xabcd).unwrap();
        assert_eq!(fb.reports[0].1.unwrap().cumulative_lost, 0x7f_ffff);
        assert!(parse_feedback(b"not rtcp", 1).is_none());
        assert!(parse_feedback(&vec![0x80; MAX_DATAGRAM + 1], 1).is_none());
    }
}
