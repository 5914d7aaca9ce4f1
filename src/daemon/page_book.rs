//! The live pages the station knows of: who holds which zones (one live
//! page a zone), and where later voices of each page go.

use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;

use super::page_feed::LiveGroup;
use crate::engine::ZoneId;
use crate::ids::JobId;

/// A live page the station knows of.
pub(super) struct Holder {
    pub job: JobId,
    pub user: String,
    pub zones: Vec<ZoneId>,
    /// Voices given to the job later (a zone that was full) go to its feed.
    pub inputs: std_mpsc::Sender<LiveGroup>,
}

/// The live pages on air (or about to be).
#[derive(Default)]
pub(super) struct LivePages {
    pub holders: Vec<Holder>,
    /// The file of the page's pre-chime, per job, until its voices exist.
    pub chimes: Vec<(JobId, Option<PathBuf>)>,
}

impl LivePages {
    pub fn holder(&self, job: JobId) -> Option<&Holder> {
        self.holders.iter().find(|h| h.job == job)
    }
}
