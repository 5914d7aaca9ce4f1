//! The job ledger: the one entrance for every job, and the book of what each
//! job is doing.
//!
//! Every trigger (a schedule's fire, an operator's request, an emergency,
//! and the triggers to come: the web console, live pages, hazard feeds,
//! other kiosks) starts a job through [`Ledger::start_job`]. Engine and
//! decoder events, timers and operators' changes come in the same way. The
//! ledger decides (admission, priorities, places on a zone, repeats, quiet
//! hours, what a restart restores) and keeps the store's record; what must
//! happen in the audio world comes back as [`Effect`]s, which the station
//! carries out. Time is always passed in, so the decisions can be tested
//! with a manual clock (see `tests.rs`).
//!
//! Every job gets an id from the store, which has it on disk before
//! anything else happens; a job the store cannot take (a broken disk) still
//! plays if it comes from a schedule, under an id from a separate range,
//! while operators' jobs are refused.

mod job;
#[cfg(test)]
mod tests;

pub use job::{Effect, Job, JobError, JobSpec, Origin, Release, Run, StartError};

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::slots::{Waiting, ZoneSlots};
use crate::config::{self, Chime, Config, PreemptMode};
use crate::control::protocol::{JobState, Reply, Response};
use crate::engine::mixer::db_to_gain;
use crate::engine::voice::{EndReason, Yield};
use crate::engine::{Event, ZoneId};
use crate::media::prefetch::{FeedEvent, Looping, Order};
use crate::priority::Priority;
use crate::store::{
    AfterFinish, AsRunEntry, How, JobId, JobKind, NewJob, Store, StoreError, StoredJob, ZoneEnd,
    ZoneProgress, ZoneState,
};

/// Ids for jobs the store could not take start here, far above any id the
/// store will hand out.
pub const LOCAL_ID_BASE: i64 = 1 << 50;

/// The sounds the ledger wraps jobs in.
#[derive(Debug, Clone)]
pub struct Wrapping {
    /// The default pre-announcement chime.
    pub chime: PathBuf,
    /// The emergency alert signal, played once before the message.
    pub alert: PathBuf,
}

/// Jobs, their places on the zones, and the store that keeps them.
pub struct Ledger {
    config: Config,
    wrapping: Wrapping,
    store: Option<Store>,
    /// Why there is no writable store, for refusals.
    store_problem: Option<String>,
    next_local_id: i64,
    jobs: HashMap<i64, Job>,
    /// Voices given to each zone, and jobs waiting for a place.
    slots: ZoneSlots,
    /// Answers that wait for zones to be released.
    releases: Vec<Release>,
    /// The zones, in config order.
    zones: Vec<(ZoneId, String)>,
    /// Zones a reload removed (or replaced), with their names for the log.
    gone: HashMap<ZoneId, String>,
    /// What the current call asks the shell to do.
    effects: Vec<Effect>,
}

/// Run a store call that may wait for the disk: inside the daemon's
/// runtime, without holding up the runtime's other tasks.
fn on_disk<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

impl Ledger {
    pub fn new(config: Config, wrapping: Wrapping, store: Option<Store>) -> Ledger {
        Ledger {
            config,
            wrapping,
            store,
            store_problem: None,
            next_local_id: LOCAL_ID_BASE,
            jobs: HashMap::new(),
            slots: ZoneSlots::default(),
            releases: Vec::new(),
            zones: Vec::new(),
            gone: HashMap::new(),
            effects: Vec::new(),
        }
    }

    /// A store that could not be opened, or opened read-only: operators'
    /// jobs are refused with `why` until a write succeeds.
    pub fn with_store_problem(mut self, why: Option<String>) -> Ledger {
        self.store_problem = why;
        self
    }

    /// The config a reload brought: priorities, preemption, quiet hours and
    /// chimes apply to jobs from now on.
    pub fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    pub fn store_mut(&mut self) -> Option<&mut Store> {
        self.store.as_mut()
    }

    /// Close the store (last in shutdown).
    pub fn take_store(&mut self) -> Option<Store> {
        self.store.take()
    }

    pub fn jobs(&self) -> &HashMap<i64, Job> {
        &self.jobs
    }

    pub fn slots(&self) -> &ZoneSlots {
        &self.slots
    }

    fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    // --- zones -----------------------------------------------------------

    /// Zone `id` plays under `name` (at start, or added by a reload).
    pub fn zone_added(&mut self, id: ZoneId, name: &str) {
        self.zones.push((id, name.to_string()));
    }

    /// Keep the zones in `order` (the config's).
    pub fn order_zones(&mut self, order: &[&str]) {
        self.zones
            .sort_by_key(|(_, n)| order.iter().position(|o| *o == n).unwrap_or(usize::MAX));
    }

    /// A reload removed (or replaced) zone `id`: jobs waiting for a place
    /// there will not get one. Its voices end in the engine, and their
    /// events still name it.
    pub fn zone_removed(&mut self, id: ZoneId, now: DateTime<Utc>) -> Vec<Effect> {
        if let Some(at) = self.zones.iter().position(|(z, _)| *z == id) {
            let (_, name) = self.zones.remove(at);
            self.gone.insert(id, name);
        }
        for job in self.slots.remove_zone(id) {
            self.on_ended(id, job, EndReason::Interrupted, now);
        }
        self.take_effects()
    }

    pub fn zone_name(&self, id: ZoneId) -> &str {
        self.zones
            .iter()
            .find(|(z, _)| *z == id)
            .map(|(_, n)| n.as_str())
            .or_else(|| self.gone.get(&id).map(String::as_str))
            .unwrap_or("?")
    }

    pub fn zone_id(&self, name: &str) -> Option<ZoneId> {
        self.zones.iter().find(|(_, n)| n == name).map(|(z, _)| *z)
    }

    /// The zones, in config order.
    pub fn zone_ids(&self) -> impl Iterator<Item = ZoneId> + '_ {
        self.zones.iter().map(|(z, _)| *z)
    }

    // --- the store -------------------------------------------------------

    /// Why operators' jobs are refused now, if they are.
    pub fn store_problem(&self) -> Option<&str> {
        self.store_problem.as_deref()
    }

    /// Persist `job` (operators' jobs: refused when the store can't).
    ///
    /// Every attempt goes to the disk: once space is freed or the disk is
    /// writable again, the next announcement is accepted, with no restart.
    fn accept(&mut self, job: &NewJob) -> Result<i64, String> {
        if self.store.is_none() {
            // Opening failed at start-up: try again now.
            match Store::open(&self.config.daemon.state_dir) {
                Ok(s) => self.store = Some(s),
                Err(e) => return Err(e.to_string()),
            }
        }
        let store = self.store.as_mut().expect("opened above");
        match on_disk(|| store.accept(job)) {
            Ok(id) => {
                if self.store_problem.take().is_some() {
                    tracing::info!("state store writable again: announcements are accepted");
                }
                Ok(id.0)
            }
            Err(e) => {
                tracing::error!("{e}");
                if e.refuses_new_jobs() {
                    self.store_problem = Some(e.to_string());
                }
                Err(e.to_string())
            }
        }
    }

    /// Write one as-run row; a store that fails is logged, never fatal.
    fn record(&mut self, row: &AsRunEntry) {
        if let Some(store) = self.store.as_mut() {
            if let Err(e) = on_disk(|| store.record_as_run(row)) {
                tracing::error!(zone = %row.zone, "as-run log not written: {e}");
            }
        }
    }

    // --- starting jobs ---------------------------------------------------

    /// The one entrance for every job: keep it in the store, then play it
    /// now, or when it is due (`not_before`, quiet hours). Emergencies play
    /// at once, whatever the hour. A schedule's run plays even when the
    /// store cannot keep it; anything else is refused then.
    pub fn start_job(
        &mut self,
        spec: JobSpec,
        now: DateTime<Utc>,
    ) -> Result<(i64, Vec<Effect>), StartError> {
        let new = NewJob {
            kind: spec.kind,
            origin: spec.origin.label(),
            priority: spec.priority.0,
            zones: spec
                .zones
                .iter()
                .map(|z| self.zone_name(*z).to_string())
                .collect(),
            files: spec.files.clone(),
            chime_before: spec.chime_before,
            chime_after: spec.chime_after,
            not_before: spec.not_before,
            repeat: spec.repeat.max(1),
            repeat_interval: spec.interval,
            text: spec.text.clone(),
        };
        let (id, persisted) = match self.accept(&new) {
            Ok(id) => (id, true),
            Err(_) if spec.run.is_some() => {
                self.next_local_id += 1;
                (self.next_local_id, false)
            }
            Err(e) => return Err(StartError::Store(e)),
        };
        if let (Some(run), Origin::Schedule(name)) = (&spec.run, &spec.origin) {
            let mut job = Job::new(
                new.kind,
                new.origin.clone(),
                spec.priority,
                spec.zones.len(),
            );
            job.schedule = Some(name.clone());
            job.persisted = persisted;
            self.jobs.insert(id, job);
            let order = Order {
                shuffle: run.shuffle,
                looping: run.loop_until.map_or(Looping::Once, Looping::Until),
                repeat_from: 0,
            };
            self.play(id, &spec.zones, spec.priority, spec.files, order);
            if let Some(until) = run.loop_until {
                self.effects.push(Effect::StopAt { job: id, until });
            }
            return Ok((id, self.take_effects()));
        }
        let stored = stored(id, new, now);
        if spec.kind == JobKind::Emergency {
            self.play_stored(&stored);
        } else {
            self.resume_stored(&stored, now);
        }
        Ok((id, self.take_effects()))
    }

    /// Restore what the store had unfinished at start-up: announcements
    /// play again (their zones that had not finished); scheduled runs cut
    /// off by the restart are not replayed (the next fire plays).
    pub fn restore(&mut self, now: DateTime<Utc>) -> Vec<Effect> {
        let Some(store) = self.store.as_mut() else {
            return Vec::new();
        };
        let jobs = match store.recover_after_restart(now) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!("cannot read the queue back: {e}");
                return Vec::new();
            }
        };
        let db = store.path().to_path_buf();
        let mut restored = 0usize;
        for job in jobs {
            if job.job.kind == JobKind::Schedule {
                if let Some(store) = self.store.as_mut() {
                    let _ =
                        store.cancel_job(job.id, now, Some("scheduled run cut off by a restart"));
                }
                continue;
            }
            tracing::info!(job = job.id.0, origin = %job.job.origin, "restoring an unfinished job");
            self.resume_stored(&job, now);
            restored += 1;
        }
        // Said every start, zero too: an operator who expected a queue sees
        // at once whether it came back.
        tracing::info!(
            "restored {restored} queued announcement{} from {}",
            if restored == 1 { "" } else { "s" },
            db.display()
        );
        self.take_effects()
    }

    /// A timer set by [`Effect::WakeAt`] fired for job `id`: play it if it
    /// is still wanted and due.
    pub fn on_wake(&mut self, id: i64, now: DateTime<Utc>) -> Vec<Effect> {
        let Some(store) = self.store.as_ref() else {
            return Vec::new();
        };
        match store.job(JobId(id)) {
            // Not due yet (the clock went back) or due in quiet hours:
            // resume_stored waits again.
            Ok(Some(job)) if job.finished_at.is_none() && !job.cancelled => {
                self.resume_stored(&job, now)
            }
            Ok(_) => {}
            Err(e) => tracing::error!(job = id, "cannot read the job back: {e}"),
        }
        self.take_effects()
    }

    /// Play a stored job now, or wake for it when it is due: its time, or
    /// the end of the quiet hours for a job below `emergency` that comes due
    /// inside them (a repeat, a job restored after a restart).
    fn resume_stored(&mut self, job: &StoredJob, now: DateTime<Utc>) {
        if let Some(due) = job.due().filter(|t| *t > now) {
            self.effects.push(Effect::WakeAt {
                job: job.id.0,
                at: due,
            });
            self.track(job, true);
            return;
        }
        if Priority(job.job.priority) < Priority::EMERGENCY {
            let tz = self.config.daemon.timezone;
            if let Some(end) = self.config.quiet_hours.and_then(|q| q.end_after(now, tz)) {
                let local = end.with_timezone(&tz);
                tracing::info!(job = job.id.0, until = %local.format("%H:%M:%S"), "held: quiet hours");
                self.effects.push(Effect::WakeAt {
                    job: job.id.0,
                    at: end,
                });
                self.track(job, true);
                return;
            }
        }
        self.play_stored(job);
    }

    /// Register a stored job (if it is not already).
    fn track(&mut self, job: &StoredJob, persisted: bool) {
        let zones_done = job
            .progress
            .iter()
            .filter(|p| p.state == ZoneState::Done)
            .count();
        self.jobs.entry(job.id.0).or_insert_with(|| {
            let mut j = Job::new(
                job.job.kind,
                job.job.origin.clone(),
                Priority(job.job.priority),
                job.job.zones.len(),
            );
            j.persisted = persisted;
            j.zones_done = zones_done;
            j
        });
    }

    /// Play a stored job on every zone it has not finished.
    fn play_stored(&mut self, job: &StoredJob) {
        self.track(job, true);
        let zones: Vec<ZoneId> = job
            .progress
            .iter()
            .filter(|p| p.state != ZoneState::Done)
            .filter_map(|p| self.zone_id(&p.zone))
            .collect();
        let (files, order) = self.running_order(&job.job);
        self.play(job.id.0, &zones, Priority(job.job.priority), files, order);
    }

    /// The files a job plays, chimes and alert included, and how.
    fn running_order(&self, job: &NewJob) -> (Vec<PathBuf>, Order) {
        let mut files = Vec::new();
        if job.kind == JobKind::Emergency {
            // Alert signal once, then the message until stopped.
            files.push(self.wrapping.alert.clone());
            files.extend(job.files.iter().cloned());
            let order = Order {
                shuffle: false,
                looping: Looping::Forever,
                repeat_from: 1,
            };
            return (files, order);
        }
        // `chime_before` is false for `--no-chime` and for scheduled runs;
        // the level's own chimes apply otherwise.
        let (before, after) = self
            .config
            .announcements
            .chimes_for(Priority(job.priority), job.chime_before);
        let chime_file = |c: Chime| match c {
            Chime::Default => Some(self.wrapping.chime.clone()),
            Chime::None => None,
            Chime::File(p) => Some(p),
        };
        files.extend(chime_file(before));
        files.extend(job.files.iter().cloned());
        files.extend(chime_file(after));
        (files, Order::default())
    }

    /// What a job at `priority` does while a higher priority holds its zone.
    fn yields(&self, priority: Priority) -> Yield {
        let p = &self.config.preemption;
        match p.mode(priority) {
            PreemptMode::Duck => Yield::Duck {
                gain: db_to_gain(p.duck_db),
            },
            PreemptMode::Pause => Yield::Pause,
            PreemptMode::Cancel => Yield::Cancel,
        }
    }

    /// Start `files` of job `id` on `zones` at `priority`; on a full zone
    /// the job waits for a place (see `slots.rs`).
    fn play(
        &mut self,
        id: i64,
        zones: &[ZoneId],
        priority: Priority,
        files: Vec<PathBuf>,
        order: Order,
    ) {
        let mut started = Vec::new();
        let mut waits = Vec::new();
        for &zone in zones {
            if self.zone_id(self.zone_name(zone)) != Some(zone) {
                continue; // gone
            }
            if !self.slots.has_room(zone, priority) {
                // Kept, and started when a voice of the zone ends.
                self.slots.wait(
                    zone,
                    Waiting {
                        job: id,
                        priority,
                        files: files.clone(),
                        order: order.clone(),
                    },
                );
                waits.push(zone);
                continue;
            }
            self.slots.started(zone);
            started.push(zone);
        }
        self.give_voices(id, started, priority, files, order);
        if !waits.is_empty() {
            let names: Vec<String> = waits
                .iter()
                .map(|z| {
                    format!(
                        "{} ({} jobs ahead)",
                        self.zone_name(*z),
                        self.slots.voices(*z) + self.slots.waiting(*z) - 1
                    )
                })
                .collect();
            let why = format!("waiting for a place on {}", names.join(", "));
            tracing::info!(job = id, priority = %priority, "{why}");
            self.notify_with(id, JobState::Queued, Some(why));
            if let Some(j) = self.jobs.get_mut(&id) {
                j.playing.extend(waits);
            }
        }
    }

    /// Voices for job `id` on `zones`, whose places are counted.
    fn give_voices(
        &mut self,
        id: i64,
        zones: Vec<ZoneId>,
        priority: Priority,
        files: Vec<PathBuf>,
        order: Order,
    ) {
        if zones.is_empty() {
            return;
        }
        let names: Vec<&str> = zones.iter().map(|z| self.zone_name(*z)).collect();
        tracing::info!(job = id, priority = %priority, zones = %names.join(","),
            items = files.len(), "job started");
        if let Some(j) = self.jobs.get_mut(&id) {
            j.playing.extend(zones.iter().copied());
        }
        self.effects.push(Effect::Play {
            job: id,
            zones,
            priority,
            yields: self.yields(priority),
            files,
            order,
        });
    }

    /// The shell could not give job `id` its voice on `zone` (the engine's
    /// queue was full): the zone ends for the job.
    pub fn not_started(&mut self, id: i64, zone: ZoneId, now: DateTime<Utc>) -> Vec<Effect> {
        self.on_ended(zone, id, EndReason::Cancelled, now);
        self.admit_waiting(zone);
        self.take_effects()
    }

    /// A voice of `zone` ended: start the jobs waiting for its place.
    fn admit_waiting(&mut self, zone: ZoneId) {
        for w in self.slots.ended(zone) {
            if self.jobs.contains_key(&w.job) {
                self.slots.started(zone);
                self.give_voices(w.job, vec![zone], w.priority, w.files, w.order);
            }
        }
    }

    // --- schedules -------------------------------------------------------

    /// The zones a fire of `sched` at `at` plays on, or `None` when it does
    /// not play: a day it does not fire on, quiet hours (below
    /// `emergency`), or every zone still busy with its previous run (radio
    /// automation skips a fire there rather than stack it behind itself;
    /// said once per run: after a clock jump dozens of fires come at once).
    pub fn fire_zones(
        &mut self,
        sched: &config::Schedule,
        at: DateTime<Utc>,
    ) -> Option<Vec<ZoneId>> {
        let tz = self.config.daemon.timezone;
        let local = at.with_timezone(&tz);
        if let Err(why) = sched.fires_on(local.date_naive()) {
            tracing::info!(schedule = %sched.name, "not fired: {} is {why}", local.date_naive());
            return None;
        }
        if sched.priority < Priority::EMERGENCY
            && self
                .config
                .quiet_hours
                .is_some_and(|q| q.contains(local.time()))
        {
            tracing::info!(schedule = %sched.name, "not fired: quiet hours");
            return None;
        }
        let running: Vec<i64> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.schedule.as_deref() == Some(sched.name.as_str()))
            .map(|(id, _)| *id)
            .collect();
        let busy: BTreeSet<ZoneId> = running
            .iter()
            .flat_map(|id| self.jobs[id].playing.iter().copied())
            .collect();
        let mut zones = Vec::new();
        let mut skipped = Vec::new();
        for name in &sched.zones {
            match self.zone_id(name) {
                Some(id) if busy.contains(&id) => skipped.push(name.as_str()),
                Some(id) => zones.push(id),
                None => {}
            }
        }
        if !skipped.is_empty() {
            let first = running.iter().all(|id| self.jobs[id].skipped_fires == 0);
            for id in &running {
                if let Some(j) = self.jobs.get_mut(id) {
                    j.skipped_fires += 1;
                }
            }
            if first {
                tracing::warn!(schedule = %sched.name, zones = %skipped.join(","), at = %local,
                    "previous run still playing; its fires are skipped on these zones until it ends");
            } else {
                tracing::debug!(schedule = %sched.name, zones = %skipped.join(","), "fire skipped: previous run still playing");
            }
        }
        (!zones.is_empty()).then_some(zones)
    }

    // --- what the audio world says ---------------------------------------

    /// A decoder opened, failed or found damage in an item.
    pub fn on_feed_event(&mut self, event: FeedEvent, now: DateTime<Utc>) {
        match event {
            FeedEvent::ItemOpened {
                zone,
                job,
                item,
                path,
            } => {
                if let Some(j) = self.jobs.get_mut(&(job as i64)) {
                    j.items.insert((zone, item), path);
                }
            }
            FeedEvent::ItemFailed {
                zone,
                job,
                item,
                path,
                reason,
            } => self.on_item_failed(zone, job as i64, item, path, reason, now),
            FeedEvent::ItemDamaged {
                zone,
                job,
                item,
                path,
                reason,
            } => {
                let zone_name = self.zone_name(zone).to_string();
                let id = job as i64;
                if let Some(j) = self.jobs.get_mut(&id) {
                    // One report per file and job, as for failures.
                    if j.failed.insert(path.clone()) {
                        tracing::warn!(zone = %zone_name, job = id, file = %path.display(), "damaged: {reason}");
                    }
                    j.cut.insert((zone, item), (How::Damaged, reason));
                }
            }
        }
    }

    fn on_item_failed(
        &mut self,
        zone: ZoneId,
        id: i64,
        item: u32,
        path: PathBuf,
        reason: String,
        now: DateTime<Utc>,
    ) {
        let zone_name = self.zone_name(zone).to_string();
        let Some(j) = self.jobs.get_mut(&id) else {
            return;
        };
        if j.failed.insert(path.clone()) {
            tracing::warn!(zone = %zone_name, job = id, file = %path.display(), "skipped: {reason}");
        }
        if j.items.contains_key(&(zone, item)) {
            // It opened, so it goes on air (what was decoded of it): its
            // own row, written when it ends, says failed and why.
            j.cut.insert((zone, item), (How::Failed, reason));
            return;
        }
        let row = AsRunEntry {
            zone: zone_name,
            job: Some(JobId(id)),
            origin: j.origin.clone(),
            file: path.display().to_string(),
            started_at: now,
            ended_at: now,
            how: How::Failed,
            reason: Some(reason),
        };
        self.record(&row);
    }

    /// The engine said `event`, which reached the outputs at `at`.
    pub fn on_engine_event(&mut self, event: Event, at: DateTime<Utc>) -> Vec<Effect> {
        match event {
            Event::ItemStarted {
                zone, job, item, ..
            } => self.on_item_started(zone, job as i64, item, at),
            Event::Paused { zone, job, .. } => {
                tracing::info!(zone = %self.zone_name(zone), job, "paused for a higher priority");
                if let Some(j) = self.jobs.get_mut(&(job as i64)) {
                    j.paused.insert(zone);
                }
            }
            Event::Resumed { zone, job, .. } => {
                tracing::info!(zone = %self.zone_name(zone), job, "resumed");
                if let Some(j) = self.jobs.get_mut(&(job as i64)) {
                    j.paused.remove(&zone);
                }
            }
            Event::Skipped {
                zone, job, item, ..
            } => {
                let id = job as i64;
                tracing::info!(zone = %self.zone_name(zone), job = id, item, "skipped by an operator");
                if let Some(row) = self.close_item(id, zone, at, How::Skipped) {
                    self.record(&row);
                }
            }
            Event::Ended {
                zone, job, reason, ..
            } => {
                self.on_ended(zone, job as i64, reason, at);
                self.admit_waiting(zone);
                self.released(Some((job as i64, zone)), Instant::now());
            }
            Event::Rejected { zone, job } => {
                // The slots keep a zone below the mixer's limit, so this is
                // a zone that went away (reload) as the job started.
                tracing::error!(zone = %self.zone_name(zone), job, "the zone did not take the job");
                self.on_ended(zone, job as i64, EndReason::Cancelled, at);
                self.admit_waiting(zone);
            }
        }
        self.take_effects()
    }

    fn on_item_started(&mut self, zone: ZoneId, id: i64, item: u32, at: DateTime<Utc>) {
        if let Some(row) = self.close_item(id, zone, at, How::Completed) {
            self.record(&row);
        }
        let name = self.zone_name(zone).to_string();
        let Some(j) = self.jobs.get_mut(&id) else {
            return;
        };
        j.current.insert(zone, (item, at));
        let file = j
            .items
            .get(&(zone, item))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        tracing::info!(zone = %name, job = id, item, origin = %j.origin, file = %file, "on air");
        // A cancelled job's next item can reach the air in the packet
        // before the engine takes the stop: the store has already closed
        // the job, so there is nothing to write.
        if j.persisted && !j.cancelled {
            if let Some(store) = self.store.as_mut() {
                let r = on_disk(|| store.mark_playing(JobId(id), &name, item, &file, at));
                if let Err(e) = r {
                    tracing::error!(zone = %name, job = id, "queue progress not written: {e}");
                }
            }
        }
        self.notify(id, JobState::Playing);
    }

    /// The as-run row of the item on air for (`id`, `zone`), ending at
    /// `ended`.
    fn close_item(
        &mut self,
        id: i64,
        zone: ZoneId,
        ended: DateTime<Utc>,
        how: How,
    ) -> Option<AsRunEntry> {
        let zone_name = self.zone_name(zone).to_string();
        let j = self.jobs.get_mut(&id)?;
        let (item, started) = j.current.remove(&zone)?;
        let file = j
            .items
            .get(&(zone, item))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let (how, reason) = match j.cut.remove(&(zone, item)) {
            Some((cut, why)) if how == How::Completed => (cut, Some(why)),
            _ => (how, None),
        };
        Some(AsRunEntry {
            zone: zone_name,
            job: Some(JobId(id)),
            origin: j.origin.clone(),
            file,
            started_at: started,
            ended_at: ended,
            how,
            reason,
        })
    }

    /// Job `id` ended on `zone` as `reason` says: close its item, tell the
    /// store, and go on with the next repeat or finish the job.
    fn on_ended(&mut self, zone: ZoneId, id: i64, reason: EndReason, at: DateTime<Utc>) {
        let how = match reason {
            EndReason::Completed => How::Completed,
            EndReason::Preempted => How::Preempted,
            EndReason::Cancelled => How::Cancelled,
            // A zone a reload took away will not come back to finish it.
            EndReason::Interrupted if self.gone.contains_key(&zone) => How::Cancelled,
            EndReason::Interrupted => How::Interrupted,
        };
        tracing::info!(zone = %self.zone_name(zone), job = id, how = %how, "ended");
        let zone_name = self.zone_name(zone).to_string();
        let row = self.close_item(id, zone, at, how);
        let Some(j) = self.jobs.get_mut(&id) else {
            return;
        };
        j.playing.remove(&zone);
        j.paused.remove(&zone);
        let left = if j.playing.is_empty() {
            AfterFinish::JobFinished
        } else {
            AfterFinish::ZonesRemaining
        };
        let after = if j.cancelled {
            // The store logged the cut-off item when it cancelled the job.
            left
        } else if j.persisted && self.store.is_some() {
            let store = self.store.as_mut().expect("checked");
            let end = ZoneEnd {
                how,
                reason: None,
                at,
            };
            let rows: Vec<AsRunEntry> = row.into_iter().collect();
            match on_disk(|| store.finish_zone(JobId(id), &zone_name, &end, &rows)) {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(zone = %zone_name, job = id, "queue progress not written: {e}");
                    left
                }
            }
        } else {
            if let Some(row) = row {
                self.record(&row);
            }
            left
        };
        let Some(j) = self.jobs.get_mut(&id) else {
            return;
        };
        match after {
            AfterFinish::ZonesRemaining => {
                j.zones_done += 1;
                self.notify(id, JobState::Playing);
            }
            AfterFinish::NextPlayAt(t) => {
                // Every zone finished this play; another is due at `t`.
                self.notify(id, JobState::Queued);
                self.effects.push(Effect::WakeAt { job: id, at: t });
            }
            AfterFinish::JobFinished => {
                j.zones_done = j.zones_total;
                let state = if j.cancelled || how == How::Cancelled {
                    JobState::Cancelled
                } else {
                    JobState::Done
                };
                self.finish(id, state, None);
            }
        }
    }

    // --- operators' changes ----------------------------------------------

    /// Cancel job `id` in the store and stop it wherever it plays.
    pub fn cancel(
        &mut self,
        id: i64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(Vec<String>, Vec<Effect>), JobError> {
        let store = self
            .store
            .as_mut()
            .ok_or_else(|| JobError::Store("no state store".into()))?;
        let zones =
            on_disk(|| store.cancel_job(JobId(id), now, Some(reason))).map_err(|e| match e {
                StoreError::NoSuchJob(_) => JobError::NoSuchJob(id),
                StoreError::JobFinished(_) => JobError::Finished(id),
                e => JobError::Store(e.to_string()),
            })?;
        self.effects.push(Effect::Stop {
            job: id,
            zone: None,
            reason: EndReason::Cancelled,
        });
        if let Some(j) = self.jobs.get_mut(&id) {
            j.cancelled = true;
        }
        self.drop_waiting(id, None, EndReason::Cancelled, now);
        if self.jobs.get(&id).is_some_and(|j| j.playing.is_empty()) {
            self.finish(id, JobState::Cancelled, Some(reason.to_string()));
        }
        Ok((zones, self.take_effects()))
    }

    /// End job `id` on `zone` only (it goes on on its other zones).
    pub fn stop_on(&mut self, id: i64, zone: ZoneId, now: DateTime<Utc>) -> Vec<Effect> {
        self.effects.push(Effect::Stop {
            job: id,
            zone: Some(zone),
            reason: EndReason::Cancelled,
        });
        self.drop_waiting(id, Some(zone), EndReason::Cancelled, now);
        self.take_effects()
    }

    /// End everything on `zones`: the jobs that were sounding there.
    pub fn stop_zones(&mut self, zones: &[ZoneId], now: DateTime<Utc>) -> (Vec<i64>, Vec<Effect>) {
        let mut sounding: Vec<i64> = self
            .jobs
            .iter()
            .filter(|(_, j)| zones.iter().any(|z| j.playing.contains(z)))
            .map(|(id, _)| *id)
            .collect();
        sounding.sort_unstable();
        for &zone in zones {
            self.effects.push(Effect::StopZone {
                zone,
                reason: EndReason::Cancelled,
            });
            for job in self.slots.remove_zone(zone) {
                self.on_ended(zone, job, EndReason::Cancelled, now);
            }
        }
        (sounding, self.take_effects())
    }

    /// Skip the item on air on `zones`.
    pub fn skip(&mut self, zones: &[ZoneId]) -> Vec<Effect> {
        zones.iter().map(|&zone| Effect::Skip { zone }).collect()
    }

    /// Job `id` no longer waits on `zone` (every zone when `None`): those
    /// zones end for it as `reason` says, as if it had played there.
    fn drop_waiting(
        &mut self,
        id: i64,
        zone: Option<ZoneId>,
        reason: EndReason,
        now: DateTime<Utc>,
    ) {
        for z in self.slots.remove_job(id, zone) {
            self.on_ended(z, id, reason, now);
        }
    }

    // --- answers ---------------------------------------------------------

    /// `reply` hears job `id`'s progress until it ends (`--wait`); false if
    /// the job is no longer known.
    pub fn wait_for(&mut self, id: i64, reply: mpsc::Sender<Response>) -> bool {
        match self.jobs.get_mut(&id) {
            Some(j) => {
                j.waiters.push(reply);
                true
            }
            None => false,
        }
    }

    /// The (job, zone) voices of `jobs` still sounding on `zones`.
    pub fn voices_of(&self, jobs: &[i64], zones: &[ZoneId]) -> BTreeSet<(i64, ZoneId)> {
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

    /// Answer `done` once every voice in `ending` has ended, at the latest
    /// at `deadline`; at once (returned) when there is none.
    pub fn reply_when_released(
        &mut self,
        ending: BTreeSet<(i64, ZoneId)>,
        done: Reply,
        reply: &mpsc::Sender<Response>,
        deadline: Instant,
    ) -> Option<Reply> {
        if ending.is_empty() {
            return Some(done);
        }
        self.releases.push(Release {
            ending,
            reply: reply.clone(),
            done,
            deadline,
        });
        None
    }

    /// Voice `ended` has ended (`None`: only look at the clock): answer the
    /// `stop`s it was the last to wait for, and those that waited too long.
    pub fn released(&mut self, ended: Option<(i64, ZoneId)>, now: Instant) {
        self.releases.retain_mut(|r| {
            if let Some(v) = ended {
                r.ending.remove(&v);
            }
            if !r.ending.is_empty() && now < r.deadline {
                return true;
            }
            let _ = r.reply.try_send(Response::Ok(r.done.clone()));
            false
        });
    }

    /// Tell a job's waiters where it is.
    fn notify(&mut self, id: i64, state: JobState) {
        self.notify_with(id, state, None);
    }

    /// Tell a job's waiters where it is, and why.
    fn notify_with(&mut self, id: i64, state: JobState, reason: Option<String>) {
        let Some(j) = self.jobs.get_mut(&id) else {
            return;
        };
        let p = j.progress(id, state, reason);
        j.waiters
            .retain(|w| w.try_send(Response::Progress(p.clone())).is_ok());
    }

    /// The job is over: give its waiters the final line and forget it.
    fn finish(&mut self, id: i64, state: JobState, reason: Option<String>) {
        let Some(j) = self.jobs.remove(&id) else {
            return;
        };
        let p = j.progress(id, state, reason);
        for w in j.waiters {
            let _ = w.try_send(Response::Ok(Reply::Finished(p.clone())));
        }
    }

    /// The folder of the state store, for messages.
    pub fn state_dir(&self) -> &Path {
        &self.config.daemon.state_dir
    }
}

/// The stored form of a job just accepted (without a store read).
fn stored(id: i64, job: NewJob, now: DateTime<Utc>) -> StoredJob {
    let progress = job
        .zones
        .iter()
        .map(|z| ZoneProgress {
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
        accepted_at: now,
        plays_done: 0,
        next_due: None,
        finished_at: None,
        cancelled: false,
        progress,
    }
}
