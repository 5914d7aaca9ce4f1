//! What the daemon reports: `status`, `zones`, `queue`, `schedule` and
//! `log`, read from the ledger, the zones and the store. Nothing here
//! changes anything.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::refusal::{refuse, Refusal};
use super::station::Station;
use super::when::parse_since;
use crate::control::protocol::{
    AsRunRow, DaemonInfo, EndpointHealth, ErrorCode, JobState, LogResult, NextEvent, NowPlaying,
    QueueResult, QueuedJob, ReceiverInfo, Reply, ScheduleInfo, ScheduleResult, StatusResult,
    ZoneInfo, ZoneStatus, ZonesResult,
};
use crate::engine::ZoneId;
use crate::ids::JobId;
use crate::output::Endpoint;
use crate::schedule;
use crate::store::{JobKind, ZoneState};

/// `log` without `--since` shows this far back.
const DEFAULT_LOG_WINDOW: chrono::Duration = chrono::Duration::hours(24);
/// `log` without `--limit` shows at most this many rows.
const DEFAULT_LOG_LIMIT: usize = 500;

/// What [`Station::zone_health`] found.
struct ZoneHealth {
    state: String,
    error: Option<String>,
    endpoints: Vec<EndpointHealth>,
    receivers: Vec<ReceiverInfo>,
}

impl Station {
    /// A zone's health as of now: its state and what is wrong, each
    /// endpoint's, and its receivers'. An endpoint whose sends fail makes
    /// the zone `degraded` with that error; so does a receiver silent for
    /// longer than `receiver_timeout_s`, named in the error.
    /// A zone's health; `None` (a configured zone that failed to start has
    /// no id) reads as streaming with nothing known.
    fn zone_health(&self, zone: Option<ZoneId>) -> ZoneHealth {
        let Some(entry) = zone.and_then(|zone| self.zones.iter().find(|z| z.id == zone)) else {
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
                    dropped_frames: o.health.dropped_frames.load(Ordering::Relaxed),
                    packets_sent: o.health.packets_sent.load(Ordering::Relaxed),
                    send_errors: o.health.send_errors.load(Ordering::Relaxed),
                    underruns: o.health.underruns.load(Ordering::Relaxed),
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
        let mut best: Option<(JobId, &super::jobs::Job)> = None;
        for (id, j) in self.ledger.jobs() {
            if !j.playing.contains(&zone)
                || j.paused.contains(&zone)
                || !j.current.contains_key(&zone)
            {
                continue;
            }
            // Highest priority first, then the oldest job.
            if best.is_none_or(|(bid, b)| {
                (j.priority, std::cmp::Reverse(*id)) > (b.priority, std::cmp::Reverse(bid))
            }) {
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

    pub(super) fn status(&self) -> Reply {
        let zones = self
            .zones
            .iter()
            .map(|z| {
                let h = self.zone_health(Some(z.id));
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
        let upcoming = schedule::upcoming(
            &self.config.schedules,
            tz,
            Utc::now(),
            1,
            self.config.quiet_hours,
        );
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
                fires: self.fires,
                fires_missed: self.fires_missed
                    + self
                        .fires_skipped_by_clock
                        .load(std::sync::atomic::Ordering::Relaxed),
                decode_errors: self.ledger.decode_errors,
            },
            zones,
            next_events,
            loudness_pending: self.loudness_pending(),
            broker: self.broker.as_ref().map(|b| b.link()),
            feeds: self.feeds.clone(),
        })
    }

    pub(super) fn queue(&self) -> Result<Reply, Refusal> {
        let jobs = self
            .read_queue()?
            .into_iter()
            .map(|j| {
                let playing = j.progress.iter().any(|p| p.state == ZoneState::Playing);
                QueuedJob {
                    id: j.id,
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

    pub(super) fn zones_reply(&self) -> Reply {
        let zones = self
            .config
            .zones
            .iter()
            .map(|z| {
                let h = self.zone_health(self.zone_id(&z.name));
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

    pub(super) fn schedule_reply(&self, next: usize) -> Result<Reply, Refusal> {
        let tz = self.config.daemon.timezone;
        let today = Utc::now().with_timezone(&tz).date_naive();
        let upcoming = schedule::upcoming(
            &self.config.schedules,
            tz,
            Utc::now(),
            next,
            self.config.quiet_hours,
        );
        let schedules = upcoming
            .into_iter()
            .zip(&self.config.schedules)
            .map(|(u, s)| ScheduleInfo {
                name: u.name,
                cron: s.cron.as_str().to_string(),
                playlist: u.playlist,
                zones: u.zones,
                priority: u.priority.0,
                next: u.next.iter().map(|t| t.to_rfc3339()).collect(),
                paused: self.paused_info(&s.name),
                except_dates: s
                    .except_dates
                    .range(today..)
                    .map(|d| d.to_string())
                    .collect(),
            })
            .collect();
        Ok(Reply::Schedule(ScheduleResult {
            timezone: tz.name().into(),
            schedules,
        }))
    }

    pub(super) fn log(
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
            .ledger
            .store()
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
                // 0: a row of no job (the wire's word for it).
                job: r.job.unwrap_or(JobId(0)),
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
        for (id, j) in self.ledger.jobs() {
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
