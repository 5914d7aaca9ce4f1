//! RTP over UDP (RFC 3550, payload formats from RFC 3551), with RTCP sender
//! reports on port + 1.
//!
//! One [`RtpOutput`] per zone: one stream (one random SSRC, one sequence
//! number and timestamp line) sent as the same datagrams to every
//! destination of the zone from one non-blocking UDP socket.
//!
//! # Packets on the wire
//! - L16: PT 96, 16-bit big-endian, channels interleaved, clock = engine
//!   rate. PCMU: PT 0, mono, 8000 Hz clock (the engine audio is mixed down
//!   to mono and decimated; see [`super::pcmu`]).
//! - A payload never exceeds [`MAX_PAYLOAD`] bytes, so that no packet is
//!   fragmented on an Ethernet (1500 byte MTU) path: IP speakers and paging
//!   adapters often cannot reassemble, and one lost fragment loses the whole
//!   packet. A packet time whose payload would be larger is sent as several
//!   equal RTP packets, of a whole number of milliseconds where possible
//!   (48 kHz L16 at 20 ms: two 10 ms packets mono, four 5 ms stereo).
//!   [`PacketLayout`] says what is sent; the SDP's `a=ptime` is taken from
//!   it.
//! - The marker bit is set on the first packet of the stream only (the
//!   stream is continuous: silence is sent as zeros).
//!
//! The RTP header (12 bytes, no CSRC, no extension) is written by hand
//! straight into a buffer allocated once in [`RtpOutput::new`]; so is the
//! RTCP compound packet (SR + SDES CNAME). The tests parse both with the
//! `rtp-types` and `rtcp-types` crates as an independent check.
//!
//! # Errors
//! Failed sends (`WouldBlock` when the socket buffer is full, unreachable
//! networks, `ConnectionRefused`) are counted in [`OutputHealth`] and the
//! packet is dropped for that destination; the stream's sequence numbers and
//! timestamps advance regardless, so receivers see a loss, not a jump. The
//! socket is unconnected (several destinations share it); ICMP
//! port-unreachable reports come back on its error queue (`icmp.rs`), which
//! the control plane reads to show a dead destination as `unreachable`.
//!
//! [`OutputHealth`] counts every RTP datagram per destination (a zone with
//! two destinations sends two per RTP packet) and its bytes with the
//! header; RTCP reports are not counted as sent, but their failures are
//! counted as errors. [`RtpOutput::health`] adds up every destination;
//! [`RtpOutput::destination_health`] has one set of counters per
//! destination, so that one dead endpoint of a zone is told apart from the
//! others.
//!
//! # What comes back
//! Receivers send their RTCP receiver reports (and a BYE when they stop) to
//! where the sender reports come from: this socket.
//! [`RtpOutput::report_socket`] hands the control plane a second handle on
//! it to read them (see `daemon/receivers.rs`); the engine thread only
//! sends.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::pcmu::{self, Decimator, PCMU_RATE};
use super::{to_i16, Output, OutputHealth, Tick};
use crate::config::{Codec, RtpOutput as RtpConfig};

/// Largest RTP payload sent, in bytes (as ffmpeg's `pkt_size=1292` minus
/// the 12-byte header). Leaves room for IP, UDP and tunnel headers under a
/// 1500-byte MTU.
pub const MAX_PAYLOAD: usize = 1280;

/// RTP fixed header length (no CSRCs, no extension).
const RTP_HEADER: usize = 12;

/// How often a sender report goes out, by default (RFC 3550 suggests 5 s as
/// the minimum interval).
pub const RTCP_INTERVAL: Duration = Duration::from_secs(5);

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// How one packet time of engine audio is sent on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketLayout {
    /// RTP payload type.
    pub payload_type: u8,
    /// RTP timestamp clock, Hz.
    pub clock_rate: u32,
    /// Channels in the payload.
    pub channels: u16,
    /// RTP packets per packet time (per [`Output::write`]).
    pub packets_per_write: usize,
    /// Samples per channel in each RTP packet, at `clock_rate`: the
    /// timestamp step between packets.
    pub samples_per_packet: usize,
    /// Payload bytes in each RTP packet.
    pub payload_bytes: usize,
}

impl PacketLayout {
    /// The layout for `codec` given the engine's rate, the zone's channels
    /// and frames per packet time. Errors if PCMU is asked for at an engine
    /// rate that is not a whole multiple of 8000 Hz.
    pub fn new(
        codec: Codec,
        engine_rate: u32,
        channels: u16,
        frames_per_packet: usize,
    ) -> io::Result<Self> {
        let (clock_rate, wire_channels, samples, bytes_per_sample) = match codec {
            Codec::L16 => (engine_rate, channels.max(1), frames_per_packet, 2),
            Codec::Pcmu => {
                if engine_rate == 0 || engine_rate % PCMU_RATE != 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("PCMU needs an engine rate that is a multiple of 8000 Hz, not {engine_rate}"),
                    ));
                }
                let factor = (engine_rate / PCMU_RATE) as usize;
                (PCMU_RATE, 1, frames_per_packet / factor, 1)
            }
        };
        if samples == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "packet time too short for the codec",
            ));
        }
        let bytes_per_frame = bytes_per_sample * wire_channels as usize;
        // The fewest packets that fit MAX_PAYLOAD and divide the packet time
        // evenly (so that timestamps step regularly), preferring packets of
        // a whole number of milliseconds (what `a=ptime` can say).
        let fits = |n: usize| samples % n == 0 && (samples / n) * bytes_per_frame <= MAX_PAYLOAD;
        let whole_ms = |n: usize| (samples / n * 1000) % clock_rate as usize == 0;
        let fewest = (samples * bytes_per_frame).div_ceil(MAX_PAYLOAD).max(1);
        let n = (fewest..=samples)
            .find(|&n| fits(n) && whole_ms(n))
            .or_else(|| (fewest..=samples).find(|&n| fits(n)))
            .expect("one sample per packet always fits");
        Ok(Self {
            payload_type: codec.payload_type(),
            clock_rate,
            channels: wire_channels,
            packets_per_write: n,
            samples_per_packet: samples / n,
            payload_bytes: samples / n * bytes_per_frame,
        })
    }

    /// Duration of one RTP packet in milliseconds (for SDP `a=ptime`),
    /// rounded to the nearest millisecond (at least 1).
    pub fn ptime_ms(&self) -> u32 {
        let ms = (self.samples_per_packet as u64 * 1000 + self.clock_rate as u64 / 2)
            / self.clock_rate as u64;
        ms.max(1) as u32
    }
}

/// Where the stream is: the values the next RTP packet will carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpStreamState {
    pub ssrc: u32,
    /// Sequence number of the next packet.
    pub seq: u16,
    /// RTP timestamp of the next packet.
    pub timestamp: u32,
}

/// [`RtpStreamState`] shared with the control plane (for `corong zones` /
/// status): updated with relaxed atomics after every packet time.
#[derive(Debug, Default)]
pub struct RtpStatus {
    ssrc: AtomicU32,
    seq: AtomicU32,
    timestamp: AtomicU32,
}

impl RtpStatus {
    pub fn load(&self) -> RtpStreamState {
        RtpStreamState {
            ssrc: self.ssrc.load(Ordering::Relaxed),
            seq: self.seq.load(Ordering::Relaxed) as u16,
            timestamp: self.timestamp.load(Ordering::Relaxed),
        }
    }

    fn store(&self, s: RtpStreamState) {
        self.ssrc.store(s.ssrc, Ordering::Relaxed);
        self.seq.store(s.seq as u32, Ordering::Relaxed);
        self.timestamp.store(s.timestamp, Ordering::Relaxed);
    }
}

/// A zone's RTP stream. See the module docs.
pub struct RtpOutput {
    socket: Socket,
    rtp_destinations: Vec<SockAddr>,
    /// Each RTP destination's port + 1, with the index of its destination.
    rtcp_destinations: Vec<(usize, SockAddr)>,
    /// Counters per RTP destination (same order).
    destination_health: Vec<Arc<OutputHealth>>,
    layout: PacketLayout,
    /// Channels of the engine audio handed to `write`.
    input_channels: usize,
    frames_per_packet: usize,

    ssrc: u32,
    seq: u16,
    timestamp: u32,
    first_packet: bool,
    /// RTP packets and payload octets sent (for the SR; wrap per RFC 3550).
    packet_count: u32,
    octet_count: u32,

    /// One RTP packet: header + payload.
    packet: Vec<u8>,
    /// PCMU: the engine audio mixed down to mono, then decimated.
    mono: Vec<f32>,
    narrow: Vec<f32>,
    decimator: Option<Decimator>,

    /// SR followed by SDES CNAME; only the SR's fields change.
    rtcp: Vec<u8>,
    rtcp_interval: Duration,
    next_rtcp: Option<Instant>,

    health: Arc<OutputHealth>,
    status: Arc<RtpStatus>,
}

impl RtpOutput {
    /// Open the zone's socket and prepare every buffer.
    ///
    /// `channels` and `frames_per_packet` describe what [`Output::write`]
    /// will be handed (the zone's channels at `engine_rate`). Errors: IPv6
    /// destinations (not supported yet), PCMU at an engine rate that is not
    /// a multiple of 8000 Hz, and socket errors.
    pub fn new(
        zone_name: &str,
        config: &RtpConfig,
        engine_rate: u32,
        channels: u16,
        frames_per_packet: usize,
    ) -> io::Result<Self> {
        let layout = PacketLayout::new(config.codec, engine_rate, channels, frames_per_packet)?;
        let socket = open_socket(config)?;

        let rtp_destinations = config.destinations.iter().map(|&a| a.into()).collect();
        let rtcp_destinations = config
            .destinations
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                // Port 65535 has no port + 1: no RTCP for it.
                let port = a.port().checked_add(1)?;
                Some((i, SockAddr::from(SocketAddr::new(a.ip(), port))))
            })
            .collect();
        let destination_health = config
            .destinations
            .iter()
            .map(|_| Arc::new(OutputHealth::default()))
            .collect();

        let (decimator, mono, narrow) = match config.codec {
            Codec::L16 => (None, Vec::new(), Vec::new()),
            Codec::Pcmu => {
                let dec =
                    Decimator::new(engine_rate, PCMU_RATE).expect("PacketLayout checked the ratio");
                let narrow = vec![0.0; frames_per_packet.div_ceil(dec.factor())];
                (Some(dec), vec![0.0; frames_per_packet], narrow)
            }
        };

        let ssrc = rand::random::<u32>();
        let seq = rand::random::<u16>();
        let timestamp = rand::random::<u32>();
        let status = Arc::new(RtpStatus::default());
        status.store(RtpStreamState {
            ssrc,
            seq,
            timestamp,
        });

        Ok(Self {
            socket,
            rtp_destinations,
            rtcp_destinations,
            destination_health,
            layout,
            input_channels: channels.max(1) as usize,
            frames_per_packet,
            ssrc,
            seq,
            timestamp,
            first_packet: true,
            packet_count: 0,
            octet_count: 0,
            packet: vec![0; RTP_HEADER + layout.payload_bytes],
            mono,
            narrow,
            decimator,
            rtcp: build_rtcp(ssrc, zone_name),
            rtcp_interval: RTCP_INTERVAL,
            next_rtcp: None,
            health: Arc::new(OutputHealth::default()),
            status,
        })
    }

    /// What is sent per packet time.
    pub fn layout(&self) -> PacketLayout {
        self.layout
    }

    /// SSRC and the next packet's sequence number and timestamp.
    pub fn stream_state(&self) -> RtpStreamState {
        RtpStreamState {
            ssrc: self.ssrc,
            seq: self.seq,
            timestamp: self.timestamp,
        }
    }

    /// The same, shared, for readers on other threads.
    pub fn status(&self) -> Arc<RtpStatus> {
        self.status.clone()
    }

    /// Change the sender report interval (default [`RTCP_INTERVAL`]);
    /// takes effect after the next report.
    pub fn set_rtcp_interval(&mut self, interval: Duration) {
        self.rtcp_interval = interval;
    }

    /// Each destination with its own counters, in config order.
    pub fn destination_health(&self) -> Vec<(SocketAddr, Arc<OutputHealth>)> {
        self.rtp_destinations
            .iter()
            .zip(&self.destination_health)
            .filter_map(|(d, h)| Some((d.as_socket()?, h.clone())))
            .collect()
    }

    /// A second handle on the zone's socket, where receivers' RTCP reports
    /// arrive, for the control plane to read. It shares the socket's
    /// non-blocking mode; it must never be read on the engine thread.
    pub fn report_socket(&self) -> io::Result<std::net::UdpSocket> {
        Ok(self.socket.try_clone()?.into())
    }

    /// The local address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("socket has no IP address"))
    }

    /// Send the packet in `self.packet` (header already written) to every
    /// destination.
    fn send_packet(&mut self) {
        let mut header = [0u8; RTP_HEADER];
        header[0] = 0x80; // version 2, no padding, no extension, no CSRC
        header[1] = self.layout.payload_type | if self.first_packet { 0x80 } else { 0 };
        header[2..4].copy_from_slice(&self.seq.to_be_bytes());
        header[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        header[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        self.packet[..RTP_HEADER].copy_from_slice(&header);

        for (dest, health) in self.rtp_destinations.iter().zip(&self.destination_health) {
            match super::icmp::send_to(&self.socket, &self.packet, dest) {
                Ok(n) => {
                    self.health.record_sent(n);
                    health.record_sent(n);
                }
                Err(e) => {
                    self.health.record_error(&e);
                    health.record_error(&e);
                }
            }
        }
        self.first_packet = false;
        self.packet_count = self.packet_count.wrapping_add(1);
        self.octet_count = self
            .octet_count
            .wrapping_add(self.layout.payload_bytes as u32);
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self
            .timestamp
            .wrapping_add(self.layout.samples_per_packet as u32);
    }

    fn write_l16(&mut self, pcm: &[f32]) {
        let samples_per_payload = self.layout.samples_per_packet * self.input_channels;
        for k in 0..self.layout.packets_per_write {
            let start = k * samples_per_payload;
            let payload = &mut self.packet[RTP_HEADER..];
            for (i, out) in payload.chunks_exact_mut(2).enumerate() {
                let s = pcm.get(start + i).copied().unwrap_or(0.0);
                out.copy_from_slice(&to_i16(s).to_be_bytes());
            }
            self.send_packet();
        }
    }

    fn write_pcmu(&mut self, pcm: &[f32]) {
        let ch = self.input_channels;
        let scale = 1.0 / ch as f32;
        for (i, m) in self.mono.iter_mut().enumerate() {
            let frame = pcm.get(i * ch..(i + 1) * ch).unwrap_or(&[]);
            *m = frame.iter().sum::<f32>() * scale;
        }
        let decimator = self.decimator.as_mut().expect("PCMU has a decimator");
        let produced = decimator.process(&self.mono, &mut self.narrow);
        let spp = self.layout.samples_per_packet;
        for k in 0..self.layout.packets_per_write {
            let start = k * spp;
            for (i, out) in self.packet[RTP_HEADER..].iter_mut().enumerate() {
                let s = if start + i < produced {
                    self.narrow[start + i]
                } else {
                    0.0
                };
                *out = pcmu::encode(to_i16(s));
            }
            self.send_packet();
        }
    }

    /// Send a sender report if one is due. `rtp_timestamp` is the timestamp
    /// of the first packet of this packet time, which is due at
    /// `tick.deadline` / `tick.wall`.
    fn maybe_send_report(&mut self, tick: &Tick, rtp_timestamp: u32) {
        if let Some(next) = self.next_rtcp {
            if tick.deadline < next {
                return;
            }
        }
        self.next_rtcp = Some(tick.deadline + self.rtcp_interval);
        let ntp = ntp_timestamp(tick.wall);
        self.rtcp[8..16].copy_from_slice(&ntp.to_be_bytes());
        self.rtcp[16..20].copy_from_slice(&rtp_timestamp.to_be_bytes());
        self.rtcp[20..24].copy_from_slice(&self.packet_count.to_be_bytes());
        self.rtcp[24..28].copy_from_slice(&self.octet_count.to_be_bytes());
        for (i, dest) in &self.rtcp_destinations {
            if let Err(e) = super::icmp::send_to(&self.socket, &self.rtcp, dest) {
                self.health.record_error(&e);
                self.destination_health[*i].record_error(&e);
            }
        }
    }
}

impl Output for RtpOutput {
    fn write(&mut self, pcm: &[f32], tick: &Tick) {
        debug_assert_eq!(pcm.len(), self.frames_per_packet * self.input_channels);
        let first_timestamp = self.timestamp;
        if self.decimator.is_some() {
            self.write_pcmu(pcm);
        } else {
            self.write_l16(pcm);
        }
        self.maybe_send_report(tick, first_timestamp);
        self.status.store(self.stream_state());
    }

    fn health(&self) -> Arc<OutputHealth> {
        self.health.clone()
    }
}

/// 64-bit NTP timestamp (seconds since 1900 . 32-bit fraction).
pub fn ntp_timestamp(wall: SystemTime) -> u64 {
    let since_unix = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_unix.as_secs() + NTP_UNIX_OFFSET;
    let frac = ((since_unix.subsec_nanos() as u64) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The zone's UDP socket: non-blocking, multicast interface, TTL and loop,
/// DSCP; bound to an ephemeral port on 127.0.0.1 if every destination is
/// loopback, else on 0.0.0.0.
fn open_socket(config: &RtpConfig) -> io::Result<Socket> {
    if config.destinations.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an RTP output needs at least one destination",
        ));
    }
    if config.destinations.iter().any(|d| d.is_ipv6()) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "IPv6 RTP destinations are not supported yet",
        ));
    }
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_nonblocking(true)?;
    let all_loopback = config
        .destinations
        .iter()
        .all(|d| d.ip().is_loopback() || (d.ip().is_multicast() && is_loopback_iface(config)));
    let bind_ip = if all_loopback {
        Ipv4Addr::LOCALHOST
    } else {
        Ipv4Addr::UNSPECIFIED
    };
    socket.bind(&SocketAddr::new(IpAddr::V4(bind_ip), 0).into())?;
    socket.set_multicast_if_v4(&config.multicast_interface)?;
    socket.set_multicast_ttl_v4(config.multicast_ttl)?;
    socket.set_multicast_loop_v4(true)?;
    // DSCP sits in the upper six bits of the TOS byte. Some systems refuse
    // it (containers without the capability): the stream still works.
    let _ = socket.set_tos_v4((config.dscp as u32) << 2);
    // Dead unicast destinations show as `unreachable` (see icmp.rs);
    // without it the zone only looks healthy.
    if let Err(e) = super::icmp::enable_reports(&socket) {
        tracing::debug!("no ICMP reports on the RTP socket: {e}");
    }
    Ok(socket)
}

fn is_loopback_iface(config: &RtpConfig) -> bool {
    config.multicast_interface.is_loopback()
}

/// An RTCP compound packet: a sender report with no report blocks (fields
/// filled per report) followed by an SDES chunk with CNAME
/// `corong@<zone>`.
fn build_rtcp(ssrc: u32, zone_name: &str) -> Vec<u8> {
    let mut cname = format!("corong@{zone_name}");
    if cname.len() > 255 {
        let mut end = 255;
        while !cname.is_char_boundary(end) {
            end -= 1;
        }
        cname.truncate(end);
    }
    let mut buf = Vec::with_capacity(28 + 8 + cname.len() + 4);
    // SR: V=2, P=0, RC=0, PT=200, length 6 (32-bit words minus one).
    buf.extend_from_slice(&[0x80, 200, 0, 6]);
    buf.extend_from_slice(&ssrc.to_be_bytes());
    buf.extend_from_slice(&[0; 20]); // NTP, RTP timestamp, packets, octets

    // SDES: V=2, P=0, SC=1, PT=202; one chunk: SSRC, CNAME item, then at
    // least one zero byte ending the item list, padded to 32 bits.
    let item_len = 2 + cname.len();
    let pad = 4 - item_len % 4; // 1..=4 zero bytes
    let chunk_len = 4 + item_len + pad;
    let words = (4 + chunk_len) / 4 - 1;
    buf.extend_from_slice(&[0x81, 202]);
    buf.extend_from_slice(&(words as u16).to_be_bytes());
    buf.extend_from_slice(&ssrc.to_be_bytes());
    buf.push(1); // CNAME
    buf.push(cname.len() as u8);
    buf.extend_from_slice(cname.as_bytes());
    buf.extend(std::iter::repeat_n(0u8, pad));
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let l = PacketLayout::new(Codec::L16, 48000, 1, 960).unwrap();
        assert_eq!(
            (l.packets_per_write, l.samples_per_packet, l.payload_bytes),
            (2, 480, 960)
        );
        assert_eq!(
            (l.payload_type, l.clock_rate, l.ptime_ms()),
            (96, 48000, 10)
        );
        let l = PacketLayout::new(Codec::L16, 48000, 2, 960).unwrap();
        assert_eq!(
            (l.packets_per_write, l.samples_per_packet, l.payload_bytes),
            (4, 240, 960)
        );
        assert_eq!(l.ptime_ms(), 5);
        let l = PacketLayout::new(Codec::L16, 48000, 1, 480).unwrap();
        assert_eq!((l.packets_per_write, l.payload_bytes), (1, 960));
        let l = PacketLayout::new(Codec::Pcmu, 48000, 1, 960).unwrap();
        assert_eq!(
            (l.packets_per_write, l.samples_per_packet, l.payload_bytes),
            (1, 160, 160)
        );
        assert_eq!((l.payload_type, l.clock_rate, l.ptime_ms()), (0, 8000, 20));
        assert!(PacketLayout::new(Codec::Pcmu, 44100, 1, 882).is_err());
        let l = PacketLayout::new(Codec::L16, 44100, 2, 882).unwrap();
        assert!(l.payload_bytes <= MAX_PAYLOAD);
        assert_eq!(l.samples_per_packet * l.packets_per_write, 882);
    }

    #[test]
    fn ntp_epoch() {
        assert_eq!(ntp_timestamp(UNIX_EPOCH), NTP_UNIX_OFFSET << 32);
        let half = UNIX_EPOCH + Duration::from_millis(1500);
        assert_eq!(
            ntp_timestamp(half),
            ((NTP_UNIX_OFFSET + 1) << 32) | (1 << 31)
        );
    }

    #[test]
    fn rtcp_compound_parses() {
        use rtcp_types::{Compound, Packet};
        let buf = build_rtcp(0x1234_5678, "alun-alun");
        assert_eq!(buf.len() % 4, 0);
        let mut packets = Compound::parse(&buf).unwrap();
        match packets.next().unwrap().unwrap() {
            Packet::Sr(sr) => assert_eq!(sr.ssrc(), 0x1234_5678),
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
        // Every CNAME length pads correctly.
        for n in 0..8 {
            let buf = build_rtcp(1, &"x".repeat(n));
            assert!(Compound::parse(&buf).unwrap().all(|p| p.is_ok()), "n={n}");
        }
        // A long name is cut (at a character boundary) to SDES's 255 bytes.
        let long = build_rtcp(1, &"é".repeat(200));
        assert!(long.len() <= 28 + 8 + 2 + 255 + 4);
        assert!(Compound::parse(&long).unwrap().all(|p| p.is_ok()));
    }
}
