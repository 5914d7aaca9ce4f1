//! `[daemon]`: process-wide settings, each checked against its range.

use std::path::PathBuf;

use chrono_tz::Tz;
use toml::de::DeValue;
use toml::Spanned;

use super::loader::Loader;
use crate::config::model::Daemon;
use crate::config::schema::{self, DaemonTable};

/// Longest path a Unix socket address holds (`sun_path` minus the NUL).
const MAX_SOCKET_PATH: usize = 107;

impl Loader<'_> {
    pub(super) fn daemon(&mut self, value: Option<&Spanned<DeValue<'_>>>) -> Daemon {
        let raw = match value {
            Some(v) => self
                .table::<DaemonTable>(v, "[daemon]")
                .map(|p| p.value)
                .unwrap_or_default(),
            None => DaemonTable::default(),
        };

        let mut timezone: Tz = schema::DEFAULT_TIMEZONE.parse().expect("default zone");
        if let Some(tz) = &raw.timezone {
            match tz.get_ref().parse::<Tz>() {
                Ok(t) => timezone = t,
                Err(_) => self.error(
                    tz.span(),
                    format!(
                        "unknown time zone `{}`: expected an IANA name such as \"Asia/Jakarta\", \"Asia/Makassar\" or \"UTC\"",
                        tz.get_ref()
                    ),
                ),
            }
        }

        let control_socket = self.path_value(
            raw.control_socket.as_ref(),
            schema::DEFAULT_CONTROL_SOCKET,
            "control_socket",
        );
        let socket_len = control_socket.as_os_str().len();
        if socket_len > MAX_SOCKET_PATH {
            let span = raw.control_socket.as_ref().map_or(0..0, |s| s.span());
            self.warning(
                span,
                format!(
                    "`control_socket` resolves to {socket_len} bytes ({}); Unix sockets allow {MAX_SOCKET_PATH}: use a shorter path",
                    control_socket.display()
                ),
            );
        }
        let state_dir = self.path_value(
            raw.state_dir.as_ref(),
            schema::DEFAULT_STATE_DIR,
            "state_dir",
        );

        let mut sample_rate = schema::DEFAULT_SAMPLE_RATE;
        let mut rate_ok = true;
        if let Some(rate) = &raw.sample_rate {
            let r = *rate.get_ref();
            if schema::SAMPLE_RATE_RANGE.contains(&r) {
                sample_rate = r as u32;
            } else {
                rate_ok = false;
                self.error(
                    rate.span(),
                    format!("`sample_rate` {r} is out of range: expected 8000..=192000 Hz (usually 48000)"),
                );
            }
        }

        let mut packet_ms = schema::DEFAULT_PACKET_MS;
        let mut packet_ok = true;
        if let Some(ms) = &raw.packet_ms {
            let m = *ms.get_ref();
            if schema::PACKET_MS_RANGE.contains(&m) {
                packet_ms = m as u32;
            } else {
                packet_ok = false;
                self.error(
                    ms.span(),
                    format!("`packet_ms` {m} is out of range: expected 5..=100 (usually 20)"),
                );
            }
        }
        if rate_ok && packet_ok {
            for rate in [sample_rate, 8000] {
                if (u64::from(rate) * u64::from(packet_ms)) % 1000 != 0 {
                    let span = raw
                        .packet_ms
                        .as_ref()
                        .or(raw.sample_rate.as_ref())
                        .map_or(0..0, |s| s.span());
                    self.error(
                        span,
                        format!(
                            "`packet_ms` {packet_ms} at {rate} Hz is {} frames: expected a packet time that is a whole number of frames (e.g. 10 or 20)",
                            f64::from(rate) * f64::from(packet_ms) / 1000.0
                        ),
                    );
                    break;
                }
            }
        }

        let mut max_item = std::time::Duration::from_secs(schema::DEFAULT_MAX_ITEM_S);
        if let Some(s) = &raw.max_item_s {
            let v = *s.get_ref();
            if schema::MAX_ITEM_S_RANGE.contains(&v) {
                max_item = std::time::Duration::from_secs(v as u64);
            } else {
                self.error(
                    s.span(),
                    format!("`max_item_s` {v} is out of range: expected 1..=86400 seconds (default 21600, 6 hours)"),
                );
            }
        }

        let control_group = match &raw.control_group {
            Some(g) if g.get_ref().trim().is_empty() => {
                self.error(g.span(), "`control_group` is empty: expected a group name");
                None
            }
            Some(g) => Some(g.get_ref().trim().to_string()),
            None => None,
        };

        let mut receiver_timeout = Some(std::time::Duration::from_secs(
            schema::DEFAULT_RECEIVER_TIMEOUT_S,
        ));
        if let Some(t) = &raw.receiver_timeout_s {
            let s = *t.get_ref();
            if !schema::RECEIVER_TIMEOUT_RANGE.contains(&s) {
                self.error(
                    t.span(),
                    format!("`receiver_timeout_s` {s} is out of range: expected 0..=86400 seconds (0: never; usually 30)"),
                );
            } else if s == 0 {
                receiver_timeout = None;
            } else {
                if s < schema::RECEIVER_TIMEOUT_WARN_BELOW {
                    self.warning(
                        t.span(),
                        format!("`receiver_timeout_s` {s} is shorter than the gap between two receiver reports (up to 7.5 s): receivers that report on time will look silent"),
                    );
                }
                receiver_timeout = Some(std::time::Duration::from_secs(s as u64));
            }
        }

        let mut asrun_keep_days = Some(schema::DEFAULT_ASRUN_KEEP_DAYS);
        if let Some(d) = &raw.asrun_keep_days {
            let v = *d.get_ref();
            if !schema::ASRUN_KEEP_DAYS_RANGE.contains(&v) {
                self.error(
                    d.span(),
                    format!("`asrun_keep_days` {v} is out of range: expected 0..=36500 days (0: keep forever; default 365)"),
                );
            } else {
                asrun_keep_days = (v > 0).then_some(v as u32);
            }
        }

        let mut uploads_keep_days = schema::DEFAULT_UPLOADS_KEEP_DAYS;
        if let Some(d) = &raw.uploads_keep_days {
            let v = *d.get_ref();
            if schema::UPLOADS_KEEP_DAYS_RANGE.contains(&v) {
                uploads_keep_days = v as u32;
            } else {
                self.error(
                    d.span(),
                    format!("`uploads_keep_days` {v} is out of range: expected 1..=3650 days (default 30)"),
                );
            }
        }

        Daemon {
            timezone,
            control_socket,
            state_dir,
            sample_rate,
            packet_ms,
            max_item,
            control_group,
            receiver_timeout,
            wait_for_clock_sync: raw.wait_for_clock_sync.unwrap_or(false),
            asrun_keep_days,
            uploads_keep_days,
        }
    }

    /// A path key: non-empty, resolved against the config's folder.
    pub(super) fn path_value(
        &mut self,
        value: Option<&Spanned<String>>,
        default: &str,
        key: &str,
    ) -> PathBuf {
        match value {
            Some(v) if v.get_ref().trim().is_empty() => {
                self.error(v.span(), format!("`{key}` is empty: expected a path"));
                self.resolve(default)
            }
            Some(v) => self.resolve(v.get_ref()),
            None => self.resolve(default),
        }
    }
}
