//! Telling systemd how the daemon is (`Type=notify`): READY once every zone
//! streams, STATUS lines, WATCHDOG pings only while the engine thread is
//! alive, STOPPING on the way out. Without `NOTIFY_SOCKET` (not started by
//! systemd) every call is a cheap no-op.
//!
//! # Ready
//!
//! READY=1 means "every configured zone has sent its first packet". The
//! station queues one `AddZone` per zone into the engine's command ring
//! before it returns; the engine takes commands at the start of a packet
//! time and then produces that packet for every zone it has, and only then
//! stores its heartbeat `ticks`. So: once the command ring is seen empty,
//! the `ticks` read right after is a mark, and a heartbeat above the mark
//! proves that a whole packet time ran with every zone in place
//! ([`ready_step`]). On an idle machine that is one or two packet times after
//! start-up. If the engine never ticks, READY never comes, and systemd's
//! start timeout restarts the service.
//!
//! # Watchdog
//!
//! With `WatchdogSec=` systemd sets `WATCHDOG_USEC`. The main loop of the
//! control plane pings at half that interval, and only when the engine's
//! heartbeat has advanced since the previous ping ([`watchdog_ping`]). A
//! ping therefore proves both worlds alive: the tokio loop that sends it
//! and the engine thread that paces the audio. A timer that pinged on its
//! own would keep a daemon whose engine hung (silent speakers) alive
//! forever; this way systemd kills and restarts it.
//!
//! The end-to-end tests (`tests/kiosk.rs`) check this with a test-only hook
//! that freezes the engine thread: `CORONG_TEST_FREEZE_ENGINE_AFTER_MS`
//! ([`crate::engine::TEST_FREEZE_ENV`]), honoured only in debug builds.

use std::time::{Duration, Instant};

use sd_notify::NotifyState;

use crate::engine::Engine;

/// Whether to ping the watchdog: the engine's heartbeat (`now`) moved past
/// the value seen at the previous ping (`last`; 0 before the first).
pub fn watchdog_ping(last: u64, now: u64) -> bool {
    now > last
}

/// One step of waiting for READY (see the module docs). `mark` is the
/// heartbeat read after the command ring was first seen empty, `pending`
/// the commands still queued now, `ticks` the heartbeat now. Returns the new
/// mark and whether every zone has streamed.
pub fn ready_step(mark: Option<u64>, pending: usize, ticks: u64) -> (Option<u64>, bool) {
    match mark {
        _ if pending > 0 && mark.is_none() => (None, false),
        None => (Some(ticks), false),
        Some(m) => (Some(m), ticks > m),
    }
}

/// The daemon's conversation with systemd.
pub struct Systemd {
    /// `NOTIFY_SOCKET` is set: someone listens.
    listening: bool,
    /// Half of `WATCHDOG_USEC`, when the watchdog is on.
    ping_every: Option<Duration>,
    ready: bool,
    ready_mark: Option<u64>,
    /// The heartbeat at the last ping.
    last_ticks: u64,
    /// Since when pings have been withheld (the engine stopped ticking).
    withheld_since: Option<Instant>,
    status: String,
    send_failed: bool,
}

impl Systemd {
    /// Read `NOTIFY_SOCKET` and `WATCHDOG_USEC` (and `WATCHDOG_PID`).
    pub fn from_env() -> Systemd {
        let listening = std::env::var_os("NOTIFY_SOCKET").is_some();
        let ping_every = sd_notify::watchdog_enabled()
            .filter(|d| !d.is_zero())
            .map(|d| d / 2);
        if let Some(every) = ping_every {
            tracing::info!(
                "systemd watchdog on: pinging every {} ms while the engine runs",
                every.as_millis()
            );
        }
        Systemd {
            listening,
            ping_every,
            ready: false,
            ready_mark: None,
            last_ticks: 0,
            withheld_since: None,
            status: String::new(),
            send_failed: false,
        }
    }

    /// How often [`Systemd::on_watchdog_timer`] should run; `None` when
    /// systemd does not watch us.
    pub fn ping_every(&self) -> Option<Duration> {
        self.ping_every
    }

    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Check whether every zone has streamed; the first time it has, send
    /// READY=1 with `status`. Call every few milliseconds until ready.
    pub fn poll_ready(&mut self, engine: &Engine, status: String) {
        if self.ready {
            return;
        }
        let pending = engine.commands_pending();
        let ticks = engine
            .heartbeat
            .ticks
            .load(std::sync::atomic::Ordering::Acquire);
        let (mark, ready) = ready_step(self.ready_mark, pending, ticks);
        self.ready_mark = mark;
        if !ready {
            return;
        }
        self.ready = true;
        tracing::info!("every zone is streaming: ready");
        self.status = status;
        self.send(&[
            NotifyState::Ready,
            NotifyState::Status(&self.status.clone()),
        ]);
    }

    /// The watchdog timer fired: ping if the engine's heartbeat (`ticks`)
    /// advanced since the last ping; otherwise withhold it and say why.
    pub fn on_watchdog_timer(&mut self, ticks: u64) {
        if watchdog_ping(self.last_ticks, ticks) {
            if let Some(since) = self.withheld_since.take() {
                tracing::warn!(
                    "the engine thread is producing packets again after {} ms; watchdog pings resume",
                    since.elapsed().as_millis()
                );
            }
            self.last_ticks = ticks;
            self.send(&[NotifyState::Watchdog]);
        } else if self.withheld_since.is_none() {
            self.withheld_since = Some(Instant::now());
            tracing::error!(
                ticks,
                "the engine thread has produced no packet since the last watchdog ping; \
                 withholding pings so that systemd restarts corong"
            );
        }
    }

    /// Send STATUS= when it differs from the last one sent.
    pub fn set_status(&mut self, status: String) {
        if !self.ready || status == self.status {
            return;
        }
        self.status = status;
        self.send(&[NotifyState::Status(&self.status.clone())]);
    }

    /// Shutting down: STOPPING=1.
    pub fn stopping(&mut self) {
        self.send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }

    fn send(&mut self, states: &[NotifyState]) {
        if !self.listening {
            return;
        }
        if let Err(e) = notify_nonblocking(states) {
            // Once: a service manager that went away is not worth a line a
            // second.
            if !self.send_failed {
                tracing::warn!("cannot notify systemd (NOTIFY_SOCKET): {e}");
                self.send_failed = true;
            }
        }
    }
}

/// Send `states` to `NOTIFY_SOCKET` without waiting: a service manager
/// that does not read (its queue full) must not stop the control loop,
/// which sends these; a ping that cannot be queued is dropped, and the
/// next one tries again. (`sd_notify::notify` sends blocking.)
fn notify_nonblocking(states: &[NotifyState]) -> std::io::Result<()> {
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name)?
        }
        None => SocketAddr::from_pathname(&path)?,
    };
    let mut msg = String::new();
    for s in states {
        msg.push_str(&s.to_string());
        msg.push('\n');
    }
    let sock = UnixDatagram::unbound()?;
    sock.set_nonblocking(true)?;
    match sock.send_to_addr(msg.as_bytes(), &addr) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
        r => r.map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_is_pinged_only_when_the_heartbeat_advanced() {
        assert!(!watchdog_ping(0, 0), "engine never ticked");
        assert!(watchdog_ping(0, 1));
        assert!(watchdog_ping(100, 350));
        assert!(
            !watchdog_ping(350, 350),
            "engine frozen since the last ping"
        );
    }

    #[test]
    fn a_frozen_engine_stops_the_pings_and_a_live_one_resumes_them() {
        let mut sd = Systemd::from_env();
        sd.listening = false; // nothing is sent from a unit test
        sd.on_watchdog_timer(10);
        assert_eq!(sd.last_ticks, 10);
        assert!(sd.withheld_since.is_none());
        sd.on_watchdog_timer(10);
        assert!(sd.withheld_since.is_some(), "withheld");
        sd.on_watchdog_timer(10);
        assert!(sd.withheld_since.is_some(), "still withheld");
        sd.on_watchdog_timer(11);
        assert!(sd.withheld_since.is_none(), "resumed");
        assert_eq!(sd.last_ticks, 11);
    }

    #[test]
    fn ready_waits_for_the_commands_then_one_more_packet() {
        // Zones still queued: no mark yet.
        assert_eq!(ready_step(None, 3, 5), (None, false));
        // Queue drained at heartbeat 6: mark it.
        assert_eq!(ready_step(None, 0, 6), (Some(6), false));
        // The packet in progress has not finished yet.
        assert_eq!(ready_step(Some(6), 0, 6), (Some(6), false));
        // A full packet with every zone went out.
        assert_eq!(ready_step(Some(6), 0, 7), (Some(6), true));
        // Commands queued after the mark (restored jobs) do not delay it.
        assert_eq!(ready_step(Some(6), 2, 7), (Some(6), true));
    }
}
