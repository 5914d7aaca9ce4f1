//! `corong backup`: a consistent copy of the state database, taken with
//! SQLite's online backup API, so it is safe while the daemon runs and
//! writes (copying `corong.db` with `cp` then can miss what is still in
//! `corong.db-wal`, or catch a page half-written).
//!
//! The copy is written to a temporary name beside the destination, checked
//! (`quick_check`, its jobs counted), switched to the rollback journal (one
//! self-contained file) and synced, then renamed into place: a failed backup
//! never leaves a partial file under the destination's name.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};

use super::error::{classify, classify_io};
use super::{StoreError, DB_FILE};

/// What a backup copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// The database copied.
    pub source: PathBuf,
    /// The file written.
    pub dest: PathBuf,
    /// Rows of `jobs`, and how many of them are unfinished (the queue).
    pub jobs: i64,
    pub queued: i64,
    /// Rows of the as-run log.
    pub as_run: i64,
}

/// Pages copied per step; between steps the daemon may write.
const PAGES_PER_STEP: i32 = 256;
const PAUSE_BETWEEN_STEPS: Duration = Duration::from_millis(5);

/// Copy `state_dir/corong.db` to `dest` (a file, or a folder to put
/// `corong.db` in). Errors name the file concerned.
pub fn backup(state_dir: &Path, dest: &Path) -> Result<BackupSummary, StoreError> {
    let source = state_dir.join(DB_FILE);
    if !source.is_file() {
        return Err(StoreError::NoStore { path: source });
    }
    let dest = if dest.is_dir() {
        dest.join(DB_FILE)
    } else {
        dest.to_path_buf()
    };
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp_name = dest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| DB_FILE.into());
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = copy_to(&source, &tmp).and_then(|counts| {
        fs::rename(&tmp, &dest).map_err(|e| classify_io(&dir, &dest, e))?;
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(counts)
    });
    match result {
        Ok((jobs, queued, as_run)) => Ok(BackupSummary {
            source,
            dest,
            jobs,
            queued,
            as_run,
        }),
        Err(e) => {
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let mut p = tmp.as_os_str().to_os_string();
                p.push(suffix);
                let _ = fs::remove_file(p);
            }
            Err(e)
        }
    }
}

/// Copy `source` into a new database at `tmp`; returns (jobs, unfinished,
/// as-run rows) counted in the copy.
fn copy_to(source: &Path, tmp: &Path) -> Result<(i64, i64, i64), StoreError> {
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| classify(source, e))?;
    src.busy_timeout(Duration::from_secs(5))
        .map_err(|e| classify(source, e))?;
    let _ = fs::remove_file(tmp);
    let mut dst = Connection::open(tmp).map_err(|e| classify(tmp, e))?;
    {
        let backup = Backup::new(&src, &mut dst).map_err(|e| classify(source, e))?;
        backup
            .run_to_completion(PAGES_PER_STEP, PAUSE_BETWEEN_STEPS, None)
            .map_err(|e| classify(tmp, e))?;
    }
    // The source is in WAL mode and so is the copy's header: make the copy
    // one self-contained file that opens anywhere, even read-only.
    let check = |e| classify(tmp, e);
    let _: String = dst
        .pragma_update_and_check(None, "journal_mode", "delete", |r| r.get(0))
        .map_err(check)?;
    let ok: String = dst
        .pragma_query_value(None, "quick_check", |r| r.get(0))
        .map_err(check)?;
    if ok != "ok" {
        return Err(StoreError::Corrupt {
            path: source.to_path_buf(),
        });
    }
    let count = |sql: &str| dst.query_row(sql, [], |r| r.get::<_, i64>(0));
    let jobs = count("SELECT count(*) FROM jobs").map_err(check)?;
    let queued = count("SELECT count(*) FROM jobs WHERE finished_at_ms IS NULL").map_err(check)?;
    let as_run = count("SELECT count(*) FROM as_run").map_err(check)?;
    drop(dst);
    fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| classify_io(tmp.parent().unwrap_or(Path::new(".")), tmp, e))?;
    Ok((jobs, queued, as_run))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{JobKind, NewJob, Store};

    #[test]
    fn copies_the_queue_into_one_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let mut store = Store::open(&state).unwrap();
        for _ in 0..3 {
            store
                .accept(&NewJob {
                    kind: JobKind::Announcement,
                    origin: "budi".into(),
                    priority: 100,
                    zones: vec!["pasar".into()],
                    files: vec!["/srv/a.wav".into()],
                    chime_before: false,
                    chime_after: false,
                    not_before: None,
                    repeat: 1,
                    repeat_interval: Duration::ZERO,
                    text: None,
                })
                .unwrap();
        }
        // The store stays open (as in a running daemon): its writes are in
        // the WAL, not yet in corong.db.
        let out = dir.path().join("backups");
        fs::create_dir(&out).unwrap();
        let summary = backup(&state, &out).unwrap();
        assert_eq!(summary.dest, out.join("corong.db"));
        assert_eq!((summary.jobs, summary.queued, summary.as_run), (3, 3, 0));
        let names: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["corong.db"]);
        let copy = Connection::open(out.join("corong.db")).unwrap();
        let n: i64 = copy
            .query_row("SELECT count(*) FROM jobs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3);
        drop(store);
    }

    #[test]
    fn no_store_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = backup(dir.path(), &dir.path().join("copy.db")).unwrap_err();
        assert!(
            err.to_string().contains(&format!(
                "there is no state store at {}",
                dir.path().join("corong.db").display()
            )),
            "{err}"
        );
        assert!(!dir.path().join("copy.db").exists());
    }
}
