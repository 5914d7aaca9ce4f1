//! Operators' requests, as the station carries them out.
//!
//! Every request is checked in full before anything changes: an unknown zone,
//! a file that does not decode, an `--at` in the past get one clear error and
//! leave the queue and the zones as they were. An accepted job is on disk
//! before the client hears its id.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use tokio::sync::mpsc;

use super::sounds::TtsError;
use super::station::Station;
use crate::control::protocol::{
    AnnounceResult, AsRunRow, DaemonInfo, Delivery, DoneResult, EndpointHealth, ErrorCode,
    JobState, LogResult, NextEvent, NowPlaying, Progress, QueueResult, QueuedJob, ReceiverInfo,
    Reply, Request, Response, ScheduleInfo, ScheduleResult, StatusResult, ZoneInfo, ZoneStatus,
    ZonesResult,
};
use crate::control::server::Peer;
use crate::engine::voice::EndReason;
use crate::engine::{Command, ZoneId};
use crate::media;
use crate::output::Endpoint;
use crate::priority::Priority;
use crate::schedule;
use crate::store::{JobId, JobKind, NewJob, StoredJob, ZoneState};

/// `log` without `--since` shows this far back.
const DEFAULT_LOG_WINDOW: chrono::Duration = chrono::Duration::hours(24);
/// The longest `stop` and `emergency --stop` wait for the zones to fall
/// silent before they answer anyway (a fade takes milliseconds).
pub const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// `log` without `--limit` shows at most this many rows.
const DEFAULT_LOG_LIMIT: usize = 500;

/// How long checking a request's media files may take before the request
/// is refused (a file on a hung network mount): the loop never waits on it.
pub const MEDIA_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) type Refusal = (ErrorCode, String);

/// An announcement's checked zones, priority and time.
struct Admission {
    zones: Vec<ZoneId>,
    priority: Priority,
    not_before: Option<DateTime<Utc>>,
}

/// The media files a request names, which must open and decode before the
/// station takes it. Empty for every other request.
pub(super) fn media_to_check(req: &Request) -> Vec<PathBuf> {
    match req {
        Request::Announce { files, .. } => files.clone(),
        Request::Emergency {
            file: Some(f),
            stop: false,
            ..
        } => vec![f.clone()],
        _ => Vec::new(),
    }
}

/// Check that every file opens and decodes, on a blocking thread and within
/// [`MEDIA_CHECK_TIMEOUT`]: whatever an operator names (a FIFO, a device, a
/// file on a dead NFS mount) must not hold up the control loop, and with it
/// an emergency.
pub(super) async fn check_media_off_loop(files: Vec<PathBuf>, rate: u32) -> Result<(), Refusal> {
    let first = files.first().cloned().unwrap_or_default();
    let work = tokio::task::spawn_blocking(move || -> Result<(), media::MediaError> {
        for f in &files {
            media::check(f, rate)?;
        }
        Ok(())
    });
    match tokio::time::timeout(MEDIA_CHECK_TIMEOUT, work).await {
        Ok(Ok(Ok(()))) => Ok(()),
        // A file the operator can read but the daemon cannot (a home
        // folder, a private /tmp): the client may send its content.
        Ok(Ok(Err(media::MediaError::Open { path, source })))
            if matches!(
                source.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::NotFound
            ) =>
        {
            // SAFETY: geteuid has no preconditions and cannot fail.
            let uid = unsafe { libc::geteuid() };
            let user = crate::control::server::user_name(uid).unwrap_or_else(|| uid.to_string());
            Err(refuse(
                ErrorCode::Unreadable,
                format!(
                    "{}: the daemon's user `{user}` cannot read it: {source}",
                    path.display()
                ),
            ))
        }
        Ok(Ok(Err(e))) => Err(refuse(ErrorCode::Failed, e.to_string())),
        Ok(Err(e)) => Err(refuse(
            ErrorCode::Failed,
            format!("{}: checking the file failed: {e}", first.display()),
        )),
        Err(_) => Err(refuse(
            ErrorCode::Failed,
            format!(
                "{}: reading the file took longer than {} s; not queued",
                first.display(),
                MEDIA_CHECK_TIMEOUT.as_secs()
            ),
        )),
    }
}

fn refuse(code: ErrorCode, msg: impl Into<String>) -> Refusal {
    (code, msg.into())
}

impl Station {
    /// Carry out one request from `peer`; replies go to `reply`.
    pub fn on_request(&mut self, req: Request, peer: Peer, reply: mpsc::Sender<Response>) {
        let result = match req {
            Request::Announce { files, delivery } => {
                self.announce(JobKind::Announcement, files, None, delivery, &peer, &reply)
            }
            Request::Say {
                text,
                voice,
                delivery,
            } => self.say(text, voice, delivery, &peer, &reply),
            Request::Emergency {
                file,
                text,
                zones,
                stop,
            } => {
                if stop {
                    self.emergency_stop(&zones, &peer, &reply)
                } else {
                    self.emergency(file, text, &zones, &peer)
                }
            }
            Request::Status => Ok(Some(self.status())),
            Request::Queue => self.queue().map(Some),
            Request::Cancel { id } => self.cancel(id, &peer).map(Some),
            Request::Skip { zones } => self.skip(&zones).map(Some),
            Request::Stop { zones } => self.stop(&zones, &peer, &reply),
            Request::Zones => Ok(Some(self.zones_reply())),
            Request::Schedule { next } => self.schedule_reply(next).map(Some),
            Request::Log { since, zone, limit } => self.log(since, zone, limit).map(Some),
            // The control server takes uploads itself (the bytes follow
            // the request on its connection).
            Request::Upload { .. } => Err(refuse(
                ErrorCode::BadRequest,
                "upload is handled by the control server",
            )),
            // The main loop carries out reloads (the scheduler is its).
            Request::Reload => Err(refuse(
                ErrorCode::Failed,
                "reload is handled by the daemon's loop",
            )),
        };
        match result {
            Ok(Some(r)) => {
                let _ = reply.try_send(Response::Ok(r));
            }
            // A `--wait` exchange: the job's waiters list holds `reply`.
            Ok(None) => {}
            Err((code, msg)) => {
                tracing::warn!(user = %peer.user, "request refused: {msg}");
                let _ = reply.try_send(Response::error(code, msg));
            }
        }
    }

    /// Zone and group names (or `all`) to zone ids, in config order.
    pub(super) fn resolve_zones(&self, names: &[String]) -> Result<Vec<ZoneId>, Refusal> {
        let mut wanted = BTreeSet::new();
        for name in names {
            let name = name.trim();
            if name == "all" {
                wanted.extend(self.zones.iter().map(|z| z.id));
            } else if let Some(id) = self.zone_id(name) {
                wanted.insert(id);
            } else if let Some(members) = self.config.groups.get(name) {
                wanted.extend(members.iter().filter_map(|m| self.zone_id(m)));
            } else {
                return Err(refuse(ErrorCode::NotFound, self.unknown_zone(name)));
            }
        }
        if wanted.is_empty() {
            return Err(refuse(ErrorCode::BadRequest, "the zone list is empty"));
        }
        Ok(self
            .zones
            .iter()
            .map(|z| z.id)
            .filter(|id| wanted.contains(id))
            .collect())
    }

    /// `at` in the daemon's time zone, RFC 3339: every time in a reply
    /// carries the same offset as the operator's clock on the wall.
    pub(super) fn local(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.config.daemon.timezone).to_rfc3339()
    }

    /// "unknown zone or group `pasr` (did you mean `pasar`?)".
    pub(super) fn unknown_zone(&self, name: &str) -> String {
        let names = self
            .zones
            .iter()
            .map(|z| z.name.as_str())
            .chain(self.config.groups.keys().map(String::as_str))
            .chain(std::iter::once("all"));
        match crate::suggest::closest(name, names) {
            Some(near) => format!("unknown zone or group `{name}` (did you mean `{near}`?)"),
            None => format!("unknown zone or group `{name}` (see `corong zones`)"),
        }
    }

    /// The cheap checks of a request that names media files, run before its
    /// files are checked (off the loop), so that a wrong zone or time is
    /// reported without decoding anything first. The station runs them
    /// again when the request comes back checked.
    pub(super) fn precheck(&self, req: &Request) -> Result<(), Refusal> {
        match req {
            Request::Announce { delivery, .. } => self.admission(delivery).map(|_| ()),
            Request::Emergency { zones, .. } => self.resolve_zones(zones).map(|_| ()),
            _ => Ok(()),
        }
    }

    /// Zones, priority and time of an announcement, checked.
    fn admission(&self, delivery: &Delivery) -> Result<Admission, Refusal> {
        let zones = self.resolve_zones(&delivery.zones)?;
        let priority = delivery.priority.unwrap_or(Priority::ANNOUNCEMENT);
        if priority >= Priority::EMERGENCY {
            // Nothing may take a zone from an emergency.
            return Err(refuse(
                ErrorCode::BadRequest,
                "priority 250 and above is reserved for `corong emergency`",
            ));
        }
        let tz = self.config.daemon.timezone;
        let not_before = match &delivery.at {
            Some(at) => Some(parse_at(at, tz, Utc::now())?),
            None => None,
        };
        if let Some(q) = self.config.quiet_hours {
            let when = not_before.unwrap_or_else(Utc::now).with_timezone(&tz);
            if q.contains(when.time()) {
                return Err(refuse(
                    ErrorCode::Failed,
                    format!(
                        "quiet hours {}-{}: only emergencies play then; use --at {} to play it after them",
                        q.from.format("%H:%M"),
                        q.to.format("%H:%M"),
                        q.to.format("%H:%M")
                    ),
                ));
            }
        }
        Ok(Admission {
            zones,
            priority,
            not_before,
        })
    }

    fn announce(
        &mut self,
        kind: JobKind,
        files: Vec<PathBuf>,
        text: Option<String>,
        delivery: Delivery,
        peer: &Peer,
        reply: &mpsc::Sender<Response>,
    ) -> Result<Option<Reply>, Refusal> {
        // The files were checked off the loop (see `media_to_check`).
        let Admission {
            zones,
            priority,
            not_before,
        } = self.admission(&delivery)?;
        let interval = delivery
            .interval_s
            .map(std::time::Duration::from_secs)
            .unwrap_or(self.config.announcements.repeat_interval);
        let new = NewJob {
            kind,
            origin: format!("operator:{}", peer.user),
            priority: priority.0,
            zones: zones
                .iter()
                .map(|z| self.zone_name(*z).to_string())
                .collect(),
            files,
            chime_before: delivery.chime,
            chime_after: delivery.chime && self.config.announcements.chime_after,
            not_before,
            repeat: delivery.repeat,
            repeat_interval: interval,
            text,
        };
        let id = self
            .accept(&new)
            .map_err(|e| refuse(ErrorCode::Failed, e))?;
        tracing::info!(job = id, user = %peer.user, zones = %new.zones.join(","),
            priority = %Priority(new.priority), "announcement accepted");
        let stored = self.stored(id, new.clone());
        self.resume_stored(&stored);
        let result = AnnounceResult {
            id,
            zones: new.zones.clone(),
            not_before: not_before.map(|t| self.local(t)),
            on_air: false,
            warning: delivery.at.as_deref().zip(not_before).and_then(|(at, t)| {
                tomorrow_warning(at, t, self.config.daemon.timezone, Utc::now())
            }),
        };
        if delivery.wait {
            let _ = reply.try_send(Response::Progress(Progress {
                id,
                zones_done: 0,
                zones_total: new.zones.len(),
                state: JobState::Queued,
                reason: None,
            }));
            if let Some(j) = self.jobs.get_mut(&id) {
                j.waiters.push(reply.clone());
                return Ok(None);
            }
        }
        Ok(Some(Reply::Announced(result)))
    }

    /// The stored form of a job just accepted (without a store read).
    fn stored(&self, id: i64, job: NewJob) -> StoredJob {
        let progress = job
            .zones
            .iter()
            .map(|z| crate::store::ZoneProgress {
                zone: z.clone(),
                state: ZoneState::Pending,
                how: None,
                reason: None,
                item: 0,
                file: None,
                started_at: None,
                ended_at: None,
            })
            .collect();
        StoredJob {
            id: JobId(id),
            job,
            accepted_at: Utc::now(),
            plays_done: 0,
            next_due: None,
            finished_at: None,
            cancelled: false,
            progress,
        }
    }

    fn say(
        &mut self,
        text: String,
        voice: Option<String>,
        delivery: Delivery,
        peer: &Peer,
        reply: &mpsc::Sender<Response>,
    ) -> Result<Option<Reply>, Refusal> {
        // Zones first: a bad zone should not cost a speech rendering.
        self.resolve_zones(&delivery.zones)?;
        let voice = voice.unwrap_or_else(|| self.config.announcements.tts_voice.clone());
        // Only here: an emergency speaks with the configured voice whatever
        // espeak-ng makes of it, rather than not at all.
        if let Some(known) = &self.voices {
            known
                .check(&voice)
                .map_err(|e| refuse(ErrorCode::BadRequest, e))?;
        }
        let file = self.render(&text, &voice)?;
        // Our own file, just written: quick to check here.
        let rate = self.config.daemon.sample_rate;
        tokio::task::block_in_place(|| media::check(&file, rate))
            .map_err(|e| refuse(ErrorCode::Failed, e.to_string()))?;
        self.announce(JobKind::Say, vec![file], Some(text), delivery, peer, reply)
    }

    fn render(&self, text: &str, voice: &str) -> Result<PathBuf, Refusal> {
        self.speak(text, voice).map_err(|e| {
            let code = match e {
                TtsError::Missing => ErrorCode::Failed,
                TtsError::Failed { .. } | TtsError::NoSpace { .. } => ErrorCode::Failed,
            };
            refuse(code, e.to_string())
        })
    }

    fn emergency(
        &mut self,
        file: Option<PathBuf>,
        text: Option<String>,
        zones: &[String],
        peer: &Peer,
    ) -> Result<Option<Reply>, Refusal> {
        let zone_ids = self.resolve_zones(zones)?;
        let (files, kind_text) = match (file, text) {
            // Checked off the loop (see `media_to_check`).
            (Some(f), _) => (vec![f], None),
            (None, Some(t)) => {
                let voice = self.config.announcements.tts_voice.clone();
                (vec![self.render(&t, &voice)?], Some(t))
            }
            (None, None) => {
                return Err(refuse(
                    ErrorCode::BadRequest,
                    "emergency needs a file or a text",
                ))
            }
        };
        let new = NewJob {
            kind: JobKind::Emergency,
            origin: format!("emergency:{}", peer.user),
            priority: Priority::EMERGENCY.0,
            zones: zone_ids
                .iter()
                .map(|z| self.zone_name(*z).to_string())
                .collect(),
            files,
            chime_before: false,
            chime_after: false,
            not_before: None,
            repeat: 1,
            repeat_interval: std::time::Duration::ZERO,
            text: kind_text,
        };
        let id = self
            .accept(&new)
            .map_err(|e| refuse(ErrorCode::Failed, e))?;
        tracing::warn!(job = id, user = %peer.user, zones = %new.zones.join(","), "EMERGENCY started");
        let stored = self.stored(id, new.clone());
        self.play_stored(&stored);
        Ok(Some(Reply::Announced(AnnounceResult {
            id,
            zones: new.zones,
            not_before: None,
            on_air: true,
            warning: None,
        })))
    }

    /// `emergency --stop`: cancel every emergency on the zones named. The
    /// answer comes when the zones are released (their voices have ended),
    /// so that `status` right after it no longer shows the emergency.
    fn emergency_stop(
        &mut self,
        zones: &[String],
        peer: &Peer,
        reply: &mpsc::Sender<Response>,
    ) -> Result<Option<Reply>, Refusal> {
        let zone_ids = self.resolve_zones(zones)?;
        let zone_names: BTreeSet<String> = zone_ids
            .iter()
            .map(|z| self.zone_name(*z).to_string())
            .collect();
        let queue = self.read_queue()?;
        let mut stopped = Vec::new();
        for job in queue.iter().filter(|j| j.job.kind == JobKind::Emergency) {
            let named: Vec<&String> = job
                .job
                .zones
                .iter()
                .filter(|z| zone_names.contains(*z))
                .collect();
            if named.is_empty() {
                continue;
            }
            if named.len() == job.job.zones.len() {
                self.cancel_job(job.id.0, &format!("emergency stopped by {}", peer.user))?;
            } else {
                // Only some of its zones: it goes on on the others.
                let named: Vec<ZoneId> = named.iter().filter_map(|z| self.zone_id(z)).collect();
                for id in named {
                    let _ = self.engine().send(Command::StopJob {
                        job: job.id.0 as u64,
                        zone: Some(id),
                        reason: EndReason::Cancelled,
                    });
                    self.drop_waiting(job.id.0, Some(id), EndReason::Cancelled);
                }
            }
            stopped.push(job.id.0);
        }
        let ids: Vec<String> = stopped.iter().map(|i| i.to_string()).collect();
        tracing::warn!(user = %peer.user, jobs = %ids.join(","), "emergency stopped");
        let message = if stopped.is_empty() {
            "no emergency was playing".to_string()
        } else {
            format!(
                "stopped emergency {}; released {}",
                ids.join(", "),
                zone_names.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        let done = Reply::Done(DoneResult {
            message,
            zones: zone_names.into_iter().collect(),
        });
        let ending = self.voices_of(&stopped, &zone_ids);
        Ok(self.reply_when_released(ending, done, reply))
    }

    /// The (job, zone) voices of `jobs` still sounding on `zones`.
    fn voices_of(&self, jobs: &[i64], zones: &[ZoneId]) -> BTreeSet<(i64, ZoneId)> {
        jobs.iter()
            .filter_map(|id| self.jobs.get(id).map(|j| (*id, j)))
            .flat_map(|(id, j)| {
                j.playing
                    .iter()
                    .filter(|z| zones.contains(z))
                    .map(move |z| (id, *z))
            })
            .collect()
    }

    /// Answer `done` once every voice in `ending` has ended (at the latest
    /// after [`RELEASE_WAIT`]); at once when there is none.
    fn reply_when_released(
        &mut self,
        ending: BTreeSet<(i64, ZoneId)>,
        done: Reply,
        reply: &mpsc::Sender<Response>,
    ) -> Option<Reply> {
        if ending.is_empty() {
            return Some(done);
        }
        self.releases.push(super::station::Release {
            ending,
            reply: reply.clone(),
            done,
            deadline: std::time::Instant::now() + RELEASE_WAIT,
        });
        None
    }

    fn read_queue(&self) -> Result<Vec<StoredJob>, Refusal> {
        // No store (it could not even be created): nothing was accepted, so
        // the queue is empty; `queue` still answers.
        let Some(store) = self.store.as_ref() else {
            return Ok(Vec::new());
        };
        store
            .queue()
            .map_err(|e| refuse(ErrorCode::Failed, e.to_string()))
    }

    /// Cancel job `id` in the store and stop it where it plays.
    fn cancel_job(&mut self, id: i64, reason: &str) -> Result<Vec<String>, Refusal> {
        let store = self
            .store
            .as_mut()
            .ok_or_else(|| refuse(ErrorCode::Failed, "no state store"))?;
        let zones =
            tokio::task::block_in_place(|| store.cancel_job(JobId(id), Utc::now(), Some(reason)))
                .map_err(|e| match e {
                crate::store::StoreError::NoSuchJob(_) => refuse(
                    ErrorCode::NotFound,
                    format!("no job {id} (see `corong queue`)"),
                ),
                crate::store::StoreError::JobFinished(_) => refuse(
                    ErrorCode::NotFound,
                    format!("job {id} has already finished"),
                ),
                e => refuse(ErrorCode::Failed, e.to_string()),
            })?;
        let _ = self.engine().send(Command::StopJob {
            job: id as u64,
            zone: None,
            reason: EndReason::Cancelled,
        });
        if let Some(j) = self.jobs.get_mut(&id) {
            j.cancelled = true;
        }
        self.drop_waiting(id, None, EndReason::Cancelled);
        if self.jobs.get(&id).is_some_and(|j| j.playing.is_empty()) {
            self.finish(id, JobState::Cancelled, Some(reason.to_string()));
        }
        Ok(zones)
    }

    fn cancel(&mut self, id: i64, peer: &Peer) -> Result<Reply, Refusal> {
        let zones = self.cancel_job(id, &format!("cancelled by {}", peer.user))?;
        tracing::info!(job = id, user = %peer.user, "job cancelled");
        Ok(Reply::Done(DoneResult {
            message: format!("cancelled job {id}"),
            zones,
        }))
    }

    fn skip(&mut self, zones: &[String]) -> Result<Reply, Refusal> {
        let ids = self.resolve_zones(zones)?;
        for &zone in &ids {
            let _ = self.engine().send(Command::Skip { zone });
        }
        Ok(Reply::Done(DoneResult {
            message: "skipping the item on air".into(),
            zones: ids.iter().map(|z| self.zone_name(*z).to_string()).collect(),
        }))
    }

    /// `stop`: end everything on the zones; the answer comes when they are
    /// silent.
    fn stop(
        &mut self,
        zones: &[String],
        peer: &Peer,
        reply: &mpsc::Sender<Response>,
    ) -> Result<Option<Reply>, Refusal> {
        let ids = self.resolve_zones(zones)?;
        let sounding: Vec<i64> = self
            .jobs
            .iter()
            .filter(|(_, j)| ids.iter().any(|z| j.playing.contains(z)))
            .map(|(id, _)| *id)
            .collect();
        for &zone in &ids {
            let _ = self.engine().send(Command::StopZone {
                zone,
                reason: EndReason::Cancelled,
            });
            for job in self.slots.remove_zone(zone) {
                self.on_ended(zone, job, EndReason::Cancelled, Utc::now());
            }
        }
        let names: Vec<String> = ids.iter().map(|z| self.zone_name(*z).to_string()).collect();
        tracing::info!(user = %peer.user, zones = %names.join(","), "zones stopped");
        let ending = self.voices_of(&sounding, &ids);
        let message = if sounding.is_empty() {
            format!("nothing was playing on {}", names.join(", "))
        } else {
            format!("stopped {}", names.join(", "))
        };
        let done = Reply::Done(DoneResult {
            message,
            zones: names,
        });
        Ok(self.reply_when_released(ending, done, reply))
    }

    /// A zone's health as of now: its state and what is wrong, each
    /// endpoint's, and its receivers'. An endpoint whose sends fail makes
    /// the zone `degraded` with that error; so does a receiver silent for
    /// longer than `receiver_timeout_s`, named in the error.
    fn zone_health(&self, zone: ZoneId) -> ZoneHealth {
        let Some(entry) = self.zones.iter().find(|z| z.id == zone) else {
            return ZoneHealth {
                state: "streaming".into(),
                error: None,
                endpoints: Vec::new(),
                receivers: Vec::new(),
            };
        };
        let now = std::time::Instant::now();
        let timeout = self.config.daemon.receiver_timeout;
        let destinations: Vec<std::net::SocketAddr> = entry
            .outputs
            .iter()
            .filter_map(|o| o.endpoint.rtp_destination())
            .collect();
        let mut receivers = Vec::new();
        let mut silent: Vec<(Option<Endpoint>, String)> = Vec::new();
        if let Some(table) = &entry.receivers {
            let mut table = table.lock().unwrap_or_else(|e| e.into_inner());
            // A restarted receiver's old entry goes before it looks silent.
            let pruned = table.prune(now, timeout);
            super::receivers::log_changes(&entry.name, &pruned);
            for r in table.receivers() {
                let endpoint =
                    super::receivers::endpoint_of(r.from, &destinations).map(Endpoint::Rtp);
                let ago = now.saturating_duration_since(r.last_heard);
                let is_silent = r.is_silent(now, timeout);
                if is_silent {
                    silent.push((
                        endpoint.clone(),
                        format!("receiver {} silent for {} s", r.label(), ago.as_secs()),
                    ));
                }
                let rx = r.reception;
                receivers.push(ReceiverInfo {
                    ssrc: r.ssrc,
                    cname: r.cname.clone(),
                    address: r.from.to_string(),
                    endpoint: endpoint.map(|e| e.to_string()),
                    state: if is_silent { "silent" } else { "reporting" }.into(),
                    last_heard: self.local(r.last_heard_wall),
                    heard_s_ago: (ago.as_secs_f64() * 10.0).round() / 10.0,
                    reports: r.reports,
                    fraction_lost: rx.map(|b| b.fraction_lost as f64 / 256.0),
                    packets_lost: rx.map(|b| b.cumulative_lost as i64),
                    highest_seq: rx.map(|b| b.highest_seq),
                    jitter_ms: rx.map(|b| (table.jitter_ms(b.jitter) * 100.0).round() / 100.0),
                });
            }
        }
        let tz = self.config.daemon.timezone;
        // Unicast destinations that answer "port unreachable".
        let unreachable = |endpoint: &Endpoint| {
            let dest = endpoint.rtp_destination()?;
            let table = entry.receivers.as_ref()?;
            let table = table.lock().unwrap_or_else(|e| e.into_inner());
            let since = table.unreachable_since(dest, now)?.with_timezone(&tz);
            Some((dest, since))
        };
        let mut problems: Vec<String> = Vec::new();
        let mut all_unreachable = !entry.outputs.is_empty();
        let endpoints: Vec<EndpointHealth> = entry
            .outputs
            .iter()
            .map(|o| {
                let why_silent: Vec<&str> = silent
                    .iter()
                    .filter(|(e, _)| e.as_ref() == Some(&o.endpoint))
                    .map(|(_, why)| why.as_str())
                    .collect();
                let (health, error, since) = match (o.problem(), unreachable(&o.endpoint)) {
                    (Some(p), _) => ("degraded", Some(p), None),
                    (None, Some((dest, since))) => (
                        "unreachable",
                        Some(format!(
                            "nothing listens at {dest} (ICMP port unreachable) since {}",
                            since.format("%Y-%m-%d %H:%M:%S %:z")
                        )),
                        Some(since.to_rfc3339()),
                    ),
                    (None, None) if !why_silent.is_empty() => {
                        ("silent", Some(why_silent.join("; ")), None)
                    }
                    (None, None) => ("streaming", None, None),
                };
                all_unreachable &= health == "unreachable";
                if health != "silent" {
                    problems.extend(error.clone());
                }
                EndpointHealth {
                    endpoint: o.endpoint.to_string(),
                    health: health.into(),
                    error,
                    since,
                }
            })
            .collect();
        problems.extend(silent.into_iter().map(|(_, why)| why));
        let (state, error) = if problems.is_empty() {
            ("streaming", None)
        } else if all_unreachable {
            ("unreachable", Some(problems.join("; ")))
        } else {
            ("degraded", Some(problems.join("; ")))
        };
        ZoneHealth {
            state: state.into(),
            error,
            endpoints,
            receivers,
        }
    }

    fn now_playing(&self, zone: ZoneId) -> Option<NowPlaying> {
        let mut best: Option<(i64, &super::station::Job)> = None;
        for (id, j) in &self.jobs {
            if !j.playing.contains(&zone)
                || j.paused.contains(&zone)
                || !j.current.contains_key(&zone)
            {
                continue;
            }
            if best.is_none_or(|(bid, b)| (j.priority, -id) > (b.priority, -bid)) {
                best = Some((*id, j));
            }
        }
        let (id, j) = best?;
        let (item, since) = j.current.get(&zone)?;
        Some(NowPlaying {
            job: id,
            priority: j.priority.0,
            priority_name: j.priority.to_string(),
            origin: j.origin.clone(),
            file: j
                .items
                .get(&(zone, *item))
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            since: self.local(*since),
        })
    }

    fn status(&self) -> Reply {
        let zones = self
            .zones
            .iter()
            .map(|z| {
                let h = self.zone_health(z.id);
                ZoneStatus {
                    name: z.name.clone(),
                    state: h.state,
                    playing: self.now_playing(z.id),
                    error: h.error,
                    endpoint_health: h.endpoints,
                    receivers: h.receivers,
                }
            })
            .collect();
        let mut next_events = Vec::new();
        let tz = self.config.daemon.timezone;
        if let Ok(upcoming) = schedule::upcoming(
            &self.config.schedules,
            tz,
            Utc::now(),
            1,
            self.config.quiet_hours,
        ) {
            for u in upcoming {
                if let Some(at) = u.next.first() {
                    next_events.push(NextEvent {
                        at: at.to_rfc3339(),
                        what: format!("schedule:{}", u.name),
                        zones: u.zones.clone(),
                        priority: u.priority.0,
                    });
                }
            }
        }
        if let Ok(queue) = self.read_queue() {
            for j in queue {
                if let Some(due) = j.due().filter(|t| *t > Utc::now()) {
                    next_events.push(NextEvent {
                        at: due.with_timezone(&tz).to_rfc3339(),
                        what: format!("job:{}", j.id),
                        zones: j.job.zones.clone(),
                        priority: j.job.priority,
                    });
                }
            }
        }
        next_events.sort_by(|a, b| {
            DateTime::parse_from_rfc3339(&a.at)
                .ok()
                .cmp(&DateTime::parse_from_rfc3339(&b.at).ok())
        });
        next_events.truncate(10);
        Reply::Status(StatusResult {
            daemon: DaemonInfo {
                version: env!("CARGO_PKG_VERSION").into(),
                pid: std::process::id(),
                started_at: self.local(self.started_at),
                timezone: tz.name().into(),
            },
            zones,
            next_events,
            loudness_pending: self.loudness_pending(),
        })
    }

    fn queue(&self) -> Result<Reply, Refusal> {
        let jobs = self
            .read_queue()?
            .into_iter()
            .map(|j| {
                let playing = j.progress.iter().any(|p| p.state == ZoneState::Playing);
                QueuedJob {
                    id: j.id.0,
                    kind: match j.job.kind {
                        JobKind::Announcement => "announce",
                        JobKind::Say => "say",
                        JobKind::Emergency => "emergency",
                        JobKind::Schedule => "schedule",
                    }
                    .into(),
                    origin: j.job.origin.clone(),
                    priority: j.job.priority,
                    zones: j.job.zones.clone(),
                    files: j
                        .job
                        .files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect(),
                    state: if playing {
                        JobState::Playing
                    } else {
                        JobState::Queued
                    },
                    not_before: j.due().map(|t| self.local(t)),
                    repeat: j.job.repeat,
                    plays_done: j.plays_done,
                }
            })
            .collect();
        Ok(Reply::Queue(QueueResult { jobs }))
    }

    fn zones_reply(&self) -> Reply {
        let zones = self
            .config
            .zones
            .iter()
            .map(|z| {
                let id = self.zone_id(&z.name).unwrap_or_default();
                let h = self.zone_health(id);
                ZoneInfo {
                    health: h.state,
                    error: h.error,
                    endpoint_health: h.endpoints,
                    receivers: h.receivers,
                    ..crate::control::zones::zone_info(&self.config, z)
                }
            })
            .collect();
        Reply::Zones(ZonesResult { zones })
    }

    fn schedule_reply(&self, next: usize) -> Result<Reply, Refusal> {
        let tz = self.config.daemon.timezone;
        let upcoming = schedule::upcoming(
            &self.config.schedules,
            tz,
            Utc::now(),
            next,
            self.config.quiet_hours,
        )
        .map_err(|e| refuse(ErrorCode::Failed, e))?;
        let schedules = upcoming
            .into_iter()
            .zip(&self.config.schedules)
            .map(|(u, s)| ScheduleInfo {
                name: u.name,
                cron: s.cron.clone(),
                playlist: u.playlist,
                zones: u.zones,
                priority: u.priority.0,
                next: u.next.iter().map(|t| t.to_rfc3339()).collect(),
            })
            .collect();
        Ok(Reply::Schedule(ScheduleResult {
            timezone: tz.name().into(),
            schedules,
        }))
    }

    fn log(
        &self,
        since: Option<String>,
        zone: Option<String>,
        limit: Option<usize>,
    ) -> Result<Reply, Refusal> {
        let now = Utc::now();
        let since = match since {
            Some(s) => parse_since(&s, self.config.daemon.timezone, now)?,
            None => now - DEFAULT_LOG_WINDOW,
        };
        if let Some(z) = &zone {
            if self.zone_id(z).is_none() {
                let msg = match self.config.groups.get(z.as_str()) {
                    Some(members) => format!(
                        "`{z}` is a group ({}); `log --zone` takes one zone",
                        members.join(", ")
                    ),
                    None => self.unknown_zone(z),
                };
                return Err(refuse(ErrorCode::NotFound, msg));
            }
        }
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| refuse(ErrorCode::Failed, "no state store: no as-run log"))?;
        let rows = store
            .query_as_run(
                Some(since),
                zone.as_deref(),
                Some(limit.unwrap_or(DEFAULT_LOG_LIMIT)),
            )
            .map_err(|e| refuse(ErrorCode::Failed, e.to_string()))?;
        let mut entries: Vec<AsRunRow> = rows
            .into_iter()
            .map(|r| AsRunRow {
                zone: r.zone,
                job: r.job.map_or(0, |j| j.0),
                origin: r.origin,
                file: r.file,
                started_at: self.local(r.started_at),
                ended_at: Some(self.local(r.ended_at)),
                how: r.how.to_string(),
                reason: r.reason,
            })
            .collect();
        // What is on air now has no row yet: it ends up in the log when it
        // ends, but an operator asking "what played" means it too.
        let mut on_air: Vec<(DateTime<Utc>, AsRunRow)> = Vec::new();
        for (id, j) in &self.jobs {
            for (z, (item, at)) in &j.current {
                let name = self.zone_name(*z);
                if *at < since || zone.as_deref().is_some_and(|only| only != name) {
                    continue;
                }
                let file = j.items.get(&(*z, *item));
                on_air.push((
                    *at,
                    AsRunRow {
                        zone: name.to_string(),
                        job: *id,
                        origin: j.origin.clone(),
                        file: file.map(|p| p.display().to_string()).unwrap_or_default(),
                        started_at: self.local(*at),
                        ended_at: None,
                        how: if j.paused.contains(z) {
                            "paused"
                        } else {
                            "playing"
                        }
                        .into(),
                        reason: None,
                    },
                ));
            }
        }
        on_air.sort_by_key(|(at, r)| (*at, r.zone.clone()));
        entries.extend(on_air.into_iter().map(|(_, r)| r));
        let limit = limit.unwrap_or(DEFAULT_LOG_LIMIT);
        if entries.len() > limit {
            entries.drain(..entries.len() - limit);
        }
        Ok(Reply::Log(LogResult { entries }))
    }
}

/// `--at` as an operator types it, read in the daemon's time zone: `HH:MM`
/// or `HH:MM:SS` (today, or tomorrow when that time has passed), or
/// `YYYY-MM-DD HH:MM[:SS]` (an error when it has passed).
pub fn parse_at(text: &str, tz: Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, Refusal> {
    let text = text.trim();
    let bad = || {
        refuse(
            ErrorCode::BadRequest,
            format!("--at `{text}`: expected HH:MM (or HH.MM), HH:MM:SS or YYYY-MM-DD HH:MM[:SS]"),
        )
    };
    if let Some(time) = parse_time(text) {
        let local_now = now.with_timezone(&tz);
        let mut date = local_now.date_naive();
        for _ in 0..3 {
            if let Some(t) = tz.from_local_datetime(&date.and_time(time)).earliest() {
                if t > local_now {
                    return Ok(t.with_timezone(&Utc));
                }
            }
            date = date.succ_opt().ok_or_else(bad)?;
        }
        return Err(bad());
    }
    let dt = match parse_datetime(text) {
        Some(dt) => dt,
        None => {
            return Err(
                no_such_date(text).map_or_else(bad, |why| refuse(ErrorCode::BadRequest, why))
            )
        }
    };
    let t = tz
        .from_local_datetime(&dt)
        .earliest()
        .ok_or_else(|| {
            refuse(
                ErrorCode::BadRequest,
                format!("--at `{text}` does not exist in {}", tz.name()),
            )
        })?
        .with_timezone(&Utc);
    if t <= now {
        return Err(refuse(
            ErrorCode::BadRequest,
            format!(
                "--at `{text}` is in the past (it is now {})",
                now.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S")
            ),
        ));
    }
    Ok(t)
}

/// "14:00 has passed today: it plays tomorrow, 2026-12-07 14:00", when a
/// bare time of day (`at`) was taken as tomorrow's.
fn tomorrow_warning(at: &str, when: DateTime<Utc>, tz: Tz, now: DateTime<Utc>) -> Option<String> {
    parse_time(at.trim())?;
    let local = when.with_timezone(&tz);
    if local.date_naive() == now.with_timezone(&tz).date_naive() {
        return None;
    }
    Some(format!(
        "{} has passed today: it plays tomorrow, {}",
        at.trim(),
        local.format("%Y-%m-%d %H:%M")
    ))
}

/// `log --since`: the same forms as `--at` (a bare time means today, even
/// when it is later than now: then it is yesterday), or RFC 3339.
fn parse_since(text: &str, tz: Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, Refusal> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Some(time) = parse_time(text) {
        let local_now = now.with_timezone(&tz);
        let mut date = local_now.date_naive();
        for _ in 0..2 {
            if let Some(t) = tz.from_local_datetime(&date.and_time(time)).earliest() {
                if t <= local_now {
                    return Ok(t.with_timezone(&Utc));
                }
            }
            date = date.pred_opt().unwrap_or(date);
        }
    }
    if let Some(dt) = parse_datetime(text) {
        if let Some(t) = tz.from_local_datetime(&dt).earliest() {
            return Ok(t.with_timezone(&Utc));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(t) = tz
            .from_local_datetime(&d.and_time(NaiveTime::MIN))
            .earliest()
        {
            return Ok(t.with_timezone(&Utc));
        }
    }
    Err(refuse(
        ErrorCode::BadRequest,
        format!("--since `{text}`: expected HH:MM, YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS] or RFC 3339"),
    ))
}

/// `HH:MM[:SS]`, or `HH.MM[.SS]` as times are written in Indonesia.
fn parse_time(text: &str) -> Option<NaiveTime> {
    let text = dotted_time(text);
    NaiveTime::parse_from_str(&text, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(&text, "%H:%M"))
        .ok()
}

/// `14.30` as `14:30`: a time of day of digits and dots only.
fn dotted_time(text: &str) -> String {
    if text.contains('.') && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        text.replace('.', ":")
    } else {
        text.to_string()
    }
}

fn parse_datetime(text: &str) -> Option<NaiveDateTime> {
    let (date, time) = text.split_once([' ', 'T'])?;
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    Some(date.and_time(parse_time(time)?))
}

/// Why `YYYY-MM-DD HH:MM` names no day, when that is what is wrong:
/// "2027-02-30 does not exist: February 2027 has 28 days".
fn no_such_date(text: &str) -> Option<String> {
    let (date, time) = text.split_once([' ', 'T'])?;
    parse_time(time)?;
    let mut parts = date.split('-').map(|p| p.parse::<u32>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    if parts.next().is_some() {
        return None;
    }
    if !(1..=12).contains(&m) {
        return Some(format!("--at `{text}`: there is no month {m}"));
    }
    let first = NaiveDate::from_ymd_opt(y as i32, m, 1)?;
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y as i32 + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(y as i32, m + 1, 1)?
    };
    let days = (next - first).num_days();
    (d == 0 || i64::from(d) > days).then(|| {
        format!(
            "--at `{text}`: {date} does not exist: {} {y} has {days} days",
            first.format("%B")
        )
    })
}

/// What [`Station::zone_health`] found.
struct ZoneHealth {
    state: String,
    error: Option<String>,
    endpoints: Vec<EndpointHealth>,
    receivers: Vec<ReceiverInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn at_a_time_of_day_is_today_or_tomorrow() {
        let tz = chrono_tz::Asia::Jakarta;
        // 10:00 WIB
        let now = utc("2026-11-23T03:00:00Z");
        assert_eq!(
            parse_at("14:02", tz, now).unwrap(),
            utc("2026-11-23T07:02:00Z")
        );
        assert_eq!(
            parse_at("09:00", tz, now).unwrap(),
            utc("2026-11-24T02:00:00Z")
        );
        assert_eq!(
            parse_at("2026-11-25 06:30", tz, now).unwrap(),
            utc("2026-11-24T23:30:00Z")
        );
    }

    #[test]
    fn at_in_the_past_or_garbled_is_refused() {
        let tz = chrono_tz::Asia::Jakarta;
        let now = utc("2026-11-23T03:00:00Z");
        let (code, msg) = parse_at("2026-11-22 08:00", tz, now).unwrap_err();
        assert_eq!(code, ErrorCode::BadRequest);
        assert!(msg.contains("in the past"), "{msg}");
        let (_, msg) = parse_at("besok pagi", tz, now).unwrap_err();
        assert!(msg.contains("expected HH:MM"), "{msg}");
        let (_, msg) = parse_at("2027-02-30 10:00", tz, now).unwrap_err();
        assert_eq!(
            msg,
            "--at `2027-02-30 10:00`: 2027-02-30 does not exist: February 2027 has 28 days"
        );
        let (_, msg) = parse_at("2028-02-30 10.00", tz, now).unwrap_err();
        assert!(msg.contains("February 2028 has 29 days"), "{msg}");
        let (_, msg) = parse_at("2027-13-01 10:00", tz, now).unwrap_err();
        assert!(msg.contains("there is no month 13"), "{msg}");
    }

    #[test]
    fn at_takes_dotted_times_and_warns_of_tomorrow() {
        let tz = chrono_tz::Asia::Jakarta;
        let now = utc("2026-11-23T03:00:00Z"); // 10:00 WIB
        assert_eq!(
            parse_at("14.30", tz, now).unwrap(),
            utc("2026-11-23T07:30:00Z")
        );
        assert_eq!(
            parse_at("2026-11-25 06.30", tz, now).unwrap(),
            utc("2026-11-24T23:30:00Z")
        );
        let later = parse_at("09.00", tz, now).unwrap();
        assert_eq!(
            tomorrow_warning("09.00", later, tz, now).as_deref(),
            Some("09.00 has passed today: it plays tomorrow, 2026-11-24 09:00")
        );
        let today = parse_at("14:30", tz, now).unwrap();
        assert_eq!(tomorrow_warning("14:30", today, tz, now), None);
        let dated = parse_at("2026-11-25 06:30", tz, now).unwrap();
        assert_eq!(tomorrow_warning("2026-11-25 06:30", dated, tz, now), None);
    }

    #[test]
    fn since_a_time_of_day_looks_back() {
        let tz = chrono_tz::Asia::Jakarta;
        let now = utc("2026-11-23T03:00:00Z"); // 10:00 WIB
        assert_eq!(
            parse_since("14:02", tz, now).unwrap(),
            utc("2026-11-22T07:02:00Z")
        );
        assert_eq!(
            parse_since("08:00", tz, now).unwrap(),
            utc("2026-11-23T01:00:00Z")
        );
    }
}
