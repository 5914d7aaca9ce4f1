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
//! This file holds the entry points, the pass that runs every part in
//! order, and what the parts share (deserializing one table with every
//! problem reported, "did you mean"). One file per part in `load/`:
//! `daemon.rs`, `zones.rs`, `targets.rs` (groups, and the names schedules
//! and groups point at), `schedules.rs`, and `sections.rs` (the small
//! sections: announcements, loudness, preemption, quiet hours).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::diagnostic::line_col;
use super::schema::{self, ConfigFile, DaemonTable};
use super::{Config, Diagnostic, Diagnostics, Severity};

mod daemon;
mod schedules;
mod sections;
mod targets;
mod zones;

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

/// The config file's folder, absolute: canonical if it exists.
fn absolute_folder(path: &Path) -> PathBuf {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    folder
        .canonicalize()
        .or_else(|_| std::path::absolute(&folder))
        .unwrap_or(folder)
}

struct Loader<'s> {
    /// The path as the caller gave it: diagnostics name it this way.
    file: PathBuf,
    source: &'s str,
    /// Bytes of byte-order mark skipped before parsing.
    bom: usize,
    base_dir: PathBuf,
    diagnostics: Vec<Diagnostic>,
}

impl Loader<'_> {
    fn diagnostic(&mut self, severity: Severity, span: Range<usize>, message: impl Into<String>) {
        let d = Diagnostic::at_offset(
            severity,
            &self.file,
            self.source,
            self.bom + span.start,
            message,
        );
        self.diagnostics.push(d);
    }

    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diagnostic(Severity::Error, span, message);
    }

    fn warning(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diagnostic(Severity::Warning, span, message);
    }

    fn line_of(&self, span: &Range<usize>) -> usize {
        line_col(self.source, self.bom + span.start).0
    }

    fn resolve(&self, path: &str) -> PathBuf {
        self.base_dir.join(path)
    }

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
        let zones = self.zones(sections.get("zones").copied(), root_span);
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
        })
    }

    /// Deserialize one table into `T`, reporting every unknown key and every
    /// wrongly typed value (not just the first). Keys in error are dropped
    /// and the rest is deserialized again, so the returned value has the
    /// good keys; `dropped` names the ones that were not.
    fn table<T: DeserializeOwned>(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        what: &str,
    ) -> Option<Parsed<T>> {
        let DeValue::Table(original) = value.get_ref() else {
            self.error(
                value.span(),
                format!(
                    "expected a table for {what}, found {}",
                    value.get_ref().type_str()
                ),
            );
            return None;
        };
        let fields = schema::field_names::<T>();
        let mut table = original.clone();
        let mut dropped = Vec::new();
        for (key, _) in sorted_entries(original) {
            let name = key.get_ref().as_ref();
            if !fields.contains(&name) {
                self.error(key.span(), unknown_key_message(name, what, fields));
                table.remove(name);
            }
        }
        // Each round drops one key, so this ends.
        loop {
            let whole = Spanned::new(value.span(), DeValue::Table(table.clone()));
            let error = match T::deserialize(ValueDeserializer::from(whole)) {
                Ok(value) => return Some(Parsed { value, dropped }),
                Err(e) => e,
            };
            let span = error.span().unwrap_or_else(|| value.span());
            let culprit = table
                .iter()
                .filter(|(k, v)| contains(&k.span(), &span) || contains(&v.span(), &span))
                .map(|(k, _)| k.get_ref().to_string())
                .next();
            match culprit {
                Some(key) => {
                    self.error(span, format!("`{key}`: {}", friendly(error.message())));
                    table.remove(key.as_str());
                    dropped.push(key);
                }
                None => {
                    // Typically a missing required key; if we dropped it
                    // ourselves, it has been reported already.
                    if dropped.is_empty() {
                        let message = friendly(error.message());
                        let message = if message.starts_with("missing required key") {
                            format!("{what} is {message}")
                        } else {
                            format!("{what}: {message}")
                        };
                        self.error(span, message);
                    }
                    return None;
                }
            }
        }
    }

    /// `value` as an array of tables (`[[name]]`), or an error.
    fn array_of_tables<'v, 'i>(
        &mut self,
        value: &'v Spanned<DeValue<'i>>,
        key: &str,
    ) -> Option<&'v [Spanned<DeValue<'i>>]> {
        match value.get_ref() {
            DeValue::Array(items) => Some(items),
            other => {
                self.error(
                    value.span(),
                    format!(
                        "`{key}` must be an array of tables, found a {}: write each one as `[[{key}]]`",
                        other.type_str()
                    ),
                );
                None
            }
        }
    }
}

/// The result of [`Loader::table`].
struct Parsed<T> {
    value: T,
    /// Keys present in the file but left out because their value was wrong.
    dropped: Vec<String>,
}

/// A table's entries in file order (the parser's map is sorted by key).
fn sorted_entries<'t, 'i>(
    table: &'t DeTable<'i>,
) -> Vec<(
    &'t Spanned<std::borrow::Cow<'i, str>>,
    &'t Spanned<DeValue<'i>>,
)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end.max(outer.start + 1)
}

/// Why `name` is not a valid zone or group name, if it is not.
fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty: expected a name of a-z, 0-9, `_` and `-`")
    } else if name == schema::ALL_ZONES {
        Some("is reserved: `all` means every zone")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        Some("has characters other than a-z, 0-9, `_` and `-`")
    } else {
        None
    }
}

fn unknown_key_message(key: &str, what: &str, fields: &[&str]) -> String {
    let expected = fields
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut message = format!("unknown key `{key}` in {what}: expected one of {expected}");
    if let Some(near) = crate::suggest::closest(key, fields.iter().copied()) {
        message.push_str(&format!(" (did you mean `{near}`?)"));
    }
    message
}

/// serde's wording, in the words an operator uses.
fn friendly(message: &str) -> String {
    let message = message.trim_end_matches('\n');
    message
        .replace("invalid type:", "wrong type:")
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number")
        .replace("expected a sequence", "expected an array")
        .replace("sequence", "array")
        .replace("missing field", "missing required key")
}
