//! Why the daemon refused a request: the code a client's exit status and
//! `--json` follow, and the one-line message an operator reads.

use crate::control::protocol::{ErrorCode, Response};

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    /// The answer the client gets.
    pub fn response(self) -> Response {
        Response::error(self.code, self.message)
    }
}

pub fn refuse(code: ErrorCode, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}
