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
    /// Bumped whenever what this kiosk knows of the others changes (for
    /// the web console's event stream; not on the wire).
    #[serde(skip)]
    pub heard: u64,
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

/// A file an order refers to by its content (`sha256:HEX` in the order's
/// request): each kiosk plays its own copy, found by this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// SHA-256 of the content, 64 lower-case hex digits.
    pub sha256: String,
    pub size: u64,
    /// Its name where the order was sent (a plain name, for the logs).
    pub name: String,
}

/// The most files an order refers to.
pub const MAX_ORDER_FILES: usize = 16;

/// The path an order's request gives a file it refers to by content.
pub fn file_ref_path(sha256: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("sha256:{sha256}"))
}

/// The hash in a `sha256:HEX` path, if it is one.
pub fn file_ref_hash(path: &std::path::Path) -> Option<&str> {
    let hex = path.to_str()?.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(hex)
}

/// Whether every path of an order's request is `sha256:HEX` with its
/// [`FileRef`] in `refs`, and the refs are few, plain and distinct.
pub fn check_file_refs<'a>(
    paths: impl Iterator<Item = &'a std::path::PathBuf>,
    refs: &[FileRef],
) -> Result<(), String> {
    if refs.is_empty() || refs.len() > MAX_ORDER_FILES {
        return Err(format!(
            "an order of files refers to 1..={MAX_ORDER_FILES} files by their content"
        ));
    }
    for r in refs {
        if file_ref_hash(&file_ref_path(&r.sha256)).is_none() {
            return Err(format!("`{}` is not a SHA-256 in hex", r.sha256));
        }
        let plain = !r.name.is_empty()
            && r.name.len() <= 255
            && !r.name.contains(['/', '\\'])
            && !r.name.chars().any(char::is_control);
        if !plain {
            return Err("a file's name must be a plain name".into());
        }
    }
    for p in paths {
        let Some(hash) = file_ref_hash(p) else {
            return Err(format!(
                "`{}`: an order names files by content (sha256:HEX), not by path",
                p.display()
            ));
        };
        if !refs.iter().any(|r| r.sha256 == hash) {
            return Err(format!("sha256:{hash} has no size and name in the order"));
        }
    }
    Ok(())
}
