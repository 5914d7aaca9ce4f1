//! `corong check`: validate the config, every playlist and every media file.
//!
//! Exit 0 only when everything is good. Every problem is one line
//! `file:line:col: error: message` (media errors point at the playlist line
//! that names the file).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::{Diagnostic, Severity};
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
    // The configured chime and alert signal must play too.
    let sounds = [
        ("chime", config.announcements.chime.as_ref()),
        ("alert", config.announcements.alert.as_ref()),
    ];
    for (key, path) in sounds {
        let Some(path) = path else { continue };
        match media::check(path, rate) {
            Ok(info) => println!("ok: {} ({})", path.display(), describe(&info)),
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
                Ok(info) => println!("ok: {} ({})", entry.path.display(), describe(info)),
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
