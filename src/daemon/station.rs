//! The running station: the shell around the job ledger. It owns the
//! zones in the engine, the decoders, the timers and the store's other
//! users; what the ledger decides is carried out in `effects.rs`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc::{self, UnboundedSender};

use super::bridge::{AudioEvent, Bridge};
use super::health::{OutputWatch, Report};
use super::jobs::{Ledger, Wrapping};
use super::receivers::{self, Listener, ReceiverTable};
use super::sounds::{self, Sounds};
use crate::config::{self, Config};
use crate::control::protocol::Response;
use crate::engine::{Command, Engine, EngineConfig, Ramps, ZoneId, ZoneMixer, ZoneRuntime};
use crate::ids::JobId;
use crate::media::loudness::{LoudnessCache, NoPersist, Persist};
use crate::media::prefetch::{self, FeedEvent, Prefetcher};
use crate::playlist;
use crate::store::durable::Durable;
use crate::store::Store;

/// Seconds of audio each voice's ring holds at least (decoded ahead of
/// playback). The ring has room for one decoder chunk more, because a
/// worker decodes a chunk only when there is room for all of it: so a
/// voice whose decoder keeps up has this much ahead at every moment.
pub const BUFFER_SECONDS: f32 = 2.0;

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
    /// Its outputs that show the title of what plays (Icecast).
    pub titles: Vec<Arc<crate::output::icecast::NowPlaying>>,
}

/// Zones, engine, decoders, store and jobs of a running daemon.
pub struct Station {
    pub(super) config: Config,
    pub(super) engine: Arc<Engine>,
    pub(super) prefetcher: Option<Prefetcher>,
    pub(super) feed_tx: std::sync::mpsc::Sender<FeedEvent>,
    bridge: Option<Bridge>,
    pub(super) zones: Vec<ZoneEntry>,
    /// Every job, through one entrance.
    pub(super) ledger: Ledger,
    /// The last time noted in the alive file.
    pub(super) alive_at: Option<DateTime<Utc>>,
    /// The engine clock's re-anchorings and wall-clock steps last logged.
    clock_seen: (u64, u64),
    /// Zone ids are never reused: a reload gives a changed zone a new one.
    next_zone_id: ZoneId,
    pub(super) sounds: Sounds,
    /// Loudness measurements (a thread of their own, cached in the store).
    pub(super) loudness: Option<Arc<LoudnessCache>>,
    /// Timers (`--at`, repeats) wake the main loop with a job id.
    pub(super) wake_tx: UnboundedSender<JobId>,
    /// What espeak-ng can speak (`None`: not installed, or not asked yet).
    pub(super) voices: Option<super::voices::Voices>,
    /// When the upload folder was last pruned (at start, then daily).
    uploads_pruned: Option<Instant>,
    pub(super) started_at: DateTime<Utc>,
    /// Answers held until the commit behind them is on disk.
    held: Vec<HeldAnswer>,
    /// With `[mqtt]`: the broker link `status` shows (set by the loop).
    pub(super) broker: Option<crate::sites::LinkWatch>,
    /// The hazard feeds' health, as `daemon/alerts.rs` last set it.
    pub(super) feeds: Vec<crate::control::protocol::FeedStatus>,
    /// Live pages and the zones they hold (`page_live.rs`).
    pub(super) live: super::page_book::LivePages,
    /// Schedules an admin paused (`pause_book.rs`), kept across restarts.
    pub(super) pauses: super::pause_book::SchedulePauses,
    /// Schedule fires since the start, and those that played nothing here
    /// (paused, or the previous run still on air); the scheduler counts
    /// those a forward clock jump made too old.
    pub(super) fires: u64,
    pub(super) fires_missed: u64,
    pub(super) fires_skipped_by_clock: Arc<std::sync::atomic::AtomicU64>,
}

/// An answer that waits for the store's syncer.
struct HeldAnswer {
    reply: mpsc::Sender<Response>,
    answer: Response,
    /// Sent once this many commits are on disk.
    after: u64,
}

impl Station {
    /// Open the store, every zone's outputs, and start streaming (silence
    /// until something plays). Jobs the store had unfinished are restored.
    pub fn start(
        config: Config,
        events: UnboundedSender<AudioEvent>,
        wake_tx: UnboundedSender<JobId>,
        durable_tx: UnboundedSender<Durable>,
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

        let (mut store, store_problem) = match Store::open(&d.state_dir) {
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
        // The loop commits without waiting for the disk; a thread of the
        // store's makes the commits durable, and answers wait for that
        // (see `store/durable.rs`).
        if let Some(s) = store.as_mut().filter(|s| s.is_writable()) {
            if let Err(e) = s.defer_sync(durable_tx) {
                tracing::warn!("the state store is synced on every write: {e}");
            }
        }
        let sounds = Sounds::prepare(&config);
        // The loudness cache keeps its own connection to the store: it
        // writes from its own thread, and SQLite serialises the two. Its
        // entries need no fsync of their own (one lost is measured again),
        // so it never holds the lock through a slow disk.
        let persist: Box<dyn Persist> = match Store::open(&d.state_dir) {
            Ok(s) if s.is_writable() => {
                s.relax_sync();
                Box::new(s)
            }
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
        let wrapping = Wrapping {
            chime: sounds.chime.clone(),
            alert: sounds.alert.clone(),
        };
        let ledger = Ledger::new(config.clone(), wrapping, store).with_store_problem(store_problem);

        let mut station = Station {
            engine,
            prefetcher: Some(prefetcher),
            feed_tx,
            bridge: Some(bridge),
            zones: Vec::new(),
            ledger,
            alive_at: None,
            clock_seen: (0, 0),
            next_zone_id: ZoneId(config.zones.len() as u32 + 1),
            sounds,
            loudness,
            wake_tx,
            voices: super::voices::Voices::installed(),
            uploads_pruned: None,
            started_at: Utc::now(),
            held: Vec::new(),
            broker: None,
            feeds: Vec::new(),
            live: Default::default(),
            pauses: super::pause_book::SchedulePauses::open(&d.state_dir),
            fires: 0,
            fires_missed: 0,
            fires_skipped_by_clock: Arc::default(),
            config: config.clone(),
        };
        for (n, zone) in config.zones.iter().enumerate() {
            station
                .add_zone(ZoneId(n as u32 + 1), zone)
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
        let restored = station.ledger.restore(Utc::now());
        station.apply(restored);
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
        // The mixer hands its outputs what they were built for.
        let format = crate::output::ZoneFormat::of(zone, d);
        let (rate, frames) = (format.rate, format.frames_per_packet);
        let built = crate::output::build(zone, d)?;
        let outputs = built.outputs;
        let titles = built.titles;
        let watches = built
            .endpoints
            .into_iter()
            .map(|e| OutputWatch::of(&zone.name, e))
            .collect();
        let (mut receivers, mut listener) = (None, None);
        if let Some(rtp) = built.rtp {
            let table = Arc::new(Mutex::new(ReceiverTable::new(rtp.ssrc, rtp.clock_rate)));
            match rtp
                .socket
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
        }
        let mixer = ZoneMixer::new(zone.channels, rate, zone.gain_db, Ramps::default());
        let runtime = ZoneRuntime::new(id, mixer, outputs, frames);
        // More zones than the command ring holds are added a packet time
        // apart; a second is far more than the engine ever needs.
        let add = Command::AddZone(Box::new(runtime));
        if self
            .engine
            .send_within(add, Duration::from_secs(1))
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
            titles,
        });
        self.ledger.zone_added(id, &zone.name);
        Ok(())
    }

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
                // Background work: this thread and the espeak-ng it starts
                // run at nice 19, never competing with what plays now.
                crate::media::measure::lower_priority();
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

    /// Re-read the config file and apply it: unchanged zones stream on
    /// untouched (same RTP stream, no gap), changed zones restart, added
    /// zones start, removed zones stop; the new schedules, groups and
    /// settings apply. A config with errors is refused whole, with its
    /// diagnostics, and the running one stays. `[daemon]` settings need a
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
        let mut removed_ids = Vec::new();
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
                    let _ = self.engine.send(Command::RemoveZone(entry.id));
                    // Its place in `zones` goes; events for it still name it
                    // (the ledger keeps the name).
                    removed_ids.push(entry.id);
                }
            }
        }
        self.zones = keep;
        self.ledger.set_config(new.clone());
        for id in removed_ids {
            let effects = self.ledger.zone_removed(id, Utc::now());
            self.apply(effects);
        }
        let old_names: BTreeSet<String> =
            self.config.zones.iter().map(|z| z.name.clone()).collect();
        self.config = new.clone();
        for zone in &new.zones {
            if self.zone_id(&zone.name).is_some() {
                continue; // unchanged: kept as it was
            }
            let id = self.next_zone_id;
            self.next_zone_id = id.next();
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
        self.ledger.order_zones(&order);
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
        self.ledger.zone_name(id)
    }

    pub(super) fn zone_id(&self, name: &str) -> Option<ZoneId> {
        self.zones.iter().find(|z| z.name == name).map(|z| z.id)
    }

    pub(super) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Where feeds report the items they open (the as-run log's files).
    pub(super) fn feed_events(&self) -> std::sync::mpsc::Sender<FeedEvent> {
        self.feed_tx.clone()
    }

    /// Files operators sent (`upload`) that no unfinished job needs and
    /// that are a month old go: the folder cannot fill the disk over a
    /// kiosk's years.
    fn prune_uploads(&self) {
        let Some(store) = self.ledger.store() else {
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
        let keep = std::time::Duration::from_secs(
            u64::from(self.config.daemon.uploads_keep_days) * 24 * 3600,
        );
        match crate::control::upload::prune(&dir, keep, &in_use) {
            Ok(gone) if !gone.is_empty() => {
                tracing::info!(folder = %dir.display(), files = gone.len(), "old uploads deleted")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(folder = %dir.display(), "cannot prune the uploads: {e}"),
        }
    }

    /// Log output errors, at most once a minute per output; note every ten
    /// seconds that the daemon is alive. Whether a zone's health changed
    /// (an output failing or recovering, a receiver joining, leaving or
    /// going silent): the board and the regency's state then look again.
    pub fn check_health(&mut self) -> bool {
        self.ledger.released(None, Instant::now());
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
        let mut changed = false;
        for z in &mut self.zones {
            for o in &mut z.outputs {
                changed |= !matches!(o.check(now), Report::Quiet);
            }
            if let Some(table) = &z.receivers {
                let changes = table
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .check(now, timeout);
                receivers::log_changes(&z.name, &changes);
                changed |= !changes.is_empty();
            }
        }
        changed
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
        if let Some(store) = self.ledger.take_store() {
            tokio::task::block_in_place(|| drop(store));
        }
        // Closing synced and checkpointed everything.
        for held in self.held.drain(..) {
            let _ = held.reply.try_send(held.answer);
        }
    }

    /// Commits made on the store's connection so far (0 when every write
    /// is synced as it is made: nothing to wait for).
    pub(super) fn commits_made(&self) -> u64 {
        self.ledger
            .store()
            .and_then(|s| s.syncer())
            .map_or(0, |s| s.commits().made())
    }

    /// Send `answer` once commit number `after` is on disk (at once if it
    /// already is, or when the store syncs every write).
    pub(super) fn answer_when_durable(
        &mut self,
        reply: mpsc::Sender<Response>,
        answer: Response,
        after: u64,
    ) {
        match self.ledger.store().and_then(|s| s.syncer()) {
            Some(syncer) if after > 0 => {
                syncer.ask();
                self.held.push(HeldAnswer {
                    reply,
                    answer,
                    after,
                });
            }
            _ => {
                let _ = reply.try_send(answer);
            }
        }
    }

    /// The store's syncer made commits durable: send what waited for them.
    pub fn on_durable(&mut self, durable: Durable) {
        if let Some(e) = &durable.error {
            // The answers go out anyway: the job is taken and will play;
            // what a power cut now could lose is said in the log.
            tracing::error!("answering before the state store is on disk: {e}");
        }
        let (ready, waiting) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| h.after <= durable.upto);
        self.held = waiting;
        for held in ready {
            let _ = held.reply.try_send(held.answer);
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
