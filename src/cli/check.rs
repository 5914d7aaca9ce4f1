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
//! the ceiling) gets a warning, which does not fail the check. The files
//! are measured side by side on every core, at the lowest CPU priority
//! ([`crate::media::measure`]), so a check on a kiosk that is on air leaves
//! the daemon its cores.
//!
//! `--measure` is for warming the daemon's cache: the state store is
//! created if it is not there yet (without the flag `check` leaves the
//! daemon's state alone, and uses the cache only if the store exists), a
//! store that cannot be written fails the check, and a last line says how
//! much was measured and how fast.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{Config, Diagnostic, Severity};
use crate::media::loudness::{self, Limit, NoPersist, Persist, Target};
use crate::media::measure::{all_workers, Pool};
use crate::media::{self, panics, SourceInfo};
use crate::playlist;

/// `corong check`; with `measure`, `--measure` (see the module docs).
pub fn run(config_path: &Path, measure: bool) -> ExitCode {
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
    let mut meter = match Meter::new(&config, measure) {
        Ok(m) => m,
        Err(e) => {
            println!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let began = Instant::now();
    let warmed = meter.measure_all(&every_file(&config));
    let took = began.elapsed();
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
    if measure {
        println!("{}", warmed.describe(&checked, took));
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

/// Every media file the daemon may measure: the announcement sounds, then
/// each schedule's playlist in config order (a playlist that does not load
/// is reported by the check itself).
fn every_file(config: &Config) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = [&config.announcements.chime, &config.announcements.alert]
        .into_iter()
        .flatten()
        .cloned()
        .chain(config.announcements.level_chime_files())
        .collect();
    for sched in config.schedules.iter().filter(|s| s.text.is_none()) {
        if let Ok(list) = playlist::load(&sched.playlist_path) {
            files.extend(list.entries.into_iter().map(|e| e.path));
        }
    }
    let mut seen = BTreeSet::new();
    files.retain(|f| seen.insert(f.clone()));
    files
}

/// What [`Meter::measure_all`] did.
#[derive(Debug, Default)]
struct Warmed {
    /// Loudness normalisation is on for some zone.
    on: bool,
    threads: usize,
    /// Files measured now, found in the cache (in every channel count),
    /// and not measured (the check of the file says why).
    measured: BTreeSet<PathBuf>,
    cached: BTreeSet<PathBuf>,
    failed: BTreeSet<PathBuf>,
}

impl Warmed {
    /// The `--measure` line: how much, how fast.
    fn describe(
        &self,
        checked: &BTreeMap<PathBuf, Result<SourceInfo, String>>,
        took: Duration,
    ) -> String {
        if !self.on {
            return "loudness: normalisation is off for every zone: nothing to measure".into();
        }
        let audio: f64 = self
            .measured
            .iter()
            .filter_map(|f| checked.get(f)?.as_ref().ok()?.duration)
            .map(|d| d.as_secs_f64())
            .fold(0.0, |a, b| a + b);
        format!(
            "loudness: {} measured ({:.2} h of audio), {} found in the cache, {} failed; {:.1} s on {} threads",
            self.measured.len(),
            audio / 3600.0,
            self.cached.difference(&self.measured).count(),
            self.failed.len(),
            took.as_secs_f64(),
            self.threads
        )
    }
}

/// Loudness for `check`: each file measured once per channel count the
/// zones play, through the state store's cache when it can be opened.
struct Meter {
    rate: u32,
    /// (zone names, channels, target) for each distinct target.
    targets: Vec<(Vec<String>, u16, Target)>,
    /// Shared with the measuring threads (see
    /// [`loudness::measure_cached_shared`]).
    persist: Arc<Mutex<Box<dyn Persist>>>,
    measured: BTreeMap<(PathBuf, u16), Option<loudness::Measurement>>,
}

impl Meter {
    /// With `warm` (`--measure`), the store is created if need be and must
    /// be writable: the error says which store and why.
    fn new(config: &Config, warm: bool) -> Result<Meter, String> {
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
        let state = &config.daemon.state_dir;
        let db = state.join(crate::store::DB_FILE);
        // Without `--measure`, the cache only when the store is there
        // already: `check` does not create the daemon's state.
        let persist: Box<dyn Persist> = if targets.is_empty() || (!warm && !db.exists()) {
            Box::new(NoPersist)
        } else {
            match crate::store::Store::open(state) {
                Ok(s) if s.is_writable() => Box::new(s),
                Ok(_) if warm => {
                    return Err(format!(
                        "{}: error: cannot warm the loudness cache: the state store is read-only for this user (run `corong check --measure` as the daemon's user)",
                        db.display()
                    ))
                }
                Err(e) if warm => {
                    return Err(format!(
                        "{}: error: cannot warm the loudness cache: {e}",
                        db.display()
                    ))
                }
                _ => Box::new(NoPersist),
            }
        };
        Ok(Meter {
            rate: config.daemon.sample_rate,
            targets,
            persist: Arc::new(Mutex::new(persist)),
            measured: BTreeMap::new(),
        })
    }

    /// Measure (or find in the cache) every one of `files` in every channel
    /// count the zones play, on a pool of measuring threads, all cores at
    /// the lowest priority.
    fn measure_all(&mut self, files: &[PathBuf]) -> Warmed {
        let mut channels: Vec<u16> = self.targets.iter().map(|t| t.1).collect();
        channels.sort_unstable();
        channels.dedup();
        let mut warmed = Warmed {
            on: !channels.is_empty(),
            threads: all_workers(),
            ..Warmed::default()
        };
        let jobs: Vec<(PathBuf, u16)> = files
            .iter()
            .flat_map(|f| channels.iter().map(move |&ch| (f.clone(), ch)))
            .collect();
        if jobs.is_empty() {
            return warmed;
        }
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let (rate, persist) = (self.rate, self.persist.clone());
        let pool = Pool::start(
            "corong-check",
            warmed.threads,
            move |(path, ch): (PathBuf, u16)| {
                // A decoder panic is one file's failure, reported by the check
                // of that file; the other threads go on.
                let got =
                    panics::contain(|| loudness::measure_cached_shared(&path, rate, ch, &persist))
                        .ok()
                        .and_then(Result::ok);
                let _ = tx
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .send((path, ch, got));
            },
        );
        let Ok(pool) = pool else {
            // No thread: the files are measured one by one as they are
            // reported, as before.
            warmed.threads = 0;
            return warmed;
        };
        warmed.threads = pool.workers();
        let n = jobs.len();
        for job in jobs {
            pool.push_back(job);
        }
        for _ in 0..n {
            let Ok((path, ch, got)) = rx.recv() else {
                break;
            };
            let _ = match got {
                Some((_, true)) => warmed.cached.insert(path.clone()),
                Some((_, false)) => warmed.measured.insert(path.clone()),
                None => warmed.failed.insert(path.clone()),
            };
            self.measured.insert((path, ch), got.map(|(m, _)| m));
        }
        // The threads' hold on the store ends here: it closes cleanly
        // when `check` ends.
        pool.finish();
        warmed
    }

    fn measurement(&mut self, path: &Path, channels: u16) -> Option<loudness::Measurement> {
        let key = (path.to_path_buf(), channels);
        if let Some(m) = self.measured.get(&key) {
            return *m;
        }
        let m = loudness::measure_cached_shared(path, self.rate, channels, &self.persist)
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
