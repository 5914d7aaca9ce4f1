//! Output health turned into log lines: an endpoint that keeps failing is
//! logged at most once a minute, with the count since the last line.
//!
//! There is one [`OutputWatch`] per endpoint: each RTP destination of a
//! zone, and its WAV recording, so that `corong zones` can say which
//! endpoint fails. What receivers report back is in `receivers.rs`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::output::{BuiltEndpoint, Endpoint, Fault, OutputHealth};

/// How often a repeating error is logged at most.
pub const LOG_EVERY: Duration = Duration::from_secs(60);

/// One output's counters and what has been logged of them.
pub struct OutputWatch {
    pub zone: String,
    /// The endpoint, as `corong zones` lists it (`rtp://127.0.0.1:5004`,
    /// `wav:/path`, `local:default`).
    pub endpoint: Endpoint,
    /// What the output is, for the log (`rtp 127.0.0.1:5004`, `wav ...`).
    pub label: String,
    pub health: Arc<OutputHealth>,
    /// Set when the output stopped for good (a sound card that could not be
    /// opened or went away): the zone is degraded with this error.
    fault: Option<Arc<Fault>>,
    /// Whether this watch logs the fault (false: the output logs its own
    /// failures and recoveries, as the WAV recorder does).
    logs_fault: bool,
    fault_logged: bool,
    logged_errors: u64,
    last_log: Option<Instant>,
    failing: bool,
}

impl OutputWatch {
    /// Watch an endpoint [`crate::output::build`] opened.
    pub fn of(zone: &str, e: BuiltEndpoint) -> OutputWatch {
        let watch = OutputWatch::new(zone, e.endpoint, e.label, e.health);
        match e.fault {
            Some(f) if e.logs_own_fault => watch.with_recoverable_fault(f),
            Some(f) => watch.with_fault(f),
            None => watch,
        }
    }

    pub fn new(
        zone: &str,
        endpoint: Endpoint,
        label: String,
        health: Arc<OutputHealth>,
    ) -> OutputWatch {
        OutputWatch {
            zone: zone.to_string(),
            endpoint,
            label,
            health,
            fault: None,
            logs_fault: true,
            fault_logged: false,
            logged_errors: 0,
            last_log: None,
            failing: false,
        }
    }

    /// Watch `fault` too: once set, the output is degraded with it.
    pub fn with_fault(mut self, fault: Arc<Fault>) -> OutputWatch {
        self.fault = Some(fault);
        self
    }

    /// Watch a fault that comes and goes and that the output logs itself
    /// (the WAV recorder's: it says when it fails and when it records
    /// again): the output is degraded while it is set, with no line here.
    pub fn with_recoverable_fault(mut self, fault: Arc<Fault>) -> OutputWatch {
        self.fault = Some(fault);
        self.logs_fault = false;
        self
    }

    /// Whether the output's sends have been failing lately, and the last
    /// error: what `status` and `zones` show.
    pub fn problem(&self) -> Option<String> {
        if let Some(why) = self.fault.as_ref().and_then(|f| f.get()) {
            return Some(format!("{}: {why}", self.label));
        }
        if !self.failing {
            return None;
        }
        let code = self.health.last_error.load(Ordering::Relaxed);
        Some(if code > 0 {
            format!(
                "{}: {}",
                self.label,
                std::io::Error::from_raw_os_error(code)
            )
        } else {
            format!("{}: send failed", self.label)
        })
    }

    /// Log what changed, rate-limited, and say what was logged. Call about
    /// once a second.
    pub fn check(&mut self, now: Instant) -> Report {
        if self.logs_fault && !self.fault_logged {
            if let Some(why) = self.fault.as_ref().and_then(|f| f.get()) {
                tracing::error!(zone = %self.zone, output = %self.label, "{why}: the zone is degraded; its other outputs play on");
                self.fault_logged = true;
            }
        }
        let errors = self.health.send_errors.load(Ordering::Relaxed);
        let new = errors - self.logged_errors;
        if new > 0 {
            let due = self.last_log.is_none_or(|t| now - t >= LOG_EVERY);
            if due {
                let code = self.health.last_error.load(Ordering::Relaxed);
                let reason = if code > 0 {
                    std::io::Error::from_raw_os_error(code).to_string()
                } else {
                    "send failed".to_string()
                };
                tracing::warn!(
                    zone = %self.zone,
                    output = %self.label,
                    errors = new,
                    "sends failing: {reason} ({new} since last report; the zone keeps its clock)"
                );
                self.logged_errors = errors;
                self.last_log = Some(now);
                self.failing = true;
                return Report::Failing { errors: new };
            }
        } else if self.failing && self.last_log.is_some_and(|t| now - t >= LOG_EVERY) {
            tracing::info!(zone = %self.zone, output = %self.label, "sends recovered");
            self.failing = false;
            return Report::Recovered;
        }
        Report::Quiet
    }
}

/// What [`OutputWatch::check`] logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Quiet,
    /// A "sends failing" line, with the errors since the last one.
    Failing {
        errors: u64,
    },
    Recovered,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_degrades_the_output_with_its_reason() {
        let fault = Arc::new(Fault::default());
        let watch = OutputWatch::new(
            "kantor",
            Endpoint::Local(None),
            "sound card default".into(),
            Arc::new(OutputHealth::default()),
        )
        .with_fault(fault.clone());
        assert_eq!(watch.problem(), None);
        fault.set("the sound card went away: device not available".into());
        assert_eq!(
            watch.problem().as_deref(),
            Some("sound card default: the sound card went away: device not available")
        );
    }

    #[test]
    fn a_repeating_error_is_logged_at_most_once_a_minute_with_its_count() {
        let health = Arc::new(OutputHealth::default());
        let mut watch = OutputWatch::new(
            "pasar",
            Endpoint::Rtp("127.0.0.1:5004".parse().unwrap()),
            "rtp".into(),
            health.clone(),
        );
        let start = Instant::now();
        let refused = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
        let mut reports = Vec::new();
        // Three minutes of a dead endpoint: 50 failed sends a second.
        for second in 0..180u64 {
            for _ in 0..50 {
                health.record_error(&refused);
            }
            let r = watch.check(start + Duration::from_secs(second));
            if r != Report::Quiet {
                reports.push((second, r));
            }
        }
        assert_eq!(
            reports,
            vec![
                (0, Report::Failing { errors: 50 }),
                (60, Report::Failing { errors: 3000 }),
                (120, Report::Failing { errors: 3000 }),
            ]
        );
        // The endpoint comes back at second 180: the errors of seconds 121 to
        // 179 are reported when their minute is up, then one "recovered" a
        // minute later, then quiet.
        let mut after = Vec::new();
        for second in 180..400u64 {
            let r = watch.check(start + Duration::from_secs(second));
            if r != Report::Quiet {
                after.push((second, r));
            }
        }
        assert_eq!(
            after,
            vec![
                (180, Report::Failing { errors: 2950 }),
                (240, Report::Recovered)
            ]
        );
    }
}
