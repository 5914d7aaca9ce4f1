//! The control protocol: JSON lines over the control socket, version 1.
//!
//! One request per line from the client, one or more response lines from the
//! daemon. `docs/protocol.md` is the reference with examples; this file is
//! the code of it. The shapes are stable: fields may be added, never removed
//! or renamed. Readers ignore fields they do not know, so an older daemon
//! accepts a newer client's requests (and vice versa for replies).
//!
//! ```text
//! -> {"v":1,"cmd":"status"}
//! <- {"v":1,"ok":true,"result":{"type":"status","daemon":{...},"zones":[...],"next_events":[...]}}
//! -> {"v":1,"cmd":"cancel","id":99}
//! <- {"v":1,"ok":false,"code":"not_found","error":"no pending job 99"}
//! ```
//!
//! An exchange ends when the daemon has sent a line with `"ok"`; before that
//! it may send any number of `{"v":1,"progress":{...}}` lines (only for
//! `announce`/`say` with `"wait":true`).

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::priority::Priority;

/// The protocol version this build speaks. A request or reply with another
/// `v` is refused with a clear error; a future incompatible change bumps it.
pub const VERSION: u32 = 1;

/// The longest request line the daemon reads, in bytes, without the newline.
/// Longer lines get an error reply and the connection is closed.
pub const MAX_LINE: usize = 64 * 1024;

/// At most this many files in one announcement.
pub const MAX_FILES: usize = 64;

/// At most this many bytes of text in `say` or `emergency --text`.
pub const MAX_TEXT: usize = 4096;

/// At most this many plays of one announcement (`--repeat`).
pub const MAX_REPEAT: u32 = 1000;

/// At most this many fire times per schedule (`schedule --next`).
pub const MAX_NEXT: usize = 1000;
/// The largest file a client may send for an announcement (an hour of
/// 48 kHz stereo WAV is 660 MiB; the same in MP3 a tenth of that).
pub const MAX_UPLOAD: u64 = 1 << 30;
/// The longest `--interval` between repeats, seconds: a week. Larger
/// values overflowed into "at once" in the time arithmetic.
pub const MAX_INTERVAL_S: u64 = 7 * 24 * 3600;

/// The zone list that means every zone; what the CLI sends when `--zones` is
/// not given.
pub const ALL_ZONES: &str = "all";

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

fn five() -> usize {
    5
}

/// How, where and when an announcement plays: the options `announce` and
/// `say` share.
///
/// `zones` is required on the wire (the CLI sends `["all"]` when `--zones` is
/// not given): a hand-written request with a misspelled field must not play
/// everywhere by accident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Zone names and group names; `"all"` is every zone. Must not be empty.
    pub zones: Vec<String>,
    /// Name or number 0..=255; absent = `announcement` (100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// Play the chime before it. Default true (`--no-chime` sends false).
    #[serde(default = "yes")]
    pub chime: bool,
    /// When to play, as the operator typed it; the daemon reads it in its
    /// time zone: `HH:MM`, `HH:MM:SS`, `YYYY-MM-DD HH:MM` or
    /// `YYYY-MM-DD HH:MM:SS`. Absent = now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// How many times to play it in all. Default 1; 1..=1000.
    #[serde(default = "one")]
    pub repeat: u32,
    /// Seconds of silence between plays when `repeat > 1`. Absent = the
    /// daemon's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<u64>,
    /// Stream progress lines until it has played on every zone.
    #[serde(default)]
    pub wait: bool,
}

impl Default for Delivery {
    /// All zones, default priority, chime, now, once, no wait.
    fn default() -> Self {
        Delivery {
            zones: vec![ALL_ZONES.to_string()],
            priority: None,
            chime: true,
            at: None,
            repeat: 1,
            interval_s: None,
            wait: false,
        }
    }
}

/// One request: a line `{"v":1,"cmd":"<name>",...fields}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// `corong announce FILE...`. Files are absolute paths (the client
    /// resolves them against its working directory); the daemon opens them.
    Announce {
        files: Vec<PathBuf>,
        #[serde(flatten)]
        delivery: Delivery,
    },
    /// `corong say TEXT [--voice id]`: text to speech.
    Say {
        text: String,
        /// Voice id; absent = the daemon's default (Indonesian).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voice: Option<String>,
        #[serde(flatten)]
        delivery: Delivery,
    },
    /// `corong emergency FILE|--text TEXT [--zones ..]` or
    /// `corong emergency --stop`. Exactly one of `file` and `text` unless
    /// `stop`.
    Emergency {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<PathBuf>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        zones: Vec<String>,
        #[serde(default)]
        stop: bool,
    },
    /// `corong status`.
    Status,
    /// `corong queue`.
    Queue,
    /// `corong cancel ID`.
    Cancel { id: i64 },
    /// `corong skip [--zones ..]`: skip the current item.
    Skip { zones: Vec<String> },
    /// `corong stop [--zones ..]`: silence zones.
    Stop { zones: Vec<String> },
    /// `corong zones`.
    Zones,
    /// `corong schedule [--next N]`. Default 5; 1..=1000.
    Schedule {
        #[serde(default = "five")]
        next: usize,
    },
    /// `corong log [--since T] [--zone Z]`.
    Log {
        /// As typed (same forms as `Delivery::at`); absent = the daemon's
        /// default window.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone: Option<String>,
        /// Newest this many rows; absent = the daemon's default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
    },
    /// `corong reload`: re-read the config.
    Reload,
    /// A file's content, for a file the daemon's user cannot read (a home
    /// folder, a private /tmp): exactly `size` raw bytes follow the request
    /// line on the same connection. The reply names where the daemon keeps
    /// it (`uploaded`), for the `announce` or `emergency` that follows.
    Upload {
        /// The file's name as the operator knows it (only its extension is
        /// kept: it is the format hint).
        name: String,
        size: u64,
    },
}

/// What is wrong with a request that parsed. The daemon replies with it as a
/// `bad_request` error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRequest(pub String);

impl Request {
    /// The command's name as on the wire (`"announce"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Request::Announce { .. } => "announce",
            Request::Say { .. } => "say",
            Request::Emergency { .. } => "emergency",
            Request::Status => "status",
            Request::Queue => "queue",
            Request::Cancel { .. } => "cancel",
            Request::Skip { .. } => "skip",
            Request::Stop { .. } => "stop",
            Request::Zones => "zones",
            Request::Schedule { .. } => "schedule",
            Request::Log { .. } => "log",
            Request::Reload => "reload",
            Request::Upload { .. } => "upload",
        }
    }

    /// Whether the daemon may answer with progress lines before the final
    /// reply.
    pub fn streams(&self) -> bool {
        match self {
            Request::Announce { delivery, .. } | Request::Say { delivery, .. } => delivery.wait,
            _ => false,
        }
    }

    /// Check the bounds the protocol sets. The server calls this before the
    /// handler sees the request, so handlers may rely on it.
    pub fn validate(&self) -> Result<(), InvalidRequest> {
        let bad = |m: String| Err(InvalidRequest(m));
        match self {
            Request::Announce { files, delivery } => {
                if files.is_empty() {
                    return bad("announce needs at least one file".into());
                }
                if files.len() > MAX_FILES {
                    return bad(format!(
                        "too many files: {} (at most {MAX_FILES} per announcement)",
                        files.len()
                    ));
                }
                if let Some(f) = files.iter().find(|f| !f.is_absolute()) {
                    return bad(format!("file path must be absolute: {}", f.display()));
                }
                delivery.validate()
            }
            Request::Say {
                text,
                voice,
                delivery,
            } => {
                check_text(text)?;
                if voice.as_deref().is_some_and(|v| v.trim().is_empty()) {
                    return bad("voice id is empty".into());
                }
                delivery.validate()
            }
            Request::Emergency {
                file,
                text,
                zones,
                stop,
            } => {
                if *stop {
                    if file.is_some() || text.is_some() {
                        return bad("emergency stop takes no file or text".into());
                    }
                    return Ok(());
                }
                match (file, text) {
                    (Some(_), Some(_)) => bad("emergency takes a file or a text, not both".into()),
                    (None, None) => bad("emergency needs a file or a text".into()),
                    (Some(f), None) if !f.is_absolute() => {
                        bad(format!("file path must be absolute: {}", f.display()))
                    }
                    (Some(_), None) => check_zones(zones),
                    (None, Some(t)) => {
                        check_text(t)?;
                        check_zones(zones)
                    }
                }
            }
            Request::Skip { zones } | Request::Stop { zones } => check_zones(zones),
            Request::Schedule { next } => {
                if *next == 0 || *next > MAX_NEXT {
                    return bad(format!("--next must be 1..={MAX_NEXT}, not {next}"));
                }
                Ok(())
            }
            Request::Log { zone, limit, .. } => {
                if zone.as_deref().is_some_and(|z| z.trim().is_empty()) {
                    return bad("zone name is empty".into());
                }
                if *limit == Some(0) {
                    return bad("--limit must be 1 or more".into());
                }
                Ok(())
            }
            Request::Upload { name, size } => {
                if name.trim().is_empty() || name.len() > 4096 {
                    return bad("upload needs the file's name".into());
                }
                if *size == 0 || *size > MAX_UPLOAD {
                    return bad(format!(
                        "a file to upload must be 1..={MAX_UPLOAD} bytes ({} MiB), not {size}",
                        MAX_UPLOAD >> 20
                    ));
                }
                Ok(())
            }
            Request::Status
            | Request::Queue
            | Request::Cancel { .. }
            | Request::Zones
            | Request::Reload => Ok(()),
        }
    }

    /// One line for the socket, without the newline.
    pub fn to_line(&self) -> String {
        let mut value = serde_json::to_value(self).expect("requests always serialize");
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("v".into(), VERSION.into());
        }
        value.to_string()
    }

    /// Parse one request line: the version first, so that a client speaking
    /// another version gets that error rather than a confusing field error.
    pub fn from_line(line: &[u8]) -> Result<Request, ProtocolError> {
        let text = std::str::from_utf8(line).map_err(|_| ProtocolError::NotUtf8)?;
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ProtocolError::Json(e.to_string()))?;
        check_version(&value)?;
        serde_json::from_value(value).map_err(|e| ProtocolError::Json(e.to_string()))
    }
}

impl Delivery {
    fn validate(&self) -> Result<(), InvalidRequest> {
        check_zones(&self.zones)?;
        if self.repeat == 0 || self.repeat > MAX_REPEAT {
            return Err(InvalidRequest(format!(
                "--repeat must be 1..={MAX_REPEAT}, not {}",
                self.repeat
            )));
        }
        if self.at.as_deref().is_some_and(|a| a.trim().is_empty()) {
            return Err(InvalidRequest("--at is empty".into()));
        }
        if let Some(i) = self.interval_s.filter(|i| *i > MAX_INTERVAL_S) {
            return Err(InvalidRequest(format!(
                "--interval must be 0..={MAX_INTERVAL_S} seconds (a week), not {i}"
            )));
        }
        Ok(())
    }
}

fn check_zones(zones: &[String]) -> Result<(), InvalidRequest> {
    if zones.is_empty() {
        return Err(InvalidRequest(
            "no zones given (use \"all\" for every zone)".into(),
        ));
    }
    if zones.iter().any(|z| z.trim().is_empty()) {
        return Err(InvalidRequest("empty zone name".into()));
    }
    Ok(())
}

fn check_text(text: &str) -> Result<(), InvalidRequest> {
    if text.trim().is_empty() {
        return Err(InvalidRequest("text is empty".into()));
    }
    if text.len() > MAX_TEXT {
        return Err(InvalidRequest(format!(
            "text is {} bytes long (at most {MAX_TEXT})",
            text.len()
        )));
    }
    Ok(())
}

fn check_version(value: &serde_json::Value) -> Result<(), ProtocolError> {
    let obj = value.as_object().ok_or(ProtocolError::NotAnObject)?;
    match obj.get("v") {
        None => Err(ProtocolError::MissingVersion),
        Some(v) => match v.as_u64() {
            Some(v) if v == u64::from(VERSION) => Ok(()),
            _ => Err(ProtocolError::UnsupportedVersion(v.to_string())),
        },
    }
}

/// Why a line is not a valid message. The server answers a request line with
/// one of these, then closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("request line longer than {MAX_LINE} bytes")]
    TooLong,
    #[error("request is not valid UTF-8")]
    NotUtf8,
    #[error("request is not valid JSON: {0}")]
    Json(String),
    #[error("request is not a JSON object")]
    NotAnObject,
    #[error("request has no protocol version \"v\" (this daemon speaks version {VERSION})")]
    MissingVersion,
    #[error("unsupported protocol version {0}: this daemon speaks version {VERSION}; use a matching corong client")]
    UnsupportedVersion(String),
}

/// Machine-readable class of an error reply, for scripts and exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The line was not a valid request (bad JSON, unknown command, wrong
    /// version, out of bounds). Fix the request.
    BadRequest,
    /// The job, zone or schedule named does not exist.
    NotFound,
    /// The peer may not do this.
    Denied,
    /// The daemon could not do it (a file it cannot read, a TTS failure...).
    Failed,
    /// The daemon is shutting down or overloaded; try again.
    Unavailable,
    /// The daemon's user cannot read a file the request names (or cannot
    /// see it: a private /tmp); the client may send its content (`upload`).
    Unreadable,
    /// A code this build does not know (sent by a newer daemon).
    #[serde(other)]
    Other,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Denied => "denied",
            ErrorCode::Failed => "failed",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Unreadable => "unreadable",
            ErrorCode::Other => "other",
        }
    }
}

/// One response line.
///
/// - `Ok`: `{"v":1,"ok":true,"result":{"type":"<kind>",...}}` (final)
/// - `Err`: `{"v":1,"ok":false,"code":"<code>","error":"one line"}` (final)
/// - `Progress`: `{"v":1,"progress":{...}}` (more lines follow)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "WireResponse", try_from = "WireResponse")]
pub enum Response {
    Ok(Reply),
    Err { code: ErrorCode, error: String },
    Progress(Progress),
}

impl Response {
    /// An error reply. Newlines in `message` become spaces: the error is
    /// one line.
    pub fn error(code: ErrorCode, message: impl fmt::Display) -> Response {
        let error = message
            .to_string()
            .split(['\n', '\r'])
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Response::Err { code, error }
    }

    /// Whether this line ends the exchange.
    pub fn is_final(&self) -> bool {
        !matches!(self, Response::Progress(_))
    }

    /// One line for the socket, without the newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("responses always serialize")
    }

    /// Parse one response line, refusing other protocol versions.
    pub fn from_line(line: &str) -> Result<Response, ProtocolError> {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| ProtocolError::Json(e.to_string()))?;
        check_version(&value)?;
        serde_json::from_value(value).map_err(|e| ProtocolError::Json(e.to_string()))
    }
}

impl From<Reply> for Response {
    fn from(r: Reply) -> Self {
        Response::Ok(r)
    }
}

impl From<Progress> for Response {
    fn from(p: Progress) -> Self {
        Response::Progress(p)
    }
}

/// The flat shape on the wire; `Response` is the typed view of it.
#[derive(Serialize, Deserialize)]
struct WireResponse {
    v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ok: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<ErrorCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<Reply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    progress: Option<Progress>,
}

impl From<Response> for WireResponse {
    fn from(r: Response) -> Self {
        let mut w = WireResponse {
            v: VERSION,
            ok: None,
            code: None,
            error: None,
            result: None,
            progress: None,
        };
        match r {
            Response::Ok(reply) => {
                w.ok = Some(true);
                w.result = Some(reply);
            }
            Response::Err { code, error } => {
                w.ok = Some(false);
                w.code = Some(code);
                w.error = Some(error);
            }
            Response::Progress(p) => w.progress = Some(p),
        }
        w
    }
}

impl TryFrom<WireResponse> for Response {
    type Error = String;

    fn try_from(w: WireResponse) -> Result<Self, String> {
        if w.v != VERSION {
            return Err(format!("unsupported protocol version {}", w.v));
        }
        match (w.ok, w.result, w.progress) {
            (Some(true), Some(reply), _) => Ok(Response::Ok(reply)),
            (Some(true), None, _) => Err("reply with \"ok\":true has no \"result\"".into()),
            (Some(false), _, _) => Ok(Response::Err {
                code: w.code.unwrap_or(ErrorCode::Other),
                error: w.error.unwrap_or_else(|| "unknown error".into()),
            }),
            (None, _, Some(p)) => Ok(Response::Progress(p)),
            (None, _, None) => Err("reply has neither \"ok\" nor \"progress\"".into()),
        }
    }
}

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
    pub id: i64,
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
    pub id: i64,
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
    pub job: i64,
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
    pub id: i64,
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
    /// RFC 3339, soonest first.
    pub next: Vec<String>,
}

/// `log`: the as-run log, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogResult {
    pub entries: Vec<AsRunRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsRunRow {
    pub zone: String,
    pub job: i64,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn announce() -> Request {
        Request::Announce {
            files: vec!["/srv/a.mp3".into()],
            delivery: Delivery {
                zones: vec!["utara".into()],
                priority: Some(Priority::LIVE),
                ..Delivery::default()
            },
        }
    }

    #[test]
    fn request_lines_round_trip_with_version() {
        let line = announce().to_line();
        assert!(line.contains(r#""v":1"#), "{line}");
        assert!(line.contains(r#""cmd":"announce""#), "{line}");
        assert!(line.contains(r#""priority":150"#), "{line}");
        assert_eq!(Request::from_line(line.as_bytes()).unwrap(), announce());
        for req in [
            Request::Status,
            Request::Reload,
            Request::Cancel { id: 7 },
            Request::Schedule { next: 3 },
        ] {
            assert_eq!(Request::from_line(req.to_line().as_bytes()).unwrap(), req);
        }
    }

    #[test]
    fn defaults_and_priority_names_parse() {
        let r = Request::from_line(
            br#"{"v":1,"cmd":"announce","files":["/a.wav"],"zones":["all"],"priority":"emergency"}"#,
        )
        .unwrap();
        let Request::Announce { delivery, .. } = r else {
            panic!()
        };
        assert_eq!(delivery.priority, Some(Priority::EMERGENCY));
        assert!(delivery.chime);
        assert_eq!(delivery.repeat, 1);
        assert!(!delivery.wait);
        assert_eq!(
            Request::from_line(br#"{"v":1,"cmd":"schedule"}"#).unwrap(),
            Request::Schedule { next: 5 }
        );
    }

    #[test]
    fn version_is_checked_first() {
        let e = Request::from_line(br#"{"v":2,"cmd":"teleport"}"#).unwrap_err();
        assert_eq!(e, ProtocolError::UnsupportedVersion("2".into()));
        assert!(e.to_string().contains("speaks version 1"));
        assert_eq!(
            Request::from_line(br#"{"cmd":"status"}"#).unwrap_err(),
            ProtocolError::MissingVersion
        );
        assert_eq!(
            Request::from_line(b"[1]").unwrap_err(),
            ProtocolError::NotAnObject
        );
        assert_eq!(
            Request::from_line(b"\xff\xfe").unwrap_err(),
            ProtocolError::NotUtf8
        );
        assert!(matches!(
            Request::from_line(br#"{"v":1,"cmd":"announce"}"#),
            Err(ProtocolError::Json(_))
        ));
    }

    #[test]
    fn validate_enforces_bounds() {
        assert!(announce().validate().is_ok());
        let too_many = Request::Announce {
            files: (0..65).map(|i| format!("/f{i}.wav").into()).collect(),
            delivery: Delivery::default(),
        };
        assert!(too_many
            .validate()
            .unwrap_err()
            .0
            .contains("too many files"));
        let relative = Request::Announce {
            files: vec!["a.wav".into()],
            delivery: Delivery::default(),
        };
        assert!(relative.validate().is_err());
        let long = Request::Say {
            text: "a".repeat(MAX_TEXT + 1),
            voice: None,
            delivery: Delivery::default(),
        };
        assert!(long.validate().is_err());
        let both = Request::Emergency {
            file: Some("/e.wav".into()),
            text: Some("banjir".into()),
            zones: vec!["all".into()],
            stop: false,
        };
        assert!(both.validate().is_err());
        let stop = Request::Emergency {
            file: None,
            text: None,
            zones: vec!["all".into()],
            stop: true,
        };
        assert!(stop.validate().is_ok());
        assert!(Request::Skip { zones: vec![] }.validate().is_err());
        assert!(Request::Schedule { next: 0 }.validate().is_err());
        // An interval that overflowed the time arithmetic into "at once".
        let endless = Request::Announce {
            files: vec!["/a.wav".into()],
            delivery: Delivery {
                interval_s: Some(u64::MAX),
                repeat: 2,
                ..Delivery::default()
            },
        };
        let e = endless.validate().unwrap_err().0;
        assert!(e.contains("--interval must be 0..=604800"), "{e}");
        let week = Request::Announce {
            files: vec!["/a.wav".into()],
            delivery: Delivery {
                interval_s: Some(MAX_INTERVAL_S),
                repeat: 2,
                ..Delivery::default()
            },
        };
        assert!(week.validate().is_ok());
    }

    #[test]
    fn responses_have_the_documented_shape() {
        let ok = Response::Ok(Reply::Announced(AnnounceResult {
            id: 17,
            zones: vec!["alun-alun".into()],
            not_before: None,
            on_air: false,
            warning: None,
        }));
        assert_eq!(
            ok.to_line(),
            r#"{"v":1,"ok":true,"result":{"type":"announced","id":17,"zones":["alun-alun"]}}"#
        );
        let err = Response::error(ErrorCode::NotFound, "no job 9\nat all");
        assert_eq!(
            err.to_line(),
            r#"{"v":1,"ok":false,"code":"not_found","error":"no job 9 at all"}"#
        );
        let p = Response::Progress(Progress {
            id: 17,
            zones_done: 1,
            zones_total: 3,
            state: JobState::Playing,
            reason: None,
        });
        assert_eq!(
            p.to_line(),
            r#"{"v":1,"progress":{"id":17,"zones_done":1,"zones_total":3,"state":"playing"}}"#
        );
        for r in [ok, err, p] {
            assert_eq!(Response::from_line(&r.to_line()).unwrap(), r);
        }
    }

    #[test]
    fn unknown_codes_and_states_from_newer_daemons_parse() {
        let r = Response::from_line(r#"{"v":1,"ok":false,"code":"on_fire","error":"x","new":1}"#)
            .unwrap();
        assert_eq!(
            r,
            Response::Err {
                code: ErrorCode::Other,
                error: "x".into()
            }
        );
        let p = Response::from_line(
            r#"{"v":1,"progress":{"id":1,"zones_done":0,"zones_total":1,"state":"paused"}}"#,
        )
        .unwrap();
        assert!(matches!(
            p,
            Response::Progress(Progress {
                state: JobState::Other,
                ..
            })
        ));
    }
}
