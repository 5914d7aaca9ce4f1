//! The alerts' lifecycle, decided without touching anything: warnings and
//! operators' decisions in, [`Action`]s out (start a playbook, replace
//! what plays, stop it), with the time passed in, like the job ledger. The
//! daemon carries the actions out through the job ledger's one entrance.
//!
//! - Identity is CAP's (sender, identifier, sent); a document seen again,
//!   from the same feed or another, does nothing.
//! - An `Update` replaces what it references: the old alert is cancelled
//!   and, if it was on air, the new words take its place at once (the
//!   operator already decided on this warning); if it was pending, the
//!   update waits in its place.
//! - A `Cancel` stops what it references, on air or pending.
//! - A Cancel or Update that is itself not `Actual` (a drill's, a test's)
//!   touches only alerts that were not `Actual` either: a sender's
//!   exercise never stops a real warning.
//! - Held documents (not `Actual`, expired, no playbook, no zone) are
//!   listed as `ignored` or `expired` with the reason, and never play.
//! - `confirm` mode: pending until an operator confirms or dismisses; a
//!   pending alert that expires is marked expired, never played late.
//!   `auto`: started at once. Either way not before `effective`/`onset`,
//!   and stopped at `expires`.
//! - A later InaTEWS bulletin of the same event replaces the earlier
//!   (one alert per level); one that names no district ends it.
//! - A volcano level an operator sets starts that level's playbook at once
//!   (the operator is the authority); a new level replaces the old one's
//!   broadcast, and level 1 stops it.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use super::cap::{self, MsgType, Status};
use super::inatews::Bulletin;
use super::matching::{self, Decision};
use crate::config::{AlertMode, Config};
use crate::hazard::VolcanoLevel;

/// An alert's number in `corong alerts`, for `confirm` and `dismiss`.
pub type AlertId = u64;

/// Where an alert stands (the contract's states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Waiting for an operator.
    Pending,
    /// Confirmed, waiting for its `effective`/`onset` time.
    Confirmed,
    /// Started.
    OnAir,
    /// Cancelled or replaced by its sender, or lowered (a volcano).
    Cancelled,
    /// Past `expires`.
    Expired,
    /// Never to play: held, matching nothing, or dismissed.
    Ignored,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Confirmed => "confirmed",
            State::OnAir => "on-air",
            State::Cancelled => "cancelled",
            State::Expired => "expired",
            State::Ignored => "ignored",
        }
    }

    /// Whether it may still play or plays.
    fn live(self) -> bool {
        matches!(self, State::Pending | State::Confirmed | State::OnAir)
    }
}

/// One alert as the operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: AlertId,
    /// `sender,identifier,sent` for CAP; `inatews,EVENTID,SUBJECT,LEVEL`;
    /// `volcano,NAME,LEVEL,TIME`.
    pub identity: String,
    /// The feed's name, or `volcano`.
    pub source: String,
    pub event: String,
    pub level: String,
    pub covered: Vec<String>,
    /// The playbook it starts, if any.
    pub decision: Option<Decision>,
    pub state: State,
    /// Why it is in its state (held, dismissed by whom, replaced by which).
    pub reason: Option<String>,
    pub received: DateTime<Utc>,
    /// Not before (`effective`/`onset`).
    pub starts: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
    /// Who confirmed, dismissed or set it.
    pub by: Option<String>,
    /// A CAP document whose status was not `Actual` (an exercise, a
    /// test): its own Cancel or Update may end it, another's may not end
    /// a real one. Absent in inboxes kept before it existed: `false`.
    #[serde(default)]
    pub not_actual: bool,
}

/// What the daemon is to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start `decision` for `alert`, not before `at`, until `until`.
    Start {
        alert: AlertId,
        decision: Decision,
        at: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    },
    /// Put `decision` in the place of what `old` plays (an Update; a
    /// volcano's new level): same zones' job replaced, no second job.
    Replace {
        old: AlertId,
        alert: AlertId,
        decision: Decision,
        until: Option<DateTime<Utc>>,
    },
    /// Stop what `alert` plays.
    Stop { alert: AlertId },
    /// A new alert waits for an operator.
    Notify { alert: AlertId },
}

/// Every alert, and every identity seen: what the daemon keeps across a
/// restart, so that nothing seen before starts again.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Inbox {
    alerts: Vec<Alert>,
    seen: HashSet<String>,
    next_id: AlertId,
}

fn utc(t: DateTime<FixedOffset>) -> DateTime<Utc> {
    t.with_timezone(&Utc)
}

impl Inbox {
    pub fn new() -> Inbox {
        Inbox {
            next_id: 1,
            ..Inbox::default()
        }
    }

    pub fn alerts(&self) -> &[Alert] {
        &self.alerts
    }

    /// Every identity seen, and the number the next alert gets: with
    /// [`Inbox::alerts`], all there is to keep across a restart.
    pub fn seen_and_next(&self) -> (&HashSet<String>, AlertId) {
        (&self.seen, self.next_id)
    }

    /// An inbox as it was kept.
    pub fn from_parts(alerts: Vec<Alert>, seen: HashSet<String>, next_id: AlertId) -> Inbox {
        let next_id = next_id.max(alerts.iter().map(|a| a.id + 1).max().unwrap_or(1));
        Inbox {
            alerts,
            seen,
            next_id,
        }
    }

    pub fn get(&self, id: AlertId) -> Option<&Alert> {
        self.alerts.iter().find(|a| a.id == id)
    }

    fn get_mut(&mut self, id: AlertId) -> Option<&mut Alert> {
        self.alerts.iter_mut().find(|a| a.id == id)
    }

    /// Whether `identity` has been seen (a document again: nothing to do).
    pub fn seen(&self, identity: &str) -> bool {
        self.seen.contains(identity)
    }

    /// A CAP alert from `feed`.
    pub fn receive_cap(
        &mut self,
        config: &Config,
        feed: &str,
        doc: &cap::Alert,
        now: DateTime<Utc>,
    ) -> Vec<Action> {
        let r = doc.identity();
        let identity = format!("{},{},{}", r.sender, r.identifier, r.sent);
        if !self.seen.insert(identity.clone()) {
            return Vec::new();
        }
        let not_actual = doc.status != Status::Actual;
        let referenced: Vec<String> = doc
            .references
            .iter()
            .map(|r| format!("{},{},{}", r.sender, r.identifier, r.sent))
            // A drill's Cancel or Update never reaches a real warning.
            .filter(|r| !not_actual || self.alerts.iter().any(|a| &a.identity == r && a.not_actual))
            .collect();
        let outcome = matching::match_cap(config, doc, Some(feed), now.fixed_offset());
        let info = doc.infos.first();
        let mut alert = self.new_alert(identity, feed, now);
        alert.not_actual = not_actual;
        alert.event = info.map_or_else(|| format!("{:?}", doc.msg_type), |i| i.event.clone());
        alert.level = info.map_or(String::new(), |i| i.severity.to_string());
        alert.covered = outcome.covered.clone();
        alert.starts = doc
            .infos
            .iter()
            .filter_map(|i| i.onset.or(i.effective))
            .min()
            .map(utc);
        alert.expires = doc.infos.iter().filter_map(|i| i.expires).max().map(utc);
        let mut actions = Vec::new();
        if doc.msg_type == MsgType::Cancel {
            let stopped = self.end(
                &referenced,
                State::Cancelled,
                "cancelled by its sender",
                &mut actions,
            );
            alert.state = State::Ignored;
            alert.reason = Some(format!("a Cancel of {}", ids(&stopped)));
            self.alerts.push(alert);
            return actions;
        }
        let decision = outcome.decisions.into_iter().next();
        let replacing = if doc.msg_type == MsgType::Update {
            self.live_among(&referenced)
        } else {
            Vec::new()
        };
        self.settle(alert, decision, outcome.held, replacing, now, &mut actions);
        actions
    }

    /// An InaTEWS bulletin from `feed`: one alert per playbook it starts;
    /// a later bulletin of the same event replaces the earlier.
    pub fn receive_inatews(
        &mut self,
        config: &Config,
        feed: &str,
        b: &Bulletin,
        now: DateTime<Utc>,
    ) -> Vec<Action> {
        let identity = format!("inatews,{},{}", b.event_id, b.subject);
        if !self.seen.insert(identity.clone()) {
            return Vec::new();
        }
        let prefix = format!("inatews,{},", b.event_id);
        let earlier: Vec<String> = self
            .alerts
            .iter()
            .filter(|a| a.identity.starts_with(&prefix) && a.state.live())
            .map(|a| a.identity.clone())
            .collect();
        let outcome = matching::match_inatews(config, b, Some(feed));
        let mut actions = Vec::new();
        if b.districts.is_empty() {
            self.end(
                &earlier,
                State::Cancelled,
                "ended by the final bulletin",
                &mut actions,
            );
        }
        let mut live_earlier = self.live_among(&earlier);
        let mut decisions = outcome.decisions.into_iter().peekable();
        if decisions.peek().is_none() {
            let mut alert = self.new_alert(identity, feed, now);
            alert.event = "Tsunami".into();
            alert.covered = outcome.covered;
            alert.state = State::Ignored;
            alert.reason = Some(
                outcome
                    .held
                    .unwrap_or_else(|| "no playbook matches".to_string()),
            );
            self.alerts.push(alert);
            // What the earlier bulletin started and this one no longer
            // names ends.
            let ids: Vec<String> = live_earlier.iter().map(|a| self.identity_of(*a)).collect();
            self.end(
                &ids,
                State::Cancelled,
                "not in the later bulletin",
                &mut actions,
            );
            return actions;
        }
        for d in decisions {
            let mut alert = self.new_alert(format!("{identity},{}", d.level), feed, now);
            alert.event = "Tsunami".into();
            alert.level = d.level.clone();
            alert.covered = d.zones.clone();
            // The earlier alert of the same level is replaced in place.
            let same = live_earlier
                .iter()
                .position(|id| self.get(*id).is_some_and(|a| a.level == d.level));
            let replacing = same
                .map(|i| vec![live_earlier.remove(i)])
                .unwrap_or_default();
            self.settle(alert, Some(d), None, replacing, now, &mut actions);
        }
        let rest: Vec<String> = live_earlier.iter().map(|a| self.identity_of(*a)).collect();
        self.end(
            &rest,
            State::Cancelled,
            "not in the later bulletin",
            &mut actions,
        );
        actions
    }

    /// An operator sets a volcano's level.
    pub fn set_volcano(
        &mut self,
        config: &Config,
        name: &str,
        level: VolcanoLevel,
        who: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Action>, String> {
        let volcano = config
            .volcano(name)
            .ok_or_else(|| format!("unknown volcano `{name}` (see [[volcanoes]] in the config)"))?;
        let prefix = format!("volcano,{name},");
        let earlier: Vec<AlertId> = self
            .alerts
            .iter()
            .filter(|a| a.identity.starts_with(&prefix) && a.state.live())
            .map(|a| a.id)
            .collect();
        let identity = format!("{prefix}{},{}", level.number(), now.timestamp_millis());
        self.seen.insert(identity.clone());
        let outcome = matching::match_volcano(config, volcano, level);
        let mut alert = self.new_alert(identity, "volcano", now);
        alert.event = format!("{} level", volcano.name);
        alert.level = level.to_string();
        alert.covered = outcome.covered;
        alert.by = Some(who.to_string());
        let mut actions = Vec::new();
        match outcome.decisions.into_iter().next() {
            Some(d) if !d.zones.is_empty() => {
                // The operator is the authority: it starts at once.
                alert.decision = Some(d.clone());
                alert.state = State::OnAir;
                match earlier.first().copied() {
                    Some(old) if self.get(old).is_some_and(|a| a.state == State::OnAir) => {
                        actions.push(Action::Replace {
                            old,
                            alert: alert.id,
                            decision: d,
                            until: None,
                        });
                        self.mark(
                            old,
                            State::Cancelled,
                            format!("level set to {} by {who}", level.number()),
                        );
                    }
                    _ => actions.push(Action::Start {
                        alert: alert.id,
                        decision: d,
                        at: now,
                        until: None,
                    }),
                }
            }
            _ => {
                alert.state = State::Ignored;
                alert.reason = Some(
                    outcome
                        .held
                        .unwrap_or_else(|| "no playbook for this level".into()),
                );
            }
        }
        // Every earlier level's broadcast not replaced above ends.
        for old in earlier {
            if self.get(old).is_some_and(|a| a.state.live()) {
                if self.get(old).is_some_and(|a| a.state == State::OnAir) {
                    actions.push(Action::Stop { alert: old });
                }
                self.mark(
                    old,
                    State::Cancelled,
                    format!("level set to {} by {who}", level.number()),
                );
            }
        }
        self.alerts.push(alert);
        Ok(actions)
    }

    /// An operator confirms a pending alert.
    pub fn confirm(
        &mut self,
        id: AlertId,
        who: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Action>, String> {
        let a = self.get(id).ok_or_else(|| format!("no alert {id}"))?;
        if a.state != State::Pending {
            return Err(format!("alert {id} is {}, not pending", a.state.as_str()));
        }
        if a.expires.is_some_and(|e| e <= now) {
            self.mark(id, State::Expired, "expired before it was confirmed".into());
            return Err(format!("alert {id} has expired: it is not played late"));
        }
        let a = self.get_mut(id).expect("found above");
        let decision = a.decision.clone().expect("a pending alert has a playbook");
        let at = a.starts.filter(|s| *s > now).unwrap_or(now);
        a.state = if at > now {
            State::Confirmed
        } else {
            State::OnAir
        };
        a.by = Some(who.to_string());
        let until = a.expires;
        Ok(vec![Action::Start {
            alert: id,
            decision,
            at,
            until,
        }])
    }

    /// An operator dismisses a pending alert: it never plays.
    pub fn dismiss(&mut self, id: AlertId, who: &str) -> Result<Vec<Action>, String> {
        let a = self.get(id).ok_or_else(|| format!("no alert {id}"))?;
        if a.state != State::Pending {
            return Err(format!("alert {id} is {}, not pending", a.state.as_str()));
        }
        self.mark(id, State::Ignored, format!("dismissed by {who}"));
        if let Some(a) = self.get_mut(id) {
            a.by = Some(who.to_string());
        }
        Ok(Vec::new())
    }

    /// Forget alerts that ended (cancelled, expired, ignored) and were
    /// received before `cutoff`; returns how many. An identity stays in the
    /// seen set unless its alert expired before `cutoff` too: a document
    /// that carries no expiry (an InaTEWS bulletin can sit in its file for
    /// months) must never be new again after a restart, while one long
    /// expired would only be held as expired if it came back.
    pub fn prune(&mut self, cutoff: DateTime<Utc>) -> usize {
        let before = self.alerts.len();
        let mut forget = Vec::new();
        self.alerts.retain(|a| {
            let old = !a.state.live() && a.received < cutoff;
            if old && a.expires.is_some_and(|e| e < cutoff) {
                forget.push(a.identity.clone());
            }
            !old
        });
        for identity in forget {
            if !self.alerts.iter().any(|a| a.identity == identity) {
                self.seen.remove(&identity);
            }
        }
        before - self.alerts.len()
    }

    /// Time passes: pending alerts past `expires` expire; alerts on air
    /// past it stop; confirmed alerts whose time came are on air.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Action> {
        self.tick_changes(now).0
    }

    /// [`Inbox::tick`], and whether any alert's state changed (the daemon
    /// writes the inbox only then).
    pub fn tick_changes(&mut self, now: DateTime<Utc>) -> (Vec<Action>, bool) {
        let mut changed = false;
        let mut actions = Vec::new();
        for a in &mut self.alerts {
            let before = a.state;
            let expired = a.expires.is_some_and(|e| e <= now);
            match a.state {
                State::Pending if expired => {
                    a.state = State::Expired;
                    a.reason = Some("expired while pending: never played late".into());
                }
                State::Confirmed | State::OnAir if expired => {
                    a.state = State::Expired;
                    a.reason = Some("reached its expiry".into());
                    actions.push(Action::Stop { alert: a.id });
                }
                State::Confirmed if a.starts.is_none_or(|s| s <= now) => a.state = State::OnAir,
                _ => {}
            }
            changed |= a.state != before;
        }
        (actions, changed)
    }

    fn new_alert(&mut self, identity: String, source: &str, now: DateTime<Utc>) -> Alert {
        let id = self.next_id;
        self.next_id += 1;
        Alert {
            id,
            identity,
            source: source.to_string(),
            event: String::new(),
            level: String::new(),
            covered: Vec::new(),
            decision: None,
            state: State::Ignored,
            reason: None,
            received: now,
            starts: None,
            expires: None,
            by: None,
            not_actual: false,
        }
    }

    /// Decide a new alert's state and push it: held, ignored, replacing
    /// what it updates, pending or started.
    fn settle(
        &mut self,
        mut alert: Alert,
        decision: Option<Decision>,
        held: Option<String>,
        replacing: Vec<AlertId>,
        now: DateTime<Utc>,
        actions: &mut Vec<Action>,
    ) {
        let why_not = if let Some(h) = held {
            Some((
                if alert.expires.is_some_and(|e| e <= now) {
                    State::Expired
                } else {
                    State::Ignored
                },
                h,
            ))
        } else {
            match &decision {
                None => Some((State::Ignored, "no playbook matches".to_string())),
                Some(d) if d.zones.is_empty() => Some((
                    State::Ignored,
                    format!("playbook `{}` reaches none of our zones", d.playbook),
                )),
                Some(d) if d.mode == AlertMode::Off => {
                    Some((State::Ignored, "[alerts] mode is off".to_string()))
                }
                Some(_) => None,
            }
        };
        if let Some((state, why)) = why_not {
            alert.state = state;
            alert.reason = Some(why);
            self.alerts.push(alert);
            return;
        }
        let d = decision.expect("checked above");
        alert.decision = Some(d.clone());
        let replaced_on_air = replacing.iter().copied().find(|id| {
            self.get(*id)
                .is_some_and(|a| matches!(a.state, State::OnAir | State::Confirmed))
        });
        for old in &replacing {
            self.mark(
                *old,
                State::Cancelled,
                format!("updated by alert {}", alert.id),
            );
        }
        let at = alert.starts.filter(|s| *s > now).unwrap_or(now);
        if let Some(old) = replaced_on_air {
            alert.state = State::OnAir;
            alert.reason = Some(format!("replaces alert {old}"));
            actions.push(Action::Replace {
                old,
                alert: alert.id,
                decision: d,
                until: alert.expires,
            });
        } else if d.mode == AlertMode::Auto {
            alert.state = if at > now {
                State::Confirmed
            } else {
                State::OnAir
            };
            actions.push(Action::Start {
                alert: alert.id,
                decision: d,
                at,
                until: alert.expires,
            });
        } else {
            alert.state = State::Pending;
            if !replacing.is_empty() {
                alert.reason = Some(format!("updates alert {}", ids_of(&replacing)));
            }
            actions.push(Action::Notify { alert: alert.id });
        }
        self.alerts.push(alert);
    }

    /// The live alerts among `identities`.
    fn live_among(&self, identities: &[String]) -> Vec<AlertId> {
        self.alerts
            .iter()
            .filter(|a| a.state.live() && identities.contains(&a.identity))
            .map(|a| a.id)
            .collect()
    }

    fn identity_of(&self, id: AlertId) -> String {
        self.get(id).map(|a| a.identity.clone()).unwrap_or_default()
    }

    /// End the live alerts among `identities` in `state`; a Stop for each
    /// that plays. Returns their ids.
    fn end(
        &mut self,
        identities: &[String],
        state: State,
        why: &str,
        actions: &mut Vec<Action>,
    ) -> Vec<AlertId> {
        let live = self.live_among(identities);
        for id in &live {
            if self
                .get(*id)
                .is_some_and(|a| matches!(a.state, State::OnAir | State::Confirmed))
            {
                actions.push(Action::Stop { alert: *id });
            }
            self.mark(*id, state, why.to_string());
        }
        live
    }

    fn mark(&mut self, id: AlertId, state: State, why: String) {
        if let Some(a) = self.get_mut(id) {
            a.state = state;
            a.reason = Some(why);
        }
    }
}

fn ids(list: &[AlertId]) -> String {
    if list.is_empty() {
        "nothing live".to_string()
    } else {
        ids_of(list)
    }
}

fn ids_of(list: &[AlertId]) -> String {
    list.iter()
        .map(|i| format!("alert {i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
