//! RTCP receiver reports (RFC 3550 6.4.2) with an SDES CNAME, sent back to
//! the sender.
//!
//! One compound packet: an RR with one report block about the stream being
//! received (fraction lost since the last report, cumulative lost,
//! extended highest sequence number, interarrival jitter, LSR and DLSR),
//! then SDES with our CNAME. It goes to where the stream's sender reports
//! come from (for corong, the zone's sending socket), or to the RTP source
//! until a sender report has arrived.
//!
//! Reports go out every [`INTERVAL`] on average, each interval randomized
//! between half and one and a half times it (RFC 3550 6.3.1, so that the
//! receivers of a town's poles do not report in bursts); the first one half
//! an interval after the stream starts (6.2). The packet is built in a
//! buffer allocated once. When the receiver stops, a last report goes out
//! with a BYE.

use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;

use super::jitter::Stream;
use crate::rtp::rtcp::{ReceiverReportPacket, ReportBlock};

/// Mean interval between reports (RFC 3550's minimum).
pub use crate::rtp::rtcp::INTERVAL;

/// The last sender report received: its NTP timestamp and when it arrived.
#[derive(Debug, Clone, Copy)]
pub struct LastSr {
    pub ntp: u64,
    pub arrived: Instant,
    pub from: SocketAddr,
}

/// Builds and sends the receiver reports. See the module docs.
pub struct Reporter {
    packet: ReceiverReportPacket,
    next: Option<Instant>,
    /// Expected and received at the last report, for the fraction lost.
    prior: Option<(u32, i64, u64)>,
    pub sent: u64,
}

impl Reporter {
    /// A reporter with a random SSRC and the CNAME `cname`.
    pub fn new(cname: &str) -> Reporter {
        Reporter {
            packet: ReceiverReportPacket::new(rand::random::<u32>(), cname),
            next: None,
            prior: None,
            sent: 0,
        }
    }

    pub fn ssrc(&self) -> u32 {
        self.packet.ssrc()
    }

    /// Send a report about `stream` if one is due at `now`.
    pub fn maybe_send(
        &mut self,
        now: Instant,
        socket: &UdpSocket,
        stream: &Stream,
        sr: Option<&LastSr>,
    ) {
        let Some(next) = self.next else {
            self.next = Some(now + INTERVAL / 2);
            return;
        };
        if now < next {
            return;
        }
        let factor = 0.5 + rand::random::<f64>();
        self.next = Some(now + INTERVAL.mul_f64(factor));
        let packet = self.build(now, stream, sr);
        let dest = sr.map_or(stream.source, |s| s.from);
        // A sender that has gone away is not our problem (ICMP errors come
        // back as ConnectionRefused on some systems).
        if socket.send_to(packet, dest).is_ok() {
            self.sent += 1;
        }
    }

    /// The last report, sent when the receiver stops: the final figures,
    /// then a BYE (RFC 3550 6.6) so the sender can forget this receiver at
    /// once rather than time it out.
    pub fn send_bye(
        &mut self,
        now: Instant,
        socket: &UdpSocket,
        stream: &Stream,
        sr: Option<&LastSr>,
    ) {
        let dest = sr.map_or(stream.source, |s| s.from);
        let block = self.block(now, stream, sr);
        if socket
            .send_to(self.packet.report_and_bye(&block), dest)
            .is_ok()
        {
            self.sent += 1;
        }
    }

    /// The compound packet about `stream` as of `now`.
    pub fn build(&mut self, now: Instant, stream: &Stream, sr: Option<&LastSr>) -> &[u8] {
        let block = self.block(now, stream, sr);
        self.packet.report(&block)
    }

    /// The report block about `stream` as of `now`: losses since the last
    /// report and since the start, and the delay since the last SR.
    fn block(&mut self, now: Instant, stream: &Stream, sr: Option<&LastSr>) -> ReportBlock {
        let expected = stream.expected();
        let received = stream.received;
        let lost = expected - received as i64;
        let (exp_prior, rec_prior) = match self.prior {
            Some((ssrc, e, r)) if ssrc == stream.ssrc => (e, r),
            _ => (0, 0),
        };
        self.prior = Some((stream.ssrc, expected, received));
        let exp_interval = expected - exp_prior;
        let lost_interval = exp_interval - (received - rec_prior) as i64;
        let fraction = if exp_interval <= 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / exp_interval).min(255) as u8
        };
        let (lsr, dlsr) = match sr {
            Some(s) => {
                let since = now.saturating_duration_since(s.arrived);
                let dlsr = (since.as_secs_f64() * 65536.0).min(u32::MAX as f64) as u32;
                ((s.ntp >> 16) as u32, dlsr)
            }
            None => (0, 0),
        };
        ReportBlock {
            ssrc: stream.ssrc,
            fraction_lost: fraction,
            cumulative_lost: lost.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
            highest_seq: stream.max_seq as u32,
            jitter: stream.jitter as u32,
            lsr,
            dlsr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receive::jitter::JitterBuffer;
    use crate::rtp::header::Rtp;
    use crate::rtp::Codec;
    use rtcp_types::{Compound, Packet};
    use std::time::Duration;

    #[test]
    fn a_report_parses_and_counts_losses() {
        let mut jb = JitterBuffer::new(Codec::Pcmu, 8000, 1);
        let now = Instant::now();
        let from = "127.0.0.1:9".parse().unwrap();
        let payload = [0xffu8; 160];
        // 20 packets sent, 3 lost.
        for seq in (65530u16..=65535).chain(0..14) {
            if [65533, 2, 3].contains(&seq) {
                continue;
            }
            let ts = (seq.wrapping_sub(65530) as u32) * 160;
            let p = Rtp {
                ssrc: 0xabcd,
                seq,
                timestamp: ts,
                payload_type: 0,
                payload: &payload,
            };
            jb.insert(&p, ts + 7, now, from);
        }
        let mut r = Reporter::new("receive-1@tiang-07");
        let sr = LastSr {
            ntp: 0x1122_3344_5566_7788,
            arrived: now,
            from,
        };
        let later = now + Duration::from_millis(500);
        let buf = r.build(later, jb.stream().unwrap(), Some(&sr)).to_vec();
        let mut packets = Compound::parse(&buf).unwrap();
        let Some(Ok(Packet::Rr(rr))) = packets.next() else {
            panic!("expected an RR first")
        };
        assert_eq!(rr.ssrc(), r.ssrc());
        let b = rr.report_blocks().next().unwrap();
        assert_eq!(b.ssrc(), 0xabcd);
        assert_eq!(b.cumulative_lost(), 3);
        assert_eq!(b.fraction_lost() as u32, (3u32 << 8) / 20);
        assert_eq!(b.extended_sequence_number(), 65536 + 13);
        assert_eq!(b.interarrival_jitter(), 0);
        assert_eq!(b.last_sender_report_timestamp(), 0x3344_5566);
        assert_eq!(b.delay_since_last_sender_report_timestamp(), 32768);
        let Some(Ok(Packet::Sdes(sdes))) = packets.next() else {
            panic!("expected SDES second")
        };
        let item = sdes.chunks().next().unwrap().items().next().unwrap();
        assert_eq!(item.value(), b"receive-1@tiang-07");
        // Nothing lost since: the fraction drops to zero.
        let buf = r.build(later, jb.stream().unwrap(), Some(&sr)).to_vec();
        let Some(Ok(Packet::Rr(rr))) = Compound::parse(&buf).unwrap().next() else {
            panic!()
        };
        assert_eq!(rr.report_blocks().next().unwrap().fraction_lost(), 0);
    }
}
