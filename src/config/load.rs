//! Read, parse, validate, resolve.
//!
//! One pass collects every problem: the TOML is parsed into a spanned tree
//! first, then each section and each `[[zones]]` / `[[schedules]]` table is
//! deserialized on its own (so that one bad table does not hide another),
//! unknown keys are reported one by one, and cross-references (schedule ->
//! zone, group -> member, schedule -> playlist file) are checked last.
//! Nothing here opens a socket or a device; the only file system access is
//! canonicalizing the config's folder and looking for playlist files.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::diagnostic::line_col;
use crate::priority::Priority;

use super::schema::{
    self, AnnouncementsTable, ConfigFile, DaemonTable, LocalKey, LoudnessTable, PreemptionTable,
    QuietHoursTable, ScheduleTable, ZoneTable,
};
use super::{
    Announcements, Chime, Codec, Config, Daemon, Diagnostic, Diagnostics, LevelChimes, LocalOutput,
    Loudness, Missed, PreemptMode, Preemption, QuietHours, RtpOutput, Schedule, Severity,
    WavOutput, WavRetention, WavRotate, Zone, ZoneOutput,
};

/// Largest config file accepted.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Longest path a Unix socket address holds (`sun_path` minus the NUL).
const MAX_SOCKET_PATH: usize = 107;
/// Longest schedule `text`, bytes: what `corong say` takes.
const MAX_SCHEDULE_TEXT: usize = crate::control::protocol::MAX_TEXT;

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

/// A zone table that parsed, with the spans validation points at.
struct ZoneEntry {
    zone: Zone,
    name_span: Range<usize>,
}

/// A `[groups]` entry as written.
struct GroupEntry {
    name: String,
    members: Vec<Spanned<String>>,
}

/// The zones and groups that schedules and groups can name.
struct Targets {
    /// Zone name -> index in config order.
    zones: HashMap<String, usize>,
    /// Names of zones whose table was too broken to build: references to
    /// them are not reported again.
    broken_zones: HashSet<String>,
    /// Group name -> zone indices, expanded.
    groups: HashMap<String, BTreeSet<usize>>,
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

    /// A schedule's `missed` and `grace_s`.
    fn missed(&mut self, missed: Option<&Spanned<String>>, grace: Option<&Spanned<i64>>) -> Missed {
        let mut grace_s = schema::DEFAULT_GRACE_S;
        if let Some(g) = grace {
            if (1..=86_400).contains(g.get_ref()) {
                grace_s = *g.get_ref();
            } else {
                self.error(
                    g.span(),
                    format!(
                        "`grace_s` {} is out of range: expected 1..=86400 seconds",
                        g.get_ref()
                    ),
                );
            }
        }
        match missed.map(|m| (m.get_ref().as_str(), m.span())) {
            None | Some(("skip", _)) => Missed::Skip,
            Some(("catch-up", _)) => Missed::CatchUp {
                grace: std::time::Duration::from_secs(grace_s as u64),
            },
            Some((other, span)) => {
                self.error(
                    span,
                    format!("`missed` = \"{other}\": expected \"skip\" or \"catch-up\""),
                );
                Missed::Skip
            }
        }
    }

    /// A local date `YYYY-MM-DD`.
    fn date(&mut self, value: &Spanned<String>, key: &str) -> Option<NaiveDate> {
        match NaiveDate::parse_from_str(value.get_ref().trim(), "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                self.error(
                    value.span(),
                    format!(
                        "`{key}` \"{}\": expected a date YYYY-MM-DD, e.g. \"2026-08-17\"",
                        value.get_ref()
                    ),
                );
                None
            }
        }
    }

    /// `except_dates` and the dates in `except_file`.
    fn except_dates(
        &mut self,
        dates: Option<&[Spanned<String>]>,
        file: Option<&Spanned<String>>,
    ) -> BTreeSet<NaiveDate> {
        let mut set = BTreeSet::new();
        for d in dates.unwrap_or_default() {
            if let Some(date) = self.date(d, "except_dates") {
                set.insert(date);
            }
        }
        if let Some(f) = file {
            let path = self.resolve(f.get_ref());
            match std::fs::read_to_string(&path) {
                Ok(text) if text.len() <= 1 << 20 => {
                    for (n, line) in text.lines().enumerate() {
                        let line = line.split('#').next().unwrap_or("").trim();
                        if line.is_empty() {
                            continue;
                        }
                        match NaiveDate::parse_from_str(line, "%Y-%m-%d") {
                            Ok(d) => {
                                set.insert(d);
                            }
                            Err(_) => self.error(
                                f.span(),
                                format!(
                                    "`except_file` {}:{}: \"{line}\" is not a date YYYY-MM-DD",
                                    path.display(),
                                    n + 1
                                ),
                            ),
                        }
                    }
                }
                Ok(_) => self.error(
                    f.span(),
                    format!("`except_file` {} is over 1 MiB", path.display()),
                ),
                Err(e) => self.error(f.span(), format!("`except_file` {}: {e}", path.display())),
            }
        }
        set
    }

    /// `[quiet_hours]`.
    fn quiet_hours(&mut self, value: Option<&Spanned<DeValue<'_>>>) -> Option<QuietHours> {
        let raw = self
            .table::<QuietHoursTable>(value?, "[quiet_hours]")?
            .value;
        let mut time = |v: &Spanned<String>, key: &str| -> Option<NaiveTime> {
            let text = v.get_ref().trim();
            let t = NaiveTime::parse_from_str(text, "%H:%M:%S")
                .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
                .ok();
            if t.is_none() {
                self.error(
                    v.span(),
                    format!(
                        "`{key}` \"{}\": expected a local time HH:MM or HH:MM:SS, e.g. \"22:00\"",
                        v.get_ref()
                    ),
                );
            }
            t
        };
        let from = time(&raw.from, "from");
        let to = time(&raw.to, "to");
        match (from, to) {
            (Some(from), Some(to)) if from == to => {
                self.error(
                    raw.to.span(),
                    "`to` equals `from`: quiet hours would be empty",
                );
                None
            }
            (Some(from), Some(to)) => Some(QuietHours { from, to }),
            _ => None,
        }
    }

    /// `[announcements]`.
    fn announcements(&mut self, value: Option<&Spanned<DeValue<'_>>>) -> Announcements {
        let raw = match value {
            Some(v) => self
                .table::<AnnouncementsTable>(v, "[announcements]")
                .map(|p| p.value)
                .unwrap_or_default(),
            None => AnnouncementsTable::default(),
        };
        let chime = raw
            .chime
            .as_ref()
            .map(|c| self.path_value(Some(c), "", "chime"));
        let alert = raw
            .alert
            .as_ref()
            .map(|a| self.path_value(Some(a), "", "alert"));
        let mut repeat_interval = schema::DEFAULT_REPEAT_INTERVAL_S;
        if let Some(r) = &raw.repeat_interval_s {
            match u64::try_from(*r.get_ref()) {
                Ok(v) if v <= 86_400 => repeat_interval = v,
                _ => self.error(
                    r.span(),
                    format!(
                        "`repeat_interval_s` {} is out of range: expected 0..=86400 seconds",
                        r.get_ref()
                    ),
                ),
            }
        }
        let mut tts_voice = schema::DEFAULT_TTS_VOICE.to_string();
        if let Some(v) = &raw.tts_voice {
            let name = v.get_ref().trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_+/".contains(c))
            {
                self.error(
                    v.span(),
                    format!("`tts_voice` `{name}` is not a voice name: expected an espeak-ng voice such as \"id\""),
                );
            } else {
                tts_voice = name.to_string();
            }
        }
        let mut chimes_by_level = BTreeMap::new();
        if let Some(c) = &raw.chimes {
            for (priority, level) in [
                (Priority::BACKGROUND, &c.background),
                (Priority::PROGRAM, &c.program),
                (Priority::ANNOUNCEMENT, &c.announcement),
                (Priority::LIVE, &c.live),
            ] {
                let Some(level) = level else { continue };
                let before = level.before.as_ref().map(|v| self.chime_value(v, "before"));
                let after = level.after.as_ref().map(|v| self.chime_value(v, "after"));
                chimes_by_level.insert(priority, LevelChimes { before, after });
            }
        }
        Announcements {
            chime,
            chime_after: raw.chime_after.unwrap_or(false),
            repeat_interval: std::time::Duration::from_secs(repeat_interval),
            alert,
            tts_voice,
            chimes_by_level,
        }
    }

    /// A chime setting: `"default"`, `"none"` or a media file.
    fn chime_value(&mut self, v: &Spanned<String>, key: &str) -> Chime {
        match v.get_ref().trim() {
            "default" => Chime::Default,
            "none" => Chime::None,
            "" => {
                self.error(
                    v.span(),
                    format!("`{key}` is empty: expected \"default\", \"none\" or a media file"),
                );
                Chime::None
            }
            path => Chime::File(self.resolve(path)),
        }
    }

    /// `[loudness]`.
    fn loudness(&mut self, value: Option<&Spanned<DeValue<'_>>>) -> Loudness {
        let raw = match value {
            Some(v) => self
                .table::<LoudnessTable>(v, "[loudness]")
                .map(|p| p.value)
                .unwrap_or_default(),
            None => LoudnessTable::default(),
        };
        let mut l = Loudness::default();
        if let Some(n) = raw.normalize {
            l.normalize = n;
        }
        for (key, value, slot, range, unit) in [
            (
                "target_lufs",
                &raw.target_lufs,
                &mut l.target_lufs,
                schema::TARGET_LUFS_RANGE,
                "LUFS",
            ),
            (
                "true_peak_dbtp",
                &raw.true_peak_dbtp,
                &mut l.true_peak_dbtp,
                schema::TRUE_PEAK_RANGE,
                "dBTP",
            ),
            (
                "max_gain_db",
                &raw.max_gain_db,
                &mut l.max_gain_db,
                schema::MAX_GAIN_RANGE,
                "dB",
            ),
        ] {
            let Some(v) = value else { continue };
            let x = *v.get_ref();
            if range.contains(&x) {
                *slot = x;
            } else {
                self.error(
                    v.span(),
                    format!(
                        "`{key}` {x} is out of range: expected {}..={} {unit}",
                        range.start(),
                        range.end()
                    ),
                );
            }
        }
        if let Some(d) = &raw.dead_air_s {
            let x = *d.get_ref();
            if x == 0.0 {
                l.dead_air = None;
            } else if (0.5..=3600.0).contains(&x) {
                l.dead_air = Some(std::time::Duration::from_secs_f64(x));
            } else {
                self.error(
                    d.span(),
                    format!("`dead_air_s` {x} is out of range: expected 0.5..=3600 seconds, or 0 for off"),
                );
            }
        }
        l
    }

    /// `[preemption]`.
    fn preemption(&mut self, value: Option<&Spanned<DeValue<'_>>>) -> Preemption {
        let raw = match value {
            Some(v) => self
                .table::<PreemptionTable>(v, "[preemption]")
                .map(|p| p.value)
                .unwrap_or_default(),
            None => PreemptionTable::default(),
        };
        let mut p = Preemption::default();
        for (key, value, slot) in [
            ("background", &raw.background, &mut p.background),
            ("program", &raw.program, &mut p.program),
            ("announcement", &raw.announcement, &mut p.announcement),
            ("live", &raw.live, &mut p.live),
        ] {
            let Some(v) = value else { continue };
            match v.get_ref().as_str() {
                "duck" => *slot = PreemptMode::Duck,
                "pause" => *slot = PreemptMode::Pause,
                "cancel" => *slot = PreemptMode::Cancel,
                other => self.error(
                    v.span(),
                    format!("`{key}` = \"{other}\": expected \"duck\", \"pause\" or \"cancel\""),
                ),
            }
        }
        if let Some(d) = &raw.duck_db {
            let db = *d.get_ref();
            if (-60.0..=0.0).contains(&db) {
                p.duck_db = db as f32;
            } else {
                self.error(
                    d.span(),
                    format!("`duck_db` {db} is out of range: expected -60..=0 dB"),
                );
            }
        }
        p
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

    fn daemon(&mut self, value: Option<&Spanned<DeValue<'_>>>) -> Daemon {
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
        }
    }

    /// A path key: non-empty, resolved against the config's folder.
    fn path_value(&mut self, value: Option<&Spanned<String>>, default: &str, key: &str) -> PathBuf {
        match value {
            Some(v) if v.get_ref().trim().is_empty() => {
                self.error(v.span(), format!("`{key}` is empty: expected a path"));
                self.resolve(default)
            }
            Some(v) => self.resolve(v.get_ref()),
            None => self.resolve(default),
        }
    }

    fn zones(
        &mut self,
        value: Option<&Spanned<DeValue<'_>>>,
        root_span: Range<usize>,
    ) -> Vec<ZoneEntry> {
        let Some(value) = value else {
            self.error(
                root_span.start..root_span.start,
                "no zones: add at least one `[[zones]]` table with a `name` and `rtp` or `wav`",
            );
            return Vec::new();
        };
        let Some(items) = self.array_of_tables(value, "zones") else {
            return Vec::new();
        };
        let mut zones: Vec<ZoneEntry> = Vec::new();
        for item in items {
            let Some(parsed) = self.table::<ZoneTable>(item, "zone") else {
                continue;
            };
            let name_span = parsed.value.name.span();
            let zone = self.zone(parsed, &zones);
            zones.push(ZoneEntry { zone, name_span });
        }
        if zones.is_empty() && items.is_empty() {
            self.error(value.span(), "no zones: `zones` is empty");
        }
        zones
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

    /// Names of zone tables that did not deserialize but do have a string
    /// `name`: references to them would only repeat the same problem.
    fn broken_zone_names(
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

    fn zone(&mut self, parsed: Parsed<ZoneTable>, earlier: &[ZoneEntry]) -> Zone {
        let Parsed {
            value: raw,
            dropped,
        } = parsed;
        let name = raw.name.get_ref().clone();
        if let Some(problem) = name_problem(&name) {
            self.error(raw.name.span(), format!("zone name `{name}` {problem}"));
        } else if let Some(first) = earlier.iter().find(|z| z.zone.name == name) {
            let line = self.line_of(&first.name_span);
            self.error(
                raw.name.span(),
                format!("duplicate zone name `{name}`: already used on line {line}"),
            );
        }

        let mut destinations = Vec::new();
        if let Some(rtp) = &raw.rtp {
            if rtp.get_ref().is_empty() {
                self.error(
                    rtp.span(),
                    "`rtp` is empty: expected one or more \"IP:port\", e.g. [\"127.0.0.1:5004\"]",
                );
            }
            for dest in rtp.get_ref() {
                match parse_destination(dest.get_ref()) {
                    Ok(addr) if destinations.contains(&addr) => {
                        self.error(dest.span(), format!("duplicate RTP destination `{addr}`"));
                    }
                    Ok(addr) => {
                        if addr.port() % 2 == 1 {
                            self.warning(
                                dest.span(),
                                format!(
                                    "RTP port {} is odd: RTP conventionally uses an even port, with RTCP on the next one",
                                    addr.port()
                                ),
                            );
                        }
                        destinations.push(addr);
                    }
                    Err(message) => self.error(dest.span(), message),
                }
            }
        }

        let mut codec = Codec::L16;
        let mut codec_ok = true;
        if let Some(c) = &raw.codec {
            match Codec::from_name(c.get_ref()) {
                Some(known) => codec = known,
                None => {
                    codec_ok = false;
                    let names: Vec<String> =
                        Codec::ALL.iter().map(|c| format!("\"{c}\"")).collect();
                    self.error(
                        c.span(),
                        format!(
                            "unknown codec `{}`: expected {}",
                            c.get_ref(),
                            names.join(" or ")
                        ),
                    );
                }
            }
        }

        let mut channels = schema::DEFAULT_CHANNELS;
        if let Some(ch) = &raw.channels {
            match *ch.get_ref() {
                n @ (1 | 2)
                    if codec_ok && codec.fixed_channels().is_some_and(|f| f != n as u16) =>
                {
                    let fixed = codec.fixed_channels().unwrap_or(1);
                    self.error(
                        ch.span(),
                        format!(
                            "`channels` = {n} with codec \"{codec}\": {} is {}, expected `channels` = {fixed}",
                            codec.name().to_uppercase(),
                            if fixed == 1 { "mono" } else { "stereo" }
                        ),
                    )
                }
                n @ (1 | 2) => channels = n as u16,
                n => self.error(ch.span(), format!("`channels` {n}: expected 1 or 2")),
            }
        }

        let mut gain_db = schema::DEFAULT_GAIN_DB;
        if let Some(g) = &raw.gain_db {
            let v = *g.get_ref();
            if schema::GAIN_DB_RANGE.contains(&v) {
                gain_db = v as f32;
            } else {
                self.error(
                    g.span(),
                    format!("`gain_db` {v} is out of range: expected -60..=20"),
                );
            }
        }

        let mut loudness_target_lufs = None;
        if let Some(t) = &raw.loudness_target_lufs {
            let v = *t.get_ref();
            if schema::TARGET_LUFS_RANGE.contains(&v) {
                loudness_target_lufs = Some(v);
            } else {
                self.error(
                    t.span(),
                    format!("`loudness_target_lufs` {v} is out of range: expected -40..=-5 LUFS"),
                );
            }
        }

        let mut multicast_interface = schema::DEFAULT_MULTICAST_INTERFACE;
        if let Some(i) = &raw.multicast_interface {
            match i.get_ref().parse::<Ipv4Addr>() {
                Ok(addr) => multicast_interface = addr,
                Err(_) => self.error(
                    i.span(),
                    format!(
                        "`multicast_interface` `{}` is not an IPv4 address: expected the address of the interface, e.g. \"127.0.0.1\" or \"192.168.1.10\"",
                        i.get_ref()
                    ),
                ),
            }
        }

        let mut multicast_ttl = schema::DEFAULT_MULTICAST_TTL;
        if let Some(t) = &raw.multicast_ttl {
            match u8::try_from(*t.get_ref()) {
                Ok(v) => multicast_ttl = u32::from(v),
                Err(_) => self.error(
                    t.span(),
                    format!(
                        "`multicast_ttl` {} is out of range: expected 0..=255",
                        t.get_ref()
                    ),
                ),
            }
        }

        let mut dscp = schema::DEFAULT_DSCP;
        if let Some(d) = &raw.dscp {
            match u8::try_from(*d.get_ref()) {
                Ok(v) if v <= 63 => dscp = v,
                _ => self.error(
                    d.span(),
                    format!(
                        "`dscp` {} is out of range: expected 0..=63 (46 is EF)",
                        d.get_ref()
                    ),
                ),
            }
        }

        let wav = raw.wav.as_ref().map(|w| {
            if w.get_ref().trim().is_empty() {
                self.error(w.span(), "`wav` is empty: expected a file path");
            }
            self.resolve(w.get_ref())
        });

        let wav_retention = self.wav_retention(&raw, &name);

        let mut local = None;
        if let Some(l) = &raw.local {
            match l.get_ref() {
                LocalKey::On(false) => {}
                LocalKey::On(true) => local = Some(LocalOutput { device: None }),
                LocalKey::Device(d) if d.trim().is_empty() => self.error(
                    l.span(),
                    "`local` is empty: expected true, or an ALSA device name such as \"hw:0,0\"",
                ),
                LocalKey::Device(d) if d == "default" => local = Some(LocalOutput { device: None }),
                LocalKey::Device(d) => {
                    local = Some(LocalOutput {
                        device: Some(d.clone()),
                    })
                }
            }
            if let Some(mine) = &local {
                if let Some(first) = earlier.iter().find(|z| z.zone.local() == Some(mine)) {
                    let line = self.line_of(&first.name_span);
                    self.warning(
                        l.span(),
                        format!(
                            "zone `{name}` plays through the same sound card as zone `{}` (line {line}): unless ALSA shares the card (dmix, PipeWire) it plays only one of them and the other zone is degraded",
                            first.zone.name
                        ),
                    );
                }
            }
            if local.is_some() && !cfg!(feature = "local-audio") {
                self.error(
                    l.span(),
                    format!(
                        "zone `{name}` plays through the sound card (`local`), but this corong was built without it: build with `cargo build --release --features local-audio`"
                    ),
                );
            }
        }

        let has_output_keys = raw.rtp.is_some()
            || raw.wav.is_some()
            || local.is_some()
            || dropped
                .iter()
                .any(|k| k == "rtp" || k == "wav" || k == "local");
        if !has_output_keys {
            self.error(
                raw.name.span(),
                format!(
                    "zone `{name}` has no output: expected `rtp = [\"IP:port\", ...]`, `wav = \"recordings/{name}.wav\"`, `local = true` or several"
                ),
            );
        }
        if raw.rtp.is_none() {
            let rtp_only = [
                ("codec", raw.codec.as_ref().map(|v| v.span())),
                (
                    "multicast_interface",
                    raw.multicast_interface.as_ref().map(|v| v.span()),
                ),
                (
                    "multicast_ttl",
                    raw.multicast_ttl.as_ref().map(|v| v.span()),
                ),
                ("dscp", raw.dscp.as_ref().map(|v| v.span())),
            ];
            for (key, span) in rtp_only {
                if let Some(span) = span {
                    self.warning(
                        span,
                        format!("`{key}` has no effect: zone `{name}` has no `rtp`"),
                    );
                }
            }
        }

        let mut outputs = Vec::new();
        if raw.rtp.is_some() {
            outputs.push(ZoneOutput::Rtp(RtpOutput {
                destinations,
                codec,
                multicast_interface,
                multicast_ttl,
                dscp,
            }));
        }
        if let Some(path) = wav {
            outputs.push(ZoneOutput::Wav(WavOutput {
                path,
                retention: wav_retention,
            }));
        }
        outputs.extend(local.map(ZoneOutput::Local));
        Zone {
            name,
            channels: codec.fixed_channels().unwrap_or(channels),
            gain_db,
            loudness_target_lufs,
            outputs,
        }
    }

    /// A zone's `wav_rotate`, `wav_keep_days` and `wav_max_total_mb`, with
    /// their defaults; warnings when the zone records nothing.
    fn wav_retention(&mut self, raw: &ZoneTable, name: &str) -> WavRetention {
        let mut r = WavRetention::default();
        if let Some(v) = &raw.wav_rotate {
            match WavRotate::parse(v.get_ref()) {
                Some(rotate) => r.rotate = rotate,
                None => self.error(
                    v.span(),
                    format!(
                        "`wav_rotate` \"{}\" is not known: expected \"daily\", \"hourly\" or \"none\"",
                        v.get_ref()
                    ),
                ),
            }
        }
        if let Some(d) = &raw.wav_keep_days {
            let v = *d.get_ref();
            if schema::WAV_KEEP_DAYS_RANGE.contains(&v) {
                r.keep_days = (v > 0).then_some(v as u32);
            } else {
                self.error(
                    d.span(),
                    format!("`wav_keep_days` {v} is out of range: expected 0..=3650 days (0: no bound by age; default 7)"),
                );
            }
        }
        if let Some(m) = &raw.wav_max_total_mb {
            let v = *m.get_ref();
            if v == 0 {
                r.max_total_bytes = None;
            } else if schema::WAV_MAX_TOTAL_MB_RANGE.contains(&v) {
                r.max_total_bytes = Some((v as u64) << 20);
            } else {
                self.error(
                    m.span(),
                    format!("`wav_max_total_mb` {v} is out of range: expected 16..=16777216 MiB, or 0 for no bound by size (default 2048)"),
                );
            }
        }
        if raw.wav.is_none() {
            let keys = [
                ("wav_rotate", raw.wav_rotate.as_ref().map(|v| v.span())),
                (
                    "wav_keep_days",
                    raw.wav_keep_days.as_ref().map(|v| v.span()),
                ),
                (
                    "wav_max_total_mb",
                    raw.wav_max_total_mb.as_ref().map(|v| v.span()),
                ),
            ];
            for (key, span) in keys {
                if let Some(span) = span {
                    self.warning(
                        span,
                        format!("`{key}` has no effect: zone `{name}` has no `wav`"),
                    );
                }
            }
        }
        r
    }

    fn groups(
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
    fn expand_groups(
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

    fn schedules(
        &mut self,
        value: Option<&Spanned<DeValue<'_>>>,
        targets: &Targets,
        zones: &[ZoneEntry],
    ) -> Vec<(Schedule, Range<usize>)> {
        let Some(value) = value else {
            return Vec::new();
        };
        let Some(items) = self.array_of_tables(value, "schedules") else {
            return Vec::new();
        };
        let group_names: HashSet<&str> = targets.groups.keys().map(String::as_str).collect();
        let mut schedules: Vec<(Schedule, Range<usize>)> = Vec::new();
        for item in items {
            let Some(Parsed { value: raw, .. }) = self.table::<ScheduleTable>(item, "schedule")
            else {
                continue;
            };
            let ScheduleTable {
                name,
                cron,
                playlist,
                text,
                zones: wanted,
                priority,
                shuffle,
                loop_until,
                missed,
                grace_s,
                except_dates,
                except_file,
                active_from,
                active_until,
            } = raw;

            let name_span = name.span();
            let name = name.into_inner();
            if name.trim().is_empty() {
                self.error(name_span.clone(), "schedule name is empty: expected a name");
            } else if let Some((_, first)) = schedules.iter().find(|(s, _)| s.name == name) {
                let line = self.line_of(first);
                self.error(
                    name_span.clone(),
                    format!("duplicate schedule name `{name}`: already used on line {line}"),
                );
            }

            // The scheduler's own parser, so `check` accepts exactly what
            // the daemon runs.
            if let Err(problem) = crate::schedule::CronSchedule::parse(cron.get_ref()) {
                self.error(
                    cron.span(),
                    format!("{problem}; e.g. \"0 0 6 * * Mon-Sat\""),
                );
            }

            let playlist_path = match (&playlist, &text) {
                (Some(p), None) => self.playlist_path(p),
                (None, Some(t)) => {
                    let len = t.get_ref().trim().len();
                    if len == 0 || len > MAX_SCHEDULE_TEXT {
                        self.error(
                            t.span(),
                            format!("`text` is {len} bytes: expected 1..={MAX_SCHEDULE_TEXT} bytes of text to speak"),
                        );
                    }
                    PathBuf::new()
                }
                (Some(p), Some(_)) => {
                    self.error(
                        p.span(),
                        "a schedule plays a `playlist` or speaks a `text`, not both",
                    );
                    PathBuf::new()
                }
                (None, None) => {
                    self.error(
                        name_span.clone(),
                        format!("schedule `{name}` has neither `playlist` nor `text`: expected one of them"),
                    );
                    PathBuf::new()
                }
            };

            let mut selected = BTreeSet::new();
            if wanted.get_ref().is_empty() {
                self.error(
                    wanted.span(),
                    "`zones` is empty: expected zone names, group names or \"all\"",
                );
            }
            for w in wanted.get_ref() {
                let target = w.get_ref().as_str();
                if target == schema::ALL_ZONES {
                    selected.extend(0..zones.len());
                } else if let Some(&z) = targets.zones.get(target) {
                    selected.insert(z);
                } else if let Some(set) = targets.groups.get(target) {
                    selected.extend(set.iter().copied());
                } else if !targets.broken_zones.contains(target) {
                    let message = unknown_target_message(
                        target,
                        &format!("schedule `{name}`"),
                        targets,
                        &group_names,
                    );
                    self.error(w.span(), message);
                }
            }

            let loop_until = loop_until.and_then(|l| {
                let parsed = parse_time_of_day(l.get_ref());
                if parsed.is_none() {
                    self.error(
                        l.span(),
                        "`loop_until`: expected a local time \"HH:MM\" or \"HH:MM:SS\", e.g. \"07:30\"",
                    );
                }
                parsed
            });

            if let Some(p) = priority
                .as_ref()
                .filter(|p| *p.get_ref() >= Priority::EMERGENCY)
            {
                self.error(
                    p.span(),
                    format!(
                        "priority {} is reserved for `corong emergency`: a schedule may use up to 249 (`live` is 150)",
                        p.get_ref().0
                    ),
                );
            }

            schedules.push((
                Schedule {
                    name,
                    cron: cron.into_inner(),
                    playlist: playlist.map(|p| p.into_inner()).unwrap_or_default(),
                    playlist_path,
                    text: text.map(|t| t.into_inner().trim().to_string()),
                    zones: selected
                        .iter()
                        .map(|&i| zones[i].zone.name.clone())
                        .collect(),
                    priority: priority.map_or(schema::DEFAULT_PRIORITY, |p| *p.get_ref()),
                    shuffle: shuffle.unwrap_or(false),
                    loop_until,
                    missed: self.missed(missed.as_ref(), grace_s.as_ref()),
                    except_dates: self.except_dates(except_dates.as_deref(), except_file.as_ref()),
                    active_from: active_from
                        .as_ref()
                        .and_then(|d| self.date(d, "active_from")),
                    active_until: active_until
                        .as_ref()
                        .and_then(|d| self.date(d, "active_until")),
                },
                name_span,
            ));
        }
        schedules
    }

    /// `playlists/NAME.m3u` or `.m3u8` beside the config; an error at the
    /// value if neither exists.
    fn playlist_path(&mut self, playlist: &Spanned<String>) -> PathBuf {
        let name = playlist.get_ref().as_str();
        let folder = self.base_dir.join("playlists");
        if name.trim().is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            self.error(
                playlist.span(),
                format!("`playlist` \"{name}\" is not a playlist name: expected the file name in playlists/ without folder, e.g. \"lagu-nasional\""),
            );
            return folder.join(format!("{name}.m3u"));
        }
        let lower = name.to_ascii_lowercase();
        let candidates: Vec<PathBuf> = if lower.ends_with(".m3u") || lower.ends_with(".m3u8") {
            vec![folder.join(name)]
        } else {
            vec![
                folder.join(format!("{name}.m3u")),
                folder.join(format!("{name}.m3u8")),
            ]
        };
        if let Some(found) = candidates.iter().find(|p| p.is_file()) {
            return found.clone();
        }
        let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        self.error(
            playlist.span(),
            format!(
                "playlist `{name}` not found: expected the file {}",
                looked.join(" or ")
            ),
        );
        candidates[0].clone()
    }

    fn warn_unused_zones(
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

fn unknown_target_message(
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

/// An RTP destination: an IP socket address. Host names are refused
/// because resolving them would make validation touch the network and make
/// the destination change under a running daemon.
fn parse_destination(text: &str) -> Result<SocketAddr, String> {
    let addr = match text.parse::<SocketAddr>() {
        Ok(addr) => addr,
        Err(_) => {
            let looks_like_host = text.rsplit_once(':').is_some_and(|(host, port)| {
                port.parse::<u16>().is_ok()
                    && !host.is_empty()
                    && host.parse::<std::net::IpAddr>().is_err()
                    && !host.starts_with('[')
            });
            return Err(if looks_like_host {
                format!(
                    "RTP destination `{text}`: host names are not supported, expected an IP address and port, e.g. \"192.168.1.50:5004\""
                )
            } else {
                format!(
                    "RTP destination `{text}` is not an IP:port: expected e.g. \"127.0.0.1:5004\", \"239.255.0.1:5008\" or \"[::1]:5004\""
                )
            });
        }
    };
    if addr.port() == 0 {
        return Err(format!(
            "RTP destination `{text}`: port 0 is not a destination port, expected 1..=65534"
        ));
    }
    if addr.port() == u16::MAX {
        return Err(format!(
            "RTP destination `{text}`: port 65535 leaves no port for RTCP (port + 1), expected 1..=65534"
        ));
    }
    if addr.ip().is_unspecified() {
        return Err(format!(
            "RTP destination `{text}`: the unspecified address is not a destination"
        ));
    }
    Ok(addr)
}

/// `"HH:MM"`, `"HH:MM:SS"` or a TOML local time.
fn parse_time_of_day(value: &toml::Value) -> Option<NaiveTime> {
    match value {
        toml::Value::String(s) => NaiveTime::parse_from_str(s.trim(), "%H:%M:%S")
            .or_else(|_| NaiveTime::parse_from_str(s.trim(), "%H:%M"))
            .ok(),
        toml::Value::Datetime(dt) if dt.date.is_none() && dt.offset.is_none() => {
            let t = dt.time?;
            NaiveTime::from_hms_nano_opt(
                u32::from(t.hour),
                u32::from(t.minute),
                u32::from(t.second.unwrap_or(0)),
                t.nanosecond.unwrap_or(0),
            )
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        assert!(parse_destination("127.0.0.1:5004").is_ok());
        assert!(parse_destination("[::1]:5004").is_ok());
        assert!(parse_destination("speaker.local:5004")
            .unwrap_err()
            .contains("host names are not supported"));
        assert!(parse_destination("127.0.0.1")
            .unwrap_err()
            .contains("not an IP:port"));
        assert!(parse_destination("127.0.0.1:0").is_err());
        assert!(parse_destination("127.0.0.1:65535").is_err());
    }

    #[test]
    fn times_of_day() {
        let t = |s: &str| parse_time_of_day(&toml::Value::String(s.into()));
        assert_eq!(t("07:30"), NaiveTime::from_hms_opt(7, 30, 0));
        assert_eq!(t("23:59:59"), NaiveTime::from_hms_opt(23, 59, 59));
        assert_eq!(t("25:00"), None);
        assert_eq!(t("pagi"), None);
    }
}
