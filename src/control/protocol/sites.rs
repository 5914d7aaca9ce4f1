//! The shapes of the regency's requests' replies: `corong sites` (every
//! kiosk the broker knows) and an order sent to other kiosks with
//! `--sites` (which kiosks accepted it). See `docs/regency.md`.

use serde::{Deserialize, Serialize};

use crate::ids::JobId;

/// `corong sites`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SitesResult {
    /// This kiosk's `[site] name`.
    pub this: String,
    /// This kiosk's link to the broker.
    pub link: BrokerLink,
    /// Every kiosk seen on the broker's retained topics, by name.
    pub sites: Vec<SiteRow>,
}

/// Whether a kiosk reaches its broker, and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerLink {
    pub connected: bool,
    /// RFC 3339: since when connected, or since when not.
    pub since: String,
    /// Payloads from the broker refused since the daemon started (not
    /// JSON, over the bounds, not a kiosk's name, too many orders waiting).
    #[serde(default)]
    pub refused: u64,
}

/// One kiosk of the regency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRow {
    pub name: String,
    pub online: bool,
    /// RFC 3339: since when online or offline, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Its zones and what each plays, from its last state.
    #[serde(default)]
    pub zones: Vec<SiteZone>,
    #[serde(default)]
    pub pending_alerts: u64,
    /// Its hazard feeds that are failing (absent from kiosks before
    /// December 2026).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feeds_failing: Vec<SiteFeed>,
}

/// A failing hazard feed of a kiosk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteFeed {
    pub name: String,
    /// RFC 3339: failing since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The error, cut to 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A zone of another kiosk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteZone {
    pub name: String,
    /// What plays there (a job's title), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playing: Option<String>,
    /// Its outputs' health as `status` says it: `streaming`, `idle`,
    /// `degraded`, `unreachable`, `down`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The poles' receivers that report back, and how many of them went
    /// silent (absent from kiosks before December 2026, and while none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub receivers: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub receivers_silent: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// `--sites`: the order sent and what each kiosk answered in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderResult {
    /// The order's unique id.
    pub order: String,
    /// Each answer, in the order they came.
    pub acks: Vec<SiteAck>,
    /// Named kiosks that did not answer within the wait (empty for `all`,
    /// where who should answer is not known).
    #[serde(default)]
    pub silent: Vec<String>,
}

/// One kiosk's answer to an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteAck {
    pub site: String,
    pub accepted: bool,
    /// The job that carries it out there (not for a stop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobId>,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
