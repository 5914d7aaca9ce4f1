//! `corong check`: validate the config, every playlist and every media file.
//!
//! Exit 0 only when everything is good. Every problem is one line
//! `file:line:col: error: message` (media errors point at the playlist line
//! that names the file).
//!
//! With loudness normalisation on, every file is measured (or found in the
//! state store's cache, which this fills for the daemon) and its line says
//! its loudness, true peak and the gain it will get; a file that cannot
//! reach the target (too quiet for `max_gain_db`, or its peaks would pass
//! the ceiling) gets a warning, which does not fail the check.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::{Config, Diagnostic, Severity};
use crate::media::loudness::{self, Limit, NoPersist, Persist, Target};
use crate::media::{self, SourceInfo};
use crate::playlist;

pub fn run(config_path: &Path) -> ExitCode {
    let config = match crate::config::load_with_warnings(config_path) {
        Ok((config, warnings)) => {
            for w in &warnings.0 {
                println!("{w}");
            }
            config
        }
        Err(diags) => {
            for d in &diags.0 {
                println!("{d}");
            }
            return ExitCode::from(2);
        }
    };
    let rate = config.daemon.sample_rate;
    let mut errors = 0usize;
    let mut meter = Meter::new(&config);
    // The configured chime and alert signal must play too.
    let level_chimes = config.announcements.level_chime_files();
    let sounds = [
        ("chime", config.announcements.chime.as_ref()),
        ("alert", config.announcements.alert.as_ref()),
    ]
    .into_iter()
    .chain(level_chimes.iter().map(|p| ("chimes", Some(p))));
    for (key, path) in sounds {
        let Some(path) = path else { continue };
        match media::check(path, rate) {
            Ok(info) if key == "alert" && !alert_length_ok(&info) => {
                errors += 1;
                println!(
                    "{}: error: [announcements] alert: {} lasts {}: voice-alarm practice wants an alert signal of 3 to 10 s before the message",
                    config.path.display(),
                    path.display(),
                    info.duration
                        .map_or("an unknown time".to_string(), |d| format!("{:.1} s", d.as_secs_f64()))
                );
            }
            Ok(info) => {
                let levels = meter.describe(path);
                println!("ok: {} ({}{levels})", path.display(), describe(&info));
                meter.warn(path, None);
            }
            Err(e) => {
                errors += 1;
                println!(
                    "{}: error: [announcements] {key}: {e}",
                    config.path.display()
                );
            }
        }
    }
    // Each distinct file is decoded once, and reported at every reference.
    let mut checked: BTreeMap<PathBuf, Result<SourceInfo, String>> = BTreeMap::new();
    let mut playlists_seen = Vec::new();
    for sched in &config.schedules {
        if sched.text.is_some() {
            // Spoken when it fires: espeak-ng must be there.
            if !crate::daemon::sounds::tts_available() {
                println!(
                    "{}: warning: schedule `{}` speaks a text, but the espeak-ng program is not installed",
                    config.path.display(),
                    sched.name
                );
            }
            continue;
        }
        if playlists_seen.contains(&sched.playlist_path) {
            continue;
        }
        playlists_seen.push(sched.playlist_path.clone());
        let list = match playlist::load(&sched.playlist_path) {
            Ok(l) => l,
            Err(diags) => {
                for d in &diags.0 {
                    println!("{d}");
                }
                errors += diags.0.len();
                continue;
            }
        };
        if list.entries.is_empty() {
            println!(
                "{}:1:1: warning: playlist is empty (schedule `{}` will play nothing)",
                list.path.display(),
                sched.name
            );
        }
        for entry in &list.entries {
            let result = checked
                .entry(entry.path.clone())
                .or_insert_with(|| media::check(&entry.path, rate).map_err(|e| e.to_string()));
            match result {
                Ok(info) => {
                    let levels = meter.describe(&entry.path);
                    println!("ok: {} ({}{levels})", entry.path.display(), describe(info));
                    meter.warn(&entry.path, Some((&list.path, entry.line)));
                }
                Err(reason) => {
                    errors += 1;
                    let d = Diagnostic {
                        severity: Severity::Error,
                        file: list.path.clone(),
                        line: entry.line,
                        column: 1,
                        message: reason.clone(),
                    };
                    println!("{d}");
                }
            }
        }
    }
    println!(
        "{}: {} zones, {} schedules, {} playlists, {} media files, {} errors",
        config.path.display(),
        config.zones.len(),
        config.schedules.len(),
        playlists_seen.len(),
        checked.len(),
        errors
    );
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn describe(info: &SourceInfo) -> String {
    let mut s = format!(
        "{}, {} Hz, {} ch",
        info.codec, info.sample_rate, info.channels
    );
    if let Some(d) = info.duration {
        s.push_str(&format!(", {:.1} s", d.as_secs_f64()));
    }
    s
}

/// Loudness for `check`: each file measured once per channel count the
/// zones play, through the state store's cache when it can be opened.
struct Meter {
    rate: u32,
    /// (zone names, channels, target) for each distinct target.
    targets: Vec<(Vec<String>, u16, Target)>,
    persist: Box<dyn Persist>,
    measured: BTreeMap<(PathBuf, u16), Option<loudness::Measurement>>,
}

impl Meter {
    fn new(config: &Config) -> Meter {
        let mut targets: Vec<(Vec<String>, u16, Target)> = Vec::new();
        for zone in &config.zones {
            let Some(t) = config.loudness_target(zone) else {
                continue;
            };
            match targets
                .iter_mut()
                .find(|(_, ch, tt)| *ch == zone.channels && *tt == t)
            {
                Some(entry) => entry.0.push(zone.name.clone()),
                None => targets.push((vec![zone.name.clone()], zone.channels, t)),
            }
        }
        // The cache only when the store is there already: `check` does not
        // create the daemon's state.
        let persist: Box<dyn Persist> = if targets.is_empty()
            || !config.daemon.state_dir.join(crate::store::DB_FILE).exists()
        {
            Box::new(NoPersist)
        } else {
            match crate::store::Store::open(&config.daemon.state_dir) {
                Ok(s) if s.is_writable() => Box::new(s),
                _ => Box::new(NoPersist),
            }
        };
        Meter {
            rate: config.daemon.sample_rate,
            targets,
            persist,
            measured: BTreeMap::new(),
        }
    }

    fn measurement(&mut self, path: &Path, channels: u16) -> Option<loudness::Measurement> {
        let key = (path.to_path_buf(), channels);
        if let Some(m) = self.measured.get(&key) {
            return *m;
        }
        let m = loudness::measure_cached(path, self.rate, channels, self.persist.as_mut())
            .map(|(m, _)| m)
            .ok();
        self.measured.insert(key, m);
        m
    }

    /// `; -23.0 LUFS, -3.1 dBTP, gain +7.0 dB` (per zone when zones differ).
    fn describe(&mut self, path: &Path) -> String {
        let mut parts = Vec::new();
        let several = self.targets.len() > 1;
        for (zones, ch, target) in self.targets.clone() {
            let Some(m) = self.measurement(path, ch) else {
                continue;
            };
            let g = loudness::plan(&m, &target);
            let level = if m.is_silent() {
                "silent".to_string()
            } else {
                format!(
                    "{:.1} LUFS, {:.1} dBTP",
                    m.integrated_lufs, m.true_peak_dbtp
                )
            };
            let zones = if several {
                format!(" in {}", zones.join(","))
            } else {
                String::new()
            };
            parts.push(format!("{level}, gain {:+.1} dB{zones}", g.db));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("; {}", parts.join("; "))
        }
    }

    /// A warning for each target the file cannot reach.
    fn warn(&mut self, path: &Path, at: Option<(&Path, usize)>) {
        for (zones, ch, target) in self.targets.clone() {
            let Some(m) = self.measurement(path, ch) else {
                continue;
            };
            let g = loudness::plan(&m, &target);
            let why = match g.limit {
                Limit::None => continue,
                Limit::Silent => "it is silent".to_string(),
                Limit::MaxGain => format!(
                    "it is too quiet ({:.1} LUFS) to reach {:.1} LUFS within max_gain_db {:.1}: it plays at {:.1} LUFS",
                    m.integrated_lufs, target.lufs, target.max_gain_db, g.result_lufs
                ),
                Limit::Ceiling => format!(
                    "its peaks ({:.1} dBTP) allow only {:+.1} dB under the {:.1} dBTP ceiling: it plays at {:.1} LUFS, not {:.1}",
                    m.true_peak_dbtp, g.db, target.ceiling_dbtp, g.result_lufs, target.lufs
                ),
            };
            let d = Diagnostic {
                severity: Severity::Warning,
                file: at
                    .map(|a| a.0.to_path_buf())
                    .unwrap_or_else(|| path.to_path_buf()),
                line: at.map(|a| a.1).unwrap_or(1),
                column: 1,
                message: format!("{}: {why} (zones {})", path.display(), zones.join(",")),
            };
            println!("{d}");
        }
    }
}

/// Whether an emergency alert signal lasts 3 to 10 s (voice-alarm
/// practice), as far as its header says.
fn alert_length_ok(info: &SourceInfo) -> bool {
    info.duration
        .is_some_and(|d| (3.0..=10.0).contains(&d.as_secs_f64()))
}
