//! Hazard warnings: zones' `location` and `areas`, `[alerts]` with its
//! `[[alerts.feeds]]` and `[[alerts.playbooks]]`, and `[[volcanoes]]`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use toml::de::DeValue;
use toml::Spanned;

use super::loader::{name_problem, Loader};
use super::targets::{unknown_target_message, Targets};
use crate::config::hazards::{
    is_loopback_url, AlertMode, Alerts, Feed, FeedKind, Message, Place, Playbook, PlaybookZones,
    Volcano, When, PLACEHOLDERS,
};
use crate::config::schema::{self, AlertsTable, FeedTable, PlaybookTable, VolcanoTable, ZoneTable};
use crate::hazard::geo::Point;
use crate::hazard::{Severity, TsunamiLevel, VolcanoLevel};
use crate::limits;

impl Loader<'_> {
    /// A zone's `location` and `areas`; `None` when it has neither.
    pub(super) fn place(&mut self, raw: &ZoneTable) -> Option<Place> {
        let location = raw
            .location
            .as_ref()
            .and_then(|l| self.point(l, "location"));
        let mut areas = Vec::new();
        if let Some(list) = &raw.areas {
            for a in list.get_ref() {
                let name = a.get_ref().trim();
                if name.is_empty() {
                    self.error(a.span(), "an entry of `areas` is empty: expected a district name or region code such as \"PANGGUNGREJO\" or \"3505\"");
                } else {
                    areas.push(name.to_uppercase());
                }
            }
        }
        let drill = raw.drill.as_ref().is_some_and(|d| *d.get_ref());
        (location.is_some() || !areas.is_empty() || drill).then_some(Place {
            location,
            areas,
            drill,
        })
    }

    /// `[lat, lon]`.
    fn point(&mut self, value: &Spanned<Vec<f64>>, key: &str) -> Option<Point> {
        match value.get_ref().as_slice() {
            [lat, lon] => {
                let p = Point::new(*lat, *lon);
                if p.is_none() {
                    self.error(
                        value.span(),
                        format!("`{key}` [{lat}, {lon}] is out of range: expected [latitude -90..=90, longitude -180..=180]"),
                    );
                }
                p
            }
            other => {
                self.error(
                    value.span(),
                    format!("`{key}` has {} numbers: expected [latitude, longitude], e.g. [-8.3290, 112.2130]", other.len()),
                );
                None
            }
        }
    }

    /// `[[volcanoes]]`.
    pub(super) fn volcanoes(&mut self, value: Option<&Spanned<DeValue<'_>>>) -> Vec<Volcano> {
        let Some(items) = value.and_then(|v| self.array_of_tables(v, "volcanoes")) else {
            return Vec::new();
        };
        let mut out: Vec<Volcano> = Vec::new();
        for item in items {
            let Some(raw) = self.table::<VolcanoTable>(item, "volcano").map(|p| p.value) else {
                continue;
            };
            let name = raw.name.get_ref().clone();
            if let Some(problem) = name_problem(&name) {
                self.error(raw.name.span(), format!("volcano name `{name}` {problem}"));
            } else if out.iter().any(|v| v.name == name) {
                self.error(raw.name.span(), format!("duplicate volcano name `{name}`"));
            }
            let location = self.point(&raw.location, "location");
            let mut rings_km = BTreeMap::new();
            for (key, radius) in raw.rings_km.get_ref() {
                let level = key.parse::<u8>().ok().filter(|l| (2..=4).contains(l));
                let km = radius
                    .as_float()
                    .or_else(|| radius.as_integer().map(|i| i as f64));
                match (level, km) {
                    (Some(level), Some(km)) if schema::RING_KM_RANGE.contains(&km) => {
                        rings_km.insert(level, km);
                    }
                    (None, _) => self.error(
                        raw.rings_km.span(),
                        format!("`rings_km` key `{key}`: expected a level 2, 3 or 4 (1 is Normal and reaches no one)"),
                    ),
                    _ => self.error(
                        raw.rings_km.span(),
                        format!("`rings_km` {key} = {radius}: expected a radius in km, 0.1..=200"),
                    ),
                }
            }
            if rings_km.is_empty() {
                self.error(
                    raw.rings_km.span(),
                    "`rings_km` is empty: expected e.g. { 2 = 2.0, 3 = 5.0, 4 = 10.0 }",
                );
            }
            let radii: Vec<f64> = rings_km.values().copied().collect();
            if radii.windows(2).any(|w| w[1] < w[0]) {
                self.error(
                    raw.rings_km.span(),
                    "`rings_km`: a higher level must reach at least as far as a lower one",
                );
            }
            if let Some(location) = location {
                out.push(Volcano {
                    name,
                    location,
                    rings_km,
                });
            }
        }
        out
    }

    /// `[alerts]`.
    pub(super) fn alerts(
        &mut self,
        value: Option<&Spanned<DeValue<'_>>>,
        targets: &Targets,
        zone_count: usize,
        zone_names: &[String],
        volcanoes: &[Volcano],
    ) -> Alerts {
        let mut alerts = Alerts::default();
        let Some(value) = value else {
            return alerts;
        };
        let Some(raw) = self
            .table::<AlertsTable>(value, "[alerts]")
            .map(|p| p.value)
        else {
            return alerts;
        };
        if let Some(m) = &raw.mode {
            match AlertMode::parse(m.get_ref()) {
                Some(mode) => alerts.mode = mode,
                None => self.error(
                    m.span(),
                    format!(
                        "`mode` `{}`: expected \"confirm\", \"auto\" or \"off\"",
                        m.get_ref()
                    ),
                ),
            }
        }
        let DeValue::Table(table) = value.get_ref() else {
            return alerts;
        };
        if let Some(items) = table
            .get("feeds")
            .and_then(|v| self.array_of_tables(v, "alerts.feeds"))
        {
            for item in items {
                if let Some(raw) = self.table::<FeedTable>(item, "[[alerts.feeds]]") {
                    if let Some(feed) = self.feed(raw.value, &alerts.feeds) {
                        alerts.feeds.push(feed);
                    }
                }
            }
        }
        if let Some(items) = table
            .get("playbooks")
            .and_then(|v| self.array_of_tables(v, "alerts.playbooks"))
        {
            let mut names: HashSet<String> = HashSet::new();
            for item in items {
                let Some(raw) = self.table::<PlaybookTable>(item, "[[alerts.playbooks]]") else {
                    continue;
                };
                let span = raw.value.name.span();
                let name = raw.value.name.get_ref().trim().to_string();
                if name.is_empty() {
                    self.error(span.clone(), "playbook `name` is empty");
                } else if !names.insert(name.clone()) {
                    self.error(span.clone(), format!("duplicate playbook name `{name}`"));
                }
                let context = Context {
                    targets,
                    zone_count,
                    zone_names,
                    volcanoes,
                    feeds: &alerts.feeds,
                };
                if let Some(p) = self.playbook(raw.value, name, &context) {
                    alerts.playbooks.push(p);
                }
            }
        }
        alerts
    }

    fn feed(&mut self, raw: FeedTable, earlier: &[Feed]) -> Option<Feed> {
        let name = raw.name.get_ref().clone();
        let mut ok = true;
        if let Some(problem) = name_problem(&name) {
            self.error(raw.name.span(), format!("feed name `{name}` {problem}"));
        } else if earlier.iter().any(|f| f.name == name) {
            self.error(raw.name.span(), format!("duplicate feed name `{name}`"));
            ok = false;
        }
        let kind = FeedKind::parse(raw.kind.get_ref());
        if kind.is_none() {
            self.error(
                raw.kind.span(),
                format!(
                    "feed `kind` `{}`: expected \"cap-rss\", \"cap\" or \"inatews\"",
                    raw.kind.get_ref()
                ),
            );
        }
        let url = raw.url.get_ref().trim().to_string();
        let loopback = is_loopback_url(&url);
        if !(url.starts_with("https://") || (url.starts_with("http://") && loopback)) {
            // Kept as known all the same: the playbooks naming it are
            // checked as usual (the config fails on this error anyway).
            self.error(
                raw.url.span(),
                format!("feed `url` `{url}`: expected an https:// URL (http:// only to 127.0.0.1 or [::1], for tests)"),
            );
        }
        let mut poll = schema::DEFAULT_POLL_S;
        if let Some(p) = &raw.poll_s {
            let v = *p.get_ref();
            if !schema::POLL_S_RANGE.contains(&v) {
                self.error(
                    p.span(),
                    format!("`poll_s` {v} is out of range: expected 30..=86400 seconds"),
                );
            } else if v < schema::MIN_POLL_S && !loopback {
                self.error(
                    p.span(),
                    format!("`poll_s` {v} is too fast for a real host: at least {} seconds (feeds limit how often an address may ask)", schema::MIN_POLL_S),
                );
            } else {
                poll = v;
            }
        }
        Some(Feed {
            name,
            kind: kind?,
            url,
            poll: Duration::from_secs(poll as u64),
        })
        .filter(|_| ok)
    }

    fn playbook(&mut self, raw: PlaybookTable, name: String, cx: &Context) -> Option<Playbook> {
        let when = self.when(&raw.when, cx);
        let message = match (&raw.text, &raw.file) {
            (Some(t), None) => {
                let text = t.get_ref();
                if text.trim().is_empty() {
                    self.error(t.span(), "`text` is empty: expected what to say, e.g. \"Peringatan dari BMKG: {headline}. {instruction}\"");
                } else if text.len() > limits::MAX_TEXT {
                    self.error(
                        t.span(),
                        format!(
                            "`text` is {} bytes: at most {}",
                            text.len(),
                            limits::MAX_TEXT
                        ),
                    );
                }
                if let Some(bad) = unknown_placeholder(text) {
                    let known: Vec<String> =
                        PLACEHOLDERS.iter().map(|p| format!("{{{p}}}")).collect();
                    self.error(
                        t.span(),
                        format!(
                            "`text` has the placeholder `{{{bad}}}`: expected one of {}",
                            known.join(", ")
                        ),
                    );
                }
                Some(Message::Text(text.clone()))
            }
            (None, Some(f)) => {
                if f.get_ref().trim().is_empty() {
                    self.error(f.span(), "`file` is empty: expected a media file");
                }
                Some(Message::File(self.resolve(f.get_ref())))
            }
            (Some(t), Some(_)) => {
                self.error(
                    t.span(),
                    format!("playbook `{name}` has both `text` and `file`: expected one of them"),
                );
                None
            }
            (None, None) => {
                self.error(
                    raw.name.span(),
                    format!(
                        "playbook `{name}` has neither `text` nor `file`: expected one of them"
                    ),
                );
                None
            }
        };
        let zones = match &raw.zones {
            None => Some(PlaybookZones::Matched),
            Some(z) => self.playbook_zones(z, &name, cx),
        };
        let mut repeat_every = None;
        if let Some(r) = &raw.repeat_every_s {
            let v = *r.get_ref();
            if !schema::REPEAT_EVERY_S_RANGE.contains(&v)
                || (v != 0 && v < schema::MIN_REPEAT_EVERY_S)
            {
                self.error(
                    r.span(),
                    format!("`repeat_every_s` {v}: expected 0 (once) or 10..=86400 seconds"),
                );
            } else if v > 0 {
                repeat_every = Some(Duration::from_secs(v as u64));
            }
        }
        let mut mode = None;
        if let Some(m) = &raw.mode {
            match AlertMode::parse(m.get_ref()) {
                Some(AlertMode::Off) | None => self.error(
                    m.span(),
                    format!(
                        "playbook `mode` `{}`: expected \"confirm\" or \"auto\"",
                        m.get_ref()
                    ),
                ),
                Some(m) => mode = Some(m),
            }
        }
        let priority = raw
            .priority
            .as_ref()
            .map_or(schema::DEFAULT_ALERT_PRIORITY, |p| *p.get_ref());
        Some(Playbook {
            name,
            when: when?,
            message: message?,
            zones: zones?,
            priority,
            repeat_every,
            mode,
        })
    }

    fn when(&mut self, raw: &Spanned<schema::WhenTable>, cx: &Context) -> Option<When> {
        let w = raw.get_ref();
        let span = raw.span();
        let how_many = [w.event.is_some(), w.feed.is_some(), w.volcano.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if how_many != 1 {
            self.error(span, "`when` needs exactly one of `event` (with `severity`), `feed` (with `level`) or `volcano` (with `level`)");
            return None;
        }
        if let Some(event) = &w.event {
            if let Some(l) = &w.level {
                self.error(
                    l.span(),
                    "`level` goes with `feed` or `volcano`; an `event` is narrowed by `severity`",
                );
            }
            if event.get_ref().trim().is_empty() {
                self.error(
                    event.span(),
                    "`event` is empty: expected a glob such as \"Hujan Lebat*\" (or \"*\" for any)",
                );
                return None;
            }
            let mut severities = Vec::new();
            if let Some(list) = &w.severity {
                for s in list.get_ref() {
                    match Severity::parse(s.get_ref()) {
                        Some(v) => severities.push(v),
                        None => self.error(
                            s.span(),
                            format!(
                                "`severity` `{}`: expected one of {}",
                                s.get_ref(),
                                Severity::NAMES.join(", ")
                            ),
                        ),
                    }
                }
            }
            return Some(When::Event {
                pattern: event.get_ref().trim().to_string(),
                severities,
            });
        }
        if let Some(s) = &w.severity {
            self.error(s.span(), "`severity` goes with `event`");
        }
        if let Some(feed) = &w.feed {
            let name = feed.get_ref();
            let Some(known) = cx.feeds.iter().find(|f| &f.name == name) else {
                let names: Vec<&str> = cx.feeds.iter().map(|f| f.name.as_str()).collect();
                self.error(
                    feed.span(),
                    format!(
                        "`when` names the feed `{name}`, which is not among [[alerts.feeds]] ({})",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                );
                return None;
            };
            let level = match &w.level {
                None => None,
                Some(l) if known.kind != FeedKind::InaTews => {
                    self.error(l.span(), format!("`level` with feed `{name}`: levels are InaTEWS's (AWAS, SIAGA, WASPADA), and this feed is {}", known.kind.as_str()));
                    return None;
                }
                Some(l) => match l.get_ref().as_str().and_then(TsunamiLevel::parse) {
                    Some(level) => Some(level),
                    None => {
                        self.error(
                            l.span(),
                            format!(
                                "`level` {}: expected \"AWAS\", \"SIAGA\" or \"WASPADA\"",
                                l.get_ref()
                            ),
                        );
                        return None;
                    }
                },
            };
            return Some(When::Feed {
                feed: name.clone(),
                level,
            });
        }
        let volcano = w.volcano.as_ref()?;
        let name = volcano.get_ref();
        if !cx.volcanoes.iter().any(|v| &v.name == name) {
            let names: Vec<&str> = cx.volcanoes.iter().map(|v| v.name.as_str()).collect();
            self.error(
                volcano.span(),
                format!(
                    "`when` names the volcano `{name}`, which is not among [[volcanoes]] ({})",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            );
            return None;
        }
        let Some(l) = &w.level else {
            self.error(span, "`when` with `volcano` needs a `level` 2..=4");
            return None;
        };
        let level = match l.get_ref() {
            toml::Value::Integer(n) => u8::try_from(*n).ok().and_then(VolcanoLevel::new),
            toml::Value::String(s) => VolcanoLevel::parse(s),
            _ => None,
        };
        match level {
            Some(level) if level != VolcanoLevel::NORMAL => Some(When::Volcano {
                volcano: name.clone(),
                level,
            }),
            _ => {
                self.error(l.span(), format!("volcano `level` {}: expected 2 (Waspada), 3 (Siaga) or 4 (Awas); lowering to 1 stops a broadcast", l.get_ref()));
                None
            }
        }
    }

    fn playbook_zones(
        &mut self,
        value: &Spanned<toml::Value>,
        name: &str,
        cx: &Context,
    ) -> Option<PlaybookZones> {
        let list = match value.get_ref() {
            toml::Value::String(s) if s == "matched" => return Some(PlaybookZones::Matched),
            toml::Value::Array(list) => list,
            other => {
                self.error(value.span(), format!("`zones` {other}: expected \"matched\" or a list of zones, groups or \"all\""));
                return None;
            }
        };
        if list.is_empty() {
            self.error(
                value.span(),
                "`zones` is empty: expected \"matched\" or zone names, group names or \"all\"",
            );
            return None;
        }
        let groups: HashSet<&str> = cx.targets.groups.keys().map(String::as_str).collect();
        let mut selected = BTreeSet::new();
        for item in list {
            let Some(target) = item.as_str() else {
                self.error(
                    value.span(),
                    format!("`zones` entry {item}: expected a zone or group name"),
                );
                continue;
            };
            if target == schema::ALL_ZONES {
                selected.extend(0..cx.zone_count);
            } else if let Some(&z) = cx.targets.zones.get(target) {
                selected.insert(z);
            } else if let Some(set) = cx.targets.groups.get(target) {
                selected.extend(set.iter().copied());
            } else if !cx.targets.broken_zones.contains(target) {
                let message = unknown_target_message(
                    target,
                    &format!("playbook `{name}`"),
                    cx.targets,
                    &groups,
                );
                self.error(value.span(), message);
            }
        }
        Some(PlaybookZones::Named(
            selected
                .into_iter()
                .filter_map(|i| cx.zone_names.get(i).cloned())
                .collect(),
        ))
    }
}

/// What a playbook is checked against.
struct Context<'a> {
    targets: &'a Targets,
    zone_count: usize,
    zone_names: &'a [String],
    volcanoes: &'a [Volcano],
    feeds: &'a [Feed],
}

/// The first `{name}` in `text` that is not a known placeholder.
fn unknown_placeholder(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Some(name.to_string());
        }
        rest = &after[close + 1..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_loopback_hosts() {
        assert_eq!(unknown_placeholder("{headline}. {instruction}"), None);
        assert_eq!(
            unknown_placeholder("{headline} {judul}"),
            Some("judul".into())
        );
        assert!(is_loopback_url("http://127.0.0.1:8080/rss.xml"));
        assert!(is_loopback_url("http://[::1]:80/a"));
        assert!(is_loopback_url("http://localhost/a"));
        assert!(!is_loopback_url("http://127.0.0.1.example.org/a"));
        assert!(!is_loopback_url("http://user@bmkg.go.id/a"));
        assert!(!is_loopback_url(
            "https://www.bmkg.go.id/alerts/nowcast/id/rss.xml"
        ));
    }
}
