//! The receivers of each RTP zone, as their RTCP tells the daemon.
//!
//! Receivers (`corong receive`, GStreamer, IP speakers that do RTCP) send
//! their receiver reports to where the zone's sender reports come from: the
//! zone's one sending socket (`output/rtp.rs`). A tokio task per zone reads
//! a second handle on that socket ([`listen`]); the engine thread only ever
//! sends on it. Each datagram is parsed (`crate::rtp::rtcp`) into the zone's
//! [`ReceiverTable`]:
//!
//! - an RR (or an SR: a receiver that also sends) adds or refreshes the
//!   receiver under its SSRC: its source address, when it was heard, and the
//!   report block about this zone's stream (fraction lost, cumulative lost,
//!   highest sequence number, jitter);
//! - an SDES CNAME names it;
//! - a BYE removes it at once: a receiver that says goodbye was stopped on
//!   purpose.
//!
//! A receiver silent for longer than `[daemon] receiver_timeout_s` stays
//! listed as `silent` and turns its zone `degraded` (see
//! `requests.rs`), until it reports again, says BYE, or is superseded: a
//! receiver restarted on the same pole comes back with a new SSRC from the
//! same address and the same CNAME host, first heard after the old one was
//! last heard, and once the old entry is past the timeout it is dropped
//! rather than reported silent ([`ReceiverTable::prune`]). Two receivers
//! that run at the same time on one host are not confused this way: each
//! was heard while the other was alive.
//!
//! Malformed datagrams are ignored (and counted); nothing here can stop a
//! zone from streaming.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::rtp::rtcp::parse_feedback;
use crate::rtp::MAX_DATAGRAM;
use chrono::{DateTime, Utc};

/// With no `receiver_timeout_s`, how long an entry is quiet before a
/// restarted receiver may replace it.
pub const SUPERSEDE_AFTER: Duration = Duration::from_secs(30);

/// What a receiver said about this zone's stream in its last report
/// (fraction lost, cumulative lost, highest sequence number, jitter).
pub use crate::rtp::rtcp::ReportBlock as Reception;

/// One receiver of a zone.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub ssrc: u32,
    pub cname: Option<String>,
    /// Where its RTCP comes from.
    pub from: SocketAddr,
    pub first_heard: Instant,
    pub last_heard: Instant,
    pub last_heard_wall: DateTime<Utc>,
    /// RTCP packets (RR or SR) heard from it.
    pub reports: u64,
    /// Its last report block about this zone's stream, if any.
    pub reception: Option<Reception>,
    /// Whether the last [`ReceiverTable::check`] found it silent (so that
    /// the log says it once).
    silent_logged: bool,
}

impl Receiver {
    /// How to name it in a log line or an error: CNAME and address.
    pub fn label(&self) -> String {
        match &self.cname {
            Some(c) => format!("{c} ({})", self.from),
            None => format!("ssrc {:08x} ({})", self.ssrc, self.from),
        }
    }

    /// Silent for longer than `timeout` at `now`.
    pub fn is_silent(&self, now: Instant, timeout: Option<Duration>) -> bool {
        timeout.is_some_and(|t| now.saturating_duration_since(self.last_heard) > t)
    }

    /// The host part of the CNAME (`user@host` -> `host`).
    fn cname_host(&self) -> Option<&str> {
        let c = self.cname.as_deref()?;
        Some(c.rsplit_once('@').map_or(c, |(_, h)| h))
    }
}

/// What changed, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// First report from a receiver.
    Joined(String),
    /// A BYE.
    Left(String),
    /// A restarted receiver replaced this old entry.
    Superseded(String),
    /// Silent for longer than the timeout.
    Silent(String, Duration),
    /// Heard again after it was found silent.
    Back(String),
    /// A unicast destination answered "port unreachable".
    Unreachable(SocketAddr),
    /// ...and has not for [`UNREACHABLE_HOLD`].
    Reachable(SocketAddr),
}

/// How long a destination counts as unreachable after its last ICMP
/// report: routers send at most about one a second per host.
pub const UNREACHABLE_HOLD: Duration = Duration::from_secs(5);

/// A destination that answers "port unreachable": nothing listens there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreachable {
    pub dest: SocketAddr,
    /// The first report of this run of them.
    pub since: DateTime<Utc>,
    pub last: Instant,
}

/// A zone's receivers. See the module docs.
#[derive(Debug)]
pub struct ReceiverTable {
    /// The zone's SSRC: only report blocks about it are kept.
    our_ssrc: u32,
    /// The zone's RTP clock, to turn jitter into time.
    clock_rate: u32,
    receivers: Vec<Receiver>,
    /// Destinations that answered "port unreachable" lately.
    unreachable: Vec<Unreachable>,
    /// Datagrams that were not RTCP, or were cut short.
    pub malformed: u64,
}

impl ReceiverTable {
    pub fn new(our_ssrc: u32, clock_rate: u32) -> ReceiverTable {
        ReceiverTable {
            our_ssrc,
            clock_rate: clock_rate.max(1),
            receivers: Vec::new(),
            unreachable: Vec::new(),
            malformed: 0,
        }
    }

    /// `dest` answered "port unreachable" (see `output/icmp.rs`).
    pub fn on_refused(
        &mut self,
        dest: SocketAddr,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Vec<Change> {
        if let Some(u) = self.unreachable.iter_mut().find(|u| u.dest == dest) {
            u.last = now;
            return Vec::new();
        }
        self.unreachable.push(Unreachable {
            dest,
            since: wall,
            last: now,
        });
        vec![Change::Unreachable(dest)]
    }

    /// Since when `dest` has answered "port unreachable", if it still does.
    pub fn unreachable_since(&self, dest: SocketAddr, now: Instant) -> Option<DateTime<Utc>> {
        self.unreachable
            .iter()
            .find(|u| u.dest == dest && now.saturating_duration_since(u.last) < UNREACHABLE_HOLD)
            .map(|u| u.since)
    }

    /// Every receiver, in the order they were first heard.
    pub fn receivers(&self) -> &[Receiver] {
        &self.receivers
    }

    /// A jitter figure in milliseconds.
    pub fn jitter_ms(&self, jitter: u32) -> f64 {
        jitter as f64 * 1000.0 / self.clock_rate as f64
    }

    /// Take one datagram that arrived from `from`.
    pub fn on_datagram(
        &mut self,
        data: &[u8],
        from: SocketAddr,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Vec<Change> {
        let Some(feedback) = parse_feedback(data, self.our_ssrc) else {
            self.malformed += 1;
            return Vec::new();
        };
        let (reports, names, byes) = (feedback.reports, feedback.cnames, feedback.byes);

        let mut changes = Vec::new();
        for (ssrc, block) in reports {
            if ssrc == self.our_ssrc {
                continue; // our own report, looped back
            }
            match self.receivers.iter_mut().find(|r| r.ssrc == ssrc) {
                Some(r) => {
                    r.from = from;
                    r.last_heard = now;
                    r.last_heard_wall = wall;
                    r.reports += 1;
                    if block.is_some() {
                        r.reception = block;
                    }
                }
                None => {
                    self.receivers.push(Receiver {
                        ssrc,
                        cname: None,
                        from,
                        first_heard: now,
                        last_heard: now,
                        last_heard_wall: wall,
                        reports: 1,
                        reception: block,
                        silent_logged: false,
                    });
                    changes.push(ssrc);
                }
            }
        }
        for (ssrc, name) in names {
            if let Some(r) = self.receivers.iter_mut().find(|r| r.ssrc == ssrc) {
                r.cname = Some(name);
            }
        }
        let mut out: Vec<Change> = changes
            .into_iter()
            .filter_map(|ssrc| self.receivers.iter().find(|r| r.ssrc == ssrc))
            .map(|r| Change::Joined(r.label()))
            .collect();
        for ssrc in byes {
            if let Some(i) = self.receivers.iter().position(|r| r.ssrc == ssrc) {
                let r = self.receivers.remove(i);
                out.push(Change::Left(r.label()));
            }
        }
        out
    }

    /// Drop the silent receivers that a restarted one replaced: same
    /// address, same CNAME host, first heard after the old one was last
    /// heard. (Without a timeout, entries quiet for
    /// [`SUPERSEDE_AFTER`] count as silent here.)
    pub fn prune(&mut self, now: Instant, timeout: Option<Duration>) -> Vec<Change> {
        let quiet = timeout.unwrap_or(SUPERSEDE_AFTER);
        let superseded: Vec<usize> = (0..self.receivers.len())
            .filter(|&i| {
                let old = &self.receivers[i];
                now.saturating_duration_since(old.last_heard) > quiet
                    && self.receivers.iter().any(|new| {
                        new.ssrc != old.ssrc
                            && new.from == old.from
                            && new.cname_host() == old.cname_host()
                            && new.first_heard > old.last_heard
                    })
            })
            .collect();
        let mut out = Vec::new();
        for &i in superseded.iter().rev() {
            let r = self.receivers.remove(i);
            out.push(Change::Superseded(r.label()));
        }
        self.unreachable.retain(|u| {
            let held = now.saturating_duration_since(u.last) < UNREACHABLE_HOLD;
            if !held {
                out.push(Change::Reachable(u.dest));
            }
            held
        });
        out
    }

    /// [`Self::prune`], then the receivers that went silent or came back
    /// since the last call.
    pub fn check(&mut self, now: Instant, timeout: Option<Duration>) -> Vec<Change> {
        let mut out = self.prune(now, timeout);
        for r in &mut self.receivers {
            let silent = r.is_silent(now, timeout);
            if silent && !r.silent_logged {
                out.push(Change::Silent(
                    r.label(),
                    now.saturating_duration_since(r.last_heard),
                ));
            } else if !silent && r.silent_logged {
                out.push(Change::Back(r.label()));
            }
            r.silent_logged = silent;
        }
        out
    }
}

/// Log what changed in `zone`'s receivers.
pub fn log_changes(zone: &str, changes: &[Change]) {
    for c in changes {
        match c {
            Change::Joined(r) => tracing::info!(zone = %zone, receiver = %r, "receiver reporting"),
            Change::Left(r) => tracing::info!(zone = %zone, receiver = %r, "receiver said goodbye"),
            Change::Superseded(r) => {
                tracing::info!(zone = %zone, receiver = %r, "receiver restarted; its old entry is dropped")
            }
            Change::Silent(r, d) => tracing::warn!(zone = %zone, receiver = %r,
                "receiver silent for {} s: the zone is degraded", d.as_secs()),
            Change::Back(r) => {
                tracing::info!(zone = %zone, receiver = %r, "receiver reporting again")
            }
            Change::Unreachable(d) => tracing::warn!(zone = %zone, destination = %d,
                "destination unreachable: nothing listens there (ICMP port unreachable); the zone streams on"),
            Change::Reachable(d) => {
                tracing::info!(zone = %zone, destination = %d, "destination reachable again")
            }
        }
    }
}

/// The task that reads a zone's socket; aborted when dropped (the zone
/// goes away on reload or shutdown).
pub struct Listener {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Read the RTCP that comes back on `socket` (a handle on the zone's
/// sending socket, non-blocking) into `table`, on the tokio runtime of the
/// caller. Errors when there is no runtime or the socket cannot be
/// registered.
pub fn listen(
    zone: &str,
    socket: std::net::UdpSocket,
    table: Arc<Mutex<ReceiverTable>>,
) -> io::Result<Listener> {
    let handle = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
    let _guard = handle.enter();
    socket.set_nonblocking(true)?;
    // Readable (and errors) only: the engine sends every packet on this very socket (a
    // duplicate of it), and a socket watched for writable too wakes this
    // thread each time a sent packet frees its buffer space: at 500 zones,
    // tens of thousands of wake-ups a second for nothing.
    // Errors too: ICMP reports about dead destinations (see
    // output/icmp.rs), which come only when something is wrong.
    use tokio::io::{Interest, Ready};
    let interest = Interest::READABLE | Interest::ERROR;
    // SAFETY: the AsyncFd owns the std socket, whose descriptor stays open
    // and the same until the AsyncFd drops it.
    let socket = unsafe { tokio::io::unix::AsyncFd::register_with_interest(socket, interest) }?;
    let zone = zone.to_string();
    let task = handle.spawn(async move {
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        loop {
            let mut guard = match socket.ready(interest).await {
                Ok(g) => g,
                Err(e) => {
                    tracing::debug!(zone = %zone, "watching the zone's socket: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let ready = guard.ready();
            if ready.is_error() {
                let mut refused = Vec::new();
                let fd = std::os::fd::AsRawFd::as_raw_fd(guard.get_inner());
                let _ = crate::output::icmp::drain_refused(fd, |d| refused.push(d));
                guard.clear_ready_matching(Ready::ERROR);
                let (now, wall) = (Instant::now(), Utc::now());
                let changes: Vec<Change> = {
                    let mut t = table.lock().unwrap_or_else(|e| e.into_inner());
                    refused
                        .into_iter()
                        .flat_map(|d| t.on_refused(d, now, wall))
                        .collect()
                };
                log_changes(&zone, &changes);
            }
            if !ready.is_readable() {
                continue;
            }
            let received = match guard.get_inner().recv_from(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    guard.clear_ready_matching(Ready::READABLE);
                    continue;
                }
                // A pending ICMP report, read from the error queue above.
                Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => continue,
                other => other,
            };
            match received {
                Ok((n, from)) => {
                    let changes = {
                        let mut t = table.lock().unwrap_or_else(|e| e.into_inner());
                        t.on_datagram(&buf[..n], from, Instant::now(), Utc::now())
                    };
                    log_changes(&zone, &changes);
                }
                Err(e) => {
                    // Nothing that arrives can be fatal; do not spin on a
                    // socket that keeps failing.
                    tracing::debug!(zone = %zone, "reading receiver reports: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(Listener { task })
}

/// Which of a zone's RTP destinations a receiver whose RTCP comes from
/// `from` listens on: the unicast destination at its address whose port + 1
/// it reports from (RTCP's usual port), else the only destination at its
/// address, else a multicast destination whose port + 1 it reports from.
pub fn endpoint_of(from: SocketAddr, destinations: &[SocketAddr]) -> Option<SocketAddr> {
    let rtcp_port = |d: &SocketAddr| crate::rtp::rtcp_port(d.port());
    if let Some(d) = destinations
        .iter()
        .find(|d| d.ip() == from.ip() && rtcp_port(d) == Some(from.port()))
    {
        return Some(*d);
    }
    let mut same_ip = destinations.iter().filter(|d| d.ip() == from.ip());
    if let (Some(d), None) = (same_ip.next(), same_ip.next()) {
        return Some(*d);
    }
    let mut groups = destinations
        .iter()
        .filter(|d| d.ip().is_multicast() && rtcp_port(d) == Some(from.port()));
    match (groups.next(), groups.next()) {
        (Some(d), None) => Some(*d),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receive::jitter::JitterBuffer;
    use crate::receive::report::Reporter;
    use crate::rtp::header::Rtp;
    use crate::rtp::Codec;

    const OURS: u32 = 0x5eed_0001;

    /// The RR a real `corong receive` reporter builds after receiving 20
    /// packets of our stream with `lost` of them missing.
    fn report_from(reporter: &mut Reporter, lost: &[u16], bye: bool) -> Vec<u8> {
        let mut jb = JitterBuffer::new(Codec::Pcmu, 8000, 1);
        let now = Instant::now();
        let from = "127.0.0.1:9".parse().unwrap();
        let payload = [0xffu8; 160];
        for seq in 0u16..20 {
            if lost.contains(&seq) {
                continue;
            }
            let p = Rtp {
                ssrc: OURS,
                seq,
                timestamp: seq as u32 * 160,
                payload_type: 0,
                payload: &payload,
            };
            jb.insert(&p, seq as u32 * 160, now, from);
        }
        let stream = jb.stream().unwrap();
        if bye {
            // Sent to a socket of our own to capture it.
            let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut s = stream.clone();
            s.source = rx.local_addr().unwrap();
            reporter.send_bye(now, &tx, &s, None);
            let mut buf = [0u8; 1500];
            let n = rx.recv(&mut buf).unwrap();
            return buf[..n].to_vec();
        }
        reporter.build(now, stream, None).to_vec()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn reports_fill_the_table_and_a_bye_empties_it() {
        let mut table = ReceiverTable::new(OURS, 8000);
        let mut a = Reporter::new("receive-1@tiang-01");
        let mut b = Reporter::new("receive-2@tiang-02");
        let t0 = Instant::now();
        let wall = Utc::now();
        let ra = report_from(&mut a, &[3, 4], false);
        let rb = report_from(&mut b, &[], false);
        let c = table.on_datagram(&ra, addr("10.0.0.1:5005"), t0, wall);
        assert_eq!(
            c,
            [Change::Joined("receive-1@tiang-01 (10.0.0.1:5005)".into())]
        );
        table.on_datagram(&rb, addr("10.0.0.2:5005"), t0, wall);
        let rs = table.receivers();
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0].ssrc, a.ssrc());
        assert_eq!(rs[0].cname.as_deref(), Some("receive-1@tiang-01"));
        let got = rs[0].reception.unwrap();
        assert_eq!(got.cumulative_lost, 2);
        assert_eq!(got.fraction_lost as u32, (2 << 8) / 20);
        assert_eq!(got.highest_seq, 19);
        assert_eq!(rs[1].reception.unwrap().cumulative_lost, 0);
        // A second report refreshes, it does not add.
        let t1 = t0 + Duration::from_secs(5);
        table.on_datagram(&rb, addr("10.0.0.2:5005"), t1, wall);
        assert_eq!(table.receivers().len(), 2);
        assert_eq!(table.receivers()[1].reports, 2);
        assert_eq!(table.receivers()[1].last_heard, t1);

        // Silence: with a 10 s timeout, a (last heard at t0) is silent at
        // t0 + 11 s, b (t1) is not; no timeout means never.
        let t2 = t0 + Duration::from_secs(11);
        let timeout = Some(Duration::from_secs(10));
        assert!(table.receivers()[0].is_silent(t2, timeout));
        assert!(!table.receivers()[1].is_silent(t2, timeout));
        assert!(!table.receivers()[0].is_silent(t2, None));
        let c = table.check(t2, timeout);
        assert_eq!(
            c,
            [Change::Silent(
                "receive-1@tiang-01 (10.0.0.1:5005)".into(),
                Duration::from_secs(11)
            )]
        );
        assert!(table.check(t2, timeout).is_empty(), "said once");
        // b says goodbye: gone at once.
        let bye = report_from(&mut b, &[], true);
        let c = table.on_datagram(&bye, addr("10.0.0.2:5005"), t2, wall);
        assert_eq!(
            c,
            [Change::Left("receive-2@tiang-02 (10.0.0.2:5005)".into())]
        );
        assert_eq!(table.receivers().len(), 1);
        // a comes back.
        table.on_datagram(&ra, addr("10.0.0.1:5005"), t2, wall);
        assert_eq!(
            table.check(t2, timeout),
            [Change::Back("receive-1@tiang-01 (10.0.0.1:5005)".into())]
        );
    }

    #[test]
    fn a_restarted_receiver_supersedes_its_old_entry_but_a_neighbour_does_not() {
        let mut table = ReceiverTable::new(OURS, 8000);
        let wall = Utc::now();
        let t0 = Instant::now();
        let same = addr("127.0.0.1:5005");
        // Two receivers of one group on one host: same address, same host.
        let mut a = Reporter::new("receive-100@pole");
        let mut b = Reporter::new("receive-200@pole");
        let ra = report_from(&mut a, &[], false);
        let rb = report_from(&mut b, &[], false);
        table.on_datagram(&ra, same, t0, wall);
        table.on_datagram(&rb, same, t0 + Duration::from_secs(2), wall);
        table.on_datagram(&ra, same, t0 + Duration::from_secs(4), wall);
        table.on_datagram(&rb, same, t0 + Duration::from_secs(6), wall);
        assert_eq!(table.receivers().len(), 2, "neighbours both stay");
        // a dies after t0 + 4; b reports on: a stays listed (silent later).
        table.on_datagram(&rb, same, t0 + Duration::from_secs(40), wall);
        assert_eq!(table.receivers().len(), 2);
        assert!(table.receivers()[0]
            .is_silent(t0 + Duration::from_secs(40), Some(Duration::from_secs(30))));
        let timeout = Some(Duration::from_secs(30));
        assert!(table.check(t0 + Duration::from_secs(40), timeout).len() == 1);
        assert_eq!(table.receivers().len(), 2, "a is silent, not dropped");
        // a's pole restarts it: a new SSRC from the same address and host,
        // first heard after a was last heard. a's old entry goes.
        let mut a2 = Reporter::new("receive-101@pole");
        let ra2 = report_from(&mut a2, &[], false);
        let t = t0 + Duration::from_secs(41);
        table.on_datagram(&ra2, same, t, wall);
        let c = table.check(t, timeout);
        let ssrcs: Vec<u32> = table.receivers().iter().map(|r| r.ssrc).collect();
        assert_eq!(ssrcs, [b.ssrc(), a2.ssrc()], "{c:?}");
        assert_eq!(
            c,
            [Change::Superseded(
                "receive-100@pole (127.0.0.1:5005)".into()
            )]
        );
        // A restart before the old entry timed out: the old one is dropped
        // when its time is up, never reported silent.
        let mut a3 = Reporter::new("receive-102@pole");
        let ra3 = report_from(&mut a3, &[], false);
        let t = t0 + Duration::from_secs(45);
        table.on_datagram(&ra3, same, t, wall);
        table.on_datagram(&rb, same, t, wall);
        assert!(table.check(t, timeout).is_empty());
        assert_eq!(table.receivers().len(), 3);
        let t = t0 + Duration::from_secs(72);
        table.on_datagram(&ra3, same, t, wall);
        table.on_datagram(&rb, same, t, wall);
        assert_eq!(
            table.check(t, timeout),
            [Change::Superseded(
                "receive-101@pole (127.0.0.1:5005)".into()
            )]
        );
        // Another host at another address supersedes nothing.
        let mut far = Reporter::new("receive-1@elsewhere");
        let rf = report_from(&mut far, &[], false);
        let t = t0 + Duration::from_secs(99);
        table.on_datagram(&rf, addr("10.1.1.1:5005"), t, wall);
        table.on_datagram(&ra3, same, t, wall);
        table.on_datagram(&rb, same, t, wall);
        assert!(table.check(t, timeout).is_empty());
        assert_eq!(table.receivers().len(), 3);
    }

    #[test]
    fn foreign_and_broken_datagrams() {
        let mut table = ReceiverTable::new(OURS, 48_000);
        let now = Instant::now();
        let wall = Utc::now();
        // Not RTCP at all, and an RTP packet.
        assert!(table
            .on_datagram(b"hello", addr("127.0.0.1:1"), now, wall)
            .is_empty());
        let mut rtp = vec![0x80, 96, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4];
        rtp.extend_from_slice(&[0; 960]);
        table.on_datagram(&rtp, addr("127.0.0.1:1"), now, wall);
        // A report cut short.
        let mut r = Reporter::new("x@y");
        let full = report_from(&mut r, &[], false);
        table.on_datagram(&full[..full.len() - 3], addr("127.0.0.1:1"), now, wall);
        assert!(table.receivers().is_empty());
        assert_eq!(table.malformed, 3);
        // A report about another stream: the receiver is listed, with no
        // figures about ours.
        let mut other = ReceiverTable::new(0x1234, 48_000);
        other.on_datagram(&full, addr("127.0.0.1:1"), now, wall);
        assert_eq!(other.receivers().len(), 1);
        assert_eq!(other.receivers()[0].reception, None);
        // Jitter in time: 480 units at 48 kHz are 10 ms.
        assert_eq!(table.jitter_ms(480), 10.0);
        // Negative cumulative loss (duplicates) is sign-extended.
        let block = rtcp_types::ReportBlock::builder(OURS).cumulative_lost(0xff_fffe);
        let rr = rtcp_types::ReceiverReport::builder(7).add_report_block(block);
        let mut buf = vec![0u8; 64];
        use rtcp_types::RtcpPacketWriterExt;
        let n = rr.write_into(&mut buf).unwrap();
        let mut t = ReceiverTable::new(OURS, 8000);
        t.on_datagram(&buf[..n], addr("127.0.0.1:1"), now, wall);
        assert_eq!(t.receivers()[0].reception.unwrap().cumulative_lost, -2);
    }

    #[test]
    fn receivers_map_to_endpoints() {
        let dests = [
            addr("127.0.0.1:5004"),
            addr("127.0.0.1:6004"),
            addr("10.0.0.7:5004"),
            addr("239.255.0.1:7000"),
        ];
        assert_eq!(endpoint_of(addr("127.0.0.1:6005"), &dests), Some(dests[1]));
        assert_eq!(endpoint_of(addr("127.0.0.1:5005"), &dests), Some(dests[0]));
        // The only destination at its address, whatever port it uses.
        assert_eq!(endpoint_of(addr("10.0.0.7:40000"), &dests), Some(dests[2]));
        // A group member reports from its own address, from port + 1.
        assert_eq!(endpoint_of(addr("10.0.0.9:7001"), &dests), Some(dests[3]));
        assert_eq!(endpoint_of(addr("10.0.0.9:7002"), &dests), None);
        // Two loopback destinations and a port that fits neither.
        assert_eq!(endpoint_of(addr("127.0.0.1:9999"), &dests), None);
    }
}
