//! What the daemon answers: the [`Reply`] of each command and the shapes
//! inside it (status, queue, zones, schedule, log).

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ids::JobId;

/// The result of a successful request, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// `announce`, `say`, `emergency` (without `wait`): the job was queued.
    Announced(AnnounceResult),
    /// `announce`/`say` with `wait`: the final line; `state` says how it
    /// ended (`done`, `cancelled` or `failed`).
    Finished(Progress),
    Status(StatusResult),
    Queue(QueueResult),
    Zones(ZonesResult),
    Schedule(ScheduleResult),
    Log(LogResult),
    /// `cancel`, `skip`, `stop`, `emergency --stop`, `reload`.
    Done(DoneResult),
    /// `upload`: where the daemon keeps the file.
    Uploaded(UploadResult),
    /// `alerts`: the hazard alerts, newest last.
    Alerts(AlertsResult),
    /// `sites`: every kiosk of the regency.
    Sites(super::SitesResult),
    /// An order sent to other kiosks (`--sites`): who accepted it.
    Ordered(super::OrderResult),
}

/// `corong alerts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertsResult {
    pub alerts: Vec<AlertRow>,
}

/// One hazard alert as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRow {
    /// For `alerts confirm ID` and `alerts dismiss ID`.
    pub id: u64,
    /// The feed's name, or `volcano`.
    pub source: String,
    pub event: String,
    pub level: String,
    /// The zones the playbook plays on (or the alert covers, without one).
    pub zones: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playbook: Option<String>,
    /// `pending`, `confirmed`, `on-air`, `cancelled`, `expired`, `ignored`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// RFC 3339, the daemon's time zone.
    pub received: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// What it says (a text playbook) or plays (a file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The job that plays it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadResult {
    /// The daemon's copy, named by its content's SHA-256.
    pub path: PathBuf,
    pub size: u64,
}

/// A job was queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnounceResult {
    /// The job id, for `cancel` and `log`.
    pub id: JobId,
    /// The zones it was queued for, groups expanded.
    #[serde(default)]
    pub zones: Vec<String>,
    /// When it will first play (RFC 3339), if it was scheduled with `at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// It went on air at once (an emergency), rather than into the queue.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_air: bool,
    /// Something the operator should know, e.g. that `--at 14:00` typed
    /// after 14:00 means tomorrow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// A command that changes state and has nothing more to report than what it
/// touched.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DoneResult {
    /// One line for the operator: "cancelled job 17", "reloaded: 4 zones".
    pub message: String,
    /// The zones that were affected, if any.
    #[serde(default)]
    pub zones: Vec<String>,
}

/// Where an announcement is on its way to every zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub id: JobId,
    /// Zones where it has finished playing (all repeats).
    pub zones_done: usize,
    pub zones_total: usize,
    pub state: JobState,
    /// Why it was cancelled or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Progress {
    /// Whether it played on every zone (the `--wait` exit status).
    pub fn succeeded(&self) -> bool {
        self.state == JobState::Done
    }
}

/// A job's life: `queued` -> `playing` -> `done` | `cancelled` | `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its time or for a higher priority to finish.
    Queued,
    Playing,
    /// Played on every zone.
    Done,
    Cancelled,
    Failed,
    /// A state this build does not know (sent by a newer daemon).
    #[serde(other)]
    Other,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Playing => "playing",
            JobState::Done => "done",
            JobState::Cancelled => "cancelled",
            JobState::Failed => "failed",
            JobState::Other => "other",
        }
    }

    /// Whether the job will not change any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Cancelled | JobState::Failed
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `status`: the daemon, every zone, and what comes next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusResult {
    pub daemon: DaemonInfo,
    pub zones: Vec<ZoneStatus>,
    /// The next scheduled events, soonest first.
    #[serde(default)]
    pub next_events: Vec<NextEvent>,
    /// Files still waiting for their loudness measurement (or being
    /// measured now); absent when loudness normalisation is off, and from
    /// daemons before it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loudness_pending: Option<u64>,
    /// With `[mqtt]`: whether the regency's broker is reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<super::BrokerLink>,
    /// Each hazard feed's health (`[[alerts.feeds]]`); absent with none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feeds: Vec<FeedStatus>,
}

/// A hazard feed as its poller last found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedStatus {
    pub name: String,
    /// `cap-rss`, `cap` or `inatews`.
    pub kind: String,
    pub url: String,
    /// `ok`, `failing`, or `waiting` (not polled yet since the start).
    pub state: String,
    /// RFC 3339: the last poll that went through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ok: Option<String>,
    /// RFC 3339: the first failure of the current run of failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    /// The last failure, while failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonInfo {
    /// The daemon's crate version.
    pub version: String,
    pub pid: u32,
    /// RFC 3339.
    pub started_at: String,
    /// The IANA time zone schedules are read in.
    pub timezone: String,
    /// Schedule fires since the start, and those that played nothing: the
    /// schedule paused, its previous run still on air, or older than the
    /// grace after the clock jumped forward (added December 2026).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fires: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fires_missed: u64,
    /// Items that could not be decoded, or were found damaged.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub decode_errors: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneStatus {
    pub name: String,
    /// `streaming`, `idle`, `degraded`, `unreachable` (every endpoint
    /// answers "port unreachable") or `down` (more may be added).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playing: Option<NowPlaying>,
    /// The last output error, or the receivers gone silent, while
    /// `degraded` or `down`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Each endpoint's own health (added in protocol v1; absent from older
    /// daemons).
    #[serde(default)]
    pub endpoint_health: Vec<EndpointHealth>,
    /// The receivers that report back (RTCP), in the order first heard.
    #[serde(default)]
    pub receivers: Vec<ReceiverInfo>,
}

/// One endpoint of a zone: an RTP destination or the WAV recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointHealth {
    /// As in `ZoneInfo::endpoints`: `rtp://127.0.0.1:5004`, `wav:/path`.
    pub endpoint: String,
    /// `streaming`; `degraded` when sends to it fail; `silent` when a
    /// receiver that reported from it went silent; `unreachable` when it
    /// answers "port unreachable" (nothing listens there) (more may be
    /// added).
    pub health: String,
    /// What is wrong, while not `streaming`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// RFC 3339: since when it is `unreachable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Audio frames the output threw away because it could not keep up or
    /// was not connected (a recording's stalled writer, an Icecast source
    /// while its server is away); absent while none (added December 2026).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_frames: u64,
    /// Packets sent to it since the daemon started (RTP).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub packets_sent: u64,
    /// Sends to it that failed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub send_errors: u64,
    /// Times a sound card found nothing to play (local audio).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub underruns: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A receiver of a zone, from its RTCP receiver reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverInfo {
    /// Its RTCP SSRC.
    pub ssrc: u32,
    /// Its SDES CNAME (`receive-PID@HOST` for `corong receive`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cname: Option<String>,
    /// Where its reports come from, `ip:port`.
    pub address: String,
    /// The zone endpoint it listens on, when that can be told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// `reporting`, or `silent` (no report for longer than
    /// `receiver_timeout_s`).
    pub state: String,
    /// RFC 3339: its last report.
    pub last_heard: String,
    /// Seconds since its last report.
    pub heard_s_ago: f64,
    /// Reports received from it.
    pub reports: u64,
    /// From its last report about this zone's stream (absent until one):
    /// the fraction of packets lost since its previous report, 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction_lost: Option<f64>,
    /// Packets lost since it started (negative when duplicates outnumber
    /// losses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packets_lost: Option<i64>,
    /// Extended highest sequence number received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highest_seq: Option<u32>,
    /// Interarrival jitter, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NowPlaying {
    pub job: JobId,
    pub priority: u8,
    /// The contract's name for `priority`, or its number as text.
    pub priority_name: String,
    /// `schedule:<name>`, `operator:<user>`, `emergency:<user>`.
    pub origin: String,
    /// The file playing (or `tts:<voice>` for `say`).
    pub file: String,
    /// RFC 3339: when this item started on this zone.
    pub since: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextEvent {
    /// RFC 3339.
    pub at: String,
    /// `schedule:<name>` or `job:<id>`.
    pub what: String,
    pub zones: Vec<String>,
    pub priority: u8,
}

/// `queue`: jobs not yet finished, in the order they will play.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueResult {
    pub jobs: Vec<QueuedJob>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedJob {
    pub id: JobId,
    /// `announce`, `say`, `emergency`, `schedule`.
    pub kind: String,
    pub origin: String,
    pub priority: u8,
    pub zones: Vec<String>,
    pub files: Vec<String>,
    pub state: JobState,
    /// RFC 3339; absent = as soon as possible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    pub repeat: u32,
    pub plays_done: u32,
}

/// `zones`: every zone with its outputs and health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZonesResult {
    pub zones: Vec<ZoneInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneInfo {
    pub name: String,
    /// Groups it belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Where it plays: `rtp://127.0.0.1:5004`, `wav:/path`,
    /// `local:default`.
    pub endpoints: Vec<String>,
    /// `l16`, `pcmu`, ... (absent for zones without RTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    /// Audio channels it plays (added December 2026; 0 from older daemons).
    #[serde(default)]
    pub channels: u16,
    /// Its gain, dB (added December 2026).
    #[serde(default)]
    pub gain_db: f32,
    /// Same words as `ZoneStatus::state`; `down` with the error "the
    /// daemon is not running" when `corong zones` answers from the config.
    pub health: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The SDP a receiver needs (RTP zones only), for `zones --sdp ZONE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp: Option<String>,
    /// Each endpoint's own health, in the order of `endpoints`.
    #[serde(default)]
    pub endpoint_health: Vec<EndpointHealth>,
    /// The receivers that report back, as in `status`.
    #[serde(default)]
    pub receivers: Vec<ReceiverInfo>,
}

/// `schedule`: every schedule with its next fire times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleResult {
    /// The IANA time zone the times are in.
    pub timezone: String,
    pub schedules: Vec<ScheduleInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleInfo {
    pub name: String,
    pub cron: String,
    pub playlist: String,
    pub zones: Vec<String>,
    pub priority: u8,
    /// RFC 3339, soonest first (a paused schedule's too: they are when it
    /// would fire).
    pub next: Vec<String>,
    /// Set while an admin has it paused (`schedule pause`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<Paused>,
    /// Local dates it does not fire on (`except_dates`, `except_file`:
    /// holidays), `YYYY-MM-DD`, from today on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except_dates: Vec<String>,
}

/// Who paused a schedule and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paused {
    /// The Unix user on the socket, `web:ACCOUNT` from the console.
    pub by: String,
    /// RFC 3339, the daemon's time zone.
    pub since: String,
}

/// `log`: the as-run log, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogResult {
    pub entries: Vec<AsRunRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsRunRow {
    pub zone: String,
    pub job: JobId,
    pub origin: String,
    pub file: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339; absent while it still plays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// `completed`, `skipped`, `preempted`, `stopped`, `failed`, `playing`.
    pub how: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
