//! `corong backup DEST`: a consistent copy of the state database, safe
//! while the daemon runs (SQLite's online backup API; see
//! `store/backup.rs`). Needs only the config's `state_dir`.

use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;

pub fn run(config: &Config, dest: &Path) -> ExitCode {
    match crate::store::backup(&config.daemon.state_dir, dest) {
        Ok(s) => {
            println!(
                "backed up {} to {}: {} jobs ({} queued), {} as-run rows",
                s.source.display(),
                s.dest.display(),
                s.jobs,
                s.queued,
                s.as_run
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("corong: backup to {} failed: {e}", dest.display());
            ExitCode::FAILURE
        }
    }
}
