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
//! Every job gets an id from the store, which has it committed before
//! anything else happens (on disk before its client hears of it: see
//! `store/durable.rs`); a job the store cannot take (a broken disk) still
//! plays if it comes from a schedule, under an id from a separate range,
//! while operators' jobs are refused.

mod events;
mod job;
mod operators;
#[cfg(test)]
mod tests;
mod title;

pub use job::{Effect, Job, JobError, JobSpec, Origin, Release, Run, StartError};

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::slots::{Waiting, ZoneSlots};
use crate::config::{self, Chime, Config, PreemptMode};
use crate::control::protocol::JobState;
use crate::engine::mixer::db_to_gain;
use crate::engine::voice::{EndReason, Yield};
use crate::engine::ZoneId;
use crate::media::prefetch::{Looping, Order};
use crate::priority::Priority;
use crate::store::{AsRunEntry, JobId, JobKind, NewJob, Store, StoredJob, ZoneProgress, ZoneState};

/// Ids for jobs the store could not take start here, far above any id the
/// store will hand out.
pub const LOCAL_ID_BASE: JobId = JobId(1 << 50);

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
    /// Items that could not be decoded or were found damaged, since the
    /// start (`/metrics`).
    pub decode_errors: u64,
    config: Config,
    wrapping: Wrapping,
    store: Option<Store>,
    /// Why there is no writable store, for refusals.
    store_problem: Option<String>,
    next_local_id: JobId,
    jobs: HashMap<JobId, Job>,
    /// Voices given to each zone, and jobs waiting for a place.
    slots: ZoneSlots,
    /// Answers that wait for zones to be released.
    releases: Vec<Release>,
    /// The zones, in config order.
    zones: Vec<(ZoneId, String)>,
    /// Zones a reload removed (or replaced), with their names for the log.
    gone: HashMap<ZoneId, String>,
    /// Who asked to skip the item on air on a zone ("skipped by web:sri"),
    /// for its as-run row when the engine reports the skip.
    skipped_by: HashMap<ZoneId, String>,
    /// What the current call asks the shell to do.
    effects: Vec<Effect>,
}

/// Run a store call: inside the daemon's runtime, without holding up the
/// runtime's other tasks. The daemon's store commits without an `fsync`
/// (its syncer thread makes them durable), so this waits for the page cache
/// and SQLite's lock at most; a store that syncs every write (it could not
/// start its syncer) waits for the disk here.
pub(in crate::daemon) fn on_disk<T>(f: impl FnOnce() -> T) -> T {
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
            decode_errors: 0,
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
            skipped_by: HashMap::new(),
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

    pub fn jobs(&self) -> &HashMap<JobId, Job> {
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
    fn accept(&mut self, job: &NewJob) -> Result<JobId, String> {
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
                Ok(id)
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
    ) -> Result<(JobId, Vec<Effect>), StartError> {
        let new = self.new_job(&spec);
        let (id, persisted) = match self.accept(&new) {
            Ok(id) => (id, true),
            Err(_) if spec.run.is_some() => {
                self.next_local_id = JobId(self.next_local_id.0 + 1);
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

    /// What the store keeps of `spec`.
    fn new_job(&self, spec: &JobSpec) -> NewJob {
        NewJob {
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
        }
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
            // A live page (no files: its audio came from its speaker) cannot
            // be played again.
            if job.job.files.is_empty() && job.job.origin.starts_with("page:") {
                if let Some(store) = self.store.as_mut() {
                    let _ = store.cancel_job(job.id, now, Some("live page cut off by a restart"));
                }
                continue;
            }
            tracing::info!(job = %job.id, origin = %job.job.origin, "restoring an unfinished job");
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
    pub fn on_wake(&mut self, id: JobId, now: DateTime<Utc>) -> Vec<Effect> {
        let Some(store) = self.store.as_ref() else {
            return Vec::new();
        };
        match store.job(id) {
            // Not due yet (the clock went back) or due in quiet hours:
            // resume_stored waits again.
            // A wake set before the job's content was replaced can come
            // while the new content plays: it is not a second play.
            Ok(Some(_)) if self.jobs.get(&id).is_some_and(|j| !j.playing.is_empty()) => {}
            Ok(Some(job)) if job.finished_at.is_none() && !job.cancelled => {
                self.resume_stored(&job, now)
            }
            Ok(_) => {}
            Err(e) => tracing::error!(job = %id, "cannot read the job back: {e}"),
        }
        self.take_effects()
    }

    /// Play a stored job now, or wake for it when it is due: its time, or
    /// the end of the quiet hours for a job below `emergency` that comes due
    /// inside them (a repeat, a job restored after a restart).
    fn resume_stored(&mut self, job: &StoredJob, now: DateTime<Utc>) {
        if let Some(due) = job.due().filter(|t| *t > now) {
            self.effects.push(Effect::WakeAt {
                job: job.id,
                at: due,
            });
            self.track(job, true);
            return;
        }
        if Priority(job.job.priority) < Priority::EMERGENCY {
            let tz = self.config.daemon.timezone;
            if let Some(end) = self.config.quiet_hours.and_then(|q| q.end_after(now, tz)) {
                let local = end.with_timezone(&tz);
                tracing::info!(job = %job.id, until = %local.format("%H:%M:%S"), "held: quiet hours");
                self.effects.push(Effect::WakeAt {
                    job: job.id,
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
        self.jobs.entry(job.id).or_insert_with(|| {
            let mut j = Job::new(
                job.job.kind,
                job.job.origin.clone(),
                Priority(job.job.priority),
                job.job.zones.len(),
            );
            j.persisted = persisted;
            j.zones_done = zones_done;
            j.text = job.job.text.clone();
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
        self.play(job.id, &zones, Priority(job.job.priority), files, order);
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
        id: JobId,
        zones: &[ZoneId],
        priority: Priority,
        files: Vec<PathBuf>,
        order: Order,
    ) {
        let mut started = Vec::new();
        let mut waits = Vec::new();
        for &zone in zones {
            if !self.zones.iter().any(|(z, _)| *z == zone) {
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
            tracing::info!(job = %id, priority = %priority, "{why}");
            self.notify_with(id, JobState::Queued, Some(why));
            if let Some(j) = self.jobs.get_mut(&id) {
                j.playing.extend(waits);
            }
        }
    }

    /// Voices for job `id` on `zones`, whose places are counted.
    fn give_voices(
        &mut self,
        id: JobId,
        zones: Vec<ZoneId>,
        priority: Priority,
        files: Vec<PathBuf>,
        order: Order,
    ) {
        if zones.is_empty() {
            return;
        }
        let names: Vec<&str> = zones.iter().map(|z| self.zone_name(*z)).collect();
        tracing::info!(job = %id, priority = %priority, zones = %names.join(","),
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
    pub fn not_started(&mut self, id: JobId, zone: ZoneId, now: DateTime<Utc>) -> Vec<Effect> {
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
        let running: Vec<JobId> = self
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

    /// The folder of the state store, for messages.
    pub fn state_dir(&self) -> &Path {
        &self.config.daemon.state_dir
    }
}

/// The stored form of a job just accepted (without a store read).
fn stored(id: JobId, job: NewJob, now: DateTime<Utc>) -> StoredJob {
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
        id,
        job,
        accepted_at: now,
        plays_done: 0,
        next_due: None,
        finished_at: None,
        cancelled: false,
        progress,
    }
}
