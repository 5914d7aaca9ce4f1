//! Logging: tracing with structured fields (zone, job, schedule), to the
//! systemd journal when stderr is the journal, else to stderr as text.
//!
//! `RUST_LOG` filters (default `info`, with the decoder library's own lines
//! off: they name no file; see [`DEFAULT_FILTER`]).
//!
//! # Journal or stderr
//!
//! systemd sets `JOURNAL_STREAM=DEV:INODE` for a service whose stderr goes
//! to the journal. That variable is inherited by children whose stderr may
//! have been redirected elsewhere, so it counts only when stderr really is
//! that stream (same device and inode), as systemd.exec(5) advises. Then the
//! events go to journald natively (tracing-journald): every field becomes a
//! journal field with a `CORONG_` prefix (`CORONG_ZONE=pasar`,
//! `CORONG_JOB=12`), so `journalctl -u corong CORONG_ZONE=pasar` selects one
//! zone. The prefix keeps our `priority` field away from the journal's own
//! `PRIORITY` (the log level). If journald cannot be reached, or stderr is
//! not the journal (a terminal, a file, a test), it is plain text on stderr;
//! colours only when stderr is a terminal.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The default filter: corong at info; symphonia's own lines off. They
/// name no file ("probe reach EOF at 576 bytes", "crc mismatch"), and the
/// decoder reports each bad file once itself, naming it (`skipped: ...`,
/// `damaged: ...`). `RUST_LOG=info,symphonia=debug` shows them.
pub const DEFAULT_FILTER: &str = "info,symphonia=off";

/// Where the log goes; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Journal,
    Stderr,
}

/// Install the subscriber once; later calls do nothing. Returns where the
/// log goes. Times on stderr are UTC; see [`init_in`].
pub fn init() -> Sink {
    init_in(None)
}

/// Times on stderr as RFC 3339 in a time zone (the daemon's), so that a
/// log line reads like the kiosk's wall clock and like `corong status`.
struct LocalTime(chrono_tz::Tz);

impl tracing_subscriber::fmt::time::FormatTime for LocalTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let now = chrono::Utc::now().with_timezone(&self.0);
        write!(w, "{}", now.format("%Y-%m-%dT%H:%M:%S%.6f%:z"))
    }
}

/// [`init`], with times on stderr in `tz` when given (the journal keeps its
/// own timestamps).
pub fn init_in(tz: Option<chrono_tz::Tz>) -> Sink {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER))
    };
    if stderr_is_journal() {
        if let Ok(layer) = tracing_journald::layer() {
            let layer = layer
                .with_field_prefix(Some("CORONG".into()))
                .with_syslog_identifier("corong".into());
            let _ = tracing_subscriber::registry()
                .with(filter())
                .with(layer)
                .try_init();
            return Sink::Journal;
        }
    }
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = match tz {
        Some(tz) => fmt.with_timer(LocalTime(tz)).try_init(),
        None => fmt.try_init(),
    };
    Sink::Stderr
}

/// Whether stderr is the stream `JOURNAL_STREAM` names.
fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = parse_journal_stream(&value.to_string_lossy()) else {
        return false;
    };
    use std::os::fd::AsRawFd;
    // SAFETY: fstat on fd 2 into a zeroed stat struct that lives through
    // the call; read only when fstat returned 0.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(std::io::stderr().as_raw_fd(), &mut st) != 0 {
            return false;
        }
        st.st_dev as u64 == dev && st.st_ino as u64 == ino
    }
}

/// `DEV:INODE`, both decimal.
fn parse_journal_stream(s: &str) -> Option<(u64, u64)> {
    let (dev, ino) = s.trim().split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_is_device_colon_inode() {
        assert_eq!(parse_journal_stream("8:12345"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("8:"), None);
        assert_eq!(parse_journal_stream("nonsense"), None);
    }
}
