//! The ids every layer shares: a job's and a zone's. A leaf: it imports
//! nothing, so the store, the audio threads and the control plane can all
//! name a job by the same type, never by a bare integer cast back and forth.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A job's id: the SQLite rowid of its row in `jobs`. Ids grow and are never
/// reused, across restarts and after rows are pruned (`AUTOINCREMENT`).
///
/// JSON: a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A zone inside the engine, assigned by the control plane when a zone is
/// added (at start and by each reload that adds one) and never reused while
/// the daemon runs: a late event from a zone that a reload removed cannot
/// be taken for its successor's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ZoneId(pub u32);

impl ZoneId {
    /// The id after this one.
    pub fn next(self) -> ZoneId {
        ZoneId(self.0 + 1)
    }
}

impl fmt::Display for ZoneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
