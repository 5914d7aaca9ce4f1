//! The names schedules and groups point at: `[groups]` expanded to zones
//! (cycles reported once), unknown names with a "did you mean", and zones
//! that nothing names.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;

use serde::Deserialize;
use toml::de::{DeValue, ValueDeserializer};
use toml::Spanned;

use super::loader::{friendly, name_problem, sorted_entries, Loader};
use super::zones::ZoneEntry;
use crate::config::diagnostic::{Diagnostic, Severity};
use crate::config::model::Schedule;
use crate::config::schema;

/// A `[groups]` entry as written.
pub(super) struct GroupEntry {
    pub(super) name: String,
    pub(super) members: Vec<Spanned<String>>,
}

/// The zones and groups that schedules and groups can name.
pub(super) struct Targets {
    /// Zone name -> index in config order.
    pub(super) zones: HashMap<String, usize>,
    /// Names of zones whose table was too broken to build: references to
    /// them are not reported again.
    pub(super) broken_zones: HashSet<String>,
    /// Group name -> zone indices, expanded.
    pub(super) groups: HashMap<String, BTreeSet<usize>>,
}

impl Loader<'_> {
    /// Names of zone tables that did not deserialize but do have a string
    /// `name`: references to them would only repeat the same problem.
    pub(super) fn broken_zone_names(
        &self,
        value: Option<&Spanned<DeValue<'_>>>,
        zones: &[ZoneEntry],
    ) -> HashSet<String> {
        let mut names = HashSet::new();
        if let Some(DeValue::Array(items)) = value.map(|v| v.get_ref()) {
            for item in items.iter() {
                if let Some(DeValue::String(name)) = item.get_ref().get("name").map(|n| n.get_ref())
                {
                    if !zones.iter().any(|z| z.zone.name == name.as_ref()) {
                        names.insert(name.to_string());
                    }
                }
            }
        }
        names
    }

    pub(super) fn groups(
        &mut self,
        value: Option<&Spanned<DeValue<'_>>>,
        targets: &Targets,
    ) -> Vec<GroupEntry> {
        let Some(value) = value else {
            return Vec::new();
        };
        let DeValue::Table(table) = value.get_ref() else {
            self.error(
                value.span(),
                format!(
                    "`groups` must be a table, found a {}: write `[groups]` and then `name = [\"zone\", ...]` lines",
                    value.get_ref().type_str()
                ),
            );
            return Vec::new();
        };
        let mut groups = Vec::new();
        for (key, members) in sorted_entries(table) {
            let name = key.get_ref().to_string();
            if name == schema::ALL_ZONES {
                self.error(
                    key.span(),
                    "group name `all` is reserved: it already means every zone",
                );
            } else if targets.zones.contains_key(&name) || targets.broken_zones.contains(&name) {
                self.error(
                    key.span(),
                    format!(
                        "group `{name}` has the same name as a zone: expected a name no zone uses"
                    ),
                );
            } else if let Some(problem) = name_problem(&name) {
                self.error(key.span(), format!("group name `{name}` {problem}"));
            }
            let members =
                match Vec::<Spanned<String>>::deserialize(ValueDeserializer::from(members.clone()))
                {
                    Ok(m) => m,
                    Err(e) => {
                        let span = e.span().unwrap_or_else(|| members.span());
                        self.error(
                            span,
                            format!(
                                "group `{name}`: {}; expected an array of zone or group names",
                                friendly(e.message())
                            ),
                        );
                        continue;
                    }
                };
            if members.is_empty() {
                self.warning(key.span(), format!("group `{name}` is empty"));
            }
            groups.push(GroupEntry { name, members });
        }
        // Members may name any group, including later ones: check them once
        // every group name is known.
        let group_names: HashSet<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        for g in &groups {
            for m in &g.members {
                let m_name = m.get_ref().as_str();
                let known = m_name == schema::ALL_ZONES
                    || targets.zones.contains_key(m_name)
                    || targets.broken_zones.contains(m_name)
                    || group_names.contains(m_name);
                if !known {
                    let message = unknown_target_message(
                        m_name,
                        &format!("group `{}`", g.name),
                        targets,
                        &group_names,
                    );
                    self.diagnostics.push(Diagnostic::at_offset(
                        Severity::Error,
                        &self.file,
                        self.source,
                        self.bom + m.span().start,
                        message,
                    ));
                }
            }
        }
        groups
    }

    /// Expand every group to zone indices, reporting each cycle once (at
    /// the member that closes it).
    pub(super) fn expand_groups(
        &mut self,
        groups: &[GroupEntry],
        targets: &Targets,
        zone_count: usize,
    ) -> HashMap<String, BTreeSet<usize>> {
        struct Walk<'g> {
            groups: &'g [GroupEntry],
            index: HashMap<&'g str, usize>,
            state: Vec<State>,
            expanded: Vec<BTreeSet<usize>>,
            stack: Vec<usize>,
            cycles: Vec<(Range<usize>, String)>,
        }
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            New,
            OnStack,
            Done,
        }
        fn visit(w: &mut Walk<'_>, g: usize, targets: &Targets, zone_count: usize) {
            w.state[g] = State::OnStack;
            w.stack.push(g);
            let mut set = BTreeSet::new();
            for m in &w.groups[g].members {
                let name = m.get_ref().as_str();
                if name == schema::ALL_ZONES {
                    set.extend(0..zone_count);
                } else if let Some(&z) = targets.zones.get(name) {
                    set.insert(z);
                } else if let Some(&h) = w.index.get(name) {
                    match w.state[h] {
                        State::New => {
                            visit(w, h, targets, zone_count);
                            set.extend(w.expanded[h].iter().copied());
                        }
                        State::Done => set.extend(w.expanded[h].iter().copied()),
                        State::OnStack => {
                            let from = w.stack.iter().position(|&s| s == h).unwrap_or(0);
                            let mut path: Vec<&str> = w.stack[from..]
                                .iter()
                                .map(|&s| w.groups[s].name.as_str())
                                .collect();
                            path.push(name);
                            let message = if h == g {
                                format!("group `{name}` contains itself")
                            } else {
                                format!("group cycle: {}", path.join(" -> "))
                            };
                            w.cycles.push((m.span(), message));
                        }
                    }
                }
            }
            w.stack.pop();
            w.state[g] = State::Done;
            w.expanded[g] = set;
        }

        let mut walk = Walk {
            groups,
            index: groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.name.as_str(), i))
                .collect(),
            state: vec![State::New; groups.len()],
            expanded: vec![BTreeSet::new(); groups.len()],
            stack: Vec::new(),
            cycles: Vec::new(),
        };
        for g in 0..groups.len() {
            if walk.state[g] == State::New {
                visit(&mut walk, g, targets, zone_count);
            }
        }
        let Walk {
            expanded, cycles, ..
        } = walk;
        for (span, message) in cycles {
            self.error(
                span,
                format!(
                    "{message}: a group may not contain itself, directly or through other groups"
                ),
            );
        }
        groups
            .iter()
            .zip(expanded)
            .map(|(g, set)| (g.name.clone(), set))
            .collect()
    }

    pub(super) fn warn_unused_zones(
        &mut self,
        zones: &[ZoneEntry],
        schedules: &[(Schedule, Range<usize>)],
        targets: &Targets,
    ) {
        let mut used: HashSet<usize> = HashSet::new();
        for set in targets.groups.values() {
            used.extend(set.iter().copied());
        }
        for (s, _) in schedules {
            used.extend(s.zones.iter().filter_map(|z| targets.zones.get(z).copied()));
        }
        for (i, z) in zones.iter().enumerate() {
            if !used.contains(&i) {
                self.warning(
                    z.name_span.clone(),
                    format!(
                        "zone `{}` is in no schedule and no group: it plays only announcements sent to it by name or to `all`",
                        z.zone.name
                    ),
                );
            }
        }
    }
}

pub(super) fn unknown_target_message(
    name: &str,
    context: &str,
    targets: &Targets,
    groups: &HashSet<&str>,
) -> String {
    let mut zones: Vec<&str> = targets.zones.keys().map(String::as_str).collect();
    zones.sort_unstable();
    let mut group_list: Vec<&str> = groups.iter().copied().collect();
    group_list.sort_unstable();
    let mut message = format!(
        "unknown zone or group `{name}` in {context}: expected a zone ({}), a group ({}) or \"all\"",
        if zones.is_empty() { "none defined".to_string() } else { zones.join(", ") },
        if group_list.is_empty() { "none defined".to_string() } else { group_list.join(", ") },
    );
    if let Some(near) =
        crate::suggest::closest(name, zones.iter().chain(group_list.iter()).copied())
    {
        message.push_str(&format!(" (did you mean `{near}`?)"));
    }
    message
}
