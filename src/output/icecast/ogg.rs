//! Ogg pages (RFC 3533) carrying Opus (RFC 7845): the `OpusHead` and
//! `OpusTags` header packets, and audio packets gathered into pages with
//! their granule position and CRC.
//!
//! Each source connection is one logical stream: headers first, each on a
//! page of its own (RFC 7845 3), then audio pages. The writer appends whole
//! pages to a buffer the caller sends; it allocates only while that buffer
//! grows to its working size.

/// Opus packets gathered into one page: 5 x 20 ms = 100 ms, so a page's
/// 28-byte header costs about 7% at 32 kbit/s, and a listener waits at most
/// that long for a page.
pub const PACKETS_PER_PAGE: usize = 5;

/// The Ogg CRC-32: polynomial 0x04c11db7, no reflection, initial value 0,
/// no final xor (RFC 3533 6).
fn crc_table() -> &'static [u32; 256] {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut r = (i as u32) << 24;
            for _ in 0..8 {
                r = if r & 0x8000_0000 != 0 {
                    (r << 1) ^ 0x04c1_1db7
                } else {
                    r << 1
                };
            }
            *slot = r;
        }
        t
    })
}

pub fn crc32(data: &[u8]) -> u32 {
    let t = crc_table();
    data.iter().fold(0u32, |crc, &b| {
        (crc << 8) ^ t[((crc >> 24) as u8 ^ b) as usize]
    })
}

/// The `OpusHead` packet: version 1, channels, pre-skip, the input's rate
/// (informational), gain 0, mapping family 0 (mono or stereo).
pub fn opus_head(channels: u8, pre_skip: u16, input_rate: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(19);
    p.extend_from_slice(b"OpusHead");
    p.push(1);
    p.push(channels);
    p.extend_from_slice(&pre_skip.to_le_bytes());
    p.extend_from_slice(&input_rate.to_le_bytes());
    p.extend_from_slice(&0i16.to_le_bytes());
    p.push(0);
    p
}

/// The `OpusTags` packet: the vendor string and `NAME=value` comments.
pub fn opus_tags(vendor: &str, comments: &[String]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(b"OpusTags");
    p.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    p.extend_from_slice(vendor.as_bytes());
    p.extend_from_slice(&(comments.len() as u32).to_le_bytes());
    for c in comments {
        p.extend_from_slice(&(c.len() as u32).to_le_bytes());
        p.extend_from_slice(c.as_bytes());
    }
    p
}

/// One logical Ogg stream being written.
pub struct OggStream {
    serial: u32,
    sequence: u32,
    /// Whether the next page is the stream's first (beginning of stream).
    first: bool,
    /// Lacing values and bytes of the packets waiting for the next page.
    lacing: Vec<u8>,
    body: Vec<u8>,
    packets: usize,
}

impl OggStream {
    pub fn new(serial: u32) -> OggStream {
        OggStream {
            serial,
            sequence: 0,
            first: true,
            lacing: Vec::with_capacity(255),
            body: Vec::with_capacity(8192),
            packets: 0,
        }
    }

    /// Packets waiting for the next page.
    pub fn pending(&self) -> usize {
        self.packets
    }

    /// Add a packet to the page being gathered. A page holds at most 255
    /// lacing values: a packet that would not fit flushes the page first
    /// (with `granule` of the packets before it, given by the caller as
    /// `previous_granule`).
    pub fn add_packet(&mut self, packet: &[u8], previous_granule: u64, out: &mut Vec<u8>) {
        let needed = packet.len() / 255 + 1;
        if self.lacing.len() + needed > 255 && self.packets > 0 {
            self.flush(previous_granule, false, out);
        }
        let mut left = packet.len();
        while left >= 255 {
            self.lacing.push(255);
            left -= 255;
        }
        // The last lacing value below 255 ends the packet (0 for a packet
        // that is a multiple of 255 bytes long).
        self.lacing.push(left as u8);
        self.body.extend_from_slice(packet);
        self.packets += 1;
    }

    /// Write the gathered packets as one page ending at `granule` (the
    /// 48 kHz sample count at the end of its last packet; 0 for headers).
    pub fn flush(&mut self, granule: u64, last: bool, out: &mut Vec<u8>) {
        if self.packets == 0 && !last {
            return;
        }
        let start = out.len();
        out.extend_from_slice(b"OggS");
        out.push(0); // version
        let mut kind = 0u8;
        if self.first {
            kind |= 0x02;
        }
        if last {
            kind |= 0x04;
        }
        out.push(kind);
        out.extend_from_slice(&granule.to_le_bytes());
        out.extend_from_slice(&self.serial.to_le_bytes());
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // CRC, filled in below
        out.push(self.lacing.len() as u8);
        out.extend_from_slice(&self.lacing);
        out.extend_from_slice(&self.body);
        let crc = crc32(&out[start..]);
        out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
        self.first = false;
        self.sequence = self.sequence.wrapping_add(1);
        self.lacing.clear();
        self.body.clear();
        self.packets = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read the pages back: (header type, granule, serial, sequence,
    /// packets), checking each page's CRC.
    #[allow(clippy::type_complexity)]
    fn pages(mut data: &[u8]) -> Vec<(u8, u64, u32, u32, Vec<Vec<u8>>)> {
        let mut out = Vec::new();
        while !data.is_empty() {
            assert_eq!(&data[..4], b"OggS");
            let n = data[26] as usize;
            let lacing = &data[27..27 + n];
            let body_len: usize = lacing.iter().map(|&l| l as usize).sum();
            let len = 27 + n + body_len;
            let mut page = data[..len].to_vec();
            let crc = u32::from_le_bytes(page[22..26].try_into().unwrap());
            page[22..26].fill(0);
            assert_eq!(crc32(&page), crc, "page CRC");
            let mut packets = Vec::new();
            let mut cur = Vec::new();
            let mut at = 27 + n;
            for &l in lacing {
                cur.extend_from_slice(&data[at..at + l as usize]);
                at += l as usize;
                if l < 255 {
                    packets.push(std::mem::take(&mut cur));
                }
            }
            out.push((
                data[5],
                u64::from_le_bytes(data[6..14].try_into().unwrap()),
                u32::from_le_bytes(data[14..18].try_into().unwrap()),
                u32::from_le_bytes(data[18..22].try_into().unwrap()),
                packets,
            ));
            data = &data[len..];
        }
        out
    }

    #[test]
    fn crc_matches_the_ogg_reference() {
        // The CRC of "OggS" plus zeros as libogg computes it, and a known
        // value of this polynomial (CRC-32/MPEG-2 without its init and
        // final xor: "123456789" gives 0x89a1897f).
        assert_eq!(crc32(b"123456789"), 0x89a1_897f);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn headers_and_packets_round_trip_with_lacing() {
        let mut s = OggStream::new(0xdead_beef);
        let mut out = Vec::new();
        let head = opus_head(1, 312, 48000);
        assert_eq!(head.len(), 19);
        s.add_packet(&head, 0, &mut out);
        s.flush(0, false, &mut out);
        let tags = opus_tags("corong", &["TITLE=pasar".into()]);
        s.add_packet(&tags, 0, &mut out);
        s.flush(0, false, &mut out);
        // Packets of awkward lengths: 0, 254, 255 (needs a 0 lacing
        // value), 510, 600.
        let sizes = [0usize, 254, 255, 510, 600];
        let packets: Vec<Vec<u8>> = sizes
            .iter()
            .map(|&n| (0..n).map(|i| (i * 7 + n) as u8).collect())
            .collect();
        for (k, p) in packets.iter().enumerate() {
            s.add_packet(p, 960 * k as u64, &mut out);
        }
        s.flush(960 * 5, true, &mut out);
        let read = pages(&out);
        assert_eq!(read.len(), 3);
        assert_eq!(
            (read[0].0, read[0].1, read[0].2, read[0].3),
            (2, 0, 0xdead_beef, 0)
        );
        assert_eq!(read[0].4, vec![head]);
        assert_eq!((read[1].0, read[1].3), (0, 1));
        assert_eq!(read[1].4, vec![tags.clone()]);
        assert_eq!(&tags[8..12], &6u32.to_le_bytes());
        assert_eq!((read[2].0, read[2].1, read[2].3), (4, 4800, 2));
        assert_eq!(read[2].4, packets);
    }

    #[test]
    fn a_page_never_holds_more_than_255_lacing_values() {
        let mut s = OggStream::new(1);
        let mut out = Vec::new();
        let big = vec![9u8; 255 * 100];
        for k in 0..4u64 {
            s.add_packet(&big, k * 960, &mut out);
        }
        s.flush(4 * 960, false, &mut out);
        let read = pages(&out);
        // 101 lacing values a packet: two per page.
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].1, 1920, "the first page ends after two packets");
        assert_eq!(read[0].4.len(), 2);
        assert_eq!(read[1].4.len(), 2);
        assert!(read[1].4.iter().all(|p| *p == big));
    }
}
