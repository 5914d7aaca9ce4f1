//! Store errors: each says in one line what happened and what the operator
//! can do about it.

use std::io;
use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

use super::model::JobId;

/// Why the store could not do what was asked.
///
/// The first four variants mean "the state store cannot keep what it is
/// given": the daemon keeps its zones playing, logs the error, and refuses new
/// announcements with this message (corong never accepts what it cannot
/// persist). [`StoreError::refuses_new_jobs`] tells them apart from the
/// errors about one job.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store {} is on a full disk: announcements are refused until space is freed there", path.display())]
    Full { path: PathBuf },

    #[error("state store {} is read-only: announcements are refused until it is writable", path.display())]
    ReadOnly { path: PathBuf },

    #[error("state store {} is corrupt: announcements are refused; restart corong to move it aside and start a fresh one", path.display())]
    Corrupt { path: PathBuf },

    #[error("state store {} is locked by another program (is a second corong daemon running on this state_dir?)", path.display())]
    Locked { path: PathBuf },

    #[error("state store {} was written by a newer corong (schema version {found}, this one knows up to {known}): upgrade corong, or move the file aside to start empty", path.display())]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },

    #[error("cannot create state directory {}: {source}", path.display())]
    StateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("there is no state store at {} (is the config's state_dir right?)", path.display())]
    NoStore { path: PathBuf },

    #[error("no job {0}")]
    NoSuchJob(JobId),

    #[error("job {0} has already finished")]
    JobFinished(JobId),

    #[error("job {job} does not play on zone `{zone}`")]
    NoSuchZone { job: JobId, zone: String },

    #[error("job {job} has already finished on zone `{zone}`")]
    ZoneFinished { job: JobId, zone: String },

    #[error("job not accepted: {0}")]
    InvalidJob(String),

    #[error("state store {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("state store {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// Whether the store as a whole cannot take writes now (full, read-only,
    /// corrupt, locked, too new): new announcements must be refused with this
    /// error's message. `false` for errors about one job or zone.
    pub fn refuses_new_jobs(&self) -> bool {
        matches!(
            self,
            StoreError::Full { .. }
                | StoreError::ReadOnly { .. }
                | StoreError::Corrupt { .. }
                | StoreError::Locked { .. }
                | StoreError::NewerSchema { .. }
                | StoreError::StateDir { .. }
                | StoreError::Sqlite { .. }
        )
    }
}

/// Inside the store, failures are either SQLite's (classified into a
/// [`StoreError`] once the database path is at hand) or already a
/// [`StoreError`].
#[derive(Debug)]
pub(crate) enum Failure {
    Db(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Failure::Db(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl Failure {
    pub(crate) fn into_store_error(self, db: &Path) -> StoreError {
        match self {
            Failure::Db(e) => classify(db, e),
            Failure::Store(e) => e,
        }
    }
}

/// Turns a SQLite error into the operator's category. SQLite reports a
/// read-only filesystem or a full disk sometimes by its own code
/// (`SQLITE_READONLY`, `SQLITE_FULL`) and sometimes as a generic I/O or
/// can't-open error; for those, the filesystem holding the database is asked.
pub(crate) fn classify(db: &Path, e: rusqlite::Error) -> StoreError {
    let path = db.to_path_buf();
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::Full { path },
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => StoreError::ReadOnly { path },
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt { path },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked { path },
        Some(ErrorCode::SystemIoFailure | ErrorCode::CannotOpen) => match probe_fs(db) {
            FsState::ReadOnly => StoreError::ReadOnly { path },
            FsState::Full => StoreError::Full { path },
            FsState::Fine => StoreError::Sqlite { path, source: e },
        },
        _ => StoreError::Sqlite { path, source: e },
    }
}

/// Classifies an I/O error on the state directory itself.
pub(crate) fn classify_io(dir: &Path, db: &Path, e: io::Error) -> StoreError {
    match e.raw_os_error() {
        Some(libc::EROFS | libc::EACCES | libc::EPERM) => StoreError::ReadOnly {
            path: db.to_path_buf(),
        },
        Some(libc::ENOSPC | libc::EDQUOT) => StoreError::Full {
            path: db.to_path_buf(),
        },
        _ => StoreError::StateDir {
            path: dir.to_path_buf(),
            source: e,
        },
    }
}

/// Whether the filesystem holding `path` (a file or folder) has no space
/// left for us: for callers outside the store that need to tell a full disk
/// from another failure (text to speech).
pub fn filesystem_full(path: &Path) -> bool {
    matches!(probe_fs(path), FsState::Full)
}

/// Bytes free for us on the filesystem that holds `path` (`/metrics`).
pub fn free_bytes(path: &Path) -> Option<u64> {
    let c_path = c_path(path)?;
    statvfs(&c_path).map(|st| st.f_bavail * st.f_frsize)
}

fn c_path(path: &Path) -> Option<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes()).ok()
}

/// What statvfs says of the filesystem holding `path`.
fn statvfs(path: &std::ffi::CStr) -> Option<libc::statvfs> {
    // SAFETY: `path` is a valid NUL-terminated string that outlives the
    // call; `st` is a plain C struct that statvfs fills in, read only after
    // statvfs returned 0.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(path.as_ptr(), &mut st) == 0).then_some(st)
    }
}

enum FsState {
    ReadOnly,
    Full,
    Fine,
}

/// Looks at the filesystem that holds `db` (or its directory, if the file is
/// not there yet): mounted read-only or not writable by us, or out of space.
fn probe_fs(db: &Path) -> FsState {
    let target = if db.exists() {
        db
    } else {
        db.parent().unwrap_or(db)
    };
    let Some(c_path) = c_path(target) else {
        return FsState::Fine;
    };
    if let Some(st) = statvfs(&c_path) {
        if st.f_flag & libc::ST_RDONLY != 0 {
            return FsState::ReadOnly;
        }
        if st.f_bavail == 0 {
            return FsState::Full;
        }
    }
    // SAFETY: `c_path` is a valid NUL-terminated string that outlives the
    // call.
    if unsafe { libc::access(c_path.as_ptr(), libc::W_OK) } != 0 {
        return FsState::ReadOnly;
    }
    FsState::Fine
}

/// A value the schema allows but this code never writes: the database was
/// edited or damaged. Reported as corruption.
pub(crate) fn bad_value(column: &str, value: &str) -> Failure {
    Failure::Db(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
        Some(format!("unexpected value {value:?} in {column}")),
    ))
}
