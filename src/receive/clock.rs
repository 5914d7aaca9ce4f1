//! When each sample plays: the sender's wall clock, mapped to RTP time.
//!
//! A sample with extended RTP timestamp `ts` left the sender at wall-clock
//! time `send(ts)`; the receiver plays it at `send(ts) + latency` on its own
//! wall clock (`CLOCK_REALTIME`). Receivers whose clocks agree (NTP, chrony)
//! therefore play in lockstep, and one that starts late joins in step.
//! [`Timing::target`] answers the inverse: which timestamp is due at a
//! given wall-clock time.
//!
//! `send(ts)` comes from the sender reports (RFC 3550 6.4.1): each pairs an
//! NTP time with the RTP timestamp of that instant. Between reports it is
//! extrapolated at the sender's measured sample rate: once two reports of
//! the stream are at least [`RATE_BASELINE`] apart, the rate is their
//! timestamp difference over their NTP difference (the sender's sample
//! clock against its own wall clock), provided it is within
//! [`MAX_DRIFT_PPM`] of nominal; otherwise the nominal rate.
//!
//! Until the first sender report, or when the reports cannot be right
//! (they would leave less than [`MIN_HEADROOM`] of buffer, or more than
//! [`MAX_EXTRA_DELAY`] extra: the clocks are not synchronized), the
//! receiver plays by arrival: the packet that took the least time to arrive
//! over the last [`TRANSIT_WINDOW`] stands for "sent now", and every sample
//! plays `latency` after that. Switching between the two is the playout's
//! business (it slews, it does not jump, when the difference is small).

use std::time::Duration;

use crate::rtp::rtcp::{ntp_to_unix_ns, SenderReport};

/// Shortest span of sender reports that the sender's rate is measured over.
pub const RATE_BASELINE: Duration = Duration::from_secs(10);
/// A measured sender rate further than this from nominal is not believed.
pub const MAX_DRIFT_PPM: f64 = 1000.0;
/// Sender-report timing must leave at least this much audio buffered.
pub const MIN_HEADROOM: Duration = Duration::from_millis(10);
/// Sender-report timing may not add more than this delay over arrival.
pub const MAX_EXTRA_DELAY: Duration = Duration::from_secs(1);
/// The arrival clock follows the fastest packet of windows this long.
pub const TRANSIT_WINDOW: Duration = Duration::from_secs(2);

/// Which clock the targets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The sender's wall clock, from its reports.
    SenderReports,
    /// The receiver's arrival times.
    Arrival,
}

/// A sender report, unwrapped into the stream's extended timestamps.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    unix_ns: i128,
    ext_ts: i64,
}

/// See the module docs. Reset it whenever the stream restarts.
#[derive(Debug)]
pub struct Timing {
    nominal_rate: f64,
    latency_ns: i128,
    first_sr: Option<Anchor>,
    last_sr: Option<Anchor>,
    /// Samples per second of the sender's wall clock.
    rate: f64,
    /// Arrival wall time minus send time by timestamp, ns: the fastest of
    /// the last complete window, and of the window running now.
    transit: Option<i128>,
    window_min: Option<i128>,
    window_end_ns: i128,
    /// The last sender-report timing was refused (for logging once).
    pub refused: bool,
}

impl Timing {
    pub fn new(rate: u32, latency: Duration) -> Timing {
        Timing {
            nominal_rate: rate as f64,
            latency_ns: latency.as_nanos() as i128,
            first_sr: None,
            last_sr: None,
            rate: rate as f64,
            transit: None,
            window_min: None,
            window_end_ns: 0,
            refused: false,
        }
    }

    /// Forget the stream (it restarted).
    pub fn reset(&mut self) {
        *self = Timing::new(
            self.nominal_rate as u32,
            Duration::from_nanos(self.latency_ns as u64),
        );
    }

    /// The sender's sample rate as measured from its reports.
    pub fn sender_rate(&self) -> f64 {
        self.rate
    }

    /// A packet whose first sample is `ext_ts` arrived at `unix_ns`.
    pub fn on_packet(&mut self, ext_ts: i64, unix_ns: i128) {
        let transit = unix_ns - self.ns_of(ext_ts);
        if unix_ns >= self.window_end_ns {
            if let Some(m) = self.window_min.take() {
                self.transit = Some(m);
            }
            self.window_end_ns = unix_ns + TRANSIT_WINDOW.as_nanos() as i128;
        }
        self.window_min = Some(self.window_min.map_or(transit, |m| m.min(transit)));
        // A faster packet than the reference counts at once.
        self.transit = Some(self.transit.map_or(transit, |t| t.min(transit)));
    }

    /// A sender report of the stream, its timestamp already extended.
    pub fn on_sender_report(&mut self, sr: &SenderReport, ext_ts: i64) {
        let a = Anchor {
            unix_ns: ntp_to_unix_ns(sr.ntp),
            ext_ts,
        };
        if let Some(first) = self.first_sr {
            let span_ns = a.unix_ns - first.unix_ns;
            if span_ns >= RATE_BASELINE.as_nanos() as i128 {
                let rate = (a.ext_ts - first.ext_ts) as f64 * 1e9 / span_ns as f64;
                let ppm = (rate / self.nominal_rate - 1.0) * 1e6;
                if ppm.abs() <= MAX_DRIFT_PPM {
                    self.rate = rate;
                } else {
                    // The sender's clock was stepped: measure afresh.
                    self.first_sr = Some(a);
                    self.rate = self.nominal_rate;
                }
            } else if span_ns <= 0 {
                self.first_sr = Some(a);
            }
        } else {
            self.first_sr = Some(a);
        }
        self.last_sr = Some(a);
    }

    /// Nanoseconds for `ext_ts` samples at the nominal rate.
    fn ns_of(&self, ext_ts: i64) -> i128 {
        (ext_ts as f64 * 1e9 / self.nominal_rate) as i128
    }

    fn by_arrival(&self, unix_ns: i128) -> Option<f64> {
        let transit = self.transit?;
        let sent_ns = unix_ns - self.latency_ns - transit;
        Some(sent_ns as f64 * self.nominal_rate / 1e9)
    }

    fn by_reports(&self, unix_ns: i128) -> Option<f64> {
        let a = self.last_sr?;
        let since = (unix_ns - self.latency_ns - a.unix_ns) as f64;
        Some(a.ext_ts as f64 + since * self.rate / 1e9)
    }

    /// The (fractional) extended timestamp due to play at wall-clock time
    /// `unix_ns`, and which clock said so; `None` before any packet.
    pub fn target(&mut self, unix_ns: i128) -> Option<(f64, Mode)> {
        let arrival = self.by_arrival(unix_ns);
        let reports = self.by_reports(unix_ns);
        match (reports, arrival) {
            (Some(r), Some(a)) => {
                let ahead_s = (r - a) / self.nominal_rate;
                let headroom = self.latency_ns as f64 / 1e9 - MIN_HEADROOM.as_secs_f64();
                let ok = ahead_s <= headroom && ahead_s >= -MAX_EXTRA_DELAY.as_secs_f64();
                self.refused = !ok;
                Some(if ok {
                    (r, Mode::SenderReports)
                } else {
                    (a, Mode::Arrival)
                })
            }
            (None, Some(a)) => Some((a, Mode::Arrival)),
            (Some(r), None) => Some((r, Mode::SenderReports)),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i128 = 1_000_000_000;

    fn sr(unix_ns: i128) -> SenderReport {
        let secs = (unix_ns / S) as u64 + crate::rtp::rtcp::NTP_UNIX_OFFSET;
        let frac = (((unix_ns % S) as u64) << 32) / 1_000_000_000;
        SenderReport {
            ssrc: 1,
            ntp: (secs << 32) | frac,
            rtp_timestamp: 0,
        }
    }

    #[test]
    fn arrival_then_reports() {
        let mut t = Timing::new(48_000, Duration::from_millis(200));
        let t0 = 1_700_000_000 * S;
        assert!(t.target(t0).is_none());
        // Sample 48000 arrives at t0 + 2 ms.
        t.on_packet(48_000, t0 + 2_000_000);
        let (ts, mode) = t.target(t0 + 2_000_000 + 200_000_000).unwrap();
        assert_eq!(mode, Mode::Arrival);
        assert!((ts - 48_000.0).abs() < 0.01, "{ts}");
        // The report says sample 48000 was sent at t0: 2 ms of network.
        t.on_sender_report(&sr(t0), 48_000);
        let (ts, mode) = t.target(t0 + 200_000_000).unwrap();
        assert_eq!(mode, Mode::SenderReports);
        assert!((ts - 48_000.0).abs() < 0.01, "{ts}");
    }

    #[test]
    fn reports_from_an_unsynchronized_clock_are_refused() {
        let mut t = Timing::new(8000, Duration::from_millis(200));
        let t0 = 1_700_000_000 * S;
        t.on_packet(0, t0);
        // The sender's clock is 1 s ahead: its samples would be due before
        // they arrive.
        t.on_sender_report(&sr(t0 - S), 0);
        assert_eq!(t.target(t0 + 200_000_000).unwrap().1, Mode::Arrival);
        assert!(t.refused);
    }

    #[test]
    fn the_sender_rate_is_measured_over_ten_seconds() {
        let mut t = Timing::new(48_000, Duration::from_millis(200));
        let t0 = 1_700_000_000 * S;
        // 100 ppm fast.
        t.on_sender_report(&sr(t0), 0);
        t.on_sender_report(&sr(t0 + 5 * S), 240_024);
        assert_eq!(t.sender_rate(), 48_000.0);
        t.on_sender_report(&sr(t0 + 20 * S), 960_096);
        assert!((t.sender_rate() - 48_004.8).abs() < 0.01);
        // 20 s on from the last report, 100 ppm is 2 ms: 96 samples.
        t.on_packet(960_096, t0 + 20 * S);
        let (ts, _) = t.target(t0 + 40 * S + 200_000_000).unwrap();
        assert!((ts - (960_096.0 + 20.0 * 48_004.8)).abs() < 0.01);
    }
}
