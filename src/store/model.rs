//! What the store keeps, as Rust values, and their JSON shape.
//!
//! The JSON shape is part of the operator contract (`corong queue --json`,
//! `corong log --json`): fields are only ever added. Times are RFC 3339 in UTC
//! with milliseconds (`"2026-11-05T07:02:00.000Z"`), durations are whole
//! milliseconds in a field whose name ends in `_ms`, enums are lowercase
//! strings.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::ids::JobId;

/// What kind of job this is. JSON: `"announcement"`, `"emergency"`, `"say"`,
/// `"schedule"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// `corong announce FILE...`
    Announcement,
    /// `corong emergency ...`
    Emergency,
    /// `corong say TEXT`: `text` holds what is spoken; `files` what was
    /// synthesised from it, if anything yet.
    Say,
    /// A scheduled playlist run, stored when the daemon wants it to survive a
    /// restart and to have a job id in the as-run log. It is not an
    /// announcement: [`Store::queue`](super::Store::queue) leaves it out.
    Schedule,
}

impl JobKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            JobKind::Announcement => "announcement",
            JobKind::Emergency => "emergency",
            JobKind::Say => "say",
            JobKind::Schedule => "schedule",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<JobKind> {
        Some(match s {
            "announcement" => JobKind::Announcement,
            "emergency" => JobKind::Emergency,
            "say" => JobKind::Say,
            "schedule" => JobKind::Schedule,
            _ => return None,
        })
    }
}

/// A job as the control plane hands it to the store. The caller has checked
/// it against the config (zones exist, lists are not too long); the store
/// checks only what it needs itself: at least one zone, no zone twice,
/// `repeat >= 1`, file paths that are UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewJob {
    pub kind: JobKind,
    /// The operator's user name, or `"schedule NAME"`.
    pub origin: String,
    /// 0..=255; see [`crate::priority::Priority`].
    pub priority: u8,
    /// Zone names (groups already expanded), in the order given.
    pub zones: Vec<String>,
    /// The media to play, in order (without the chimes).
    pub files: Vec<PathBuf>,
    pub chime_before: bool,
    pub chime_after: bool,
    /// `--at`: not before this time. `None`: as soon as possible.
    #[serde(default, with = "rfc3339_opt")]
    pub not_before: Option<DateTime<Utc>>,
    /// Total number of plays, at least 1.
    pub repeat: u32,
    /// Pause between the end of one play (on its last zone) and the start of
    /// the next. JSON: `repeat_interval_ms`, whole milliseconds.
    #[serde(rename = "repeat_interval_ms", with = "duration_ms")]
    pub repeat_interval: Duration,
    /// The text of a `say` job (or of `emergency --text`).
    pub text: Option<String>,
}

/// Where a job stands on one zone, within the current play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZoneState {
    /// Not started (or to be played again: after a restart, or in the next
    /// repeat).
    Pending,
    /// On air now (as far as the store knows).
    Playing,
    /// This play has ended on this zone; `how` says how.
    Done,
}

impl ZoneState {
    pub(crate) fn parse(s: &str) -> Option<ZoneState> {
        Some(match s {
            "pending" => ZoneState::Pending,
            "playing" => ZoneState::Playing,
            "done" => ZoneState::Done,
            _ => return None,
        })
    }
}

/// How an item (in the as-run log) or a job's play on a zone ended.
/// JSON: the lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum How {
    /// Played to the end.
    Completed,
    /// Cut off by a job of higher priority.
    Preempted,
    /// Skipped by an operator (`corong skip`).
    Skipped,
    /// Cancelled by an operator (`corong cancel`, `corong stop`,
    /// `emergency --stop`). For a job's zone this is final: the zone gets no
    /// further repeats.
    Cancelled,
    /// Could not be played; the reason says why.
    Failed,
    /// Cut off by something outside corong's control (a restart); the job
    /// plays again on that zone.
    Interrupted,
    /// Played to its end, but the file was not all there: cut short,
    /// packets that would not decode, or written to while it played (what
    /// went on air may be noise). The reason says which. An item only; a
    /// job's play on a zone still completes.
    Damaged,
    /// Not an item: the daemon deleted old rows of the as-run log
    /// (`asrun_keep_days`); the reason says how many, older than what.
    Pruned,
    /// Not an item: an admin paused a schedule (`corong schedule pause`,
    /// the console); the reason says who. Its later fires are `skipped`.
    Paused,
    /// Not an item: an admin resumed a paused schedule; the reason says who.
    Resumed,
}

impl How {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            How::Completed => "completed",
            How::Preempted => "preempted",
            How::Skipped => "skipped",
            How::Cancelled => "cancelled",
            How::Failed => "failed",
            How::Interrupted => "interrupted",
            How::Damaged => "damaged",
            How::Pruned => "pruned",
            How::Paused => "paused",
            How::Resumed => "resumed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<How> {
        Some(match s {
            "completed" => How::Completed,
            "preempted" => How::Preempted,
            "skipped" => How::Skipped,
            "cancelled" => How::Cancelled,
            "failed" => How::Failed,
            "interrupted" => How::Interrupted,
            "damaged" => How::Damaged,
            "pruned" => How::Pruned,
            "paused" => How::Paused,
            "resumed" => How::Resumed,
            _ => return None,
        })
    }
}

impl fmt::Display for How {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job's progress on one of its zones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneProgress {
    pub zone: String,
    pub state: ZoneState,
    /// Set when `state` is `done`.
    pub how: Option<How>,
    pub reason: Option<String>,
    /// Index (in the job's play order, as the engine counts it) of the item
    /// on air, or of the one that was on air when the daemon stopped: the
    /// engine may resume a long playlist there; announcements start over.
    pub item: u32,
    /// The file on air (or last on air) on this zone in this play.
    pub file: Option<String>,
    /// When this play started on this zone.
    #[serde(default, with = "rfc3339_opt")]
    pub started_at: Option<DateTime<Utc>>,
    /// When this play ended on this zone (`state` is `done`).
    #[serde(default, with = "rfc3339_opt")]
    pub ended_at: Option<DateTime<Utc>>,
}

/// A job as stored: what was accepted plus where it stands.
///
/// JSON: the fields of [`NewJob`] flattened, plus `id`, `accepted_at`,
/// `plays_done`, `next_due`, `finished_at`, `cancelled` and `progress` (one
/// [`ZoneProgress`] per zone, in the order of `zones`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredJob {
    pub id: JobId,
    #[serde(flatten)]
    pub job: NewJob,
    #[serde(with = "rfc3339")]
    pub accepted_at: DateTime<Utc>,
    /// Plays that have ended on every zone.
    pub plays_done: u32,
    /// When the next play may start: set after a play ends and repeats
    /// remain (`last end + repeat_interval`). `None` before the first play;
    /// then `not_before` applies.
    #[serde(default, with = "rfc3339_opt")]
    pub next_due: Option<DateTime<Utc>>,
    /// When the job finished (all zones, all repeats), or `None`.
    #[serde(default, with = "rfc3339_opt")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Whether an operator cancelled the job as a whole.
    pub cancelled: bool,
    pub progress: Vec<ZoneProgress>,
}

impl StoredJob {
    /// The progress row of `zone`, if the job plays there.
    pub fn zone(&self, zone: &str) -> Option<&ZoneProgress> {
        self.progress.iter().find(|p| p.zone == zone)
    }

    /// When the job may next start playing: `next_due` once a play has
    /// ended, else `not_before`; `None` means now.
    pub fn due(&self) -> Option<DateTime<Utc>> {
        self.next_due.or(self.job.not_before)
    }
}

/// What [`Store::finish_zone`](super::Store::finish_zone) did to the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFinish {
    /// Other zones are still pending or playing this play (or this zone was
    /// interrupted and is pending again).
    ZonesRemaining,
    /// This play has ended on every zone and repeats remain: the next one is
    /// due at this time, on every zone that was not cancelled.
    NextPlayAt(DateTime<Utc>),
    /// The job is finished: every zone, every repeat.
    JobFinished,
}

impl AfterFinish {
    pub fn job_finished(self) -> bool {
        self == AfterFinish::JobFinished
    }
}

/// How a play on one zone ended, for [`Store::finish_zone`](super::Store::finish_zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneEnd {
    pub how: How,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// One row of the as-run log: one item that went on air on one zone.
///
/// JSON: `{"zone", "job" (number or null), "origin", "file", "started_at",
/// "ended_at", "how", "reason" (string or null)}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsRunEntry {
    pub zone: String,
    /// The job it belonged to. `None` for audio that has no stored job (a
    /// scheduled playlist run the daemon did not store, a live input).
    pub job: Option<JobId>,
    /// The operator's user name or `"schedule NAME"`.
    pub origin: String,
    /// The file played (a chime, a media file, or a description such as
    /// `"tts: ..."`).
    pub file: String,
    #[serde(with = "rfc3339")]
    pub started_at: DateTime<Utc>,
    /// For rows written by [`Store::recover_after_restart`](super::Store::recover_after_restart):
    /// the time of the restart, an upper bound (the store cannot know when
    /// the power went).
    #[serde(with = "rfc3339")]
    pub ended_at: DateTime<Utc>,
    pub how: How,
    pub reason: Option<String>,
}

/// A loudness measurement of one media file, keyed by its content hash.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Loudness {
    pub integrated_lufs: f64,
    pub true_peak_dbtp: f64,
    #[serde(with = "rfc3339")]
    pub measured_at: DateTime<Utc>,
}

/// Times in the database are integer milliseconds since the Unix epoch (so
/// they sort and index as numbers); finer precision is dropped.
pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    // Every i64 we wrote came from a DateTime; clamp instead of panicking on
    // a value edited by hand.
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub(crate) mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

pub(crate) mod rfc3339_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::rfc3339::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| {
                DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

pub(crate) mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
