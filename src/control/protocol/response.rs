//! One response line: a final reply or error, or a progress line before
//! them, in the flat shape on the wire.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::envelope::{check_version, ErrorCode, ProtocolError, VERSION};
use super::reply::{Progress, Reply};

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
