//! The envelope every line shares: the protocol version, the bounds a
//! request is held to, and why a line is refused.

use serde::{Deserialize, Serialize};

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

/// The longest page, seconds (`corong page --max-s`): an hour. A page is a
/// person speaking; anything longer is a recording to announce.
pub const MAX_PAGE_S: u32 = 3600;

/// The zone list that means every zone; what the CLI sends when `--zones` is
/// not given. The config's reserved word for it, one word for both.
pub use crate::config::schema::ALL_ZONES;

/// Whether `value` is an object of this protocol version.
pub(super) fn check_version(value: &serde_json::Value) -> Result<(), ProtocolError> {
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
