//! What a client asks: one [`Request`] per line, checked against the
//! protocol's bounds before the daemon acts on it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::envelope::{
    check_version, ProtocolError, ALL_ZONES, MAX_FILES, MAX_INTERVAL_S, MAX_NEXT, MAX_PAGE_S,
    MAX_REPEAT, MAX_TEXT, MAX_UPLOAD, VERSION,
};
use crate::ids::JobId;
use crate::priority::Priority;

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
    Cancel { id: JobId },
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
    /// `corong schedule pause NAME`: the schedule stops firing (its fires
    /// are logged as skipped) until resumed; a run already playing is not
    /// cut. Kept across restarts and reloads.
    SchedulePause { name: String },
    /// `corong schedule resume NAME`: its next fire plays.
    ScheduleResume { name: String },
    /// The web console's "listen first": `text` rendered to speech as `say`
    /// would, played nowhere. Answered `uploaded`, naming the WAV file.
    SayPreview {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voice: Option<String>,
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
    /// `corong page --mode record`: a page the client recorded and uploaded
    /// (`file`, in the daemon's upload folder), queued as one announcement
    /// from the `page` origin (default priority `live`).
    Page {
        file: PathBuf,
        /// Milliseconds recorded, for the log.
        recorded_ms: u64,
        #[serde(flatten)]
        delivery: Delivery,
    },
    /// `corong page` live: once the daemon answers `queued`, the
    /// connection carries the page's audio (see `control/live.rs`): mono
    /// s16le at `rate`. The replies are progress lines (`playing` once the
    /// first packet left) and the final one when the page ends.
    PageLive {
        /// Samples a second of the audio that follows.
        rate: u32,
        /// The page ends after this many seconds (fading out).
        max_s: u32,
        /// Milliseconds without input after which the page ends (a shorter
        /// gap is silence).
        gap_ms: u32,
        #[serde(flatten)]
        delivery: Delivery,
    },
    /// `corong alerts`: the hazard alerts received and their states.
    Alerts,
    /// `corong alerts confirm ID`: an operator puts a pending alert on air.
    AlertConfirm { id: u64 },
    /// `corong alerts dismiss ID`: an operator decides a pending alert does
    /// not go on air.
    AlertDismiss { id: u64 },
    /// `corong volcano NAME LEVEL`: an operator sets a volcano's alert
    /// level, 1..=4.
    Volcano { name: String, level: u8 },
    /// `corong sites`: every kiosk of the regency (needs `[mqtt]`).
    Sites,
    /// `corong emergency|announce|say ... --sites all|NAME,..`: `request`
    /// (one of those three) sent as an order through the broker to the
    /// named kiosks (`["all"]`: every one), each carrying it out on its own
    /// zones.
    /// A file is referred to by its content: its path in `request` is
    /// `sha256:HEX`, and `files` says its size and name; each kiosk plays
    /// its own copy of it (see docs/regency.md).
    Order {
        sites: Vec<String>,
        request: Box<Request>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<super::FileRef>,
    },
}

/// What is wrong with a request that parsed. The daemon replies with it as a
/// `bad_request` error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRequest(pub String);

impl Request {
    /// `self` with each file it names (an announcement's, an emergency's)
    /// passed through `f`; a request that names none as it is.
    pub fn try_map_files<E>(
        self,
        mut f: impl FnMut(PathBuf) -> Result<PathBuf, E>,
    ) -> Result<Request, E> {
        Ok(match self {
            Request::Announce { files, delivery } => Request::Announce {
                files: files.into_iter().map(&mut f).collect::<Result<_, _>>()?,
                delivery,
            },
            Request::Emergency {
                file: Some(file),
                text,
                zones,
                stop,
            } => Request::Emergency {
                file: Some(f(file)?),
                text,
                zones,
                stop,
            },
            other => other,
        })
    }

    /// [`Request::validate`] for an order's request, whose files are
    /// `sha256:HEX` (checked by `check_file_refs`), not absolute paths.
    pub fn validate_by_content(&self) -> Result<(), InvalidRequest> {
        let placed = self
            .clone()
            .try_map_files(|p| {
                Ok::<_, std::convert::Infallible>(if super::file_ref_hash(&p).is_some() {
                    std::path::Path::new("/").join(p)
                } else {
                    p
                })
            })
            .unwrap_or_else(|never| match never {});
        placed.validate()
    }

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
            Request::SchedulePause { .. } => "schedule_pause",
            Request::ScheduleResume { .. } => "schedule_resume",
            Request::SayPreview { .. } => "say_preview",
            Request::Log { .. } => "log",
            Request::Reload => "reload",
            Request::Upload { .. } => "upload",
            Request::Page { .. } => "page",
            Request::PageLive { .. } => "page_live",
            Request::Alerts => "alerts",
            Request::AlertConfirm { .. } => "alert_confirm",
            Request::AlertDismiss { .. } => "alert_dismiss",
            Request::Volcano { .. } => "volcano",
            Request::Sites => "sites",
            Request::Order { .. } => "order",
        }
    }

    /// Whether the daemon may answer with progress lines before the final
    /// reply.
    pub fn streams(&self) -> bool {
        match self {
            Request::Announce { delivery, .. }
            | Request::Say { delivery, .. }
            | Request::Page { delivery, .. } => delivery.wait,
            Request::PageLive { .. } => true,
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
            Request::SchedulePause { name } | Request::ScheduleResume { name } => {
                if name.trim().is_empty() || name.len() > 256 {
                    return bad("a schedule's name is 1..=256 bytes".into());
                }
                Ok(())
            }
            Request::SayPreview { text, voice } => {
                check_text(text)?;
                if voice.as_deref().is_some_and(|v| v.trim().is_empty()) {
                    return bad("voice id is empty".into());
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
            Request::Page {
                file,
                recorded_ms,
                delivery,
            } => {
                if !file.is_absolute() {
                    return bad(format!("file path must be absolute: {}", file.display()));
                }
                if *recorded_ms > u64::from(MAX_PAGE_S) * 1000 {
                    return bad(format!(
                        "a page is at most {MAX_PAGE_S} s, not {} s",
                        recorded_ms / 1000
                    ));
                }
                delivery.validate()
            }
            Request::PageLive {
                rate,
                max_s,
                gap_ms,
                delivery,
            } => {
                if !(1_000..=crate::control::live::MAX_LIVE_RATE).contains(rate) {
                    return bad(format!(
                        "a live page's rate must be 1000..={} Hz, not {rate}",
                        crate::control::live::MAX_LIVE_RATE
                    ));
                }
                if *max_s == 0 || *max_s > MAX_PAGE_S {
                    return bad(format!("a page is 1..={MAX_PAGE_S} s, not {max_s} s"));
                }
                if !(100..=600_000).contains(gap_ms) {
                    return bad(format!(
                        "the silence that ends a page must be 100..=600000 ms, not {gap_ms}"
                    ));
                }
                delivery.validate()
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
            Request::Volcano { name, level } => {
                if name.trim().is_empty() || name.len() > 64 {
                    return bad("volcano needs a name".into());
                }
                if !(1..=4).contains(level) {
                    return bad(format!("a volcano level is 1..=4, not {level}"));
                }
                Ok(())
            }
            Request::Order {
                sites,
                request,
                files,
            } => {
                if sites.is_empty() || sites.len() > MAX_SITES {
                    return bad(format!("--sites names 1..={MAX_SITES} kiosks"));
                }
                if let Some(s) = sites.iter().find(|s| !valid_site(s)) {
                    return bad(format!(
                        "--sites: `{s}` is not a kiosk name (letters, digits, `-`, `_`) or `all`"
                    ));
                }
                match request.as_ref() {
                    Request::Announce { files: paths, .. } => {
                        super::check_file_refs(paths.iter(), files).map_err(InvalidRequest)?;
                        request.validate_by_content()
                    }
                    Request::Emergency { file: Some(f), .. } => {
                        super::check_file_refs(std::iter::once(f), files)
                            .map_err(InvalidRequest)?;
                        request.validate_by_content()
                    }
                    Request::Say { .. } | Request::Emergency { .. } if files.is_empty() => {
                        request.validate()
                    }
                    Request::Say { .. } | Request::Emergency { .. } => {
                        bad("an order of text names no files".into())
                    }
                    other => bad(format!("`{}` cannot be sent to other kiosks", other.name())),
                }
            }
            Request::Sites => Ok(()),
            Request::Alerts | Request::AlertConfirm { .. } | Request::AlertDismiss { .. } => Ok(()),
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

/// The most kiosks one order names (the regency's 22 kecamatan and its
/// villages' kiosks fit).
pub const MAX_SITES: usize = 512;

/// A kiosk name as `[site] name` allows it, or `all`.
fn valid_site(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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
