//! The RTP fixed header (RFC 3550 section 5.1): written by hand into a
//! buffer the sender owns (no allocation per packet), parsed with bounds
//! checks by the `rtp-types` crate.
//!
//! Anything malformed is refused on parsing, before it reaches a jitter
//! buffer: datagrams over [`MAX_DATAGRAM`] bytes, versions other than 2,
//! headers that claim more CSRCs, extension or padding than the datagram
//! holds.

use rtp_types::RtpPacket;

use super::MAX_DATAGRAM;

/// Length of the header corong sends: no CSRC, no extension.
pub const HEADER_LEN: usize = 12;

/// The fields of an RTP header corong writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Set on the first packet of a stream only (corong's streams are
    /// continuous: silence is sent as zeros).
    pub marker: bool,
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

impl Header {
    /// Write the header into the first [`HEADER_LEN`] bytes of `out`.
    pub fn write(&self, out: &mut [u8]) {
        let out = &mut out[..HEADER_LEN];
        out[0] = 0x80; // version 2, no padding, no extension, no CSRC
        out[1] = (self.payload_type & 0x7f) | if self.marker { 0x80 } else { 0 };
        out[2..4].copy_from_slice(&self.seq.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
    }
}

/// The fields of an RTP packet a receiver uses.
#[derive(Debug, Clone, Copy)]
pub struct Rtp<'a> {
    pub ssrc: u32,
    pub seq: u16,
    pub timestamp: u32,
    pub payload_type: u8,
    pub payload: &'a [u8],
}

/// Parse an RTP packet; `None` when it is malformed or too big.
pub fn parse(data: &[u8]) -> Option<Rtp<'_>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_headers_parse_back() {
        let mut buf = [0u8; HEADER_LEN + 3];
        buf[HEADER_LEN..].copy_from_slice(&[7, 8, 9]);
        let h = Header {
            marker: true,
            payload_type: 96,
            seq: 0xfffe,
            timestamp: 0x1234_5678,
            ssrc: 0xdead_beef,
        };
        h.write(&mut buf);
        let p = RtpPacket::parse(&buf[..]).unwrap();
        assert!(p.marker_bit());
        let r = parse(&buf).unwrap();
        assert_eq!(
            (r.payload_type, r.seq, r.timestamp, r.ssrc),
            (96, 0xfffe, 0x1234_5678, 0xdead_beef)
        );
        assert_eq!(r.payload, &[7, 8, 9]);
        Header { marker: false, ..h }.write(&mut buf);
        assert!(!RtpPacket::parse(&buf[..]).unwrap().marker_bit());
    }

    #[test]
    fn bounds() {
        let mut p = vec![
            0x80, 96, 0x12, 0x34, 0, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2,
        ];
        let r = parse(&p).unwrap();
        assert_eq!((r.seq, r.timestamp, r.ssrc), (0x1234, 256, 0xdead_beef));
        assert_eq!(r.payload, &[1, 2]);
        p[0] = 0x8f; // 15 CSRCs that are not there
        assert!(parse(&p).is_none());
        p[0] = 0x40; // version 1
        assert!(parse(&p).is_none());
        assert!(parse(&[0x80; 11]).is_none());
        let mut big = vec![0u8; MAX_DATAGRAM + 1];
        big[0] = 0x80;
        assert!(parse(&big).is_none());
    }
}
