//! Pausing and resuming a schedule (`corong schedule pause|resume NAME`,
//! the console's Jeda/Lanjutkan): a paused schedule's fires are skipped,
//! each logged and written to the as-run log as `skipped`, "paused by
//! USER"; the pause and the resume themselves are as-run rows too
//! (`paused`, `resumed`, with who). A run already playing when it is paused plays on: pausing stops
//! the next fires, it is not `stop`. The pauses are kept in SQLite
//! (`store::PauseBook`, held by `pause_book.rs`) by name, so a restart or
//! a reload keeps them.

use chrono::{DateTime, Utc};

use super::jobs::on_disk;
use super::refusal::{refuse, Refusal};
use super::station::Station;
use crate::control::protocol::{DoneResult, ErrorCode, Paused, Reply};
use crate::control::server::Peer;
use crate::schedule::Fire;
use crate::store::{AsRunEntry, How, Pause, PRUNED_ZONE};

impl Station {
    /// `schedule_pause NAME`: kept before the answer.
    pub(super) fn schedule_pause(&mut self, name: &str, peer: &Peer) -> Result<Reply, Refusal> {
        self.known_schedule(name)?;
        if let Some(p) = self.pauses.get(name) {
            return Ok(done(format!(
                "schedule `{name}` was already paused by {} since {}",
                p.by,
                self.local(from_ms(p.since_ms))
            )));
        }
        let pause = Pause {
            by: peer.user.clone(),
            since_ms: Utc::now().timestamp_millis(),
        };
        // One small row, synced: an admin's action is rare, and the answer
        // must not say "paused" for a pause a power cut would forget.
        on_disk(|| self.pauses.pause(name, pause))
            .map_err(|e| refuse(ErrorCode::Failed, format!("pause not kept: {e}")))?;
        tracing::warn!(schedule = %name, user = %peer.user, "schedule paused: its fires are skipped until resumed");
        // The origin names the schedule and who (`schedule:pagi
        // (web:ana)`): the console's origin filter finds it by either.
        let origin = format!("schedule:{name} ({})", peer.user);
        let reason = format!("paused by {}", peer.user);
        self.record_schedule_rows(name, origin, How::Paused, Utc::now(), reason);
        Ok(done(format!(
            "paused schedule `{name}`: its fires are skipped until `corong schedule resume {name}` \
             (a run playing now plays on)"
        )))
    }

    /// `schedule_resume NAME`: its next fire plays.
    pub(super) fn schedule_resume(&mut self, name: &str, peer: &Peer) -> Result<Reply, Refusal> {
        if self.pauses.get(name).is_none() {
            self.known_schedule(name)?;
            return Ok(done(format!("schedule `{name}` was not paused")));
        }
        let was = on_disk(|| self.pauses.resume(name))
            .map_err(|e| refuse(ErrorCode::Failed, format!("resume not kept: {e}")))?;
        let was = was.map(|p| p.by).unwrap_or_default();
        tracing::warn!(schedule = %name, user = %peer.user, paused_by = %was, "schedule resumed");
        let origin = format!("schedule:{name} ({})", peer.user);
        let reason = format!("resumed by {} (paused by {was})", peer.user);
        self.record_schedule_rows(name, origin, How::Resumed, Utc::now(), reason);
        Ok(done(format!(
            "resumed schedule `{name}`: its next fire plays"
        )))
    }

    /// The as-run rows of schedule `name` that are not items (`how`: a
    /// skipped fire, a pause, a resume), one per zone of the schedule
    /// (`all` for one no longer in the config), at `at`.
    fn record_schedule_rows(
        &mut self,
        name: &str,
        origin: String,
        how: How,
        at: DateTime<Utc>,
        reason: String,
    ) {
        let sched = self.config.schedules.iter().find(|s| s.name == name);
        let file = match sched {
            Some(s) => match &s.text {
                Some(text) => format!("tts: {text}"),
                None => s.playlist_path.display().to_string(),
            },
            None => String::new(),
        };
        let zones = sched.map_or_else(|| vec![PRUNED_ZONE.to_string()], |s| s.zones.clone());
        let Some(store) = self.ledger.store_mut() else {
            return;
        };
        for zone in zones {
            let row = AsRunEntry {
                zone,
                job: None,
                origin: origin.clone(),
                file: file.clone(),
                started_at: at,
                ended_at: at,
                how,
                reason: Some(reason.clone()),
            };
            if let Err(e) = on_disk(|| store.record_as_run(&row)) {
                tracing::error!(zone = %row.zone, "as-run log not written: {e}");
            }
        }
    }

    /// `name` is a schedule of the config; else "did you mean". (A paused
    /// schedule removed from the config since may still be resumed.)
    fn known_schedule(&self, name: &str) -> Result<(), Refusal> {
        if self.config.schedules.iter().any(|s| s.name == name) {
            return Ok(());
        }
        let names = self.config.schedules.iter().map(|s| s.name.as_str());
        let msg = match crate::suggest::closest(name, names) {
            Some(near) => format!("unknown schedule `{name}` (did you mean `{near}`?)"),
            None => format!("unknown schedule `{name}` (see `corong schedule`)"),
        };
        Err(refuse(ErrorCode::NotFound, msg))
    }

    /// The pause of `name` as a reply shows it.
    pub(super) fn paused_info(&self, name: &str) -> Option<Paused> {
        self.pauses.get(name).map(|p| Paused {
            by: p.by.clone(),
            since: self.local(from_ms(p.since_ms)),
        })
    }

    /// If `fire`'s schedule is paused: log it and write its zones' as-run
    /// rows as skipped ("paused by USER"), and say so (the fire is not
    /// played).
    pub(super) fn skip_if_paused(&mut self, fire: &Fire) -> bool {
        let Some(by) = self.pauses.get(&fire.schedule).map(|p| p.by.clone()) else {
            return false;
        };
        let Some(sched) = self
            .config
            .schedules
            .iter()
            .find(|s| s.name == fire.schedule)
        else {
            return true;
        };
        let tz = self.config.daemon.timezone;
        let reason = format!("paused by {by}");
        tracing::info!(schedule = %sched.name, at = %fire.at.with_timezone(&tz), "fire skipped: {reason}");
        let origin = format!("schedule:{}", sched.name);
        self.record_schedule_rows(&fire.schedule, origin, How::Skipped, fire.at, reason);
        true
    }
}

fn done(message: String) -> Reply {
    Reply::Done(DoneResult {
        message,
        zones: Vec::new(),
    })
}

fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
