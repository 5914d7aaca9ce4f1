//! The resolved hazard-warning settings: where each zone is (`location`,
//! `areas`), `[alerts]` with its feeds and playbooks, and `[[volcanoes]]`.
//!
//! A zone's place is kept beside the zones (`Config::places`) rather than
//! in [`super::Zone`], so that everything that builds a zone by hand (the
//! outputs' tests, benchmarks) is untouched by a setting only alerts read.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::hazard::geo::Point;
use crate::hazard::{Severity, TsunamiLevel, VolcanoLevel};
use crate::priority::Priority;

/// Where a zone is, for matching alerts to it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Place {
    /// `location = [lat, lon]`: an alert's polygon or circle that contains
    /// it, or a volcano ring that reaches it, covers the zone.
    pub location: Option<Point>,
    /// `areas = [...]`: district names and region codes the zone covers,
    /// upper-cased (CAP geocodes, area names and InaTEWS districts are
    /// compared without case).
    pub areas: Vec<String>,
    /// `drill = true`: CAP alerts of status `Exercise` may play here (to
    /// the zones they cover among these); nowhere else.
    pub drill: bool,
}

/// `[alerts] mode` and a playbook's `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AlertMode {
    /// An operator confirms or dismisses each alert (the default: BPBD
    /// decides on dissemination).
    Confirm,
    /// The playbook starts at once.
    Auto,
    /// Alerts are read and listed, never broadcast (`[alerts]` only).
    Off,
}

impl AlertMode {
    pub fn parse(s: &str) -> Option<AlertMode> {
        Some(match s {
            "confirm" => AlertMode::Confirm,
            "auto" => AlertMode::Auto,
            "off" => AlertMode::Off,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AlertMode::Confirm => "confirm",
            AlertMode::Auto => "auto",
            AlertMode::Off => "off",
        }
    }
}

/// `[alerts]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerts {
    /// Default `confirm`.
    pub mode: AlertMode,
    pub feeds: Vec<Feed>,
    /// In file order: the first whose `when` matches decides.
    pub playbooks: Vec<Playbook>,
}

impl Default for Alerts {
    fn default() -> Alerts {
        Alerts {
            mode: AlertMode::Confirm,
            feeds: Vec::new(),
            playbooks: Vec::new(),
        }
    }
}

impl Alerts {
    pub fn feed(&self, name: &str) -> Option<&Feed> {
        self.feeds.iter().find(|f| f.name == name)
    }
}

/// What a feed serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedKind {
    /// An RSS index whose items link to CAP 1.2 documents (BMKG nowcast).
    CapRss,
    /// One CAP 1.2 document.
    Cap,
    /// The InaTEWS warning file.
    InaTews,
}

impl FeedKind {
    pub const NAMES: [&'static str; 3] = ["cap-rss", "cap", "inatews"];

    pub fn parse(s: &str) -> Option<FeedKind> {
        Some(match s {
            "cap-rss" => FeedKind::CapRss,
            "cap" => FeedKind::Cap,
            "inatews" => FeedKind::InaTews,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FeedKind::CapRss => "cap-rss",
            FeedKind::Cap => "cap",
            FeedKind::InaTews => "inatews",
        }
    }
}

/// One `[[alerts.feeds]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    pub name: String,
    pub kind: FeedKind,
    /// `http://` (loopback only) or `https://`.
    pub url: String,
    /// Time between polls: at least 30 s against a real host. Default 60 s.
    pub poll: Duration,
}

/// A playbook's `when`.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// `{ event = "Hujan Lebat*", severity = [...] }`: a CAP alert whose
    /// event matches the glob (`*` any run, `?` one character; case not
    /// significant) and whose severity is listed (empty: any).
    Event {
        pattern: String,
        severities: Vec<Severity>,
    },
    /// `{ feed = "NAME", level = "SIAGA" }`: anything from that feed; with
    /// a level, an InaTEWS bulletin whose matched districts reach it.
    Feed {
        feed: String,
        level: Option<TsunamiLevel>,
    },
    /// `{ volcano = "kelud", level = 3 }`: that volcano set to that level.
    Volcano {
        volcano: String,
        level: VolcanoLevel,
    },
}

/// What a playbook says.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// `text`: a template with `{event}`, `{headline}`, `{instruction}`,
    /// `{description}`, `{area}`, `{level}`, spoken by text to speech.
    Text(String),
    /// `file`: a media file (absolute).
    File(PathBuf),
}

/// The placeholders a playbook's `text` may use.
pub const PLACEHOLDERS: [&str; 6] = [
    "event",
    "headline",
    "instruction",
    "description",
    "area",
    "level",
];

/// A playbook's `zones`.
#[derive(Debug, Clone, PartialEq)]
pub enum PlaybookZones {
    /// `"matched"`: the zones the alert covers.
    Matched,
    /// A list of zones and groups (and `all`), expanded to zone names in
    /// config order.
    Named(Vec<String>),
}

/// One `[[alerts.playbooks]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Playbook {
    pub name: String,
    pub when: When,
    pub message: Message,
    pub zones: PlaybookZones,
    /// Default `emergency`.
    pub priority: Priority,
    /// Play again this often until the alert expires or is cancelled.
    /// `None`: once.
    pub repeat_every: Option<Duration>,
    /// `None`: `[alerts] mode`.
    pub mode: Option<AlertMode>,
}

/// One `[[volcanoes]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Volcano {
    pub name: String,
    pub location: Point,
    /// Level (2..=4) -> the radius, km, of the zones it reaches.
    pub rings_km: BTreeMap<u8, f64>,
}

impl Volcano {
    /// The radius a level reaches: its own ring, or the largest ring of a
    /// lower level when it has none. `None` for level 1 or no ring.
    pub fn radius_km(&self, level: VolcanoLevel) -> Option<f64> {
        if level == VolcanoLevel::NORMAL {
            return None;
        }
        self.rings_km
            .range(..=level.number())
            .next_back()
            .map(|(_, r)| *r)
    }
}

/// Whether the URL's host is 127.0.0.1 (any of 127/8), `localhost` or [::1].
pub fn is_loopback_url(url: &str) -> bool {
    let Some(rest) = url.split_once("://").map(|(_, r)| r) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
