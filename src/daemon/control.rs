//! The control socket's [`Handler`]: requests are handed to the station's
//! loop, which owns all state, so no request ever races another or the
//! audio events.

use tokio::sync::mpsc;

use crate::control::protocol::{ErrorCode, Request, Response};
use crate::control::server::{Handler, LiveSocket, Peer};

/// One request on its way to the station.
pub struct Incoming {
    pub request: Request,
    pub peer: Peer,
    pub reply: mpsc::Sender<Response>,
    /// A live page's audio connection (`page_live` only).
    pub live: Option<LiveSocket>,
}

/// Forwards every request into the station's loop.
pub struct Forward {
    pub tx: mpsc::Sender<Incoming>,
}

impl Handler for Forward {
    fn handle(&self, request: Request, peer: Peer, reply: mpsc::Sender<Response>) {
        self.send(Incoming {
            request,
            peer,
            reply,
            live: None,
        });
    }

    fn handle_live(
        &self,
        request: Request,
        peer: Peer,
        socket: LiveSocket,
        reply: mpsc::Sender<Response>,
    ) {
        self.send(Incoming {
            request,
            peer,
            reply,
            live: Some(socket),
        });
    }
}

impl Forward {
    fn send(&self, incoming: Incoming) {
        if let Err(e) = self.tx.try_send(incoming) {
            let incoming = match e {
                mpsc::error::TrySendError::Full(i) | mpsc::error::TrySendError::Closed(i) => i,
            };
            let _ = incoming.reply.try_send(Response::error(
                ErrorCode::Unavailable,
                "the daemon is busy or shutting down; try again",
            ));
        }
    }
}

/// Bind the control socket (mode 0660, `group` if given), with an error
/// that names the path.
pub fn server_bind(
    path: &std::path::Path,
    group: Option<&str>,
) -> anyhow::Result<tokio::net::UnixListener> {
    crate::control::server::bind(path, group)
        .map_err(|e| anyhow::anyhow!("control socket {}: {e}", path.display()))
}
