//! Hazard alerts in the running daemon: one poller thread per
//! `[[alerts.feeds]]` (`alerts::feed`), their documents kept raw in the
//! state folder and handed to the inbox (`alerts::inbox`), whose actions
//! become jobs through the ledger's one entrance (`Origin::Alert`). A text
//! playbook's speech is rendered beside the loop as soon as an alert
//! arrives, so that a confirm plays at once. The operators' requests
//! (`alerts`, `alert_confirm`, `alert_dismiss`, `volcano`) are answered
//! here.
//!
//! The inbox (every alert, every identity seen) and which job plays which
//! alert are kept in SQLite (`corong.db`, `store::AlertBook`, synced before
//! the save returns) whenever they change, before what changed is acted
//! on: after a restart or a power cut nothing seen before starts again. An
//! `inbox.json` left by an older corong is moved in at the first start.
//!
//! Each feed's health (last good poll, failing since when, the error) is
//! handed to the station for `status` and `/metrics`; a failing feed is
//! logged at most once a minute. A reload that changes `[[alerts.feeds]]`
//! restarts the pollers; one that does not leaves them polling. Alerts
//! that ended longer ago than `[daemon] asrun_keep_days`, and their kept
//! documents, are pruned once a day.
//!
//! An Update (or a volcano's new level) puts its words in the place of
//! what plays inside the same job (`Ledger::replace`): the job keeps its
//! number, the old words play on until the new ones are rendered, and a
//! zone the update no longer covers falls silent.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::jobs::{JobSpec, Origin};
use super::Station;
use crate::alerts::feed::{self, FeedEvent};
use crate::alerts::inbox::{Action, Alert, AlertId, Inbox};
use crate::alerts::matching::{Decision, Spoken};
use crate::alerts::Document;
use crate::config::Feed;
use crate::control::protocol::{
    AlertRow, AlertsResult, DoneResult, ErrorCode, FeedStatus, Reply, Request, Response,
};
use crate::hazard::VolcanoLevel;
use crate::ids::JobId;
use crate::store::{AlertBook, JobKind, KeptAlert, KeptAlerts};

/// A feed that keeps failing is logged at most this often.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);
/// How often ended alerts and kept documents are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);
/// Plays of a repeating alert with no `expires`, at most.
const MAX_PLAYS: u32 = 1000;

/// What reaches the loop from beside it (a few a minute: unboxed).
#[allow(clippy::large_enum_variant)]
pub enum Input {
    Feed(FeedEvent),
    /// An alert's speech, rendered.
    Spoken {
        alert: AlertId,
        file: Result<PathBuf, String>,
    },
}

pub struct Alerts {
    inbox: Inbox,
    tx: mpsc::UnboundedSender<Input>,
    /// The feeds the pollers poll, and what stops them (dropping it).
    polled: Vec<Feed>,
    stops: Vec<std::sync::mpsc::Sender<()>>,
    /// Each feed's health, in the config's order.
    health: Vec<FeedHealth>,
    /// When alerts and kept documents were last pruned.
    pruned: Option<Instant>,
    speech: HashMap<AlertId, PathBuf>,
    /// Starts waiting for their speech.
    waiting: HashMap<AlertId, Action>,
    jobs: HashMap<AlertId, JobId>,
    /// When each failing feed was last logged.
    failing: HashMap<String, Instant>,
    archive: PathBuf,
    documents: u64,
    /// Where the inbox is kept; `None` when `corong.db` cannot be opened
    /// (alerts then work, and are not kept: said at start).
    book: Option<AlertBook>,
}

/// One feed's health as the loop keeps it.
struct FeedHealth {
    feed: Feed,
    last_ok: Option<DateTime<Utc>>,
    failing_since: Option<DateTime<Utc>>,
    error: Option<String>,
}

impl FeedHealth {
    fn status(&self) -> FeedStatus {
        let state = match (&self.failing_since, &self.last_ok) {
            (Some(_), _) => "failing",
            (None, Some(_)) => "ok",
            (None, None) => "waiting",
        };
        FeedStatus {
            name: self.feed.name.clone(),
            kind: self.feed.kind.as_str().to_string(),
            url: self.feed.url.clone(),
            state: state.to_string(),
            last_ok: self.last_ok.map(|t| t.to_rfc3339()),
            failing_since: self.failing_since.map(|t| t.to_rfc3339()),
            error: self.error.clone(),
        }
    }
}

/// Start one poller thread per feed; dropping a returned sender stops it.
fn start_pollers(
    feeds: &[Feed],
    tx: &mpsc::UnboundedSender<Input>,
) -> Vec<std::sync::mpsc::Sender<()>> {
    let mut stops = Vec::new();
    for f in feeds {
        let (stop_tx, stop_rx) = std::sync::mpsc::channel();
        let out = tx.clone();
        let feed = f.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("corong-feed-{}", f.name))
            .spawn(move || feed::run(feed, stop_rx, move |e| drop(out.send(Input::Feed(e)))));
        match spawned {
            Ok(_) => {
                tracing::info!(feed = %f.name, kind = f.kind.as_str(), url = %f.url, "polling feed");
                stops.push(stop_tx);
            }
            Err(e) => tracing::error!(feed = %f.name, "cannot start the feed's poller: {e}"),
        }
    }
    stops
}

fn health_of(feeds: &[Feed]) -> Vec<FeedHealth> {
    feeds
        .iter()
        .map(|f| FeedHealth {
            feed: f.clone(),
            last_ok: None,
            failing_since: None,
            error: None,
        })
        .collect()
}

/// What an older corong kept in `state/alerts/inbox.json`.
#[derive(serde::Serialize, serde::Deserialize)]
struct OldKept {
    inbox: Inbox,
    jobs: Vec<(AlertId, JobId)>,
}

/// The inbox as the book keeps it.
fn kept_of(inbox: &Inbox, jobs: &HashMap<AlertId, JobId>) -> KeptAlerts {
    let (seen, next_id) = inbox.seen_and_next();
    KeptAlerts {
        alerts: inbox
            .alerts()
            .iter()
            .map(|a| KeptAlert {
                id: a.id,
                identity: a.identity.clone(),
                state: a.state.as_str().to_string(),
                job: jobs.get(&a.id).map(|j| j.0 as u64),
                body: serde_json::to_string(a).expect("an alert serializes"),
            })
            .collect(),
        seen: seen.clone(),
        next_id,
    }
}

/// The inbox and the jobs from what the book kept. A row that does not
/// read is left out of the list, and said (its identity is still seen:
/// it does not start again).
fn inbox_of(kept: KeptAlerts) -> (Inbox, HashMap<AlertId, JobId>) {
    let mut alerts = Vec::new();
    let mut jobs = HashMap::new();
    for row in kept.alerts {
        match serde_json::from_str::<Alert>(&row.body) {
            Ok(a) => {
                if let Some(j) = row.job {
                    jobs.insert(a.id, JobId(j as i64));
                }
                alerts.push(a);
            }
            Err(e) => {
                tracing::error!(
                    alert = row.id,
                    "an alert kept in corong.db does not read ({e}): left out of the list"
                )
            }
        }
    }
    (Inbox::from_parts(alerts, kept.seen, kept.next_id), jobs)
}

/// Open the book and read the inbox from it, moving in an `inbox.json`
/// an older corong left.
fn open_book(
    state_dir: &std::path::Path,
    archive: &std::path::Path,
) -> (Option<AlertBook>, Inbox, HashMap<AlertId, JobId>) {
    let mut book = match AlertBook::open(state_dir) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!("the alerts' inbox cannot be kept ({e}): alerts are read and played, but a restart forgets them");
            return (None, Inbox::new(), HashMap::new());
        }
    };
    let old = archive.join("inbox.json");
    if book.is_empty() {
        if let Ok(text) = std::fs::read_to_string(&old) {
            match serde_json::from_str::<OldKept>(&text) {
                Ok(o) => {
                    let jobs: HashMap<AlertId, JobId> = o.jobs.into_iter().collect();
                    match book.save(&kept_of(&o.inbox, &jobs)) {
                        Ok(()) => {
                            let moved = old.with_extension("json.imported");
                            let _ = std::fs::rename(&old, &moved);
                            tracing::info!(alerts = o.inbox.alerts().len(), from = %old.display(), "the alerts' inbox moved into corong.db");
                        }
                        Err(e) => tracing::error!("the alerts' inbox could not be moved into corong.db ({e}): read from {} this time", old.display()),
                    }
                    tracing::info!(alerts = o.inbox.alerts().len(), "alerts restored");
                    return (Some(book), o.inbox, jobs);
                }
                Err(e) => {
                    // Kept aside, not lost; the inbox starts empty (and the
                    // feeds' documents will be new to it: said loudly).
                    let aside = old.with_extension("json.unreadable");
                    let _ = std::fs::rename(&old, &aside);
                    tracing::error!(file = %aside.display(), "the alerts' inbox could not be read ({e}): starting empty; documents still in the feeds will be seen as new");
                }
            }
        }
        return (Some(book), Inbox::new(), HashMap::new());
    }
    let (inbox, jobs) = inbox_of(book.kept());
    tracing::info!(alerts = inbox.alerts().len(), "alerts restored");
    (Some(book), inbox, jobs)
}

impl Alerts {
    /// Start one poller per feed (none when `[alerts] mode = "off"` has no
    /// feeds to read either way: they are still read and listed).
    pub fn start(station: &mut Station) -> (Alerts, mpsc::UnboundedReceiver<Input>) {
        let config = station.config();
        let (tx, rx) = mpsc::unbounded_channel();
        let polled = config.alerts.feeds.clone();
        let stops = start_pollers(&polled, &tx);
        let archive = config.daemon.state_dir.join("alerts");
        let (book, inbox, jobs) = open_book(&config.daemon.state_dir, &archive);
        let alerts = Alerts {
            inbox,
            tx,
            health: health_of(&polled),
            polled,
            stops,
            pruned: None,
            speech: HashMap::new(),
            waiting: HashMap::new(),
            jobs,
            failing: HashMap::new(),
            archive,
            documents: 0,
            book,
        };
        alerts.publish(station);
        (alerts, rx)
    }

    /// After a reload: restart the pollers when `[[alerts.feeds]]` changed
    /// (a feed's health starts again with it); otherwise leave them be.
    pub fn on_reload(&mut self, station: &mut Station) {
        let feeds = &station.config().alerts.feeds;
        if *feeds == self.polled {
            return;
        }
        tracing::info!(
            feeds = feeds.len(),
            "the hazard feeds changed: restarting their pollers"
        );
        // Dropping the senders stops the old pollers at their next wait.
        self.stops.clear();
        self.polled = feeds.clone();
        self.stops = start_pollers(&self.polled, &self.tx);
        self.health = health_of(&self.polled);
        self.failing.clear();
        self.publish(station);
    }

    /// Hand each feed's health to the station (`status`, `/metrics`).
    fn publish(&self, station: &mut Station) {
        station.feeds = self.health.iter().map(FeedHealth::status).collect();
    }

    fn health_mut(&mut self, feed: &str) -> Option<&mut FeedHealth> {
        self.health.iter_mut().find(|h| h.feed.name == feed)
    }

    pub fn on_input(&mut self, input: Input, station: &mut Station) {
        match input {
            Input::Feed(FeedEvent::Document {
                feed,
                url,
                bytes,
                read,
            }) => {
                let kept = self.keep(&feed, &bytes, read.as_ref().err().map(|e| e.0.as_str()));
                let now = Utc::now();
                let config = station.config().clone();
                let actions = match read {
                    Ok(Document::Cap(a)) => {
                        tracing::info!(feed, url, identifier = %a.identifier, kept = %kept, "alert document read");
                        self.inbox.receive_cap(&config, &feed, &a, now)
                    }
                    Ok(Document::InaTews(b)) => {
                        tracing::info!(feed, url, event = %b.event_id, bulletin = %b.subject, kept = %kept, "tsunami bulletin read");
                        self.inbox.receive_inatews(&config, &feed, &b, now)
                    }
                    Err(e) => {
                        tracing::warn!(feed, url, kept = %kept, "alert document refused: {e}");
                        Vec::new()
                    }
                };
                self.act(actions, station);
                self.save();
            }
            Input::Feed(FeedEvent::Polled { feed }) => {
                if self.failing.remove(&feed).is_some() {
                    tracing::info!(feed, "feed answers again");
                }
                if let Some(h) = self.health_mut(&feed) {
                    h.last_ok = Some(Utc::now());
                    h.failing_since = None;
                    h.error = None;
                }
                self.publish(station);
            }
            Input::Feed(FeedEvent::Failed { feed, error }) => {
                if let Some(h) = self.health_mut(&feed) {
                    h.failing_since.get_or_insert_with(Utc::now);
                    h.error = Some(error.clone());
                }
                self.publish(station);
                let due = self
                    .failing
                    .get(&feed)
                    .is_none_or(|t| t.elapsed() >= FAILURE_LOG_EVERY);
                if due {
                    tracing::warn!(feed, "feed poll failed: {error}");
                    self.failing.insert(feed, Instant::now());
                }
            }
            Input::Spoken { alert, file } => match file {
                Ok(path) => {
                    self.speech.insert(alert, path);
                    if let Some(action) = self.waiting.remove(&alert) {
                        self.act(vec![action], station);
                        self.save();
                    }
                }
                Err(e) => tracing::error!(alert, "the alert's speech could not be rendered: {e}"),
            },
        }
    }

    /// Time passes: expiries and delayed starts; once a day, pruning.
    pub fn tick(&mut self, station: &mut Station) {
        let (actions, mut changed) = self.inbox.tick_changes(Utc::now());
        if !actions.is_empty() {
            self.act(actions, station);
            changed = true;
        }
        if self.pruned.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            self.pruned = Some(Instant::now());
            if let Some(days) = station.config().daemon.asrun_keep_days {
                changed |= self.prune(Utc::now() - chrono::Duration::days(i64::from(days)));
            }
        }
        if changed {
            self.save();
        }
    }

    /// Forget alerts that ended before `cutoff`, and delete the documents
    /// kept before it (beside the loop: a folder of years can be long).
    fn prune(&mut self, cutoff: DateTime<Utc>) -> bool {
        let removed = self.inbox.prune(cutoff);
        let live: std::collections::HashSet<AlertId> =
            self.inbox.alerts().iter().map(|a| a.id).collect();
        self.jobs.retain(|a, _| live.contains(a));
        self.speech.retain(|a, _| live.contains(a));
        if removed > 0 {
            tracing::info!(removed, "alerts that ended before {cutoff} pruned");
        }
        let folder = self.archive.clone();
        let cutoff_time = std::time::SystemTime::from(cutoff);
        tokio::task::spawn_blocking(move || {
            let deleted = prune_documents(&folder, cutoff_time);
            if deleted > 0 {
                tracing::info!(deleted, folder = %folder.display(), "kept alert documents pruned");
            }
        });
        removed > 0
    }

    /// Keep the inbox (only what changed is written; on disk when this
    /// returns).
    fn save(&mut self) {
        let Some(book) = self.book.as_mut() else {
            return;
        };
        if let Err(e) = book.save(&kept_of(&self.inbox, &self.jobs)) {
            tracing::error!("cannot keep the alerts' inbox: {e}");
        }
    }

    /// Answer an alerts request; `None` when `req` is not one.
    pub fn on_request(
        &mut self,
        req: &Request,
        user: &str,
        station: &mut Station,
    ) -> Option<Response> {
        let now = Utc::now();
        let result = match req {
            Request::Alerts => Ok(Reply::Alerts(self.rows(station))),
            Request::AlertConfirm { id } => self.inbox.confirm(*id, user, now).map(|actions| {
                tracing::warn!(alert = id, user, "alert confirmed");
                self.act(actions, station);
                done(format!("alert {id} confirmed"), self.zones_of(*id))
            }),
            Request::AlertDismiss { id } => self.inbox.dismiss(*id, user).map(|_| {
                tracing::info!(alert = id, user, "alert dismissed");
                done(format!("alert {id} dismissed"), Vec::new())
            }),
            Request::Volcano { name, level } => {
                let level = VolcanoLevel::new(*level).expect("validated 1..=4");
                let config = station.config().clone();
                self.inbox
                    .set_volcano(&config, name, level, user, now)
                    .map(|actions| {
                        tracing::warn!(volcano = %name, level = %level, user, "volcano level set");
                        let zones = actions
                            .iter()
                            .filter_map(|a| match a {
                                Action::Start { decision, .. }
                                | Action::Replace { decision, .. } => Some(decision.zones.clone()),
                                _ => None,
                            })
                            .flatten()
                            .collect();
                        self.act(actions, station);
                        done(format!("{name} set to level {level}"), zones)
                    })
            }
            _ => return None,
        };
        self.save();
        Some(match result {
            Ok(reply) => Response::Ok(reply),
            Err(e) => Response::error(ErrorCode::BadRequest, e),
        })
    }

    fn zones_of(&self, id: AlertId) -> Vec<String> {
        self.inbox
            .get(id)
            .and_then(|a| a.decision.as_ref())
            .map(|d| d.zones.clone())
            .unwrap_or_default()
    }

    fn rows(&self, station: &Station) -> AlertsResult {
        let tz = station.config().daemon.timezone;
        let alerts = self
            .inbox
            .alerts()
            .iter()
            .map(|a| AlertRow {
                id: a.id,
                source: a.source.clone(),
                event: a.event.clone(),
                level: a.level.clone(),
                zones: a
                    .decision
                    .as_ref()
                    .map_or_else(|| a.covered.clone(), |d| d.zones.clone()),
                playbook: a.decision.as_ref().map(|d| d.playbook.clone()),
                state: a.state.as_str().to_string(),
                reason: a.reason.clone(),
                received: a.received.with_timezone(&tz).to_rfc3339(),
                expires: a.expires.map(|e| e.with_timezone(&tz).to_rfc3339()),
                message: a.decision.as_ref().map(|d| match &d.message {
                    Spoken::Text(t) => t.clone(),
                    Spoken::File(f) => f.display().to_string(),
                }),
                job: self.jobs.get(&a.id).copied(),
            })
            .collect();
        AlertsResult { alerts }
    }

    /// Keep a document as it came, with the reason when it was refused:
    /// `state/alerts/N-FEED.xml` (and `.refused.txt`). Returns its name.
    fn keep(&mut self, feed: &str, bytes: &[u8], refusal: Option<&str>) -> String {
        self.documents += 1;
        let stamp = Utc::now().format("%Y%m%dT%H%M%S%.3f");
        let name = format!("{stamp}-{}-{feed}.xml", self.documents);
        let path = self.archive.join(&name);
        let written = std::fs::create_dir_all(&self.archive)
            .and_then(|_| std::fs::write(&path, bytes))
            .and_then(|_| match refusal {
                Some(why) => std::fs::write(path.with_extension("refused.txt"), format!("{why}\n")),
                None => Ok(()),
            });
        if let Err(e) = written {
            tracing::warn!(file = %path.display(), "cannot keep the alert document: {e}");
        }
        path.display().to_string()
    }

    /// Carry out the inbox's actions. The inbox is kept first: a power cut while a job starts then leaves
    /// the alert seen (its job, if the store took it, is restored as any
    /// job is), never new again and started twice.
    fn act(&mut self, actions: Vec<Action>, station: &mut Station) {
        if !actions.is_empty() {
            self.save();
        }
        for action in actions {
            match action {
                Action::Notify { alert } => {
                    if let Some(a) = self.inbox.get(alert) {
                        tracing::warn!(
                            alert,
                            source = %a.source,
                            event = %a.event,
                            zones = %a.decision.as_ref().map(|d| d.zones.join(",")).unwrap_or_default(),
                            "ALERT pending: `corong alerts confirm {alert}` to broadcast"
                        );
                        if let Some(d) = a.decision.clone() {
                            self.render(alert, &d, station);
                        }
                    }
                }
                Action::Start {
                    alert,
                    ref decision,
                    at,
                    until,
                } => {
                    if let Some(file) = self.media(alert, decision, station, &action) {
                        self.start_job(station, alert, decision, file, at, until);
                    }
                }
                Action::Replace {
                    old,
                    alert,
                    ref decision,
                    until,
                } => {
                    // The old words play on until the new ones are
                    // rendered; the job is found under the new alert from
                    // now on (a Cancel of the update finds it).
                    if let Some(job) = self.jobs.remove(&old) {
                        self.jobs.insert(alert, job);
                    }
                    if let Some(file) = self.media(alert, decision, station, &action) {
                        self.replace(station, old, alert, decision, file, until);
                    }
                }
                Action::Stop { alert } => {
                    self.stop(station, alert, &format!("alert {alert} ended"))
                }
            }
        }
    }

    /// The file to play for `decision`, or `None` while its speech is being
    /// rendered (the action then waits for it).
    fn media(
        &mut self,
        alert: AlertId,
        decision: &Decision,
        station: &Station,
        action: &Action,
    ) -> Option<PathBuf> {
        match &decision.message {
            Spoken::File(f) => Some(f.clone()),
            Spoken::Text(_) => {
                if let Some(f) = self.speech.get(&alert) {
                    return Some(f.clone());
                }
                self.waiting.insert(alert, action.clone());
                self.render(alert, decision, station);
                None
            }
        }
    }

    /// Render a text playbook's speech beside the loop.
    fn render(&mut self, alert: AlertId, decision: &Decision, station: &Station) {
        let Spoken::Text(text) = &decision.message else {
            return;
        };
        if self.speech.contains_key(&alert) {
            return;
        }
        let (text, voice, dir) = (
            text.clone(),
            station.config().announcements.tts_voice.clone(),
            station.sounds.tts_dir.clone(),
        );
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || {
            let file = super::sounds::speak(&text, &voice, &dir)
                .map(|(f, _)| f)
                .map_err(|e| e.to_string());
            let _ = tx.send(Input::Spoken { alert, file });
        });
    }

    fn start_job(
        &mut self,
        station: &mut Station,
        alert: AlertId,
        decision: &Decision,
        file: PathBuf,
        at: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) {
        let spec = job_spec(station, alert, decision, file, at, until);
        match station.start_job(spec) {
            Ok(job) => {
                self.jobs.insert(alert, job);
                tracing::warn!(alert, job = %job, playbook = %decision.playbook, zones = %decision.zones.join(","), "ALERT on air");
            }
            Err(e) => tracing::error!(alert, "the alert's job could not start: {e}"),
        }
    }

    /// `alert`'s words in the place of `old`'s, in the same job (the issue
    /// says no second job); a new job only when the old one has ended.
    fn replace(
        &mut self,
        station: &mut Station,
        old: AlertId,
        alert: AlertId,
        decision: &Decision,
        file: PathBuf,
        until: Option<DateTime<Utc>>,
    ) {
        let now = Utc::now();
        let Some(job) = self.jobs.get(&alert).copied() else {
            self.start_job(station, alert, decision, file, now, until);
            return;
        };
        let spec = job_spec(station, alert, decision, file.clone(), now, until);
        let why = format!("replaced by alert {alert}");
        match station.ledger.replace(job, spec, &why, now) {
            Ok(effects) => {
                station.apply(effects);
                tracing::warn!(alert, old, job = %job, playbook = %decision.playbook, zones = %decision.zones.join(","), "ALERT updated: new words in the same job");
            }
            Err(e) => {
                tracing::info!(alert, old, job = %job, "the old alert's job had ended ({e}): a new job");
                self.jobs.remove(&alert);
                self.start_job(station, alert, decision, file, now, until);
            }
        }
    }

    fn stop(&mut self, station: &mut Station, alert: AlertId, why: &str) {
        self.waiting.remove(&alert);
        let Some(job) = self.jobs.remove(&alert) else {
            return;
        };
        match station.ledger.cancel(job, why, Utc::now()) {
            Ok((_, effects)) => {
                station.apply(effects);
                tracing::warn!(alert, job = %job, "ALERT stopped: {why}");
            }
            Err(e) => tracing::debug!(alert, job = %job, "the alert's job had ended: {e}"),
        }
    }
}

/// The job that plays `decision` for `alert` from `at` until `until`.
fn job_spec(
    station: &Station,
    alert: AlertId,
    decision: &Decision,
    file: PathBuf,
    at: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
) -> JobSpec {
    let zones: Vec<_> = decision
        .zones
        .iter()
        .filter_map(|z| station.zone_id(z))
        .collect();
    let now = Utc::now();
    let (repeat, interval) = match (decision.repeat_every, until) {
        (Some(every), Some(until)) => {
            let span = (until - at.max(now)).num_seconds().max(0) as u64;
            (
                (span / every.as_secs().max(1)).min(MAX_PLAYS as u64 - 1) as u32 + 1,
                every,
            )
        }
        (Some(every), None) => (MAX_PLAYS, every),
        (None, _) => (1, Duration::ZERO),
    };
    let text = match &decision.message {
        Spoken::Text(t) => Some(t.clone()),
        Spoken::File(_) => None,
    };
    JobSpec {
        chime_before: true,
        not_before: (at > now).then_some(at),
        repeat,
        interval,
        text,
        ..JobSpec::new(
            JobKind::Announcement,
            Origin::Alert(alert),
            decision.priority,
            zones,
            vec![file],
        )
    }
}

/// Delete the kept documents (`*.xml`, `*.refused.txt`) last written
/// before `cutoff`; the inbox itself stays. Returns how many.
fn prune_documents(folder: &std::path::Path, cutoff: std::time::SystemTime) -> usize {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    let mut deleted = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.ends_with(".xml") || name.ends_with(".refused.txt")) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < cutoff);
        if old && std::fs::remove_file(entry.path()).is_ok() {
            deleted += 1;
        }
    }
    deleted
}

fn done(message: String, zones: Vec<String>) -> Reply {
    Reply::Done(DoneResult { message, zones })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::inbox::State;

    fn alert(id: AlertId, state: State) -> Alert {
        Alert {
            id,
            identity: format!("bpbd@blitar,uji-{id},2026-12-06T09:00:00+07:00"),
            source: "bmkg".into(),
            event: "Hujan Lebat".into(),
            level: "Severe".into(),
            covered: vec!["wlingi".into()],
            decision: None,
            state,
            reason: None,
            received: Utc::now(),
            starts: None,
            expires: None,
            by: Some("sri".into()),
            not_actual: false,
        }
    }

    /// An `inbox.json` an older corong left is moved into `corong.db` once:
    /// the same alerts, identities and jobs; the file renamed aside.
    #[test]
    fn an_older_inbox_json_is_moved_in() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("alerts");
        std::fs::create_dir_all(&archive).unwrap();
        let alerts = vec![alert(1, State::OnAir), alert(2, State::Pending)];
        let seen = alerts.iter().map(|a| a.identity.clone()).collect();
        let old = OldKept {
            inbox: Inbox::from_parts(alerts.clone(), seen, 3),
            jobs: vec![(1, JobId(41))],
        };
        std::fs::write(
            archive.join("inbox.json"),
            serde_json::to_string(&old).unwrap(),
        )
        .unwrap();

        let (book, inbox, jobs) = open_book(dir.path(), &archive);
        assert!(book.is_some());
        assert_eq!(inbox.alerts(), &alerts[..]);
        assert_eq!(jobs.get(&1), Some(&JobId(41)));
        assert!(!archive.join("inbox.json").exists());
        assert!(archive.join("inbox.json.imported").exists());
        drop(book);

        // Started again: read from the database, the same.
        let (_, again, jobs) = open_book(dir.path(), &archive);
        assert_eq!(again.alerts(), &alerts[..]);
        assert_eq!(again.seen_and_next(), inbox.seen_and_next());
        assert_eq!(jobs.get(&1), Some(&JobId(41)));
    }
}
