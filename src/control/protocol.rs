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
//!
//! - this file: the envelope (version, bounds, [`Response`], error codes).
//! - `protocol/request.rs`: what a client asks ([`Request`], [`Delivery`])
//!   and the bounds a request is checked against.
//! - `protocol/reply.rs`: what the daemon answers ([`Reply`] and the
//!   result of each command).

use std::fmt;

use serde::{Deserialize, Serialize};

mod reply;
mod request;

pub use reply::*;
pub use request::*;

/// The protocol version this build speaks. A request or reply with another
/// `v` is refused with a clear error; a future incompatible change bumps it.
pub const VERSION: u32 = 1;

/// The longest request line the daemon reads, in bytes, without the newline.
/// Longer lines get an error reply and the connection is closed.
pub const MAX_LINE: usize = 64 * 1024;

/// At most this many files in one announcement.
pub const MAX_FILES: usize = 64;

/// At most this many bytes of text in `say` or `emergency --text`.
pub use crate::limits::MAX_TEXT;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::priority::Priority;

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
