//! The station carries out what the job ledger decides ([`Effect`]s):
//! voices in the engine and a decoder per group of like zones, timers for
//! jobs due later; and hands the audio world's events (an item opened, on
//! air, ended) back to the ledger, showing titles on the way.

use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use chrono::{DateTime, Utc};

use super::bridge::AudioEvent;
use super::jobs::{Effect, JobSpec, StartError};
use super::station::{wall, Station, BUFFER_SECONDS};
use crate::engine::voice::{self, EndReason, VoiceInput, VoiceSpec, Yield};
use crate::engine::{Command, Event, ZoneId};
use crate::ids::JobId;
use crate::media::loudness::Target;
use crate::media::prefetch::{self, Feed, FeedEvent, Order};
use crate::media::DecodeOptions;
use crate::priority::Priority;

/// A group of zones that play the same audio (same rate, channels and
/// loudness target): one decoder feeds them all.
struct FeedGroup {
    rate: u32,
    channels: u16,
    target: Option<Target>,
    inputs: Vec<(ZoneId, VoiceInput)>,
}

impl Station {
    /// The one entrance for every job (see [`super::jobs::Ledger::start_job`]): kept,
    /// then played now or when due.
    pub fn start_job(&mut self, spec: JobSpec) -> Result<JobId, StartError> {
        let (id, effects) = self.ledger.start_job(spec, Utc::now())?;
        self.apply(effects);
        Ok(id)
    }

    /// Carry out what the ledger decided.
    pub(super) fn apply(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Play {
                    job,
                    zones,
                    priority,
                    yields,
                    files,
                    order,
                } => self.give_voices(job, &zones, priority, yields, files, order),
                Effect::Stop { job, zone, reason } => {
                    let _ = self.engine.send(Command::StopJob { job, zone, reason });
                }
                Effect::StopZone { zone, reason } => {
                    let _ = self.engine.send(Command::StopZone { zone, reason });
                }
                Effect::Skip { zone } => {
                    let _ = self.engine.send(Command::Skip { zone });
                }
                Effect::WakeAt { job, at } => self.wake_at(job, at),
                Effect::StopAt { job, until } => self.stop_job_at(job, until),
            }
        }
    }

    /// A voice of job `id` on each of `zones` (the ledger counted their
    /// places), and one decoder per group of zones that play the same
    /// audio (same rate, channels and loudness target), fanned out to all.
    fn give_voices(
        &mut self,
        id: JobId,
        zones: &[ZoneId],
        priority: Priority,
        yields: Yield,
        files: Vec<PathBuf>,
        order: Order,
    ) {
        if self.is_live(id) {
            // Filled from the speaker's connection, not by a decoder.
            return self.give_live_voices(id, zones, priority);
        }
        let engine_rate = self.config.daemon.sample_rate;
        let spec = VoiceSpec {
            job: id,
            priority,
            yields,
        };
        let decode = DecodeOptions {
            max_duration: self.config.daemon.max_item,
            ..DecodeOptions::default()
        };
        let mut groups: Vec<FeedGroup> = Vec::new();
        let mut lost = Vec::new();
        for &zone in zones {
            let Some(entry) = self.zones.iter().find(|z| z.id == zone) else {
                lost.push(zone);
                continue;
            };
            let rate = entry.config.mix_rate(engine_rate);
            let capacity = (rate as f32 * BUFFER_SECONDS) as usize + prefetch::CHUNK_FRAMES;
            let (voice, input) = voice::voice(spec, entry.channels, capacity);
            let cmd = Command::AddVoice {
                zone,
                voice: Box::new(voice),
            };
            if self.engine.send(cmd).is_err() {
                tracing::error!(zone = %entry.name, job = %id, "engine command queue full; job not started here");
                lost.push(zone);
                continue;
            }
            let target = self
                .loudness
                .as_ref()
                .and(self.config.loudness_target(&entry.config));
            let channels = entry.channels;
            match groups
                .iter_mut()
                .find(|g| g.rate == rate && g.channels == channels && g.target == target)
            {
                Some(g) => g.inputs.push((zone, input)),
                None => groups.push(FeedGroup {
                    rate,
                    channels,
                    target,
                    inputs: vec![(zone, input)],
                }),
            }
        }
        for group in groups {
            let mut feed = Feed::new(
                id,
                group.inputs,
                files.clone(),
                order.clone(),
                group.rate,
                decode.clone(),
                self.feed_tx.clone(),
            );
            if let (Some(cache), Some(target)) = (&self.loudness, group.target) {
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
        for zone in lost {
            let effects = self.ledger.not_started(id, zone, Utc::now());
            self.apply(effects);
        }
    }

    /// Wake the main loop for job `id` at `at`.
    fn wake_at(&self, id: JobId, at: DateTime<Utc>) {
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
    pub fn on_wake(&mut self, id: JobId) {
        let effects = self.ledger.on_wake(id, Utc::now());
        self.apply(effects);
    }

    /// End `id` everywhere at wall-clock `until` (a schedule's loop end).
    fn stop_job_at(&self, id: JobId, until: SystemTime) {
        let engine = self.engine.clone();
        let wait = until.duration_since(SystemTime::now()).unwrap_or_default();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = engine.send(Command::StopJob {
                job: id,
                zone: None,
                reason: EndReason::Completed,
            });
        });
    }

    /// Something happened in the audio world.
    pub fn on_event(&mut self, event: AudioEvent) {
        match event {
            AudioEvent::Feed(e) => {
                let opened = match &e {
                    FeedEvent::ItemOpened {
                        zone, job, item, ..
                    } => Some((*zone, *job, *item)),
                    _ => None,
                };
                self.ledger.on_feed_event(e, Utc::now());
                if let Some((zone, job, item)) = opened {
                    if let Some(title) = self.ledger.title_if_on_air(job, zone, item) {
                        self.set_title(zone, &title);
                    }
                }
            }
            AudioEvent::Engine(e) => {
                let at = wall(e.at().unwrap_or_else(Instant::now));
                let on_air = match e {
                    Event::ItemStarted { zone, job, .. } | Event::Resumed { zone, job, .. } => {
                        Some((zone, job))
                    }
                    _ => None,
                };
                let effects = self.ledger.on_engine_event(e, at);
                if let Some((zone, job)) = on_air {
                    self.show_title(zone, job);
                }
                self.apply(effects);
            }
        }
    }

    /// Tell the zone's titled outputs what `job` plays on it now (the
    /// control plane's side: the engine never sees titles).
    fn show_title(&self, zone: ZoneId, job: JobId) {
        if let Some(title) = self.ledger.title_on(job, zone) {
            self.set_title(zone, &title);
        }
    }

    fn set_title(&self, zone: ZoneId, title: &str) {
        if let Some(entry) = self.zones.iter().find(|z| z.id == zone) {
            for t in &entry.titles {
                t.set(title);
            }
        }
    }
}
