//! The ledger's vocabulary: what a trigger asks for ([`JobSpec`], from an
//! [`Origin`]), what the ledger keeps of a job while it has something to do
//! ([`Job`]), and what it asks the shell to do ([`Effect`]).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::control::protocol::{ErrorCode, JobState, Progress, Reply, Response};
use crate::engine::voice::{EndReason, Yield};
use crate::engine::ZoneId;
use crate::ids::JobId;
use crate::media::prefetch::Order;
use crate::priority::Priority;
use crate::store::{How, JobKind};

/// Who or what started a job. Each trigger (a schedule, an operator at the
/// terminal, an emergency) has its own, so the as-run log and the audit
/// say where a job came from; the web console, live pages, hazard feeds and
/// other kiosks are new variants here, not new roads into `play`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A schedule's fire: the schedule's name.
    Schedule(String),
    /// An operator on the control socket: the user name.
    Operator(String),
    /// `corong emergency`: the user name.
    Emergency(String),
    /// `corong page`: the user name.
    Page(String),
    /// A hazard alert's playbook: the alert's number in `corong alerts`.
    Alert(u64),
}

impl Origin {
    /// How the job's origin is written in the store and the as-run log
    /// (`schedule:NAME`, `operator:USER`, `emergency:USER`, `page:USER`,
    /// `alert:ID`).
    pub fn label(&self) -> String {
        match self {
            Origin::Schedule(name) => format!("schedule:{name}"),
            Origin::Operator(user) => format!("operator:{user}"),
            Origin::Emergency(user) => format!("emergency:{user}"),
            Origin::Page(user) => format!("page:{user}"),
            Origin::Alert(id) => format!("alert:{id}"),
        }
    }
}

/// A job a trigger wants played. The trigger has checked it against the
/// config: the zones exist, the files open.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub kind: JobKind,
    pub origin: Origin,
    pub priority: Priority,
    pub zones: Vec<ZoneId>,
    /// The media, without chimes (the ledger adds them, and an emergency's
    /// alert signal).
    pub files: Vec<PathBuf>,
    pub chime_before: bool,
    pub chime_after: bool,
    /// `--at`: not before this time.
    pub not_before: Option<DateTime<Utc>>,
    /// Plays in all, at least 1, `interval` apart.
    pub repeat: u32,
    pub interval: std::time::Duration,
    /// The text of a `say` or `emergency --text` job.
    pub text: Option<String>,
    /// Set for a schedule's run.
    pub run: Option<Run>,
}

impl JobSpec {
    /// A job that plays `files` once on `zones`, now, with no chimes; the
    /// fields a trigger needs change from there.
    pub fn new(
        kind: JobKind,
        origin: Origin,
        priority: Priority,
        zones: Vec<ZoneId>,
        files: Vec<PathBuf>,
    ) -> JobSpec {
        JobSpec {
            kind,
            origin,
            priority,
            zones,
            files,
            chime_before: false,
            chime_after: false,
            not_before: None,
            repeat: 1,
            interval: std::time::Duration::ZERO,
            text: None,
            run: None,
        }
    }
}

/// How a schedule's run plays its playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub shuffle: bool,
    /// `loop_until`: start over until this wall-clock time, then stop.
    pub loop_until: Option<SystemTime>,
}

/// Why a job was not started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// The store cannot keep it (operators' jobs are refused then: corong
    /// never accepts what it cannot keep).
    #[error("{0}")]
    Store(String),
}

impl StartError {
    pub fn code(&self) -> ErrorCode {
        match self {
            StartError::Store(_) => ErrorCode::Failed,
        }
    }
}

/// Why an operator's change to a job was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    #[error("no job {0} (see `corong queue`)")]
    NoSuchJob(JobId),
    #[error("job {0} has already finished")]
    Finished(JobId),
    #[error("{0}")]
    Store(String),
}

impl JobError {
    pub fn code(&self) -> ErrorCode {
        match self {
            JobError::NoSuchJob(_) | JobError::Finished(_) => ErrorCode::NotFound,
            JobError::Store(_) => ErrorCode::Failed,
        }
    }
}

/// What the ledger asks the shell (the station) to do. The ledger decides;
/// the shell owns the engine, the decoders and the timers.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Give job `job` a voice on each of `zones` (each has a place) and
    /// decode `files` into them in `order`.
    Play {
        job: JobId,
        zones: Vec<ZoneId>,
        priority: Priority,
        yields: Yield,
        files: Vec<PathBuf>,
        order: Order,
    },
    /// End `job` on `zone` (every zone when `None`).
    Stop {
        job: JobId,
        zone: Option<ZoneId>,
        reason: EndReason,
    },
    /// End everything on `zone`.
    StopZone { zone: ZoneId, reason: EndReason },
    /// Skip the item on air on `zone`.
    Skip { zone: ZoneId },
    /// Call [`super::Ledger::on_wake`] for `job` at `at`.
    WakeAt { job: JobId, at: DateTime<Utc> },
    /// End `job` everywhere at `until` (a schedule's loop end).
    StopAt { job: JobId, until: SystemTime },
}

/// A job as the ledger knows it while it has something to do.
pub struct Job {
    pub kind: JobKind,
    pub origin: String,
    pub priority: Priority,
    /// The schedule whose run this is.
    pub schedule: Option<String>,
    /// The store has it: progress and as-run rows go through `finish_zone`.
    pub persisted: bool,
    /// Cancelled through the store, which logged the cut-off items itself.
    pub cancelled: bool,
    /// Its content was replaced in the store (an alert's Update): its old
    /// voices are ending, and the new content plays once they all have.
    pub replacing: bool,
    /// Zones of the job, and those it has finished on (all repeats).
    pub zones_total: usize,
    pub zones_done: usize,
    /// Zones where it has a voice now or waits for one, and those of them
    /// paused.
    pub playing: BTreeSet<ZoneId>,
    pub paused: BTreeSet<ZoneId>,
    /// The file behind each (zone, item), learnt from the decoders.
    pub items: HashMap<(ZoneId, u32), PathBuf>,
    /// The item on air on each zone, and since when.
    pub current: HashMap<ZoneId, (u32, DateTime<Utc>)>,
    /// Files already reported as failed (each is logged once per job).
    pub failed: BTreeSet<PathBuf>,
    /// Items cut short after they opened (failed) or found damaged at their
    /// end, and why: their as-run row ends so, with the reason.
    pub cut: HashMap<(ZoneId, u32), (How, String)>,
    /// Clients waiting (`--wait`) for progress.
    pub waiters: Vec<mpsc::Sender<Response>>,
    /// Fires of its schedule skipped while it played.
    pub skipped_fires: u32,
    /// The text of a `say` or `emergency --text` job (its title).
    pub text: Option<String>,
}

impl Job {
    pub(super) fn new(kind: JobKind, origin: String, priority: Priority, zones: usize) -> Job {
        Job {
            kind,
            origin,
            priority,
            schedule: None,
            persisted: false,
            cancelled: false,
            replacing: false,
            zones_total: zones,
            zones_done: 0,
            playing: BTreeSet::new(),
            paused: BTreeSet::new(),
            items: HashMap::new(),
            current: HashMap::new(),
            failed: BTreeSet::new(),
            cut: HashMap::new(),
            waiters: Vec::new(),
            skipped_fires: 0,
            text: None,
        }
    }

    /// Where job `id` is, for its `--wait` clients.
    pub fn progress(&self, id: JobId, state: JobState, reason: Option<String>) -> Progress {
        Progress {
            id,
            zones_done: self.zones_done,
            zones_total: self.zones_total,
            state,
            reason,
        }
    }
}

/// A `stop` or `emergency --stop` whose answer waits for voices to end.
pub struct Release {
    /// The (job, zone) voices still to end.
    pub ending: BTreeSet<(JobId, ZoneId)>,
    pub reply: mpsc::Sender<Response>,
    pub done: Reply,
    /// Answer anyway then.
    pub deadline: Instant,
}
