//! Live pages on the station's side: a `page_live` request becomes a job
//! of the `page` origin through the ledger like any other (priority `live`
//! by default, in the as-run log with how it ended); its voices are filled
//! by a thread of its own (`page_feed.rs`) from the client's connection
//! instead of by a decoder. One live page holds a zone at a time.

use std::sync::mpsc as std_mpsc;

use chrono::Utc;
use tokio::sync::mpsc;

use super::jobs::{JobSpec, Origin};
use super::page_book::Holder;
use super::page_feed::{self, FeedPlan, LiveGroup};
use super::refusal::{refuse, Refusal};
use super::station::{Station, BUFFER_SECONDS};
use crate::config::Chime;
use crate::control::protocol::{ErrorCode, JobState, Progress, Request, Response};
use crate::control::server::{LiveSocket, Peer};
use crate::engine::voice::{self, VoiceSpec, Yield};
use crate::engine::{Command, ZoneId};
use crate::ids::JobId;
use crate::priority::Priority;
use crate::store::JobKind;

impl Station {
    /// A `page_live` request with its audio's connection. Refusals go to
    /// the client at once; an accepted page answers `queued` (send the
    /// audio), `playing` once its first packet left, and its end.
    pub(super) fn page_live(
        &mut self,
        req: Request,
        peer: Peer,
        socket: LiveSocket,
        reply: mpsc::Sender<Response>,
    ) {
        if let Err(r) = self.start_live(req, &peer, socket, &reply) {
            tracing::warn!(user = %peer.user, "live page refused: {}", r.message);
            let _ = reply.try_send(r.response());
        }
    }

    fn start_live(
        &mut self,
        req: Request,
        peer: &Peer,
        socket: LiveSocket,
        reply: &mpsc::Sender<Response>,
    ) -> Result<(), Refusal> {
        let Request::PageLive {
            rate,
            max_s,
            gap_ms,
            mut delivery,
        } = req
        else {
            return Err(refuse(ErrorCode::BadRequest, "not a live page"));
        };
        delivery.priority = delivery.priority.or(Some(Priority::LIVE));
        delivery.at = None;
        let admission = self.admission(&delivery)?;
        // Pages that ended leave the book.
        let ledger = &self.ledger;
        self.live
            .holders
            .retain(|h| ledger.jobs().contains_key(&h.job));
        for h in &self.live.holders {
            if let Some(z) = h.zones.iter().find(|z| admission.zones.contains(z)) {
                return Err(refuse(
                    ErrorCode::Failed,
                    format!(
                        "zone {} is held by a live page of {} (job {}); try again when it ends",
                        self.zone_name(*z),
                        h.user,
                        h.job
                    ),
                ));
            }
        }
        let chime = match self
            .config
            .announcements
            .chimes_for(admission.priority, delivery.chime)
            .0
        {
            Chime::Default => Some(self.sounds.chime.clone()),
            Chime::None => None,
            Chime::File(p) => Some(p),
        };
        let names: Vec<String> = admission
            .zones
            .iter()
            .map(|z| self.zone_name(*z).to_string())
            .collect();
        // No files: the audio comes from the client. The pre-chime is the
        // feed's (it plays while the speech is held back, then the speech).
        let spec = JobSpec::new(
            JobKind::Announcement,
            Origin::Page(peer.user.clone()),
            admission.priority,
            admission.zones.clone(),
            Vec::new(),
        );
        let (id, effects) = self
            .ledger
            .start_job(spec, Utc::now())
            .map_err(|e| refuse(e.code(), e.to_string()))?;
        let (inputs_tx, inputs_rx) = std_mpsc::channel();
        let plan = FeedPlan {
            job: id,
            rate,
            max_s,
            gap: std::time::Duration::from_millis(gap_ms.into()),
            packet: self.config.daemon.packet_time(),
            socket,
            reply: reply.clone(),
            inputs: inputs_rx,
            events: self.feed_events(),
        };
        if let Err(e) = page_feed::spawn(plan) {
            // Its voices get no audio and end at once, as an empty job.
            self.apply(effects);
            return Err(refuse(
                ErrorCode::Failed,
                format!("no thread for the page: {e}"),
            ));
        }
        tracing::info!(job = %id, user = %peer.user, zones = %names.join(","), rate,
            priority = %admission.priority, chime = chime.is_some(), "live page accepted");
        self.live.holders.push(Holder {
            job: id,
            user: peer.user.clone(),
            zones: admission.zones.clone(),
            inputs: inputs_tx,
        });
        self.live.chimes.push((id, chime));
        let _ = reply.try_send(Response::Progress(Progress {
            id,
            zones_done: 0,
            zones_total: names.len(),
            state: JobState::Queued,
            reason: Some(format!("live on {}", names.join(","))),
        }));
        self.ledger.wait_for(id, reply.clone());
        self.apply(effects);
        self.live.chimes.retain(|(j, _)| *j != id);
        Ok(())
    }

    /// Whether job `id` is a live page (its voices are filled by its feed).
    pub(super) fn is_live(&self, id: JobId) -> bool {
        self.live.holder(id).is_some()
    }

    /// Voices for live page `id` on `zones`, handed to its feed grouped by
    /// rate and channels. A live voice yields to an emergency by ending: a
    /// paused person cannot be resumed.
    pub(super) fn give_live_voices(&mut self, id: JobId, zones: &[ZoneId], priority: Priority) {
        let engine_rate = self.config.daemon.sample_rate;
        let spec = VoiceSpec {
            job: id,
            priority,
            yields: Yield::Cancel,
        };
        let chime = self
            .live
            .chimes
            .iter()
            .find(|(j, _)| *j == id)
            .and_then(|(_, c)| c.clone());
        let mut groups: Vec<LiveGroup> = Vec::new();
        let mut lost = Vec::new();
        for &zone in zones {
            let Some(entry) = self.zones.iter().find(|z| z.id == zone) else {
                lost.push(zone);
                continue;
            };
            let rate = entry.config.mix_rate(engine_rate);
            let capacity = (rate as f32 * BUFFER_SECONDS) as usize;
            let (voice, input) = voice::live_voice(spec, entry.channels, capacity);
            let cmd = Command::AddVoice {
                zone,
                voice: Box::new(voice),
            };
            if self.engine().send(cmd).is_err() {
                tracing::error!(zone = %entry.name, job = %id, "engine command queue full; live page not started here");
                lost.push(zone);
                continue;
            }
            let channels = entry.channels;
            match groups
                .iter_mut()
                .find(|g| g.rate == rate && g.channels == channels)
            {
                Some(g) => g.inputs.push((zone, input)),
                None => groups.push(LiveGroup {
                    rate,
                    channels,
                    chime: chime.clone(),
                    inputs: vec![(zone, input)],
                }),
            }
        }
        if let Some(h) = self.live.holder(id) {
            for g in groups {
                let _ = h.inputs.send(g);
            }
        }
        for zone in lost {
            let effects = self.ledger.not_started(id, zone, Utc::now());
            self.apply(effects);
        }
    }
}
