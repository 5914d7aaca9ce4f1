//! Operators' requests, as the station carries them out.
//!
//! Every request is checked in full before anything changes: an unknown zone,
//! a file that does not decode, an `--at` in the past get one clear error and
//! leave the queue and the zones as they were. An accepted job is on disk
//! before the client hears its id.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::jobs::{JobSpec, Origin};
use super::refusal::{refuse, Refusal};
use super::sounds::TtsError;
use super::station::Station;
use super::when::{parse_at, tomorrow_warning};
use crate::control::protocol::{
    AnnounceResult, Delivery, DoneResult, ErrorCode, JobState, Progress, Reply, Request, Response,
    UploadResult,
};
use crate::control::server::Peer;
use crate::engine::ZoneId;
use crate::ids::JobId;
use crate::media;
use crate::priority::Priority;
use crate::store::{JobKind, StoredJob};

/// The longest `stop` and `emergency --stop` wait for the zones to fall
/// silent before they answer anyway (a fade takes milliseconds).
pub const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How long checking a request's media files may take before the request
/// is refused (a file on a hung network mount): the loop never waits on it.
pub const MEDIA_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// An announcement's checked zones, priority and time.
pub(super) struct Admission {
    pub zones: Vec<ZoneId>,
    pub priority: Priority,
    pub not_before: Option<DateTime<Utc>>,
}

/// What a request needs done before the station takes it, beside the
/// control loop: the media files it names must open and decode, and its
/// text must be rendered to speech. Slow work (a file on a hung network
/// mount, espeak-ng) never holds up the loop, and with it an emergency.
pub(super) struct Preparation {
    files: Vec<PathBuf>,
    /// Text, voice, and the speech cache folder.
    speech: Option<(String, String, PathBuf)>,
    /// Check the speech decodes (`say`; an emergency plays it regardless).
    check_speech: bool,
    rate: u32,
}

/// What [`prepare_off_loop`] made: the speech file, for `say` and
/// `emergency --text`.
#[derive(Debug, Default)]
pub struct Prepared {
    pub speech: Option<PathBuf>,
}

/// Check that every file opens and decodes and render the speech, on a
/// blocking thread and within [`MEDIA_CHECK_TIMEOUT`].
pub(super) async fn prepare_off_loop(prep: Preparation) -> Result<Prepared, Refusal> {
    let first = prep.files.first().cloned().unwrap_or_default();
    let has_speech = prep.speech.is_some();
    let work = tokio::task::spawn_blocking(move || -> Result<Prepared, Refusal> {
        for f in &prep.files {
            media::check(f, prep.rate).map_err(media_refusal)?;
        }
        let Some((text, voice, dir)) = prep.speech else {
            return Ok(Prepared::default());
        };
        let (file, cached) = super::sounds::speak(&text, &voice, &dir).map_err(tts_refusal)?;
        tracing::info!(voice, cached, file = %file.display(), "speech rendered");
        if prep.check_speech {
            media::check(&file, prep.rate).map_err(|e| refuse(ErrorCode::Failed, e.to_string()))?;
        }
        Ok(Prepared { speech: Some(file) })
    });
    match tokio::time::timeout(MEDIA_CHECK_TIMEOUT, work).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(refuse(
            ErrorCode::Failed,
            format!("{}: checking the file failed: {e}", first.display()),
        )),
        Err(_) if has_speech && first.as_os_str().is_empty() => Err(refuse(
            ErrorCode::Failed,
            format!(
                "rendering the speech took longer than {} s; not queued",
                MEDIA_CHECK_TIMEOUT.as_secs()
            ),
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

/// A file that does not open or decode. One the operator can read but the
/// daemon cannot (a home folder, a private /tmp) may be sent instead.
fn media_refusal(e: media::MediaError) -> Refusal {
    match e {
        media::MediaError::Open { path, source }
            if matches!(
                source.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::NotFound
            ) =>
        {
            // SAFETY: geteuid has no preconditions and cannot fail.
            let uid = unsafe { libc::geteuid() };
            let user = crate::control::server::user_name(uid).unwrap_or_else(|| uid.to_string());
            refuse(
                ErrorCode::Unreadable,
                format!(
                    "{}: the daemon's user `{user}` cannot read it: {source}",
                    path.display()
                ),
            )
        }
        e => refuse(ErrorCode::Failed, e.to_string()),
    }
}

fn tts_refusal(e: TtsError) -> Refusal {
    refuse(ErrorCode::Failed, e.to_string())
}

impl Station {
    /// Carry out one request from `peer`, prepared beside the loop (see
    /// [`Station::preparation`]); replies go to `reply`.
    pub fn on_request(
        &mut self,
        req: Request,
        prepared: Prepared,
        peer: Peer,
        reply: mpsc::Sender<Response>,
    ) {
        let commits_before = self.commits_made();
        let result = match req {
            Request::Announce { files, delivery } => {
                let origin = Origin::Operator(peer.user.clone());
                self.announce(JobKind::Announcement, files, None, delivery, origin, &reply)
            }
            Request::Page {
                file,
                recorded_ms,
                mut delivery,
            } => {
                // A page speaks over what plays, as a live voice would.
                delivery.priority = delivery.priority.or(Some(Priority::LIVE));
                tracing::info!(user = %peer.user, ms = recorded_ms, "recorded page");
                let origin = Origin::Page(peer.user.clone());
                self.announce(
                    JobKind::Announcement,
                    vec![file],
                    None,
                    delivery,
                    origin,
                    &reply,
                )
            }
            // Comes with its audio's connection (`page_live.rs`), never here.
            Request::PageLive { .. } => Err(refuse(
                ErrorCode::BadRequest,
                "a live page needs its audio connection",
            )),
            Request::Say { text, delivery, .. } => match prepared.speech {
                Some(file) => self.announce(
                    JobKind::Say,
                    vec![file],
                    Some(text),
                    delivery,
                    Origin::Operator(peer.user.clone()),
                    &reply,
                ),
                None => Err(refuse(ErrorCode::Failed, "the speech was not rendered")),
            },
            Request::Emergency {
                file,
                text,
                zones,
                stop,
            } => {
                if stop {
                    self.emergency_stop(&zones, &peer, &reply)
                } else {
                    // The text is the job's when it was spoken.
                    let text = if file.is_some() { None } else { text };
                    self.emergency(file.or(prepared.speech), text, &zones, &peer)
                }
            }
            Request::Status => Ok(Some(self.status())),
            Request::Queue => self.queue().map(Some),
            Request::Cancel { id } => self.cancel(id, &peer).map(Some),
            Request::Skip { zones } => self.skip(&zones, &peer).map(Some),
            Request::Stop { zones } => self.stop(&zones, &peer, &reply),
            Request::Zones => Ok(Some(self.zones_reply())),
            Request::Schedule { next } => self.schedule_reply(next).map(Some),
            Request::SchedulePause { name } => self.schedule_pause(&name, &peer).map(Some),
            Request::ScheduleResume { name } => self.schedule_resume(&name, &peer).map(Some),
            Request::SayPreview { .. } => match prepared.speech {
                Some(path) => {
                    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    Ok(Some(Reply::Uploaded(UploadResult { path, size })))
                }
                None => Err(refuse(ErrorCode::Failed, "the speech was not rendered")),
            },
            Request::Log { since, zone, limit } => self.log(since, zone, limit).map(Some),
            // The control server takes uploads itself (the bytes follow
            // the request on its connection).
            Request::Upload { .. } => Err(refuse(
                ErrorCode::BadRequest,
                "upload is handled by the control server",
            )),
            // The alerts' inbox answers these in the main loop.
            Request::Alerts
            | Request::AlertConfirm { .. }
            | Request::AlertDismiss { .. }
            | Request::Volcano { .. } => Err(refuse(
                ErrorCode::Failed,
                "alerts are handled by the daemon's loop",
            )),
            // The regency's link answers these (`sites::submit`).
            Request::Sites | Request::Order { .. } => Err(refuse(
                ErrorCode::Failed,
                "the regency is handled by the daemon's loop",
            )),
            // The main loop carries out reloads (the scheduler is its).
            Request::Reload => Err(refuse(
                ErrorCode::Failed,
                "reload is handled by the daemon's loop",
            )),
        };
        // An answer that follows a commit waits until the commit is on
        // disk (the loop does not: see `store/durable.rs`).
        let commits = self.commits_made();
        let after = if commits > commits_before { commits } else { 0 };
        match result {
            Ok(Some(r)) => self.answer_when_durable(reply, Response::Ok(r), after),
            // A `--wait` exchange: the job's waiters list holds `reply`.
            Ok(None) => {}
            Err(refusal) => {
                tracing::warn!(user = %peer.user, "request refused: {}", refusal.message);
                self.answer_when_durable(reply, refusal.response(), after);
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
            Request::Announce { delivery, .. } | Request::Page { delivery, .. } => {
                self.admission(delivery).map(|_| ())
            }
            Request::Emergency { zones, .. } => self.resolve_zones(zones).map(|_| ()),
            Request::SayPreview { voice: Some(v), .. } => match &self.voices {
                Some(known) => known.check(v).map_err(|e| refuse(ErrorCode::BadRequest, e)),
                None => Ok(()),
            },
            Request::Say {
                voice, delivery, ..
            } => {
                // Zones first: a bad zone should not cost a speech rendering.
                self.admission(delivery)?;
                match (voice, &self.voices) {
                    // Only here: an emergency speaks with the configured
                    // voice whatever espeak-ng makes of it, rather than not
                    // at all.
                    (Some(v), Some(known)) => {
                        known.check(v).map_err(|e| refuse(ErrorCode::BadRequest, e))
                    }
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// The work `req` needs beside the loop before it is carried out, if
    /// any.
    pub(super) fn preparation(&self, req: &Request) -> Option<Preparation> {
        let rate = self.config.daemon.sample_rate;
        let tts_dir = self.sounds.tts_dir.clone();
        let default_voice = &self.config.announcements.tts_voice;
        let prep = match req {
            Request::Announce { files, .. } => Preparation {
                files: files.clone(),
                speech: None,
                check_speech: false,
                rate,
            },
            Request::Page { file, .. } => Preparation {
                files: vec![file.clone()],
                speech: None,
                check_speech: false,
                rate,
            },
            Request::Say { text, voice, .. } | Request::SayPreview { text, voice } => Preparation {
                files: Vec::new(),
                speech: Some((
                    text.clone(),
                    voice.clone().unwrap_or_else(|| default_voice.clone()),
                    tts_dir,
                )),
                check_speech: true,
                rate,
            },
            Request::Emergency {
                file,
                text,
                stop: false,
                ..
            } => Preparation {
                files: file.iter().cloned().collect(),
                speech: match (file, text) {
                    (None, Some(t)) => Some((t.clone(), default_voice.clone(), tts_dir)),
                    _ => None,
                },
                check_speech: false,
                rate,
            },
            _ => return None,
        };
        Some(prep)
    }

    /// Zones, priority and time of an announcement, checked.
    pub(super) fn admission(&self, delivery: &Delivery) -> Result<Admission, Refusal> {
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
        origin: Origin,
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
        let names: Vec<String> = zones
            .iter()
            .map(|z| self.zone_name(*z).to_string())
            .collect();
        let spec = JobSpec {
            kind,
            origin: origin.clone(),
            priority,
            zones,
            files,
            chime_before: delivery.chime,
            chime_after: delivery.chime && self.config.announcements.chime_after,
            not_before,
            repeat: delivery.repeat,
            interval,
            text,
            run: None,
        };
        let (id, effects) = self
            .ledger
            .start_job(spec, Utc::now())
            .map_err(|e| refuse(e.code(), e.to_string()))?;
        tracing::info!(job = %id, origin = %origin.label(), zones = %names.join(","),
            priority = %priority, "announcement accepted");
        let result = AnnounceResult {
            id,
            zones: names.clone(),
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
                zones_total: names.len(),
                state: JobState::Queued,
                reason: None,
            }));
            if self.ledger.wait_for(id, reply.clone()) {
                self.apply(effects);
                return Ok(None);
            }
        }
        self.apply(effects);
        Ok(Some(Reply::Announced(result)))
    }

    fn emergency(
        &mut self,
        file: Option<PathBuf>,
        text: Option<String>,
        zones: &[String],
        peer: &Peer,
    ) -> Result<Option<Reply>, Refusal> {
        let zones = self.resolve_zones(zones)?;
        // The file was checked, or the text rendered into it, beside the
        // loop (see `preparation`).
        let Some(file) = file else {
            return Err(refuse(
                ErrorCode::BadRequest,
                "emergency needs a file or a text",
            ));
        };
        let files = vec![file];
        let names: Vec<String> = zones
            .iter()
            .map(|z| self.zone_name(*z).to_string())
            .collect();
        let spec = JobSpec {
            text,
            ..JobSpec::new(
                JobKind::Emergency,
                Origin::Emergency(peer.user.clone()),
                Priority::EMERGENCY,
                zones,
                files,
            )
        };
        let id = self
            .start_job(spec)
            .map_err(|e| refuse(e.code(), e.to_string()))?;
        tracing::warn!(job = %id, user = %peer.user, zones = %names.join(","), "EMERGENCY started");
        Ok(Some(Reply::Announced(AnnounceResult {
            id,
            zones: names,
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
                self.cancel_job(job.id, &format!("emergency stopped by {}", peer.user))?;
            } else {
                // Only some of its zones: it goes on on the others.
                let named: Vec<ZoneId> = named.iter().filter_map(|z| self.zone_id(z)).collect();
                for zone in named {
                    let effects = self.ledger.stop_on(job.id, zone, Utc::now());
                    self.apply(effects);
                }
            }
            stopped.push(job.id);
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
        let ending = self.ledger.voices_of(&stopped, &zone_ids);
        let deadline = std::time::Instant::now() + RELEASE_WAIT;
        Ok(self
            .ledger
            .reply_when_released(ending, done, reply, deadline))
    }

    pub(super) fn read_queue(&self) -> Result<Vec<StoredJob>, Refusal> {
        // No store (it could not even be created): nothing was accepted, so
        // the queue is empty; `queue` still answers.
        let Some(store) = self.ledger.store() else {
            return Ok(Vec::new());
        };
        store
            .queue()
            .map_err(|e| refuse(ErrorCode::Failed, e.to_string()))
    }

    /// Cancel job `id` in the store and stop it where it plays.
    fn cancel_job(&mut self, id: JobId, reason: &str) -> Result<Vec<String>, Refusal> {
        let (zones, effects) = self
            .ledger
            .cancel(id, reason, Utc::now())
            .map_err(|e| refuse(e.code(), e.to_string()))?;
        self.apply(effects);
        Ok(zones)
    }

    fn cancel(&mut self, id: JobId, peer: &Peer) -> Result<Reply, Refusal> {
        let zones = self.cancel_job(id, &format!("cancelled by {}", peer.user))?;
        tracing::info!(job = %id, user = %peer.user, "job cancelled");
        Ok(Reply::Done(DoneResult {
            message: format!("cancelled job {id}"),
            zones,
        }))
    }

    fn skip(&mut self, zones: &[String], peer: &Peer) -> Result<Reply, Refusal> {
        let ids = self.resolve_zones(zones)?;
        let effects = self.ledger.skip(&ids, &peer.user);
        self.apply(effects);
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
        let (sounding, effects) = self.ledger.stop_zones(&ids, Utc::now());
        self.apply(effects);
        let names: Vec<String> = ids.iter().map(|z| self.zone_name(*z).to_string()).collect();
        tracing::info!(user = %peer.user, zones = %names.join(","), "zones stopped");
        let ending = self.ledger.voices_of(&sounding, &ids);
        let message = if sounding.is_empty() {
            format!("nothing was playing on {}", names.join(", "))
        } else {
            format!("stopped {}", names.join(", "))
        };
        let done = Reply::Done(DoneResult {
            message,
            zones: names,
        });
        let deadline = std::time::Instant::now() + RELEASE_WAIT;
        Ok(self
            .ledger
            .reply_when_released(ending, done, reply, deadline))
    }
}
