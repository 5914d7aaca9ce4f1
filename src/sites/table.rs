//! Every kiosk the broker's retained topics tell of: online or since when
//! offline, its zones and what each plays. Fed by the link's task; read by
//! `corong sites`.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};

use super::message::{Presence, State, MAX_ZONES};
use crate::control::protocol::{SiteFeed, SiteRow, SiteZone};

/// The most kiosks kept: a hostile account inventing names cannot grow it
/// without end.
pub const MAX_SITES: usize = 4096;

#[derive(Debug, Default)]
struct Site {
    online: bool,
    since_ms: Option<i64>,
    state: Option<State>,
}

#[derive(Debug, Default)]
pub struct Table {
    sites: BTreeMap<String, Site>,
}

fn rfc3339(ms: i64) -> Option<String> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t: DateTime<Utc>| t.to_rfc3339())
}

impl Table {
    fn entry(&mut self, name: &str) -> Option<&mut Site> {
        if !self.sites.contains_key(name) && self.sites.len() >= MAX_SITES {
            return None;
        }
        Some(self.sites.entry(name.to_string()).or_default())
    }

    /// A kiosk's presence, heard at `now_ms`. An offline from the Last Will
    /// has no time: it is dated when heard if the kiosk was seen online,
    /// else by the kiosk's last state.
    pub fn presence(&mut self, name: &str, p: &Presence, now_ms: i64) {
        let Some(site) = self.entry(name) else {
            return;
        };
        let changed = site.online != p.online || site.since_ms.is_none();
        if changed {
            site.since_ms = p.at_ms.or_else(|| {
                if site.online {
                    Some(now_ms)
                } else {
                    site.state.as_ref().map(|s| s.at_ms)
                }
            });
        }
        site.online = p.online;
    }

    pub fn state(&mut self, name: &str, s: State) {
        if let Some(site) = self.entry(name) {
            if !site.online && site.since_ms.is_none() {
                site.since_ms = Some(s.at_ms);
            }
            site.state = Some(s);
        }
    }

    /// Names of the kiosks online now.
    pub fn online(&self) -> Vec<String> {
        self.sites
            .iter()
            .filter(|(_, s)| s.online)
            .map(|(n, _)| n.clone())
            .collect()
    }

    pub fn rows(&self) -> Vec<SiteRow> {
        self.sites
            .iter()
            .map(|(name, s)| SiteRow {
                name: name.clone(),
                online: s.online,
                since: s.since_ms.and_then(rfc3339),
                version: s.state.as_ref().map(|st| st.version.clone()),
                zones: s
                    .state
                    .as_ref()
                    .map(|st| st.zones.clone())
                    .unwrap_or_default(),
                pending_alerts: s.state.as_ref().map_or(0, |st| st.pending_alerts),
                feeds_failing: s
                    .state
                    .as_ref()
                    .map(|st| st.feeds_failing.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }
}

/// This kiosk's state from its own `status` reply and pending alerts.
pub fn own_state(
    site: &str,
    status: &crate::control::protocol::StatusResult,
    pending_alerts: u64,
    now_ms: i64,
) -> State {
    State {
        site: site.to_string(),
        version: status.daemon.version.clone(),
        at_ms: now_ms,
        zones: status
            .zones
            .iter()
            .map(|z| SiteZone {
                name: z.name.clone(),
                playing: z
                    .playing
                    .as_ref()
                    .map(|p| format!("job {} ({}, {})", p.job, p.origin, p.priority_name)),
                state: Some(z.state.clone()),
                receivers: z.receivers.len().min(u32::MAX as usize) as u32,
                receivers_silent: z.receivers.iter().filter(|r| r.state == "silent").count() as u32,
            })
            .take(MAX_ZONES)
            .collect(),
        pending_alerts,
        feeds_failing: status
            .feeds
            .iter()
            .filter(|f| f.state == "failing")
            .map(|f| SiteFeed {
                name: f.name.clone(),
                since: f.failing_since.clone(),
                error: f.error.as_deref().map(|e| e.chars().take(200).collect()),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_will_dates_the_offline_when_heard() {
        let mut t = Table::default();
        t.presence(
            "a",
            &Presence {
                online: true,
                at_ms: Some(1_000),
            },
            1_000,
        );
        assert_eq!(t.online(), ["a"]);
        t.presence(
            "a",
            &Presence {
                online: false,
                at_ms: None,
            },
            5_000,
        );
        let rows = t.rows();
        assert!(!rows[0].online);
        assert_eq!(rows[0].since, rfc3339(5_000));
        // A retained will heard at start: dated by the last state.
        t.presence(
            "b",
            &Presence {
                online: false,
                at_ms: None,
            },
            9_000,
        );
        t.state(
            "b",
            State {
                site: "b".into(),
                version: "0.1.0".into(),
                at_ms: 7_000,
                zones: vec![],
                pending_alerts: 0,
                feeds_failing: vec![],
            },
        );
        assert_eq!(t.rows()[1].since, rfc3339(7_000));
    }
}
