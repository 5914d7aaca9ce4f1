//! The regency: this kiosk joined to the others through an MQTT broker
//! (`[site]`, `[mqtt]`; see `docs/regency.md`). A trigger beside the
//! control socket and the web console: orders from other kiosks enter the
//! daemon's loop as the same requests, through the same handler, and so
//! through the job ledger.
//!
//! - `message.rs`: what travels (presence, state, order, ack), the topic
//!   tree, and the bounded parser every payload goes through.
//! - `link.rs`: the client (rumqttc, on the control plane): connect with a
//!   Last Will, reconnect with backoff, publish this kiosk's state, keep
//!   the table, send orders and gather their acks.
//! - `carry.rs`: carrying out an order that arrives: expiry, at most once
//!   (ids in the store's [`crate::store::OrderBook`]), a stop outranks
//!   older emergencies, then the request into the loop and the ack out.
//! - `files.rs`: this kiosk's copy of a file an order names by its
//!   content.
//! - `table.rs`: every kiosk the broker tells of, for `corong sites`.
//!
//! Without its broker a kiosk goes on as one: schedules, local operators
//! and local alerts never wait on this module; the loss is logged once and
//! shown in `status` and `/metrics`.

mod carry;
pub mod files;
mod link;
pub mod message;
mod table;

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::control::protocol::{BrokerLink, ErrorCode, Request, Response};
use crate::control::server::Handler;

/// Whether the broker is reached, for `status` and `/metrics`.
#[derive(Clone)]
pub struct LinkWatch(watch::Receiver<BrokerLink>);

impl LinkWatch {
    pub fn link(&self) -> BrokerLink {
        self.0.borrow().clone()
    }

    /// Changes when the link or what it heard of the other kiosks does.
    pub fn watch(&self) -> watch::Receiver<BrokerLink> {
        self.0.clone()
    }
}

/// A request for the link's task: `sites`, or an order to send.
pub(crate) struct Ask {
    request: Request,
    user: String,
    reply: mpsc::Sender<Response>,
}

/// The daemon's end of the link.
pub struct Handle {
    asks: mpsc::Sender<Ask>,
    pub link: LinkWatch,
}

/// Starts the link's task when the config has `[mqtt]`. `changes` ticks
/// when something a kiosk shows may have changed; `handler` is the loop's
/// entrance, as for the control socket.
pub fn start(
    config: &Config,
    handler: Arc<dyn Handler>,
    changes: watch::Receiver<u64>,
) -> Option<Handle> {
    let regency = config.regency.clone()?;
    let (asks_tx, asks) = mpsc::channel(16);
    let now = chrono::Utc::now().to_rfc3339();
    let (link_tx, link_rx) = watch::channel(BrokerLink {
        connected: false,
        since: now,
        refused: 0,
        heard: 0,
    });
    let state_dir = config.daemon.state_dir.clone();
    // Where an order's files are looked for: what was uploaded here, then
    // the config's media folder (which the regency may keep in step on
    // every kiosk).
    let search = vec![state_dir.join("uploads"), config.base_dir.join("media")];
    tokio::spawn(link::run(
        regency, state_dir, search, handler, changes, asks, link_tx,
    ));
    Some(Handle {
        asks: asks_tx,
        link: LinkWatch(link_rx),
    })
}

/// Whether `request` is the regency's to answer (`sites`, or `--sites`).
pub fn takes(request: &Request) -> bool {
    matches!(request, Request::Sites | Request::Order { .. })
}

/// Hands a request [`takes`] said yes to to the link's task; it answers on
/// `reply` (an order once its acks are in or the wait is over). Never
/// blocks: a busy link answers "try again".
pub fn submit(
    handle: Option<&Handle>,
    request: Request,
    user: String,
    reply: mpsc::Sender<Response>,
) {
    let Some(handle) = handle else {
        let _ = reply.try_send(Response::error(
            ErrorCode::Failed,
            "this kiosk has no `[mqtt]` in its config: it knows no other kiosks",
        ));
        return;
    };
    if let Err(e) = handle.asks.try_send(Ask {
        request,
        user,
        reply,
    }) {
        let ask = match e {
            mpsc::error::TrySendError::Full(a) | mpsc::error::TrySendError::Closed(a) => a,
        };
        let _ = ask.reply.try_send(Response::error(
            ErrorCode::Unavailable,
            "the regency link is busy; try again",
        ));
    }
}

/// Milliseconds since the epoch, the time orders carry.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
