//! Schedules' fires: which zones a fire plays on (the ledger decides),
//! what it plays (its playlist, read at each fire, or its text as speech),
//! and catching up the fires missed while the daemon was down.

use std::path::PathBuf;
use std::time::SystemTime;

use chrono::{DateTime, TimeZone, Utc};

use super::jobs::{JobSpec, Origin, Run};
use super::sounds;
use super::station::Station;
use crate::config;
use crate::engine::ZoneId;
use crate::playlist;
use crate::schedule::Fire;
use crate::store::JobKind;

impl Station {
    /// A schedule fired: play its playlist (read at each fire, so an edit
    /// applies next time) or its text on its zones. A text whose speech is
    /// not in the cache comes back as [`Speech`] to render beside the loop;
    /// [`Station::on_fire_spoken`] plays it then.
    pub fn on_fire(&mut self, fire: &Fire) -> Option<Speech> {
        let sched = self
            .config
            .schedules
            .iter()
            .find(|s| s.name == fire.schedule)
            .cloned()?;
        // Fires up to here are handled: a restart must not catch them up.
        self.mark_alive(fire.at);
        self.fires += 1;
        if self.skip_if_paused(fire) {
            self.fires_missed += 1;
            return None;
        }
        let tz = self.config.daemon.timezone;
        let Some(zones) = self.ledger.fire_zones(&sched, fire.at) else {
            // Its previous run is still on air (or no zone is left).
            self.fires_missed += 1;
            return None;
        };
        let files: Vec<PathBuf> = if let Some(text) = &sched.text {
            tracing::info!(schedule = %sched.name, text = %text, at = %fire.at.with_timezone(&tz), "schedule fired");
            let voice = &self.config.announcements.tts_voice;
            // Rendered at start (see `prepare_texts`): normally in the cache.
            match sounds::cached(text, voice, &self.sounds.tts_dir) {
                Some(file) => vec![file],
                None => {
                    return Some(Speech {
                        text: text.clone(),
                        voice: voice.clone(),
                        dir: self.sounds.tts_dir.clone(),
                        zones,
                    })
                }
            }
        } else {
            tracing::info!(schedule = %sched.name, playlist = %sched.playlist, at = %fire.at.with_timezone(&tz), "schedule fired");
            match playlist::load(&sched.playlist_path) {
                Ok(l) => l.entries.into_iter().map(|e| e.path).collect(),
                Err(diags) => {
                    for d in &diags.0 {
                        tracing::error!(schedule = %sched.name, "{d}");
                    }
                    return None;
                }
            }
        };
        self.play_fire(&sched, fire, zones, files);
        None
    }

    /// A text schedule's speech, rendered beside the loop, is ready (or
    /// failed): play it.
    pub fn on_fire_spoken(&mut self, fire: &Fire, spoken: Spoken) {
        let Some(sched) = self
            .config
            .schedules
            .iter()
            .find(|s| s.name == fire.schedule)
            .cloned()
        else {
            return;
        };
        match spoken.file {
            Ok(file) => self.play_fire(&sched, fire, spoken.zones, vec![file]),
            Err(e) => tracing::error!(schedule = %sched.name, "not played: {e}"),
        }
    }

    /// Start the run of `sched` that fired at `fire`.
    fn play_fire(
        &mut self,
        sched: &config::Schedule,
        fire: &Fire,
        zones: Vec<ZoneId>,
        files: Vec<PathBuf>,
    ) {
        let loop_until = sched
            .loop_until
            .map(|t| loop_end(fire.at, t, self.config.daemon.timezone));
        let spec = JobSpec {
            run: Some(Run {
                shuffle: sched.shuffle,
                loop_until,
            }),
            ..JobSpec::new(
                JobKind::Schedule,
                Origin::Schedule(sched.name.clone()),
                sched.priority,
                zones,
                files,
            )
        };
        // A schedule's run plays whether or not the disk takes its record.
        if let Err(e) = self.start_job(spec) {
            tracing::error!(schedule = %sched.name, "not played: {e}");
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
            let oldest = now - chrono::Duration::from_std(grace).unwrap_or_default();
            let from = last_alive.max(oldest);
            if let Some(at) = crate::schedule::fires_between(&sched.cron, tz, from, now).pop() {
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
            // At start-up, before the loop runs: a speech not in the cache
            // is rendered here.
            if let Some(speech) = self.on_fire(&fire) {
                let spoken = tokio::task::block_in_place(|| speech.render());
                self.on_fire_spoken(&fire, spoken);
            }
        }
        self.mark_alive(now);
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

/// A text schedule's fire whose speech must be rendered first.
pub struct Speech {
    text: String,
    voice: String,
    dir: PathBuf,
    zones: Vec<ZoneId>,
}

/// [`Speech`] rendered: the file, or why not.
pub struct Spoken {
    zones: Vec<ZoneId>,
    file: Result<PathBuf, String>,
}

impl Speech {
    /// Run espeak-ng (blocking: call it beside the loop).
    pub fn render(self) -> Spoken {
        let file = sounds::speak(&self.text, &self.voice, &self.dir)
            .map(|(file, _)| file)
            .map_err(|e| e.to_string());
        Spoken {
            zones: self.zones,
            file,
        }
    }

    /// It could not be rendered: `why`.
    pub fn failed(&self, why: String) -> Spoken {
        Spoken {
            zones: self.zones.clone(),
            file: Err(why),
        }
    }
}
