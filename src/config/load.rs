//! Read, parse, validate, resolve.
//!
//! One pass collects every problem: the TOML is parsed into a spanned tree
//! first, then each section and each `[[zones]]` / `[[schedules]]` table is
//! deserialized on its own (so that one bad table does not hide another),
//! unknown keys are reported one by one, and cross-references (schedule ->
//! zone, group -> member, schedule -> playlist file) are checked last.
//! Nothing here opens a socket or a device; the only file system access is
//! canonicalizing the config's folder and looking for playlist files.
//!
//! This file holds the entry points and the pass that runs every part in
//! order. `load/loader.rs` is what the parts share: diagnostics at spans,
//! one table deserialized with every problem reported, "did you mean".
//! One file per part: `load/daemon.rs`, `zones.rs`, `targets.rs` (groups,
//! and the names schedules and groups point at), `schedules.rs`, and
//! `sections.rs` (the small sections: announcements, loudness, preemption,
//! quiet hours). Imports run one way: this file -> the parts -> the loader.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::diagnostic::{line_col, Diagnostic, Diagnostics, Severity};
use super::model::Config;
use super::schema::{self, ConfigFile, DaemonTable};

mod alerts;
mod daemon;
mod icecast;
mod loader;
mod regency;
mod schedules;
mod sections;
mod targets;
mod web;
mod zones;

use loader::{sorted_entries, unknown_key_message, Loader};
use targets::Targets;

/// Largest config file accepted.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Load and validate the config at `path`. Warnings are dropped; use
/// [`load_with_warnings`] to see them.
pub fn load(path: &Path) -> Result<Config, Diagnostics> {
    load_with_warnings(path).map(|(config, _)| config)
}

/// Validate `text` as if it were the file at `path` (relative paths resolve
/// against `path`'s folder).
pub fn load_str(text: &str, path: &Path) -> Result<Config, Diagnostics> {
    load_str_with_warnings(text, path).map(|(config, _)| config)
}

/// Like [`load`], and also return the warnings (things that are allowed but
/// probably not meant, like a zone that nothing plays to).
///
/// `Err` holds the errors only, sorted by position.
pub fn load_with_warnings(path: &Path) -> Result<(Config, Diagnostics), Diagnostics> {
    // Bounded before it is read: a config is a page of text, not a file
    // that could take the machine's memory.
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(Diagnostics(vec![Diagnostic::error(
                path,
                1,
                1,
                format!(
                    "the config file is {} bytes: at most {} (1 MiB) is accepted",
                    meta.len(),
                    MAX_CONFIG_BYTES
                ),
            )]));
        }
    }
    let bytes = std::fs::read(path).map_err(|e| {
        Diagnostics(vec![Diagnostic::error(
            path,
            1,
            1,
            format!("cannot read the config file: {e}"),
        )])
    })?;
    load_bytes_with_warnings(&bytes, path)
}

/// Validate the raw bytes of a config as if they were the file at `path`:
/// what [`load_with_warnings`] does once the file is read (the size bound,
/// UTF-8, then [`load_str_with_warnings`]). The config fuzz target runs it.
pub fn load_bytes_with_warnings(
    bytes: &[u8],
    path: &Path,
) -> Result<(Config, Diagnostics), Diagnostics> {
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(Diagnostics(vec![Diagnostic::error(
            path,
            1,
            1,
            format!(
                "the config file is {} bytes: at most {} (1 MiB) is accepted",
                bytes.len(),
                MAX_CONFIG_BYTES
            ),
        )]));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let valid = e.valid_up_to();
        let text = String::from_utf8_lossy(&bytes[..valid]).into_owned();
        let (line, column) = line_col(&text, valid);
        Diagnostics(vec![Diagnostic::error(
            path,
            line,
            column,
            "the config is not valid UTF-8: save it as UTF-8",
        )])
    })?;
    load_str_with_warnings(text, path)
}

/// Like [`load_str`], and also return the warnings.
pub fn load_str_with_warnings(
    text: &str,
    path: &Path,
) -> Result<(Config, Diagnostics), Diagnostics> {
    let base_dir = absolute_folder(path);
    let file_name = path
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("config.toml"));
    let mut loader = Loader {
        file: path.to_path_buf(),
        source: text,
        bom: if text.starts_with('\u{feff}') { 3 } else { 0 },
        base_dir: base_dir.clone(),
        diagnostics: Vec::new(),
    };
    let config = loader.run(base_dir.join(file_name));
    let mut errors = Diagnostics(Vec::new());
    let mut warnings = Diagnostics(Vec::new());
    for d in loader.diagnostics {
        match d.severity {
            Severity::Error => errors.push(d),
            Severity::Warning => warnings.push(d),
        }
    }
    errors.sort();
    warnings.sort();
    match config {
        Some(config) if errors.is_empty() => Ok((config, warnings)),
        _ => Err(errors),
    }
}

/// The folder of a file (the config, a playlist), absolute: canonical if
/// it exists. Relative paths inside the file are read from there.
pub fn absolute_folder(path: &Path) -> PathBuf {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    folder
        .canonicalize()
        .or_else(|_| std::path::absolute(&folder))
        .unwrap_or(folder)
}

impl Loader<'_> {
    /// The whole pass. `None` only when the TOML itself does not parse.
    fn run(&mut self, config_path: PathBuf) -> Option<Config> {
        let source = self.source;
        let (root, parse_errors) = DeTable::parse_recoverable(&source[self.bom..]);
        if !parse_errors.is_empty() {
            for e in parse_errors {
                let span = e.span().unwrap_or(0..0);
                self.error(span, format!("invalid TOML: {}", e.message()));
            }
            return None;
        }
        let root_span = root.span();
        let root = root.into_inner();

        let mut sections: HashMap<&str, &Spanned<DeValue<'_>>> = HashMap::new();
        let top_fields = schema::field_names::<ConfigFile>();
        let daemon_fields = schema::field_names::<DaemonTable>();
        for (key, value) in sorted_entries(&root) {
            let name = key.get_ref().as_ref();
            if let Some(known) = top_fields.iter().find(|f| **f == name) {
                sections.insert(known, value);
            } else if daemon_fields.contains(&name) {
                self.error(
                    key.span(),
                    format!("unknown top-level key `{name}`: it belongs in the `[daemon]` table"),
                );
            } else {
                self.error(
                    key.span(),
                    unknown_key_message(name, "the top level", top_fields),
                );
            }
        }

        let daemon = self.daemon(sections.get("daemon").copied());
        let zones = self.zones(sections.get("zones").copied(), root_span, &daemon);
        let mut targets = Targets {
            zones: zones
                .iter()
                .enumerate()
                .map(|(i, z)| (z.zone.name.clone(), i))
                .collect(),
            broken_zones: HashSet::new(),
            groups: HashMap::new(),
        };
        targets.broken_zones = self.broken_zone_names(sections.get("zones").copied(), &zones);
        let groups = self.groups(sections.get("groups").copied(), &targets);
        targets.groups = self.expand_groups(&groups, &targets, zones.len());
        let schedules = self.schedules(sections.get("schedules").copied(), &targets, &zones);
        let announcements = self.announcements(sections.get("announcements").copied());
        let preemption = self.preemption(sections.get("preemption").copied());
        let quiet_hours = self.quiet_hours(sections.get("quiet_hours").copied());
        let loudness = self.loudness(sections.get("loudness").copied());
        let volcanoes = self.volcanoes(sections.get("volcanoes").copied());
        let zone_names: Vec<String> = zones.iter().map(|z| z.zone.name.clone()).collect();
        let alerts = self.alerts(
            sections.get("alerts").copied(),
            &targets,
            zones.len(),
            &zone_names,
            &volcanoes,
        );
        let places = zones
            .iter()
            .filter_map(|z| Some((z.zone.name.clone(), z.place.clone()?)))
            .collect();
        let web = self.web(sections.get("web").copied());
        let regency = self.regency(sections.get("site").copied(), sections.get("mqtt").copied());
        self.warn_unused_zones(&zones, &schedules, &targets);

        let group_map: BTreeMap<String, Vec<String>> = targets
            .groups
            .iter()
            .map(|(name, set)| {
                let names = set.iter().map(|&i| zones[i].zone.name.clone()).collect();
                (name.clone(), names)
            })
            .collect();
        Some(Config {
            path: config_path,
            base_dir: self.base_dir.clone(),
            daemon,
            zones: zones.into_iter().map(|z| z.zone).collect(),
            groups: group_map,
            schedules: schedules.into_iter().map(|(s, _)| s).collect(),
            announcements,
            preemption,
            quiet_hours,
            loudness,
            places,
            alerts,
            volcanoes,
            web,
            regency,
        })
    }
}
