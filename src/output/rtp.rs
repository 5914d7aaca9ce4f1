//! RTP over UDP (RFC 3550, payload formats from RFC 3551), with RTCP sender
//! reports on port + 1.
//!
//! One [`RtpOutput`] per zone: one stream (one random SSRC, one sequence
//! number and timestamp line) sent as the same datagrams to every
//! destination of the zone from one non-blocking UDP socket, all of them in
//! one `sendmmsg(2)` per packet (`fanout.rs`).
//!
//! # Packets on the wire
//! What a packet time becomes is the codec's business (`crate::rtp`): its
//! [`PacketLayout`] (payload type, clock, packets per packet time, bytes;
//! the SDP's `a=ptime` is taken from the same layout) and its
//! [`Encoder`]. A payload never exceeds [`crate::rtp::MAX_PAYLOAD`] bytes;
//! a packet time whose payload would be larger is sent as several equal RTP
//! packets (48 kHz L16 at 20 ms: two 10 ms packets mono, four 5 ms stereo).
//! The marker bit is set on the first packet of the stream only (the stream
//! is continuous: silence is sent as zeros).
//!
//! The RTP header (12 bytes, no CSRC, no extension) and the RTCP compound
//! packet (SR + SDES CNAME) are written straight into buffers allocated
//! once in [`RtpOutput::new`]. The tests parse both with the `rtp-types`
//! and `rtcp-types` crates as an independent check.
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
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::fanout::Fanout;
use super::{Output, OutputHealth, Tick};
use crate::config::RtpOutput as RtpConfig;
use crate::rtp::encode::Encoder;
use crate::rtp::header::{Header, HEADER_LEN};
use crate::rtp::rtcp::{self, SenderReportPacket};
use crate::rtp::PacketLayout;

/// How often a sender report goes out, by default.
pub const RTCP_INTERVAL: Duration = rtcp::INTERVAL;

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
    /// Sends each packet to all of them in one system call.
    fanout: Fanout,
    /// Each RTP destination's port + 1, with the index of its destination.
    rtcp_destinations: Vec<(usize, SockAddr)>,
    /// Counters per RTP destination (same order).
    destination_health: Vec<Arc<OutputHealth>>,
    /// The codec's encoder, with its layout.
    encoder: Encoder,
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
    /// SR followed by SDES CNAME; only the SR's fields change.
    rtcp: SenderReportPacket,
    rtcp_interval: Duration,
    next_rtcp: Option<Instant>,

    health: Arc<OutputHealth>,
    status: Arc<RtpStatus>,
}

impl RtpOutput {
    /// Open the zone's socket and prepare every buffer.
    ///
    /// `channels` and `frames_per_packet` describe what [`Output::write`]
    /// will be handed (the zone's channels at `engine_rate`, its mix rate).
    /// Errors: IPv6 destinations (not supported yet), a codec with its own
    /// rate at an engine rate that is not a multiple of it (PCMU: 8000 Hz),
    /// and socket errors.
    pub fn new(
        zone_name: &str,
        config: &RtpConfig,
        engine_rate: u32,
        channels: u16,
        frames_per_packet: usize,
    ) -> io::Result<Self> {
        let invalid = |e: crate::rtp::LayoutError| io::Error::new(io::ErrorKind::InvalidInput, e);
        let layout = PacketLayout::new(config.codec, engine_rate, channels, frames_per_packet)
            .map_err(invalid)?;
        let encoder = Encoder::new(
            layout,
            engine_rate,
            channels,
            frames_per_packet,
            config.encode_options(),
        )
        .map_err(invalid)?;
        let socket = open_socket(config)?;

        let rtp_destinations: Vec<SockAddr> =
            config.destinations.iter().map(|&a| a.into()).collect();
        let fanout = Fanout::new(rtp_destinations.len());
        let rtcp_destinations = config
            .destinations
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                // Port 65535 has no port + 1: no RTCP for it.
                let port = crate::rtp::rtcp_port(a.port())?;
                Some((i, SockAddr::from(SocketAddr::new(a.ip(), port))))
            })
            .collect();
        let destination_health = config
            .destinations
            .iter()
            .map(|_| Arc::new(OutputHealth::default()))
            .collect();

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
            fanout,
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
            packet: vec![0; HEADER_LEN + layout.payload_bytes],
            encoder,
            rtcp: SenderReportPacket::new(ssrc, &format!("corong@{zone_name}")),
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

    /// Write the header of the packet in `self.packet` (a payload of
    /// `payload_len` bytes already written) and send it to every
    /// destination.
    fn send_packet(&mut self, payload_len: usize) {
        Header {
            marker: self.first_packet,
            payload_type: self.layout.payload_type,
            seq: self.seq,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
        }
        .write(&mut self.packet);

        let packet = &self.packet[..HEADER_LEN + payload_len];
        let (zone, each) = (&self.health, &self.destination_health);
        self.fanout.send(
            &self.socket,
            packet,
            &self.rtp_destinations,
            |i, sent| match sent {
                Ok(n) => {
                    zone.record_sent(n);
                    each[i].record_sent(n);
                }
                Err(e) => {
                    zone.record_error(&e);
                    each[i].record_error(&e);
                }
            },
        );
        self.first_packet = false;
        self.packet_count = self.packet_count.wrapping_add(1);
        self.octet_count = self.octet_count.wrapping_add(payload_len as u32);
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self
            .timestamp
            .wrapping_add(self.layout.samples_per_packet as u32);
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
        let report = self.rtcp.fill(
            rtcp::ntp_timestamp(tick.wall),
            rtp_timestamp,
            self.packet_count,
            self.octet_count,
        );
        for (i, dest) in &self.rtcp_destinations {
            if let Err(e) = super::icmp::send_to(&self.socket, report, dest) {
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
        self.encoder.start(pcm);
        for k in 0..self.layout.packets_per_write {
            let len = self.encoder.payload(pcm, k, &mut self.packet[HEADER_LEN..]);
            self.send_packet(len);
        }
        self.maybe_send_report(tick, first_timestamp);
        self.status.store(self.stream_state());
    }

    fn health(&self) -> Arc<OutputHealth> {
        self.health.clone()
    }
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
