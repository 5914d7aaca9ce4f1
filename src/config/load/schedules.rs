//! `[[schedules]]`: the cron expression (parsed here, once), what plays,
//! where, and on which dates.

use std::collections::{BTreeSet, HashSet};
use std::ops::Range;
use std::path::PathBuf;

use chrono::{NaiveDate, NaiveTime};
use toml::de::DeValue;
use toml::Spanned;

use super::loader::{Loader, Parsed};
use super::targets::{unknown_target_message, Targets};
use super::zones::ZoneEntry;
use crate::config::model::{Missed, Schedule};
use crate::config::schema::{self, ScheduleTable};
use crate::cron::CronSchedule;
use crate::priority::Priority;

/// Longest schedule `text`, bytes: what `corong say` takes.
const MAX_SCHEDULE_TEXT: usize = crate::limits::MAX_TEXT;

impl Loader<'_> {
    pub(super) fn schedules(
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
        // Every name seen, also of schedules too broken to keep, so that
        // duplicates are reported all the same.
        let mut names: Vec<(String, Range<usize>)> = Vec::new();
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
            } else if let Some((_, first)) = names.iter().find(|(n, _)| *n == name) {
                let line = self.line_of(first);
                self.error(
                    name_span.clone(),
                    format!("duplicate schedule name `{name}`: already used on line {line}"),
                );
            }
            names.push((name.clone(), name_span.clone()));

            // The scheduler's own parser, so `check` accepts exactly what
            // the daemon runs; the config holds the parsed expression.
            let cron = match CronSchedule::parse(cron.get_ref()) {
                Ok(parsed) => Some(parsed),
                Err(problem) => {
                    self.error(
                        cron.span(),
                        format!("{problem}; e.g. \"0 0 6 * * Mon-Sat\""),
                    );
                    None
                }
            };

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

            let missed = self.missed(missed.as_ref(), grace_s.as_ref());
            let except_dates = self.except_dates(except_dates.as_deref(), except_file.as_ref());
            let active_from = active_from
                .as_ref()
                .and_then(|d| self.date(d, "active_from"));
            let active_until = active_until
                .as_ref()
                .and_then(|d| self.date(d, "active_until"));
            // A bad expression has been reported; the rest was checked.
            let Some(cron) = cron else { continue };
            schedules.push((
                Schedule {
                    name,
                    cron,
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
                    missed,
                    except_dates,
                    active_from,
                    active_until,
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
    fn times_of_day() {
        let t = |s: &str| parse_time_of_day(&toml::Value::String(s.into()));
        assert_eq!(t("07:30"), NaiveTime::from_hms_opt(7, 30, 0));
        assert_eq!(t("23:59:59"), NaiveTime::from_hms_opt(23, 59, 59));
        assert_eq!(t("25:00"), None);
        assert_eq!(t("pagi"), None);
    }
}
