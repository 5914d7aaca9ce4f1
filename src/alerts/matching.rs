//! Which zones a warning covers, and which playbook it starts on which
//! zones with which words. Pure: it reads the config and the document and
//! the time it is given, and starts nothing; the daemon and `corong alerts
//! test` act on its answer.
//!
//! - A CAP alert covers a zone when one of its polygons or circles
//!   contains the zone's `location`, or one of its geocodes or area names
//!   is in the zone's `areas`; an alert with no geometry and no codes
//!   covers every zone.
//! - An InaTEWS bulletin covers the zones whose `areas` name a district
//!   under warning, each at that district's level; a playbook with a
//!   `level` reaches the zones at exactly that level, so one bulletin can
//!   start the SIAGA playbook on the coast and the WASPADA one inland.
//! - A volcano level covers the zones within the ring of that level.
//!
//! The first playbook (in file order) whose `when` matches decides.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use super::cap::{self, MsgType, Status};
use super::inatews::Bulletin;
use crate::config::{AlertMode, Config, Message, Place, Playbook, PlaybookZones, Volcano, When};
use crate::hazard::{TsunamiLevel, VolcanoLevel};
use crate::priority::Priority;

/// What a playbook would say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Spoken {
    /// The playbook's text with the alert's values filled in.
    Text(String),
    /// A media file.
    File(PathBuf),
}

/// One playbook started by a warning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub playbook: String,
    /// The zones it plays on, in config order.
    pub zones: Vec<String>,
    pub message: Spoken,
    pub priority: Priority,
    pub repeat_every: Option<Duration>,
    /// The playbook's mode, or `[alerts] mode`.
    pub mode: AlertMode,
    /// The level it answers (a tsunami or volcano level, or the CAP
    /// severity), for the operator's list.
    pub level: String,
}

/// What a warning would do.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// Every zone the warning covers, in config order.
    pub covered: Vec<String>,
    /// The playbooks it starts (CAP and volcanoes: at most one; InaTEWS:
    /// one per level), most severe first.
    pub decisions: Vec<Decision>,
    /// Why it starts nothing even so (a Cancel, an Exercise, expired), if
    /// it does not.
    pub held: Option<String>,
}

/// Whether `text` matches the glob `pattern` (`*` any run, `?` any one
/// character), case not significant.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    // Iterative matching with one backtrack point: linear in practice, and
    // never exponential on a pattern of many stars.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether one CAP `<info>` covers a zone at `place`.
fn info_covers(info: &cap::Info, place: &Place) -> bool {
    info.areas.iter().any(|area| {
        let by_shape = place.location.is_some_and(|p| {
            area.polygons.iter().any(|poly| poly.contains(p))
                || area.circles.iter().any(|c| c.contains(p))
        });
        let by_name = place.areas.iter().any(|a| {
            area.geocodes
                .iter()
                .any(|g| g.value.eq_ignore_ascii_case(a))
                || area.desc.eq_ignore_ascii_case(a)
        });
        by_shape || by_name
    })
}

/// Whether an `<info>` says where at all (geometry or codes).
fn info_is_located(info: &cap::Info) -> bool {
    info.areas
        .iter()
        .any(|a| !a.polygons.is_empty() || !a.circles.is_empty() || !a.geocodes.is_empty())
}

/// The zones one `<info>` covers, in config order.
fn info_zones(config: &Config, info: &cap::Info) -> Vec<String> {
    let everywhere = !info_is_located(info);
    config
        .zones
        .iter()
        .filter(|z| everywhere || info_covers(info, &config.place(&z.name)))
        .map(|z| z.name.clone())
        .collect()
}

/// Words spoken before a drill's text, so that nobody takes it for a real
/// warning.
pub const DRILL_OPENING: &str = "Perhatian, ini latihan. Ini hanya latihan.";
/// Words spoken after a drill's text.
pub const DRILL_CLOSING: &str = "Sekali lagi, ini hanya latihan.";
/// The highest priority a drill plays at: below `emergency`, so that a real
/// warning always takes the zone from a drill (equal priorities wait their
/// turn).
pub const DRILL_PRIORITY: Priority = Priority(Priority::EMERGENCY.0 - 1);

/// Why a CAP alert starts nothing at `now`, if so. An `Exercise` is held
/// here only if it is otherwise unfit; where it may play is
/// [`as_drill`]'s.
pub fn held(alert: &cap::Alert, now: DateTime<FixedOffset>) -> Option<String> {
    match alert.msg_type {
        MsgType::Cancel => return Some("a Cancel: it stops the alerts it references".into()),
        MsgType::Ack | MsgType::Error => {
            return Some(format!(
                "msgType {:?}: nothing to broadcast",
                alert.msg_type
            ))
        }
        MsgType::Alert | MsgType::Update => {}
    }
    if !matches!(alert.status, Status::Actual | Status::Exercise) {
        return Some(format!(
            "status {:?}: only Actual alerts are broadcast (and Exercise ones to zones with `drill = true`)",
            alert.status
        ));
    }
    let expires = alert.infos.iter().filter_map(|i| i.expires).max();
    if let Some(e) = expires.filter(|e| *e <= now) {
        return Some(format!("expired at {}: never played late", e.to_rfc3339()));
    }
    None
}

/// What a CAP alert from `feed` (when known) would do at `now`.
pub fn match_cap(
    config: &Config,
    alert: &cap::Alert,
    feed: Option<&str>,
    now: DateTime<FixedOffset>,
) -> Outcome {
    let mut covered = BTreeSet::new();
    let per_info: Vec<Vec<String>> = alert
        .infos
        .iter()
        .map(|info| info_zones(config, info))
        .collect();
    for zones in &per_info {
        covered.extend(zones.iter().cloned());
    }
    let mut decisions = Vec::new();
    'playbooks: for playbook in &config.alerts.playbooks {
        for (info, zones) in alert.infos.iter().zip(&per_info) {
            let fits = match &playbook.when {
                When::Event {
                    pattern,
                    severities,
                } => {
                    glob_match(pattern, &info.event)
                        && (severities.is_empty() || severities.contains(&info.severity))
                }
                When::Feed { feed: f, level } => level.is_none() && feed == Some(f.as_str()),
                When::Volcano { .. } => false,
            };
            if fits {
                let area: Vec<&str> = info.areas.iter().map(|a| a.desc.as_str()).collect();
                let values = Values {
                    event: &info.event,
                    headline: info.headline.as_deref().unwrap_or(""),
                    instruction: info.instruction.as_deref().unwrap_or(""),
                    description: info.description.as_deref().unwrap_or(""),
                    area: &area.join(", "),
                    level: info.severity.as_str(),
                };
                decisions.push(decide(config, playbook, zones, &values));
                break 'playbooks;
            }
        }
    }
    let mut held = held(alert, now);
    if held.is_none() && alert.status == Status::Exercise {
        held = as_drill(config, &mut decisions);
    }
    Outcome {
        covered: in_config_order(config, &covered),
        decisions,
        held,
    }
}

/// Turn the decisions of an `Exercise` alert into a drill: only the zones
/// marked `drill = true` among them, a text framed by [`DRILL_OPENING`] and
/// [`DRILL_CLOSING`] (a file plays as recorded: the town records its drill
/// file as one), at most [`DRILL_PRIORITY`]. Why it plays nowhere, if so.
pub fn as_drill(config: &Config, decisions: &mut Vec<Decision>) -> Option<String> {
    if decisions.is_empty() {
        return None;
    }
    for d in decisions.iter_mut() {
        d.zones.retain(|z| config.place(z).drill);
        if let Spoken::Text(t) = &d.message {
            d.message = Spoken::Text(format!("{DRILL_OPENING} {t} {DRILL_CLOSING}"));
        }
        d.priority = d.priority.min(DRILL_PRIORITY);
    }
    decisions.retain(|d| !d.zones.is_empty());
    decisions.is_empty().then(|| {
        "status Exercise: a drill, and no zone it reaches is marked `drill = true`".to_string()
    })
}

/// What an InaTEWS bulletin from `feed` would do.
pub fn match_inatews(config: &Config, bulletin: &Bulletin, feed: Option<&str>) -> Outcome {
    // Each zone at the highest level of the districts it names.
    let mut at_level: Vec<(String, TsunamiLevel)> = Vec::new();
    for zone in &config.zones {
        let place = config.place(&zone.name);
        let level = bulletin
            .districts
            .iter()
            .filter(|d| {
                place
                    .areas
                    .iter()
                    .any(|a| d.district.eq_ignore_ascii_case(a))
            })
            .map(|d| d.level)
            .max();
        if let Some(level) = level {
            at_level.push((zone.name.clone(), level));
        }
    }
    let covered: Vec<String> = at_level.iter().map(|(z, _)| z.clone()).collect();
    let mut levels: Vec<TsunamiLevel> = at_level.iter().map(|(_, l)| *l).collect();
    levels.sort();
    levels.dedup();
    levels.reverse();
    let mut decisions = Vec::new();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let area = bulletin.area.clone().unwrap_or_default();
    let headline = match (&bulletin.magnitude, &bulletin.area) {
        (Some(m), Some(a)) => format!("Gempa magnitudo {m} {a}"),
        _ => area.clone(),
    };
    // One playbook per level (most severe first); a playbook without a
    // level takes every covered zone not already taken.
    for level in levels.iter().map(|l| Some(*l)).chain([None]) {
        let zones: Vec<String> = at_level
            .iter()
            .filter(|(z, l)| level.is_none_or(|want| *l == want) && !taken.contains(z))
            .map(|(z, _)| z.clone())
            .collect();
        if zones.is_empty() {
            continue;
        }
        let found = config.alerts.playbooks.iter().find(|p| match &p.when {
            When::Feed { feed: f, level: l } => {
                feed == Some(f.as_str()) && (l.is_none() || *l == level)
            }
            _ => false,
        });
        if let Some(playbook) = found {
            let level_name = level.map_or_else(
                || {
                    bulletin
                        .highest_level()
                        .map_or("", |l| l.as_str())
                        .to_string()
                },
                |l| l.as_str().to_string(),
            );
            let values = Values {
                event: "Peringatan Dini Tsunami",
                headline: &headline,
                instruction: bulletin.instruction.as_deref().unwrap_or(""),
                description: bulletin.potential.as_deref().unwrap_or(""),
                area: &area,
                level: &level_name,
            };
            let d = decide(config, playbook, &zones, &values);
            taken.extend(zones);
            decisions.push(d);
        }
    }
    let held = bulletin
        .districts
        .is_empty()
        .then(|| "no district under warning: the bulletin ends the warning".to_string());
    Outcome {
        covered,
        decisions,
        held,
    }
}

/// The zones within `volcano`'s ring for `level`, in config order.
pub fn volcano_zones(config: &Config, volcano: &Volcano, level: VolcanoLevel) -> Vec<String> {
    let Some(radius) = volcano.radius_km(level) else {
        return Vec::new();
    };
    config
        .zones
        .iter()
        .filter(|z| {
            config
                .place(&z.name)
                .location
                .is_some_and(|p| volcano.location.distance_km(p) <= radius)
        })
        .map(|z| z.name.clone())
        .collect()
}

/// What setting `volcano` to `level` would do. Level 1 starts nothing (it
/// stops what a higher level started).
pub fn match_volcano(config: &Config, volcano: &Volcano, level: VolcanoLevel) -> Outcome {
    let covered = volcano_zones(config, volcano, level);
    let mut decisions = Vec::new();
    let found = config.alerts.playbooks.iter().find(|p| {
        matches!(&p.when, When::Volcano { volcano: v, level: l } if *v == volcano.name && *l == level)
    });
    if let Some(playbook) = found {
        let level_name = format!("{} {}", level.number(), level.name());
        let headline = format!(
            "Gunung {} status {}",
            capitalised(&volcano.name),
            level.name()
        );
        let values = Values {
            event: "Peringatan Gunung Api",
            headline: &headline,
            instruction: "",
            description: "",
            area: &volcano.name,
            level: &level_name,
        };
        decisions.push(decide(config, playbook, &covered, &values));
    }
    let held = (level == VolcanoLevel::NORMAL)
        .then(|| "level 1 (Normal): stops the volcano's broadcast".to_string());
    Outcome {
        covered,
        decisions,
        held,
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The values a playbook's text is filled from.
struct Values<'a> {
    event: &'a str,
    headline: &'a str,
    instruction: &'a str,
    description: &'a str,
    area: &'a str,
    level: &'a str,
}

/// `template` with each `{name}` replaced, runs of spaces closed up (a
/// missing value leaves no hole).
fn fill(template: &str, v: &Values) -> String {
    let filled = template
        .replace("{event}", v.event)
        .replace("{headline}", v.headline)
        .replace("{instruction}", v.instruction)
        .replace("{description}", v.description)
        .replace("{area}", v.area)
        .replace("{level}", v.level);
    filled.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn decide(config: &Config, playbook: &Playbook, covered: &[String], v: &Values) -> Decision {
    let zones = match &playbook.zones {
        PlaybookZones::Matched => covered.to_vec(),
        PlaybookZones::Named(names) => names.clone(),
    };
    Decision {
        playbook: playbook.name.clone(),
        zones,
        message: match &playbook.message {
            Message::Text(t) => Spoken::Text(fill(t, v)),
            Message::File(f) => Spoken::File(f.clone()),
        },
        priority: playbook.priority,
        repeat_every: playbook.repeat_every,
        mode: playbook.mode.unwrap_or(config.alerts.mode),
        level: v.level.to_string(),
    }
}

fn in_config_order(config: &Config, set: &BTreeSet<String>) -> Vec<String> {
    config
        .zones
        .iter()
        .filter(|z| set.contains(&z.name))
        .map(|z| z.name.clone())
        .collect()
}

#[cfg(test)]
mod tests;
