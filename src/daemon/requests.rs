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
use crate::output::sdp;
use crate::priority::Priority;
use crate::schedule;
use crate::store::{JobId, JobKind, NewJob, StoredJob, ZoneState};

/// `log` without `--since` shows this far back.
const DEFAULT_LOG_WINDOW: chrono::Duration = chrono::Duration::hours(24);
/// `log` without `--limit` shows at most this many rows.
const DEFAULT_LOG_LIMIT: usize = 500;

type Refusal = (ErrorCode, String);

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
                    self.emergency_stop(&zones, &peer)
                } else {
                    self.emergency(file, text, &zones, &peer)
                }
            }
            Request::Status => Ok(Some(self.status())),
            Request::Queue => self.queue().map(Some),
            Request::Cancel { id } => self.cancel(id, &peer).map(Some),
            Request::Skip { zones } => self.skip(&zones).map(Some),
            Request::Stop { zones } => self.stop(&zones, &peer).map(Some),
            Request::Zones => Ok(Some(self.zones_reply())),
            Request::Schedule { next } => self.schedule_reply(next).map(Some),
            Request::Log { since, zone, limit } => self.log(since, zone, limit).map(Some),
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
                return Err(refuse(
                    ErrorCode::NotFound,
                    format!("unknown zone or group `{name}` (see `corong zones`)"),
                ));
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

    /// Every file exists and decodes: checked before a job is accepted.
    fn check_files(&self, files: &[PathBuf]) -> Result<(), Refusal> {
        let rate = self.config.daemon.sample_rate;
        for f in files {
            tokio::task::block_in_place(|| media::check(f, rate))
                .map_err(|e| refuse(ErrorCode::Failed, e.to_string()))?;
        }
        Ok(())
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
        // Cheap checks first, decoding last.
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
        self.check_files(&files)?;
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
            not_before: not_before.map(|t| t.to_rfc3339()),
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
        let file = self.render(&text, &voice)?;
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
            (Some(f), _) => {
                self.check_files(std::slice::from_ref(&f))?;
                (vec![f], None)
            }
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
        })))
    }

    /// `emergency --stop`: cancel every emergency on the zones named.
    fn emergency_stop(&mut self, zones: &[String], peer: &Peer) -> Result<Option<Reply>, Refusal> {
        let zone_names: BTreeSet<String> = self
            .resolve_zones(zones)?
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
                for zone in named {
                    if let Some(id) = self.zone_id(zone) {
                        let _ = self.engine().send(Command::StopJob {
                            job: job.id.0 as u64,
                            zone: Some(id),
                            reason: EndReason::Cancelled,
                        });
                    }
                }
            }
            stopped.push(job.id.0);
        }
        tracing::warn!(user = %peer.user, jobs = ?stopped, "emergency stopped");
        let message = if stopped.is_empty() {
            "no emergency was playing".to_string()
        } else {
            format!(
                "stopped emergency {}",
                stopped
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Ok(Some(Reply::Done(DoneResult {
            message,
            zones: zone_names.into_iter().collect(),
        })))
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
            if j.playing.is_empty() {
                self.finish(id, JobState::Cancelled, Some(reason.to_string()));
            }
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

    fn stop(&mut self, zones: &[String], peer: &Peer) -> Result<Reply, Refusal> {
        let ids = self.resolve_zones(zones)?;
        for &zone in &ids {
            let _ = self.engine().send(Command::StopZone {
                zone,
                reason: EndReason::Cancelled,
            });
        }
        let names: Vec<String> = ids.iter().map(|z| self.zone_name(*z).to_string()).collect();
        tracing::info!(user = %peer.user, zones = %names.join(","), "zones stopped");
        Ok(Reply::Done(DoneResult {
            message: format!("stopped {}", names.join(", ")),
            zones: names,
        }))
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
            .config
            .rtp
            .iter()
            .flat_map(|r| r.destinations.iter().copied())
            .collect();
        let mut receivers = Vec::new();
        let mut silent: Vec<(Option<String>, String)> = Vec::new();
        if let Some(table) = &entry.receivers {
            let mut table = table.lock().unwrap_or_else(|e| e.into_inner());
            // A restarted receiver's old entry goes before it looks silent.
            let pruned = table.prune(now, timeout);
            super::receivers::log_changes(&entry.name, &pruned);
            for r in table.receivers() {
                let endpoint = super::receivers::endpoint_of(r.from, &destinations)
                    .map(|d| format!("rtp://{d}"));
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
                    endpoint,
                    state: if is_silent { "silent" } else { "reporting" }.into(),
                    last_heard: r.last_heard_wall.to_rfc3339(),
                    heard_s_ago: (ago.as_secs_f64() * 10.0).round() / 10.0,
                    reports: r.reports,
                    fraction_lost: rx.map(|b| b.fraction_lost as f64 / 256.0),
                    packets_lost: rx.map(|b| b.cumulative_lost as i64),
                    highest_seq: rx.map(|b| b.highest_seq),
                    jitter_ms: rx.map(|b| (table.jitter_ms(b.jitter) * 100.0).round() / 100.0),
                });
            }
        }
        let endpoints: Vec<EndpointHealth> = entry
            .outputs
            .iter()
            .map(|o| {
                let why_silent: Vec<&str> = silent
                    .iter()
                    .filter(|(e, _)| e.as_deref() == Some(o.endpoint.as_str()))
                    .map(|(_, why)| why.as_str())
                    .collect();
                let (health, error) = match o.problem() {
                    Some(p) => ("degraded", Some(p)),
                    None if !why_silent.is_empty() => ("silent", Some(why_silent.join("; "))),
                    None => ("streaming", None),
                };
                EndpointHealth {
                    endpoint: o.endpoint.clone(),
                    health: health.into(),
                    error,
                }
            })
            .collect();
        let mut problems: Vec<String> = entry.outputs.iter().filter_map(|o| o.problem()).collect();
        problems.extend(silent.into_iter().map(|(_, why)| why));
        let (state, error) = if problems.is_empty() {
            ("streaming", None)
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
            since: since.to_rfc3339(),
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
        if let Ok(upcoming) = schedule::upcoming(&self.config.schedules, tz, Utc::now(), 1) {
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
                started_at: self.started_at.to_rfc3339(),
                timezone: tz.name().into(),
            },
            zones,
            next_events,
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
                    not_before: j.due().map(|t| t.to_rfc3339()),
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
                let mut endpoints: Vec<String> = z
                    .rtp
                    .iter()
                    .flat_map(|r| r.destinations.iter().map(|d| format!("rtp://{d}")))
                    .collect();
                if let Some(w) = &z.wav {
                    endpoints.push(format!("wav:{}", w.display()));
                }
                ZoneInfo {
                    name: z.name.clone(),
                    groups: self
                        .config
                        .groups
                        .iter()
                        .filter(|(_, members)| members.contains(&z.name))
                        .map(|(g, _)| g.clone())
                        .collect(),
                    endpoints,
                    codec: z.rtp.as_ref().map(|r| r.codec.name().to_string()),
                    health: h.state,
                    error: h.error,
                    sdp: sdp::zone_sdp(z, &self.config.daemon),
                    endpoint_health: h.endpoints,
                    receivers: h.receivers,
                }
            })
            .collect();
        Reply::Zones(ZonesResult { zones })
    }

    fn schedule_reply(&self, next: usize) -> Result<Reply, Refusal> {
        let tz = self.config.daemon.timezone;
        let upcoming = schedule::upcoming(&self.config.schedules, tz, Utc::now(), next)
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
                return Err(refuse(
                    ErrorCode::NotFound,
                    format!("unknown zone `{z}` (see `corong zones`)"),
                ));
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
        let entries = rows
            .into_iter()
            .map(|r| AsRunRow {
                zone: r.zone,
                job: r.job.map_or(0, |j| j.0),
                origin: r.origin,
                file: r.file,
                started_at: r.started_at.to_rfc3339(),
                ended_at: Some(r.ended_at.to_rfc3339()),
                how: r.how.to_string(),
                reason: r.reason,
            })
            .collect();
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
            format!("--at `{text}`: expected HH:MM, HH:MM:SS or YYYY-MM-DD HH:MM[:SS]"),
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
    let dt = parse_datetime(text).ok_or_else(bad)?;
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

fn parse_time(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
        .ok()
}

fn parse_datetime(text: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
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
