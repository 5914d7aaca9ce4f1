//! The running station: zones in the engine, jobs on them, the store that
//! keeps them, and the as-run log of what played where.
//!
//! Every job (a schedule's run, an announcement, an emergency) gets an id
//! from the store, which has it on disk before anything else happens; a job
//! the store cannot take (a broken disk) still plays if it comes from a
//! schedule, under an id from a separate range, while operators' jobs are
//! refused (corong never accepts what it cannot keep).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::mpsc::{self, UnboundedSender};

use super::bridge::{AudioEvent, Bridge};
use super::health::OutputWatch;
use super::receivers::{self, Listener, ReceiverTable};
use super::slots::{Waiting, ZoneSlots};
use super::sounds::{self, Sounds};
use crate::config::{self, Chime, Config, PreemptMode};
use crate::control::protocol::{JobState, Progress, Reply, Response};
use crate::engine::mixer::db_to_gain;
use crate::engine::voice::{self, EndReason, VoiceInput, VoiceSpec, Yield};
use crate::engine::{Command, Engine, EngineConfig, Event, Ramps, ZoneId, ZoneMixer, ZoneRuntime};
use crate::media::loudness::{LoudnessCache, NoPersist, Persist, Target};
use crate::media::prefetch::{self, Feed, FeedEvent, Looping, Order, Prefetcher};
use crate::media::DecodeOptions;
use crate::output::rtp::RtpOutput;
use crate::output::wav::{Rotation, WavRecorder};
use crate::output::Output;
use crate::playlist;
use crate::priority::Priority;
use crate::schedule::Fire;
use crate::store::{
    AfterFinish, AsRunEntry, How, JobId, JobKind, NewJob, Store, StoredJob, ZoneEnd, ZoneState,
};

/// Seconds of audio each voice's ring holds at least (decoded ahead of
/// playback). The ring has room for one decoder chunk more, because a
/// worker decodes a chunk only when there is room for all of it: so a
/// voice whose decoder keeps up has this much ahead at every moment.
pub const BUFFER_SECONDS: f32 = 2.0;

/// Ids for jobs the store could not take start here, far above any id the
/// store will hand out.
pub const LOCAL_ID_BASE: i64 = 1 << 50;

/// A zone as the control plane knows it.
pub(super) struct ZoneEntry {
    pub id: ZoneId,
    pub name: String,
    pub channels: u16,
    /// One per endpoint: each RTP destination, the WAV recording.
    pub outputs: Vec<OutputWatch>,
    /// What the zone's receivers report back (RTP zones).
    pub receivers: Option<Arc<Mutex<ReceiverTable>>>,
    /// Reads those reports; stops when the zone goes.
    pub _listener: Option<Listener>,
    /// The zone's config, to tell on reload whether it changed.
    pub config: config::Zone,
}

/// A job as the control plane knows it while it has something to do.
pub(super) struct Job {
    pub origin: String,
    pub priority: Priority,
    pub schedule: Option<String>,
    /// The store has it: progress and as-run rows go through `finish_zone`.
    pub persisted: bool,
    /// Cancelled through the store, which logged the cut-off items itself.
    pub cancelled: bool,
    /// Zones of the job, and those it has finished on (all repeats).
    pub zones_total: usize,
    pub zones_done: usize,
    /// Zones where it has a voice now or waits for one (see `slots.rs`),
    /// and those of them paused.
    pub playing: BTreeSet<ZoneId>,
    pub paused: BTreeSet<ZoneId>,
    /// The file behind each (zone, item), learnt from the decoders.
    pub items: HashMap<(ZoneId, u32), PathBuf>,
    /// The item on air on each zone, and since when.
    pub current: HashMap<ZoneId, (u32, DateTime<Utc>)>,
    /// Files already reported as failed (each is logged once per job).
    pub failed: BTreeSet<PathBuf>,
    /// Items cut short after they opened (a decode error mid-way, dead
    /// air: failed) or found damaged at their end, and why: their as-run
    /// row ends so, with the reason.
    pub cut: HashMap<(ZoneId, u32), (How, String)>,
    /// Clients waiting (`--wait`) for progress.
    pub waiters: Vec<mpsc::Sender<Response>>,
    /// Fires of its schedule skipped while it played.
    pub skipped_fires: u32,
}

impl Job {
    /// Where job `id` is, for its `--wait` clients.
    fn progress(&self, id: i64, state: JobState, reason: Option<String>) -> Progress {
        Progress {
            id,
            zones_done: self.zones_done,
            zones_total: self.zones_total,
            state,
            reason,
        }
    }
}

/// A `stop` or `emergency --stop` whose answer waits for voices to end.
pub(super) struct Release {
    /// The (job, zone) voices still to end.
    pub ending: BTreeSet<(i64, ZoneId)>,
    pub reply: mpsc::Sender<Response>,
    pub done: Reply,
    /// Answer anyway then.
    pub deadline: Instant,
}

/// Zones, engine, decoders, store and jobs of a running daemon.
pub struct Station {
    pub(super) config: Config,
    engine: Arc<Engine>,
    prefetcher: Option<Prefetcher>,
    feed_tx: std::sync::mpsc::Sender<FeedEvent>,
    bridge: Option<Bridge>,
    pub(super) zones: Vec<ZoneEntry>,
    pub(super) jobs: HashMap<i64, Job>,
    pub(super) store: Option<Store>,
    /// Why there is no writable store, for refusals.
    pub(super) store_problem: Option<String>,
    next_local_id: i64,
    /// The last time noted in the alive file.
    alive_at: Option<DateTime<Utc>>,
    /// The engine clock's re-anchorings and wall-clock steps last logged.
    clock_seen: (u64, u64),
    /// Zone ids are never reused: a reload gives a changed zone a new one.
    next_zone_id: ZoneId,
    /// Zones a reload removed (or replaced), and their names for the log.
    removed_zones: BTreeSet<ZoneId>,
    gone_names: HashMap<ZoneId, String>,
    pub(super) sounds: Sounds,
    /// Loudness measurements (a thread of their own, cached in the store).
    loudness: Option<Arc<LoudnessCache>>,
    /// Timers (`--at`, repeats) wake the main loop with a job id.
    wake_tx: UnboundedSender<i64>,
    /// Voices given to each zone, and jobs waiting for a place.
    pub(super) slots: ZoneSlots,
    /// Answers that wait for zones to be released.
    pub(super) releases: Vec<Release>,
    /// What espeak-ng can speak (`None`: not installed, or not asked yet).
    pub(super) voices: Option<super::voices::Voices>,
    /// When the upload folder was last pruned (at start, then daily).
    uploads_pruned: Option<Instant>,
    pub(super) started_at: DateTime<Utc>,
}

impl Station {
    /// Open the store, every zone's outputs, and start streaming (silence
    /// until something plays). Jobs the store had unfinished are restored.
    pub fn start(
        config: Config,
        events: UnboundedSender<AudioEvent>,
        wake_tx: UnboundedSender<i64>,
    ) -> anyhow::Result<Station> {
        let d = &config.daemon;
        let (engine, outbox) = Engine::start(EngineConfig {
            packet_time: d.packet_time(),
        })
        .context("starting the engine thread")?;
        let engine = Arc::new(engine);
        let prefetcher =
            Prefetcher::start(prefetch::default_workers()).context("starting decoder workers")?;
        let (feed_tx, feed_rx) = std::sync::mpsc::channel();
        let bridge = Bridge::start(outbox, feed_rx, events).context("starting the event bridge")?;

        let (store, store_problem) = match Store::open(&d.state_dir) {
            Ok(s) if s.is_writable() => (Some(s), None),
            Ok(s) => {
                let why = format!(
                    "state store {} is read-only: announcements are refused until it is writable",
                    s.path().display()
                );
                tracing::error!("{why}");
                (Some(s), Some(why))
            }
            Err(e) => {
                tracing::error!("{e}");
                (None, Some(e.to_string()))
            }
        };
        let sounds = Sounds::prepare(&config);
        // The loudness cache keeps its own connection to the store: it
        // writes from its own thread, and SQLite serialises the two.
        let persist: Box<dyn Persist> = match Store::open(&d.state_dir) {
            Ok(s) if s.is_writable() => Box::new(s),
            _ => {
                tracing::warn!("loudness measurements are not kept: the state store is not writable; files are measured at every start");
                Box::new(NoPersist)
            }
        };
        let loudness = match LoudnessCache::start(d.sample_rate, persist) {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                tracing::error!("no loudness normalisation: cannot start its thread: {e}");
                None
            }
        };

        let mut station = Station {
            engine,
            prefetcher: Some(prefetcher),
            feed_tx,
            bridge: Some(bridge),
            zones: Vec::new(),
            jobs: HashMap::new(),
            store,
            store_problem,
            next_local_id: LOCAL_ID_BASE,
            alive_at: None,
            clock_seen: (0, 0),
            next_zone_id: config.zones.len() as ZoneId + 1,
            removed_zones: BTreeSet::new(),
            gone_names: HashMap::new(),
            sounds,
            loudness,
            wake_tx,
            slots: ZoneSlots::default(),
            releases: Vec::new(),
            voices: super::voices::Voices::installed(),
            uploads_pruned: None,
            started_at: Utc::now(),
            config: config.clone(),
        };
        for (n, zone) in config.zones.iter().enumerate() {
            station
                .add_zone(n as ZoneId + 1, zone)
                .with_context(|| format!("zone `{}`", zone.name))?;
        }
        // The chime and the alert are measured at once, so that an
        // emergency (which does not wait for measurements) finds them.
        if let Some(cache) = &station.loudness {
            let mut sounds = vec![station.sounds.alert.clone(), station.sounds.chime.clone()];
            sounds.extend(config.announcements.level_chime_files());
            for ch in [1, 2] {
                if config.zones.iter().any(|z| z.channels == ch) {
                    cache.prepare(&sounds, ch);
                }
            }
        }
        station.prepare_playlists();
        station.prepare_texts();
        station.restore();
        tracing::info!(
            zones = config.zones.len(),
            schedules = config.schedules.len(),
            config = %config.path.display(),
            "corong daemon started"
        );
        Ok(station)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn add_zone(&mut self, id: ZoneId, zone: &config::Zone) -> anyhow::Result<()> {
        let d = &self.config.daemon;
        let rate = zone.mix_rate(d.sample_rate);
        let frames = d.frames_per_packet_at(rate);
        let mut outputs: Vec<Box<dyn Output>> = Vec::new();
        let mut watches = Vec::new();
        let (mut receivers, mut listener) = (None, None);
        if let Some(rtp) = &zone.rtp {
            let out = RtpOutput::new(&zone.name, rtp, rate, zone.channels, frames)
                .context("opening the RTP socket")?;
            let dests: Vec<String> = rtp.destinations.iter().map(|a| a.to_string()).collect();
            tracing::info!(zone = %zone.name, "streaming rtp {} {}", rtp.codec.name(), dests.join(","));
            for (dest, health) in out.destination_health() {
                let label = format!("rtp {} {dest}", rtp.codec.name());
                watches.push(OutputWatch::new(
                    &zone.name,
                    format!("rtp://{dest}"),
                    label,
                    health,
                ));
            }
            let table = Arc::new(Mutex::new(ReceiverTable::new(
                out.stream_state().ssrc,
                out.layout().clock_rate,
            )));
            match out
                .report_socket()
                .and_then(|s| receivers::listen(&zone.name, s, table.clone()))
            {
                Ok(l) => {
                    listener = Some(l);
                    receivers = Some(table);
                }
                Err(e) => {
                    tracing::warn!(zone = %zone.name, "receiver reports will not be read: {e}")
                }
            }
            outputs.push(Box::new(out));
        }
        if let Some(path) = &zone.wav {
            let rotation = Rotation::new(zone.wav_retention, self.config.daemon.timezone);
            let out = WavRecorder::recorder(path, rate, zone.channels, rotation)
                .with_context(|| format!("opening the recording {}", path.display()))?;
            let label = format!("wav {}", path.display());
            tracing::info!(zone = %zone.name, "recording to {}", path.display());
            watches.push(
                OutputWatch::new(
                    &zone.name,
                    format!("wav:{}", path.display()),
                    label,
                    out.health(),
                )
                .with_recoverable_fault(out.fault()),
            );
            outputs.push(Box::new(out));
        }
        if let Some(local) = &zone.local {
            let (watch, out) = open_local(&zone.name, local, rate, zone.channels);
            watches.push(watch);
            if let Some(out) = out {
                outputs.push(out);
            }
        }
        let mixer = ZoneMixer::new(zone.channels, rate, zone.gain_db, Ramps::default());
        let runtime = ZoneRuntime::new(id, mixer, outputs, frames);
        if self
            .engine
            .send(Command::AddZone(Box::new(runtime)))
            .is_err()
        {
            anyhow::bail!("the engine's command queue is full");
        }
        self.zones.push(ZoneEntry {
            id,
            name: zone.name.clone(),
            channels: zone.channels,
            outputs: watches,
            receivers,
            _listener: listener,
            config: zone.clone(),
        });
        Ok(())
    }

    /// Re-read the config file and apply it: unchanged zones stream on
    /// untouched (same RTP stream, no gap), changed zones restart, added
    /// zones start, removed zones stop; the new schedules, groups and
    /// settings apply. A config with errors is refused whole, with its
    /// diagnostics, and the running one stays. `[daemon]` settings need a
    /// restart, so a change there is refused too.
    /// Ask for every file of every schedule's playlist to be measured, in
    /// the background, the schedule that fires soonest first, so that a
    /// schedule finds its files measured when it fires (if it does not, its
    /// items start on time anyway, at a provisional gain: see
    /// `media::prefetch`). Files measured before come from the store at
    /// once.
    fn prepare_playlists(&self) {
        let Some(cache) = &self.loudness else {
            return;
        };
        let schedules = &self.config.schedules;
        let order = crate::schedule::soonest_first(
            schedules,
            self.config.daemon.timezone,
            Utc::now(),
            self.config.quiet_hours,
        );
        for sched in order
            .into_iter()
            .map(|i| &schedules[i])
            .filter(|s| s.text.is_none())
        {
            let Ok(list) = playlist::load(&sched.playlist_path) else {
                continue; // `check` and the fire itself report it
            };
            let files: Vec<PathBuf> = list.entries.into_iter().map(|e| e.path).collect();
            for ch in [1, 2] {
                if self.config.zones.iter().any(|z| z.channels == ch) {
                    cache.prepare(&files, ch);
                }
            }
        }
    }

    /// Speech for `text` in `voice` from the cache, or rendered now with
    /// espeak-ng (blocking this control-plane thread for that time): for
    /// `corong say`, `emergency --text` and text schedules.
    pub(super) fn speak(&self, text: &str, voice: &str) -> Result<PathBuf, sounds::TtsError> {
        let dir = &self.sounds.tts_dir;
        let (file, cached) = tokio::task::block_in_place(|| sounds::speak(text, voice, dir))?;
        tracing::info!(voice, cached, file = %file.display(), "speech rendered");
        Ok(file)
    }

    /// Render the text of every text schedule with espeak-ng, on a thread
    /// of its own, so that a fire finds the speech in the cache.
    fn prepare_texts(&self) {
        let texts: Vec<String> = self
            .config
            .schedules
            .iter()
            .filter_map(|s| s.text.clone())
            .collect();
        let voice = self.config.announcements.tts_voice.clone();
        let dir = self.sounds.tts_dir.clone();
        let loudness = self.loudness.clone();
        let channels: Vec<u16> = (self.config.zones.iter())
            .filter(|z| self.config.loudness_target(z).is_some())
            .map(|z| z.channels)
            .collect();
        let spawned = std::thread::Builder::new()
            .name("corong-tts".into())
            .spawn(move || {
                // Speech not measured yet plays at its voice's level (see
                // `LoudnessCache::speech`): never waits for a measurement.
                if let Some(cache) = &loudness {
                    crate::daemon::sounds::speech_level(cache, &voice, &dir, &channels);
                }
                for text in texts {
                    match sounds::speak(&text, &voice, &dir) {
                        Ok((file, cached)) => {
                            tracing::debug!(file = %file.display(), cached, "schedule text rendered")
                        }
                        Err(e) => tracing::warn!("schedule text not rendered ({e}): {text}"),
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("schedule texts are rendered when they fire: no thread ({e})");
        }
    }

    pub fn reload(&mut self) -> Result<(String, Config), String> {
        let path = self.config.path.clone();
        let new = match config::load(&path) {
            Ok(c) => c,
            Err(diags) => {
                // One line per problem, each naming file:line:col.
                for d in &diags.0 {
                    tracing::error!("reload refused: {d}");
                }
                let text = diags.to_string();
                let n = diags.0.len();
                tracing::error!(
                    "reload refused: {} has {n} error{}; the running config stays",
                    path.display(),
                    if n == 1 { "" } else { "s" }
                );
                return Err(format!(
                    "reload refused, the running config stays: {}",
                    text.trim_end()
                ));
            }
        };
        if new.daemon != self.config.daemon {
            let msg = "reload refused: [daemon] settings changed; they apply only at start: restart the daemon";
            tracing::error!("{msg}");
            return Err(msg.into());
        }
        let (mut added, mut removed, mut changed) = (0, 0, 0);
        // Stop zones that are gone or changed.
        let mut keep = Vec::new();
        for entry in std::mem::take(&mut self.zones) {
            match new.zone(&entry.name) {
                Some(z) if *z == entry.config => keep.push(entry),
                other => {
                    if other.is_some() {
                        changed += 1;
                    } else {
                        removed += 1;
                    }
                    tracing::info!(zone = %entry.name, "zone {} by reload", if other.is_some() { "changed" } else { "removed" });
                    self.removed_zones.insert(entry.id);
                    let _ = self.engine.send(Command::RemoveZone(entry.id));
                    // Its place in `zones` goes; events for it still name it.
                    self.gone_names.insert(entry.id, entry.name);
                }
            }
        }
        self.zones = keep;
        // Jobs waiting for a place on a zone that went will not get one.
        let gone: Vec<ZoneId> = self.gone_names.keys().copied().collect();
        for zone in gone {
            for job in self.slots.remove_zone(zone) {
                self.on_ended(zone, job, EndReason::Interrupted, Utc::now());
            }
        }
        let old_names: BTreeSet<String> =
            self.config.zones.iter().map(|z| z.name.clone()).collect();
        self.config = new.clone();
        for zone in &new.zones {
            if self.zone_id(&zone.name).is_some() {
                continue; // unchanged: kept as it was
            }
            let id = self.next_zone_id;
            self.next_zone_id += 1;
            if let Err(e) = self.add_zone(id, zone) {
                tracing::error!(zone = %zone.name, "zone not started: {e:#}");
                continue;
            }
            if !old_names.contains(&zone.name) {
                added += 1;
            }
        }
        self.prepare_playlists();
        self.prepare_texts();
        // Keep config order.
        let order: Vec<&str> = new.zones.iter().map(|z| z.name.as_str()).collect();
        self.zones.sort_by_key(|z| {
            order
                .iter()
                .position(|n| *n == z.name)
                .unwrap_or(usize::MAX)
        });
        let summary = format!(
            "reloaded {}: {} zones ({added} added, {removed} removed, {changed} changed), {} schedules",
            path.display(),
            new.zones.len(),
            new.schedules.len()
        );
        tracing::info!("{summary}");
        Ok((summary, new))
    }

    /// Files still waiting for their loudness measurement, when loudness
    /// normalisation is on.
    pub(super) fn loudness_pending(&self) -> Option<u64> {
        self.loudness.as_ref().map(|c| c.pending() as u64)
    }

    pub(super) fn zone_name(&self, id: ZoneId) -> &str {
        self.zones
            .iter()
            .find(|z| z.id == id)
            .map(|z| z.name.as_str())
            .or_else(|| self.gone_names.get(&id).map(String::as_str))
            .unwrap_or("?")
    }

    pub(super) fn zone_id(&self, name: &str) -> Option<ZoneId> {
        self.zones.iter().find(|z| z.name == name).map(|z| z.id)
    }

    pub(super) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Persist `job` (operators' jobs: refused when the store can't).
    ///
    /// Every attempt goes to the disk: once space is freed or the disk is
    /// writable again, the next announcement is accepted, with no restart.
    pub(super) fn accept(&mut self, job: &NewJob) -> Result<i64, String> {
        if self.store.is_none() {
            // Opening failed at start-up: try again now.
            match Store::open(&self.config.daemon.state_dir) {
                Ok(s) => self.store = Some(s),
                Err(e) => return Err(e.to_string()),
            }
        }
        let store = self.store.as_mut().expect("opened above");
        match tokio::task::block_in_place(|| store.accept(job)) {
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

    /// Restore what the store had unfinished at start-up: announcements
    /// play again (their zones that had not finished); scheduled runs cut
    /// off by the restart are not replayed (the next fire plays).
    fn restore(&mut self) {
        let Some(store) = self.store.as_mut() else {
            return;
        };
        let jobs = match store.recover_after_restart(Utc::now()) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!("cannot read the queue back: {e}");
                return;
            }
        };
        let db = store.path().to_path_buf();
        let mut restored = 0usize;
        for job in jobs {
            if job.job.kind == JobKind::Schedule {
                if let Some(store) = self.store.as_mut() {
                    let _ = store.cancel_job(
                        job.id,
                        Utc::now(),
                        Some("scheduled run cut off by a restart"),
                    );
                }
                continue;
            }
            tracing::info!(job = job.id.0, origin = %job.job.origin, "restoring an unfinished job");
            self.resume_stored(&job);
            restored += 1;
        }
        // Said every start, zero too: an operator who expected a queue sees
        // at once whether it came back.
        tracing::info!(
            "restored {restored} queued announcement{} from {}",
            if restored == 1 { "" } else { "s" },
            db.display()
        );
    }

    /// Play a stored job now, or set a timer for when it is due: its time,
    /// or the end of the quiet hours for a job below `emergency` that comes
    /// due inside them (a repeat, a job restored after a restart).
    pub(super) fn resume_stored(&mut self, job: &StoredJob) {
        let now = Utc::now();
        if let Some(due) = job.due().filter(|t| *t > now) {
            self.wake_at(job.id.0, due);
            self.track(job, true);
            return;
        }
        if Priority(job.job.priority) < Priority::EMERGENCY {
            if let Some(end) = self
                .config
                .quiet_hours
                .and_then(|q| q.end_after(now, self.config.daemon.timezone))
            {
                let local = end.with_timezone(&self.config.daemon.timezone);
                tracing::info!(job = job.id.0, until = %local.format("%H:%M:%S"), "held: quiet hours");
                self.wake_at(job.id.0, end);
                self.track(job, true);
                return;
            }
        }
        self.play_stored(job);
    }

    /// Register a stored job in memory (if it is not already).
    fn track(&mut self, job: &StoredJob, persisted: bool) {
        let zones_done = job
            .progress
            .iter()
            .filter(|p| p.state == ZoneState::Done)
            .count();
        self.jobs.entry(job.id.0).or_insert_with(|| Job {
            origin: job.job.origin.clone(),
            priority: Priority(job.job.priority),
            schedule: None,
            persisted,
            cancelled: false,
            zones_total: job.job.zones.len(),
            zones_done,
            playing: BTreeSet::new(),
            paused: BTreeSet::new(),
            items: HashMap::new(),
            current: HashMap::new(),
            failed: BTreeSet::new(),
            cut: HashMap::new(),
            waiters: Vec::new(),
            skipped_fires: 0,
        });
    }

    /// Play a stored job on every zone it has not finished.
    pub(super) fn play_stored(&mut self, job: &StoredJob) {
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
            files.push(self.sounds.alert.clone());
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
            Chime::Default => Some(self.sounds.chime.clone()),
            Chime::None => None,
            Chime::File(p) => Some(p),
        };
        files.extend(chime_file(before));
        files.extend(job.files.iter().cloned());
        files.extend(chime_file(after));
        (files, Order::default())
    }

    /// Wake the main loop for job `id` at `at`.
    pub(super) fn wake_at(&self, id: i64, at: DateTime<Utc>) {
        let tx = self.wake_tx.clone();
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        tokio::spawn(async move {
            // Sleep in steps of at most a minute so that a wall-clock
            // correction is noticed before the job is due.
            let deadline = at;
            let mut left = wait;
            while !left.is_zero() {
                tokio::time::sleep(left.min(std::time::Duration::from_secs(60))).await;
                left = (deadline - Utc::now()).to_std().unwrap_or_default();
            }
            let _ = tx.send(id);
        });
    }

    /// A timer fired for job `id`: play it if it is still wanted.
    pub fn on_wake(&mut self, id: i64) {
        let Some(store) = self.store.as_ref() else {
            return;
        };
        match store.job(JobId(id)) {
            // Not due yet (the clock went back) or due in quiet hours:
            // resume_stored waits again.
            Ok(Some(job)) if job.finished_at.is_none() && !job.cancelled => {
                self.resume_stored(&job)
            }
            Ok(_) => {}
            Err(e) => tracing::error!(job = id, "cannot read the job back: {e}"),
        }
    }

    /// A schedule fired: play its playlist on its zones.
    pub fn on_fire(&mut self, fire: &Fire) {
        let Some(sched) = self
            .config
            .schedules
            .iter()
            .find(|s| s.name == fire.schedule)
            .cloned()
        else {
            return;
        };
        // Fires up to here are handled: a restart must not catch them up.
        self.mark_alive(fire.at);
        let tz = self.config.daemon.timezone;
        let local = fire.at.with_timezone(&tz);
        if let Err(why) = sched.fires_on(local.date_naive()) {
            tracing::info!(schedule = %sched.name, "not fired: {} is {why}", local.date_naive());
            return;
        }
        if sched.priority < Priority::EMERGENCY
            && self
                .config
                .quiet_hours
                .is_some_and(|q| q.contains(local.time()))
        {
            tracing::info!(schedule = %sched.name, "not fired: quiet hours");
            return;
        }
        // A schedule whose previous run still plays on a zone is not stacked
        // behind itself there: radio automation skips, and so do we. Said
        // once per run: after a clock jump dozens of fires come at once.
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
                tracing::warn!(schedule = %sched.name, zones = %skipped.join(","), at = %fire.at.with_timezone(&tz),
                    "previous run still playing; its fires are skipped on these zones until it ends");
            } else {
                tracing::debug!(schedule = %sched.name, zones = %skipped.join(","), "fire skipped: previous run still playing");
            }
        }
        if zones.is_empty() {
            return;
        }
        let files: Vec<PathBuf> = if let Some(text) = &sched.text {
            tracing::info!(schedule = %sched.name, text = %text, at = %fire.at.with_timezone(&tz), "schedule fired");
            // Rendered at start (see `prepare_texts`): normally a cache hit.
            match self.speak(text, &self.config.announcements.tts_voice) {
                Ok(file) => vec![file],
                Err(e) => {
                    tracing::error!(schedule = %sched.name, "not played: {e}");
                    return;
                }
            }
        } else {
            tracing::info!(schedule = %sched.name, playlist = %sched.playlist, at = %fire.at.with_timezone(&tz), "schedule fired");
            // The playlist is read at each fire, so an edit applies next time.
            match playlist::load(&sched.playlist_path) {
                Ok(l) => l.entries.into_iter().map(|e| e.path).collect(),
                Err(diags) => {
                    for d in &diags.0 {
                        tracing::error!(schedule = %sched.name, "{d}");
                    }
                    return;
                }
            }
        };
        let loop_until = sched
            .loop_until
            .map(|t| loop_end(fire.at, t, self.config.daemon.timezone));
        let origin = format!("schedule:{}", sched.name);
        let new = NewJob {
            kind: JobKind::Schedule,
            origin: origin.clone(),
            priority: sched.priority.0,
            zones: zones
                .iter()
                .map(|z| self.zone_name(*z).to_string())
                .collect(),
            files: files.clone(),
            chime_before: false,
            chime_after: false,
            not_before: None,
            repeat: 1,
            repeat_interval: std::time::Duration::ZERO,
            text: None,
        };
        // A schedule plays whether or not the disk takes its record.
        let (id, persisted) = match self.accept(&new) {
            Ok(id) => (id, true),
            Err(_) => {
                self.next_local_id += 1;
                (self.next_local_id, false)
            }
        };
        self.jobs.insert(
            id,
            Job {
                origin,
                priority: sched.priority,
                schedule: Some(sched.name.clone()),
                persisted,
                cancelled: false,
                zones_total: zones.len(),
                zones_done: 0,
                playing: BTreeSet::new(),
                paused: BTreeSet::new(),
                items: HashMap::new(),
                current: HashMap::new(),
                failed: BTreeSet::new(),
                cut: HashMap::new(),
                waiters: Vec::new(),
                skipped_fires: 0,
            },
        );
        let order = Order {
            shuffle: sched.shuffle,
            looping: loop_until.map_or(Looping::Once, Looping::Until),
            repeat_from: 0,
        };
        self.play(id, &zones, sched.priority, files, order);
        if let Some(until) = loop_until {
            self.stop_job_at(id, until);
        }
    }

    /// The file where the daemon notes that it is alive (and up to when
    /// schedules were handled), for catching up after a stop.
    fn alive_path(&self) -> PathBuf {
        self.config.daemon.state_dir.join("alive")
    }

    /// Note that the daemon was alive at `at` (and had handled every fire up
    /// to it). Best effort: a disk that refuses is already being reported.
    pub fn mark_alive(&mut self, at: DateTime<Utc>) {
        if self.alive_at.is_some_and(|t| t >= at) {
            return;
        }
        self.alive_at = Some(at);
        let path = self.alive_path();
        let tmp = path.with_extension("tmp");
        let _ = std::fs::write(&tmp, at.to_rfc3339()).and_then(|_| std::fs::rename(&tmp, &path));
    }

    /// At start: play, once, the latest fire of each `missed = "catch-up"`
    /// schedule that fell while the daemon was down and is within its grace.
    pub fn catch_up(&mut self, now: DateTime<Utc>) {
        let last_alive = std::fs::read_to_string(self.alive_path())
            .ok()
            .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
            .map(|t| t.with_timezone(&Utc));
        let Some(last_alive) = last_alive else {
            return;
        };
        let tz = self.config.daemon.timezone;
        let mut due = Vec::new();
        for (index, sched) in self.config.schedules.iter().enumerate() {
            let config::Missed::CatchUp { grace } = sched.missed else {
                continue;
            };
            let Ok(cron) = crate::schedule::CronSchedule::parse(&sched.cron) else {
                continue;
            };
            let oldest = now - chrono::Duration::from_std(grace).unwrap_or_default();
            let from = last_alive.max(oldest);
            if let Some(at) = crate::schedule::fires_between(&cron, tz, from, now).pop() {
                tracing::info!(schedule = %sched.name, missed_at = %at.with_timezone(&tz),
                    "catching up a fire missed while the daemon was down");
                due.push(Fire {
                    schedule: sched.name.clone(),
                    index,
                    at,
                });
            }
        }
        for fire in due {
            self.on_fire(&fire);
        }
        self.mark_alive(now);
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
        self.start_voices(id, zones, priority, files, order, false)
    }

    /// [`Station::play`]; `admitted`: the job's turn came on a full zone
    /// (it starts even though others wait behind it).
    fn start_voices(
        &mut self,
        id: i64,
        zones: &[ZoneId],
        priority: Priority,
        files: Vec<PathBuf>,
        order: Order,
        admitted: bool,
    ) {
        let engine_rate = self.config.daemon.sample_rate;
        let spec = VoiceSpec {
            job: id as u64,
            priority,
            yields: self.yields(priority),
        };
        let decode = DecodeOptions {
            max_duration: self.config.daemon.max_item,
            ..DecodeOptions::default()
        };
        // One decoder per group of zones that play the same audio (same
        // rate, same channels, same loudness target), fanned out to all.
        type Group = (u32, u16, Option<Target>, Vec<(ZoneId, VoiceInput)>);
        let mut groups: Vec<Group> = Vec::new();
        let mut started = Vec::new();
        let mut waits = Vec::new();
        for &zone in zones {
            let Some(entry) = self.zones.iter().find(|z| z.id == zone) else {
                continue;
            };
            if !admitted && !self.slots.has_room(zone, priority) {
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
            let rate = entry.config.mix_rate(engine_rate);
            let capacity = (rate as f32 * BUFFER_SECONDS) as usize + prefetch::CHUNK_FRAMES;
            let (voice, input) = voice::voice(spec, entry.channels, capacity);
            let cmd = Command::AddVoice {
                zone,
                voice: Box::new(voice),
            };
            if self.engine.send(cmd).is_err() {
                tracing::error!(zone = %entry.name, job = id, "engine command queue full; job not started here");
                continue;
            }
            self.slots.started(zone);
            started.push(zone);
            let target = self
                .loudness
                .as_ref()
                .and(self.config.loudness_target(&entry.config));
            match groups
                .iter_mut()
                .find(|g| g.0 == rate && g.1 == entry.channels && g.2 == target)
            {
                Some(g) => g.3.push((zone, input)),
                None => groups.push((rate, entry.channels, target, vec![(zone, input)])),
            }
        }
        for (rate, _, target, outputs) in groups {
            let mut feed = Feed::new(
                id as u64,
                outputs,
                files.clone(),
                order.clone(),
                rate,
                decode.clone(),
                self.feed_tx.clone(),
            );
            if let (Some(cache), Some(target)) = (&self.loudness, target) {
                // No item waits for its measurement: one not measured yet
                // plays at a provisional gain from its opening; an
                // emergency does not spend even that, and plays unchanged.
                let provisional = priority < Priority::EMERGENCY;
                feed = feed.with_loudness(cache.clone(), target, provisional);
            }
            if let Some(after) = self.config.loudness.dead_air {
                feed = feed.with_dead_air(after);
            }
            if let Some(p) = &self.prefetcher {
                p.submit(feed);
            }
        }
        if !started.is_empty() {
            let names: Vec<&str> = started.iter().map(|z| self.zone_name(*z)).collect();
            tracing::info!(job = id, priority = %priority, zones = %names.join(","),
                items = files.len(), "job started");
        }
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
        }
        if let Some(j) = self.jobs.get_mut(&id) {
            j.playing.extend(started);
            j.playing.extend(waits);
        }
    }

    /// Voice `ended` has ended (`None`: only look at the clock): answer the
    /// `stop`s it was the last to wait for, and those that waited too long.
    pub(super) fn released(&mut self, ended: Option<(i64, ZoneId)>) {
        let now = Instant::now();
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

    /// Files operators sent (`upload`) that no unfinished job needs and
    /// that are a month old go: the folder cannot fill the disk over a
    /// kiosk's years.
    fn prune_uploads(&self) {
        let Some(store) = self.store.as_ref() else {
            return;
        };
        let Ok(queue) = store.queue() else {
            return;
        };
        let in_use = queue
            .iter()
            .flat_map(|j| j.job.files.iter().cloned())
            .collect();
        let dir = self.config.daemon.state_dir.join("uploads");
        match crate::control::upload::prune(&dir, crate::control::upload::KEEP_UNUSED, &in_use) {
            Ok(gone) if !gone.is_empty() => {
                tracing::info!(folder = %dir.display(), files = gone.len(), "old uploads deleted")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(folder = %dir.display(), "cannot prune the uploads: {e}"),
        }
    }

    /// A voice of `zone` ended: start the jobs waiting for its place.
    fn admit_waiting(&mut self, zone: ZoneId) {
        for w in self.slots.ended(zone) {
            if self.jobs.contains_key(&w.job) {
                self.start_voices(w.job, &[zone], w.priority, w.files, w.order, true);
            }
        }
    }

    /// Job `id` no longer waits on `zone` (every zone when `None`): those
    /// zones end for it as `reason` says, as if it had played there.
    pub(super) fn drop_waiting(&mut self, id: i64, zone: Option<ZoneId>, reason: EndReason) {
        for z in self.slots.remove_job(id, zone) {
            self.on_ended(z, id, reason, Utc::now());
        }
    }

    /// End `id` everywhere at wall-clock `until` (a schedule's loop end).
    fn stop_job_at(&self, id: i64, until: SystemTime) {
        let engine = self.engine.clone();
        let wait = until.duration_since(SystemTime::now()).unwrap_or_default();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = engine.send(Command::StopJob {
                job: id as u64,
                zone: None,
                reason: EndReason::Completed,
            });
        });
    }

    /// Something happened in the audio world.
    pub fn on_event(&mut self, event: AudioEvent) {
        match event {
            AudioEvent::Feed(FeedEvent::ItemOpened {
                zone,
                job,
                item,
                path,
            }) => {
                if let Some(j) = self.jobs.get_mut(&(job as i64)) {
                    j.items.insert((zone, item), path);
                }
            }
            AudioEvent::Feed(FeedEvent::ItemFailed {
                zone,
                job,
                item,
                path,
                reason,
            }) => self.on_item_failed(zone, job as i64, item, path, reason),
            AudioEvent::Feed(FeedEvent::ItemDamaged {
                zone,
                job,
                item,
                path,
                reason,
            }) => {
                let zone_name = self.zone_name(zone).to_string();
                let id = job as i64;
                if let Some(j) = self.jobs.get_mut(&id) {
                    // One report per file and job, as for failures.
                    if j.failed.insert(path.clone()) {
                        tracing::warn!(
                            zone = %zone_name,
                            job = id,
                            file = %path.display(),
                            "damaged: {reason}"
                        );
                    }
                    j.cut.insert((zone, item), (How::Damaged, reason));
                }
            }
            AudioEvent::Engine(e) => self.on_engine_event(e),
        }
    }

    fn on_item_failed(&mut self, zone: ZoneId, id: i64, item: u32, path: PathBuf, reason: String) {
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
        let now = Utc::now();
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

    /// Write one as-run row; a store that fails is logged, never fatal.
    fn record(&mut self, row: &AsRunEntry) {
        if let Some(store) = self.store.as_mut() {
            if let Err(e) = tokio::task::block_in_place(|| store.record_as_run(row)) {
                tracing::error!(zone = %row.zone, "as-run log not written: {e}");
            }
        }
    }

    /// The as-run row of the item on air for (`id`, `zone`), ending now.
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

    fn on_engine_event(&mut self, e: Event) {
        match e {
            Event::ItemStarted {
                zone,
                job,
                item,
                at,
            } => {
                let id = job as i64;
                let at = wall(at);
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
                // A cancelled job's next item can reach the air in the
                // packet before the engine takes the stop: the store has
                // already closed the job, so there is nothing to write.
                if j.persisted && !j.cancelled {
                    if let Some(store) = self.store.as_mut() {
                        let r = tokio::task::block_in_place(|| {
                            store.mark_playing(JobId(id), &name, item, &file, at)
                        });
                        if let Err(e) = r {
                            tracing::error!(zone = %name, job = id, "queue progress not written: {e}");
                        }
                    }
                }
                self.notify(id, JobState::Playing);
            }
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
                zone,
                job,
                item,
                at,
            } => {
                let id = job as i64;
                tracing::info!(zone = %self.zone_name(zone), job = id, item, "skipped by an operator");
                if let Some(row) = self.close_item(id, zone, wall(at), How::Skipped) {
                    self.record(&row);
                }
            }
            Event::Ended {
                zone,
                job,
                reason,
                at,
            } => {
                self.on_ended(zone, job as i64, reason, wall(at));
                self.admit_waiting(zone);
                self.released(Some((job as i64, zone)));
            }
            Event::Rejected { zone, job } => {
                // The slots keep a zone below the mixer's limit, so this is
                // a zone that went away (reload) as the job started.
                tracing::error!(zone = %self.zone_name(zone), job, "the zone did not take the job");
                self.on_ended(zone, job as i64, EndReason::Cancelled, Utc::now());
                self.admit_waiting(zone);
            }
        }
    }

    pub(super) fn on_ended(&mut self, zone: ZoneId, id: i64, reason: EndReason, at: DateTime<Utc>) {
        let how = match reason {
            EndReason::Completed => How::Completed,
            EndReason::Preempted => How::Preempted,
            EndReason::Cancelled => How::Cancelled,
            // A zone a reload took away will not come back to finish it.
            EndReason::Interrupted if self.removed_zones.contains(&zone) => How::Cancelled,
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
        let after = if j.cancelled {
            // The store logged the cut-off item when it cancelled the job.
            if j.playing.is_empty() {
                AfterFinish::JobFinished
            } else {
                AfterFinish::ZonesRemaining
            }
        } else if j.persisted && self.store.is_some() {
            let store = self.store.as_mut().expect("checked");
            let end = ZoneEnd {
                how,
                reason: None,
                at,
            };
            let rows: Vec<AsRunEntry> = row.into_iter().collect();
            match tokio::task::block_in_place(|| {
                store.finish_zone(JobId(id), &zone_name, &end, &rows)
            }) {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(zone = %zone_name, job = id, "queue progress not written: {e}");
                    if j.playing.is_empty() {
                        AfterFinish::JobFinished
                    } else {
                        AfterFinish::ZonesRemaining
                    }
                }
            }
        } else {
            let done = j.playing.is_empty();
            if let Some(row) = row {
                self.record(&row);
            }
            if done {
                AfterFinish::JobFinished
            } else {
                AfterFinish::ZonesRemaining
            }
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
                self.wake_at(id, t);
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

    /// Tell a job's waiters where it is.
    pub(super) fn notify(&mut self, id: i64, state: JobState) {
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
    pub(super) fn finish(&mut self, id: i64, state: JobState, reason: Option<String>) {
        let Some(j) = self.jobs.remove(&id) else {
            return;
        };
        let p = j.progress(id, state, reason);
        for w in j.waiters {
            let _ = w.try_send(Response::Ok(Reply::Finished(p.clone())));
        }
    }

    /// Log output errors, at most once a minute per output; note every ten
    /// seconds that the daemon is alive.
    pub fn check_health(&mut self) {
        self.released(None);
        if self
            .uploads_pruned
            .is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(24 * 3600))
        {
            self.uploads_pruned = Some(Instant::now());
            self.prune_uploads();
        }
        let wall = Utc::now();
        if self
            .alive_at
            .is_none_or(|t| wall - t >= chrono::Duration::seconds(10))
        {
            self.mark_alive(wall);
        }
        self.log_clock_events();
        let now = Instant::now();
        let timeout = self.config.daemon.receiver_timeout;
        for z in &mut self.zones {
            for o in &mut z.outputs {
                let _ = o.check(now);
            }
            if let Some(table) = &z.receivers {
                let changes = table
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .check(now, timeout);
                receivers::log_changes(&z.name, &changes);
            }
        }
    }

    /// Say when the engine re-anchored its packet clock or followed a step
    /// of the wall clock since the last look.
    fn log_clock_events(&mut self) {
        let hb = &self.engine.heartbeat;
        let seen = (
            hb.resyncs.load(std::sync::atomic::Ordering::Relaxed),
            hb.wall_steps.load(std::sync::atomic::Ordering::Relaxed),
        );
        if seen.0 > self.clock_seen.0 {
            tracing::warn!(
                times = seen.0 - self.clock_seen.0,
                "the engine fell over 0.5 s behind (the machine stalled) and restarted its packet clock"
            );
        }
        if seen.1 > self.clock_seen.1 {
            tracing::warn!(
                wall = %Utc::now().format("%Y-%m-%d %H:%M:%S UTC"),
                "the wall clock was stepped; the zones' sender reports follow it"
            );
        }
        self.clock_seen = seen;
    }

    /// Stop the engine after the packet in progress (jobs on air end as
    /// interrupted), then the decoders.
    pub fn shutdown(&mut self) {
        self.engine.shutdown();
        self.prefetcher.take();
        // Dropping the bridge drains what the engine said last.
        self.bridge.take();
    }

    /// Close the state store, last in shutdown (after the interrupted
    /// voices are recorded): closing checkpoints the write-ahead log into
    /// `corong.db` and marks the stop clean (see `store/lifecycle.rs`).
    pub fn close_store(&mut self) {
        if let Some(store) = self.store.take() {
            tokio::task::block_in_place(|| drop(store));
        }
    }
}

/// The wall-clock time of a monotonic instant near now.
pub(super) fn wall(at: Instant) -> DateTime<Utc> {
    let now = Instant::now();
    let wall_now = Utc::now();
    if at <= now {
        wall_now - chrono::Duration::from_std(now - at).unwrap_or_default()
    } else {
        wall_now + chrono::Duration::from_std(at - now).unwrap_or_default()
    }
}

/// The wall-clock end of a loop that fired at `fired` and runs until local
/// time `until`: the same day, or the next when `until` has passed.
pub fn loop_end(fired: DateTime<Utc>, until: chrono::NaiveTime, tz: chrono_tz::Tz) -> SystemTime {
    let local = fired.with_timezone(&tz);
    let mut date = local.date_naive();
    for _ in 0..3 {
        if let Some(end) = tz.from_local_datetime(&date.and_time(until)).earliest() {
            if end > local {
                return end.with_timezone(&Utc).into();
            }
        }
        date = date.succ_opt().unwrap_or(date);
    }
    SystemTime::from(fired)
}

/// Open a zone's sound card. A card that cannot be opened is not fatal: the
/// zone's endpoint is listed degraded with the error, and its other outputs
/// play on. The endpoint is `local:DEVICE`.
#[cfg(feature = "local-audio")]
fn open_local(
    zone: &str,
    local: &config::LocalOutput,
    rate: u32,
    channels: u16,
) -> (OutputWatch, Option<Box<dyn Output>>) {
    use crate::output::local::SoundCard;
    use crate::output::{Fault, OutputHealth};
    let device = local.device.as_deref().unwrap_or("default");
    let endpoint = format!("local:{device}");
    let label = format!("sound card {device}");
    // A reload that changes the zone opens the card while the engine may
    // still be closing it for the old zone: a busy card is tried again for
    // up to a second.
    let mut opened = SoundCard::open(local.device.as_deref(), rate, channels);
    for _ in 0..10 {
        match &opened {
            Err(e) if e.to_ascii_lowercase().contains("busy") => {
                std::thread::sleep(std::time::Duration::from_millis(100));
                opened = SoundCard::open(local.device.as_deref(), rate, channels);
            }
            _ => break,
        }
    }
    match opened {
        Ok(card) => {
            tracing::info!(zone = %zone, "playing through the sound card {}", card.description);
            let watch =
                OutputWatch::new(zone, endpoint, label, card.health()).with_fault(card.fault());
            (watch, Some(Box::new(card)))
        }
        Err(e) => {
            let fault = Arc::new(Fault::default());
            fault.set(e);
            let watch = OutputWatch::new(zone, endpoint, label, Arc::new(OutputHealth::default()))
                .with_fault(fault);
            (watch, None)
        }
    }
}

/// Without the feature the config refuses `local`, so this is never reached
/// with a zone that has it; say so if it were.
#[cfg(not(feature = "local-audio"))]
fn open_local(
    zone: &str,
    _local: &config::LocalOutput,
    _rate: u32,
    _channels: u16,
) -> (OutputWatch, Option<Box<dyn Output>>) {
    let fault = Arc::new(crate::output::Fault::default());
    fault.set(
        "this corong was built without the sound card: build with `--features local-audio`".into(),
    );
    let watch = OutputWatch::new(
        zone,
        "local:default".into(),
        "sound card".into(),
        Arc::new(crate::output::OutputHealth::default()),
    )
    .with_fault(fault);
    (watch, None)
}
