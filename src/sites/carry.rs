//! Carrying out an order another kiosk (or this one) sent: one at a time,
//! in the order they arrive, on a task of its own so that the link keeps
//! reading meanwhile.
//!
//! The checks, in order: not past its expiry; not carried out before (its
//! id noted in the store first, so a crash between noting and playing
//! loses the order rather than plays it twice: at most once); an emergency
//! issued before the newest stop is not started (a stop that reaches a
//! kiosk after a reconnect, behind an emergency the broker queued for it,
//! wins, and so does one waiting right behind it in the same burst). Then
//! the request enters the loop as an operator's would.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::message::{Ack, Order};
use crate::control::protocol::{Reply, Request, Response};
use crate::control::server::{Handler, Peer};
use crate::store::{OrderBook, OrderKind};

/// How long the loop may take to answer an order (speech is rendered
/// first).
const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// Starts the worker; orders go in through the returned sender, acks come
/// out on `acks` with the kiosk they go to.
pub(super) fn start(
    site: String,
    state_dir: PathBuf,
    search: Vec<PathBuf>,
    handler: Arc<dyn Handler>,
    acks: mpsc::UnboundedSender<(String, Ack)>,
) -> mpsc::Sender<Order> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(worker(site, state_dir, search, handler, rx, acks));
    tx
}

async fn worker(
    site: String,
    state_dir: PathBuf,
    search: Vec<PathBuf>,
    handler: Arc<dyn Handler>,
    mut orders: mpsc::Receiver<Order>,
    acks: mpsc::UnboundedSender<(String, Ack)>,
) {
    let opened = tokio::task::spawn_blocking(move || OrderBook::open(&state_dir)).await;
    let mut book = match opened {
        Ok(Ok(b)) => Some(b),
        Ok(Err(e)) => {
            tracing::error!("regency: cannot open the order book ({e}); orders are refused");
            None
        }
        Err(_) => None,
    };
    // Orders that arrived while one was being carried out, in order.
    let mut waiting: VecDeque<Order> = VecDeque::new();
    loop {
        let order = match waiting.pop_front() {
            Some(o) => o,
            None => match orders.recv().await {
                Some(o) => o,
                None => return,
            },
        };
        // What the broker queued for a kiosk that was away comes in one
        // burst: a stop behind an emergency in it is seen before the
        // emergency starts (looked for once the emergency is noted).
        let mut stop_behind = || {
            while let Ok(o) = orders.try_recv() {
                waiting.push_back(o);
            }
            waiting
                .iter()
                .filter(|o| matches!(o.request, Request::Emergency { stop: true, .. }))
                .map(|o| o.issued_ms)
                .max()
        };
        let origin = order.origin.clone();
        let (b, ack) = carry(
            &site,
            book.take(),
            &search,
            &*handler,
            order,
            &mut stop_behind,
        )
        .await;
        book = b;
        if let Some(ack) = ack {
            let _ = acks.send((origin, ack));
        }
    }
}

/// One order; `None` when there is nothing to answer (a duplicate).
/// `stop_behind`: when the newest stop waiting behind it was issued.
async fn carry(
    site: &str,
    book: Option<OrderBook>,
    search: &[PathBuf],
    handler: &dyn Handler,
    order: Order,
    stop_behind: &mut (dyn FnMut() -> Option<i64> + Send),
) -> (Option<OrderBook>, Option<Ack>) {
    let refuse = |why: String| Ack {
        order: order.id.clone(),
        site: site.to_string(),
        accepted: false,
        job: None,
        reason: Some(why),
    };
    let now = super::now_ms();
    if let Some(expires) = order.expires_ms.filter(|e| now > *e) {
        let why = format!("expired {:.1} s ago", (now - expires) as f64 / 1000.0);
        tracing::warn!(order = %order.id, origin = %order.origin, "regency: order refused: {why}");
        return (book, Some(refuse(why)));
    }
    let Some(mut book) = book else {
        return (
            None,
            Some(refuse("this kiosk cannot note orders (store)".into())),
        );
    };
    let is_stop = matches!(order.request, Request::Emergency { stop: true, .. });
    let is_emergency = matches!(order.request, Request::Emergency { stop: false, .. });
    let kind = if is_stop {
        OrderKind::Stop
    } else {
        OrderKind::Other
    };
    let (id, origin, issued) = (order.id.clone(), order.origin.clone(), order.issued_ms);
    let noted = tokio::task::spawn_blocking(move || {
        let last_stop = book.last_stop_ms();
        let new = book.remember(&id, &origin, issued, kind, now);
        (book, new, last_stop)
    })
    .await;
    let (book, new, last_stop) = match noted {
        Ok(n) => n,
        Err(_) => return (None, Some(refuse("the order book stopped".into()))),
    };
    match new {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(order = %order.id, origin = %order.origin, "regency: order received again; carried out once already");
            return (Some(book), None);
        }
        Err(e) => {
            tracing::error!(order = %order.id, "regency: cannot note the order: {e}");
            return (
                Some(book),
                Some(refuse(format!("cannot note the order: {e}"))),
            );
        }
    }
    if is_emergency {
        let newest_stop = last_stop.ok().flatten().max(stop_behind());
        if let Some(stop) = newest_stop.filter(|s| *s >= order.issued_ms) {
            let why = format!(
                "a stop issued {:.1} s after it outranks it",
                (stop - order.issued_ms) as f64 / 1000.0
            );
            tracing::warn!(order = %order.id, origin = %order.origin, "regency: order refused: {why}");
            return (Some(book), Some(refuse(why)));
        }
    }
    // Files named by content: this kiosk's own copies (hashing files runs
    // beside the loop).
    let request = if order.files.is_empty() {
        order.request.clone()
    } else {
        let (dirs, request, refs) = (search.to_vec(), order.request.clone(), order.files.clone());
        let found =
            tokio::task::spawn_blocking(move || super::files::resolve(&dirs, request, &refs))
                .await
                .unwrap_or_else(|_| Err("the file search stopped".into()));
        match found {
            Ok(r) => r,
            Err(why) => {
                tracing::warn!(order = %order.id, origin = %order.origin, "regency: order refused: {why}");
                return (Some(book), Some(refuse(why)));
            }
        }
    };
    let peer = Peer {
        uid: u32::MAX,
        gid: u32::MAX,
        pid: None,
        user: format!("{}@{}", order.user, order.origin),
    };
    let (tx, mut rx) = mpsc::channel(16);
    handler.handle(request, peer, tx);
    let answer = tokio::time::timeout(ANSWER_WAIT, async {
        while let Some(r) = rx.recv().await {
            if r.is_final() {
                return Some(r);
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let ack = match answer {
        Some(Response::Ok(reply)) => {
            let job = match reply {
                Reply::Announced(a) => Some(a.id),
                _ => None,
            };
            let job_text = job.map_or_else(|| "-".to_string(), |j| j.to_string());
            tracing::info!(order = %order.id, origin = %order.origin, user = %order.user, job = %job_text, "regency: order carried out");
            Ack {
                order: order.id.clone(),
                site: site.to_string(),
                accepted: true,
                job,
                reason: None,
            }
        }
        Some(Response::Err { error, .. }) => {
            tracing::warn!(order = %order.id, origin = %order.origin, "regency: order refused: {error}");
            refuse(error)
        }
        _ => refuse("the daemon gave no answer in time".into()),
    };
    (Some(book), Some(ack))
}
