//! Polling one `[[alerts.feeds]]` over HTTP(S), on a thread of its own so
//! that nothing slow touches the daemon's loop: conditional requests (ETag,
//! Last-Modified), timeouts, a size cap, backoff after a failure, and for a
//! `cap-rss` feed only the documents the index lists that this poller has
//! not fetched yet. What it finds goes out as [`FeedEvent`]s; deciding what
//! an alert does is the daemon's.
//!
//! The client is ureq with rustls (no OpenSSL). Plain `http://` is allowed
//! only to a loopback address (tests), for the feed and for every link an
//! index names.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use sha2::Digest;

use super::xml::{Refusal, MAX_DOCUMENT_BYTES};
use super::{inatews, read_any, rss, Document};
use crate::config::{is_loopback_url, Feed, FeedKind};

/// One request's whole budget: connect, send, headers and body.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest wait between polls after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);
/// Links of a `cap-rss` index remembered as fetched (the oldest forgotten
/// first; the daemon's seen set keeps the alerts themselves).
const REMEMBERED_LINKS: usize = 4096;
/// Documents fetched from one index in one poll, at most: the rest wait
/// for the next poll.
const DOCUMENTS_PER_POLL: usize = 50;

/// What a poll found.
// A few of these a minute: their size does not matter, and unboxed they
// stay easy to match on.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum FeedEvent {
    /// A document, read or refused, with its raw bytes (kept by the daemon
    /// with the reason).
    Document {
        feed: String,
        url: String,
        bytes: Vec<u8>,
        read: Result<Document, Refusal>,
    },
    /// The poll went through (the feed is healthy again).
    Polled { feed: String },
    /// The poll failed; the next one waits longer.
    Failed { feed: String, error: String },
}

/// What one GET gave.
enum Fetched {
    Fresh(Vec<u8>),
    NotModified,
}

/// The validators a server gave for one URL.
#[derive(Default, Clone)]
struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
}

/// One feed's poller.
pub struct Poller {
    feed: Feed,
    agent: ureq::Agent,
    validators: HashMap<String, Validators>,
    fetched: HashSet<String>,
    fetched_order: VecDeque<String>,
    /// The SHA-256 of the last body of each document URL: a server that
    /// sends no validators still sends an unchanged document only once.
    last_body: HashMap<String, [u8; 32]>,
    failures: u32,
}

impl Poller {
    pub fn new(feed: Feed) -> Poller {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            // Not followed: a redirect could lead to plain http on another
            // host; it is reported with where it points instead.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("corong/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Poller {
            feed,
            agent,
            validators: HashMap::new(),
            fetched: HashSet::new(),
            fetched_order: VecDeque::new(),
            last_body: HashMap::new(),
            failures: 0,
        }
    }

    /// How long to wait before the next poll: `poll_s`, doubled for each
    /// failure in a row, at most [`MAX_BACKOFF`] (or `poll_s` when that is
    /// longer).
    pub fn next_wait(&self) -> Duration {
        let factor = 1u32 << self.failures.min(6);
        (self.feed.poll * factor).min(MAX_BACKOFF.max(self.feed.poll))
    }

    /// Poll once: every event goes to `out`.
    pub fn poll(&mut self, out: &mut dyn FnMut(FeedEvent)) {
        let name = self.feed.name.clone();
        let result = match self.feed.kind {
            FeedKind::CapRss => self.poll_index(out),
            FeedKind::Cap | FeedKind::InaTews => {
                let url = self.feed.url.clone();
                self.fetch_document(&url, out)
            }
        };
        match result {
            Ok(()) => {
                self.failures = 0;
                out(FeedEvent::Polled { feed: name });
            }
            Err(error) => {
                self.failures = self.failures.saturating_add(1);
                out(FeedEvent::Failed { feed: name, error });
            }
        }
    }

    fn poll_index(&mut self, out: &mut dyn FnMut(FeedEvent)) -> Result<(), String> {
        let url = self.feed.url.clone();
        let bytes = match self.get(&url)? {
            Fetched::NotModified => return Ok(()),
            Fetched::Fresh(b) => b,
        };
        let items = rss::read(&bytes).map_err(|e| format!("the index {url}: {e}"))?;
        let mut first_error = None;
        let fresh = items
            .into_iter()
            .filter(|i| !self.fetched.contains(&i.link))
            .take(DOCUMENTS_PER_POLL);
        for item in fresh.collect::<Vec<_>>() {
            if let Err(e) = self.fetch_document(&item.link, out) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Fetch, read and report one document. A document that arrived (read
    /// or refused) is done with; a failed fetch is tried again next poll.
    fn fetch_document(&mut self, url: &str, out: &mut dyn FnMut(FeedEvent)) -> Result<(), String> {
        let bytes = match self.get(url)? {
            Fetched::NotModified => return Ok(()),
            Fetched::Fresh(b) => b,
        };
        let digest: [u8; 32] = sha2::Sha256::digest(&bytes).into();
        if self.last_body.insert(url.to_string(), digest) == Some(digest) {
            return Ok(());
        }
        let read = match self.feed.kind {
            FeedKind::InaTews => inatews::read(&bytes).map(Document::InaTews),
            FeedKind::Cap | FeedKind::CapRss => read_any(&bytes),
        };
        self.remember(url);
        out(FeedEvent::Document {
            feed: self.feed.name.clone(),
            url: url.to_string(),
            bytes,
            read,
        });
        Ok(())
    }

    fn remember(&mut self, url: &str) {
        if self.feed.kind != FeedKind::CapRss || !self.fetched.insert(url.to_string()) {
            return;
        }
        self.fetched_order.push_back(url.to_string());
        if self.fetched_order.len() > REMEMBERED_LINKS {
            if let Some(old) = self.fetched_order.pop_front() {
                self.fetched.remove(&old);
            }
        }
    }

    /// One conditional GET, bounded in time and size.
    fn get(&mut self, url: &str) -> Result<Fetched, String> {
        if !(url.starts_with("https://") || (url.starts_with("http://") && is_loopback_url(url))) {
            return Err(format!(
                "{url}: refused: only https:// (or http:// to a loopback address)"
            ));
        }
        let known = self.validators.get(url).cloned().unwrap_or_default();
        let mut request = self.agent.get(url);
        if let Some(etag) = &known.etag {
            request = request.header("If-None-Match", etag);
        }
        if let Some(lm) = &known.last_modified {
            request = request.header("If-Modified-Since", lm);
        }
        let mut response = request.call().map_err(|e| format!("{url}: {e}"))?;
        let status = response.status().as_u16();
        if status == 304 {
            return Ok(Fetched::NotModified);
        }
        if (300..400).contains(&status) {
            let to = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("nowhere");
            return Err(format!(
                "{url}: HTTP status {status}, redirected to {to}: not followed (set the feed's url to it)"
            ));
        }
        if status != 200 {
            return Err(format!("{url}: HTTP status {status}"));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let validators = Validators {
            etag: header("etag"),
            last_modified: header("last-modified"),
        };
        if let Some(length) = header("content-length").and_then(|l| l.parse::<u64>().ok()) {
            if length > MAX_DOCUMENT_BYTES as u64 {
                return Err(format!(
                    "{url}: {length} bytes: at most {MAX_DOCUMENT_BYTES} are fetched"
                ));
            }
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_DOCUMENT_BYTES as u64)
            .read_to_vec()
            .map_err(|e| format!("{url}: {e} (at most {MAX_DOCUMENT_BYTES} bytes are fetched)"))?;
        self.validators.insert(url.to_string(), validators);
        Ok(Fetched::Fresh(bytes))
    }
}

/// Poll `feed` on this thread until `stop` says so (or its sender goes):
/// the first poll at once, then at the poller's pace.
pub fn run(feed: Feed, stop: Receiver<()>, mut out: impl FnMut(FeedEvent)) {
    let mut poller = Poller::new(feed);
    loop {
        poller.poll(&mut out);
        match stop.recv_timeout(poller.next_wait()) {
            Err(RecvTimeoutError::Timeout) => continue,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests;
