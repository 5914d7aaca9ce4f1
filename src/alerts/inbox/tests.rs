//! The lifecycle with a manual clock, on the test documents.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::alerts::{cap, inatews};
use crate::config::load_str;

const CONFIG: &str = r#"
[[zones]]
name = "wlingi"
wav = "w.wav"
location = [-8.08, 112.32]

[[zones]]
name = "kanigoro"
wav = "k.wav"
location = [-8.13, 112.22]

[[zones]]
name = "pantai"
wav = "p.wav"
location = [-8.33, 112.21]
areas = ["PANTAI-BLITAR"]

[[zones]]
name = "pos-kelud"
wav = "pk.wav"
location = [-7.94, 112.30]

[[zones]]
name = "nglegok"
wav = "n.wav"
location = [-7.955, 112.29]

[[alerts.feeds]]
name = "inatews"
kind = "inatews"
url = "http://127.0.0.1:9/w.xml"

[[alerts.playbooks]]
name = "tsunami-siaga"
when = { feed = "inatews", level = "SIAGA" }
text = "Tsunami {level}"
mode = "auto"

[[alerts.playbooks]]
name = "hujan"
when = { event = "Hujan Lebat*" }
text = "{headline}"

[[volcanoes]]
name = "kelud"
location = [-7.9300, 112.3080]
rings_km = { 2 = 2.0, 3 = 5.0 }

[[alerts.playbooks]]
name = "kelud-2"
when = { volcano = "kelud", level = 2 }
text = "Waspada"

[[alerts.playbooks]]
name = "kelud-3"
when = { volcano = "kelud", level = 3 }
text = "Siaga"
"#;

fn config() -> Config {
    load_str(CONFIG, Path::new("/tmp/corong-test/config.toml")).unwrap()
}

fn doc(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/alerts")
            .join(name),
    )
    .unwrap()
}

fn cap_doc(name: &str) -> cap::Alert {
    cap::read(&doc(name)).unwrap()
}

/// 15:05 WIB on the nowcast's day.
fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-06T15:05:00+07:00")
        .unwrap()
        .with_timezone(&Utc)
}

fn state(inbox: &Inbox, id: AlertId) -> State {
    inbox.get(id).unwrap().state
}

#[test]
fn a_nowcast_waits_for_an_operator_then_starts_on_its_zones() {
    let config = config();
    let mut inbox = Inbox::new();
    let actions = inbox.receive_cap(&config, "bmkg", &cap_doc("nowcast.xml"), t0());
    assert_eq!(actions, [Action::Notify { alert: 1 }]);
    assert_eq!(state(&inbox, 1), State::Pending);
    assert_eq!(inbox.get(1).unwrap().covered, ["wlingi", "kanigoro"]);
    let actions = inbox.confirm(1, "pusdalops", t0()).unwrap();
    let [Action::Start {
        alert: 1,
        decision,
        at,
        until,
    }] = actions.as_slice()
    else {
        panic!("{actions:?}")
    };
    assert_eq!(decision.zones, ["wlingi", "kanigoro"]);
    assert_eq!(*at, t0());
    assert!(until.is_some());
    assert_eq!(state(&inbox, 1), State::OnAir);
    assert_eq!(inbox.get(1).unwrap().by.as_deref(), Some("pusdalops"));
    // Confirming twice is refused.
    assert!(inbox.confirm(1, "x", t0()).unwrap_err().contains("on-air"));
}

#[test]
fn the_same_document_from_two_feeds_is_one_alert() {
    let config = config();
    let mut inbox = Inbox::new();
    let doc = cap_doc("nowcast.xml");
    assert_eq!(inbox.receive_cap(&config, "bmkg", &doc, t0()).len(), 1);
    assert!(inbox.receive_cap(&config, "bmkg-en", &doc, t0()).is_empty());
    assert!(inbox.receive_cap(&config, "bmkg", &doc, t0()).is_empty());
    assert_eq!(inbox.alerts().len(), 1);
}

#[test]
fn an_update_replaces_what_plays_and_a_cancel_stops_it() {
    let config = config();
    let mut inbox = Inbox::new();
    inbox.receive_cap(&config, "bmkg", &cap_doc("nowcast.xml"), t0());
    inbox.confirm(1, "op", t0()).unwrap();
    let actions = inbox.receive_cap(&config, "bmkg", &cap_doc("nowcast-update.xml"), t0());
    let [Action::Replace {
        old: 1,
        alert: 2,
        decision,
        ..
    }] = actions.as_slice()
    else {
        panic!("{actions:?}")
    };
    // The update's polygon covers wlingi only.
    assert_eq!(decision.zones, ["wlingi"]);
    assert_eq!(state(&inbox, 1), State::Cancelled);
    assert_eq!(state(&inbox, 2), State::OnAir);
    let actions = inbox.receive_cap(&config, "bmkg", &cap_doc("nowcast-cancel.xml"), t0());
    assert_eq!(actions, [Action::Stop { alert: 2 }]);
    assert_eq!(state(&inbox, 2), State::Cancelled);
    assert_eq!(state(&inbox, 3), State::Ignored);
    assert!(inbox
        .get(3)
        .unwrap()
        .reason
        .as_deref()
        .unwrap()
        .contains("Cancel of alert 2"));
}

/// A sender's drill that cancels or updates by mistake (or by malice) a
/// real warning's identity ends nothing: only a drill's own.
#[test]
fn a_drills_cancel_or_update_never_ends_a_real_warning() {
    let config = config();
    let mut inbox = Inbox::new();
    inbox.receive_cap(&config, "bmkg", &cap_doc("nowcast.xml"), t0());
    inbox.confirm(1, "op", t0()).unwrap();
    let as_exercise = |name: &str| {
        let text = String::from_utf8(doc(name)).unwrap();
        assert!(text.contains("<status>Actual</status>"));
        // Its own identity (a drill is a message of its own), the real
        // warning's in its references.
        let text = text
            .replace("<status>Actual</status>", "<status>Exercise</status>")
            .replace("</identifier>", ".latihan</identifier>");
        cap::read(text.as_bytes()).unwrap()
    };
    let actions = inbox.receive_cap(&config, "bmkg", &as_exercise("nowcast-cancel.xml"), t0());
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(state(&inbox, 1), State::OnAir);
    let reason = inbox.get(2).unwrap().reason.clone().unwrap();
    assert!(reason.contains("nothing live"), "{reason}");
    let actions = inbox.receive_cap(&config, "bmkg", &as_exercise("nowcast-update.xml"), t0());
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Replace { .. } | Action::Stop { .. })),
        "{actions:?}"
    );
    assert_eq!(state(&inbox, 1), State::OnAir);
    // The real Cancel still ends it.
    let actions = inbox.receive_cap(&config, "bmkg", &cap_doc("nowcast-cancel.xml"), t0());
    assert_eq!(actions, [Action::Stop { alert: 1 }]);
}

#[test]
fn an_update_of_a_pending_alert_waits_in_its_place() {
    let config = config();
    let mut inbox = Inbox::new();
    inbox.receive_cap(&config, "bmkg", &cap_doc("nowcast.xml"), t0());
    let actions = inbox.receive_cap(&config, "bmkg", &cap_doc("nowcast-update.xml"), t0());
    assert_eq!(actions, [Action::Notify { alert: 2 }]);
    assert_eq!(state(&inbox, 1), State::Cancelled);
    assert_eq!(state(&inbox, 2), State::Pending);
    // A cancel of a pending alert: nothing to stop.
    assert!(inbox
        .receive_cap(&config, "bmkg", &cap_doc("nowcast-cancel.xml"), t0())
        .is_empty());
    assert_eq!(state(&inbox, 2), State::Cancelled);
}

#[test]
fn exercises_and_expired_documents_never_play() {
    let config = config();
    let mut inbox = Inbox::new();
    assert!(inbox
        .receive_cap(&config, "bmkg", &cap_doc("exercise.xml"), t0())
        .is_empty());
    assert_eq!(state(&inbox, 1), State::Ignored);
    assert!(inbox
        .receive_cap(&config, "bmkg", &cap_doc("expired.xml"), t0())
        .is_empty());
    assert_eq!(state(&inbox, 2), State::Expired);
    assert!(inbox.confirm(2, "op", t0()).is_err());
}

#[test]
fn a_pending_alert_that_expires_is_never_played_late() {
    let config = config();
    let mut inbox = Inbox::new();
    let text = String::from_utf8(doc("nowcast.xml"))
        .unwrap()
        .replace("2099-12-06T17:00:00+07:00", "2026-12-06T17:00:00+07:00");
    inbox.receive_cap(&config, "bmkg", &cap::read(text.as_bytes()).unwrap(), t0());
    let later = t0() + Duration::hours(3);
    assert!(inbox.tick(later).is_empty());
    assert_eq!(state(&inbox, 1), State::Expired);
    assert!(inbox.confirm(1, "op", later).is_err());
    // Confirmed in time, it stops at its expiry.
    let mut inbox = Inbox::new();
    inbox.receive_cap(&config, "bmkg", &cap::read(text.as_bytes()).unwrap(), t0());
    inbox.confirm(1, "op", t0()).unwrap();
    assert!(inbox.tick(t0() + Duration::minutes(30)).is_empty());
    assert_eq!(inbox.tick(later), [Action::Stop { alert: 1 }]);
    assert_eq!(state(&inbox, 1), State::Expired);
}

#[test]
fn an_effective_time_to_come_delays_the_start() {
    let config = config();
    let mut inbox = Inbox::new();
    let early = t0() - Duration::hours(1);
    inbox.receive_cap(&config, "bmkg", &cap_doc("nowcast.xml"), early);
    let actions = inbox.confirm(1, "op", early).unwrap();
    let [Action::Start { at, .. }] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    assert_eq!(
        *at,
        DateTime::parse_from_rfc3339("2026-12-06T15:00:00+07:00").unwrap()
    );
    assert_eq!(state(&inbox, 1), State::Confirmed);
    inbox.tick(t0());
    assert_eq!(state(&inbox, 1), State::OnAir);
}

#[test]
fn a_dismissed_alert_never_plays() {
    let config = config();
    let mut inbox = Inbox::new();
    inbox.receive_cap(&config, "bmkg", &cap_doc("nowcast.xml"), t0());
    inbox.dismiss(1, "op").unwrap();
    assert_eq!(state(&inbox, 1), State::Ignored);
    assert_eq!(
        inbox.get(1).unwrap().reason.as_deref(),
        Some("dismissed by op")
    );
    assert!(inbox.confirm(1, "op", t0()).is_err());
}

#[test]
fn a_tsunami_siaga_starts_at_once_and_the_final_bulletin_stops_it() {
    let config = config();
    let mut inbox = Inbox::new();
    let b = inatews::read(&doc("inatews.xml")).unwrap();
    let actions = inbox.receive_inatews(&config, "inatews", &b, t0());
    let [Action::Start {
        alert: 1, decision, ..
    }] = actions.as_slice()
    else {
        panic!("{actions:?}")
    };
    assert_eq!(decision.zones, ["pantai"]);
    assert_eq!(state(&inbox, 1), State::OnAir);
    // PD-2, same event, same level: replaced in place.
    let mut b2 = b.clone();
    b2.subject = "PD-2".into();
    let actions = inbox.receive_inatews(&config, "inatews", &b2, t0());
    assert!(
        matches!(
            actions.as_slice(),
            [Action::Replace {
                old: 1,
                alert: 2,
                ..
            }]
        ),
        "{actions:?}"
    );
    // The final bulletin names no district: it ends the warning.
    let mut end = b.clone();
    end.subject = "PD-3".into();
    end.districts.clear();
    let actions = inbox.receive_inatews(&config, "inatews", &end, t0());
    assert_eq!(actions, [Action::Stop { alert: 2 }]);
    assert_eq!(state(&inbox, 2), State::Cancelled);
    // Seen again: nothing.
    assert!(inbox
        .receive_inatews(&config, "inatews", &b, t0())
        .is_empty());
}

#[test]
fn volcano_levels_raise_replace_and_lowering_to_one_stops() {
    let config = config();
    let mut inbox = Inbox::new();
    let lvl = |n| VolcanoLevel::new(n).unwrap();
    let actions = inbox
        .set_volcano(&config, "kelud", lvl(2), "bpbd", t0())
        .unwrap();
    let [Action::Start {
        alert: 1, decision, ..
    }] = actions.as_slice()
    else {
        panic!("{actions:?}")
    };
    assert_eq!(decision.zones, ["pos-kelud"]);
    let actions = inbox
        .set_volcano(&config, "kelud", lvl(3), "bpbd", t0())
        .unwrap();
    let [Action::Replace {
        old: 1,
        alert: 2,
        decision,
        ..
    }] = actions.as_slice()
    else {
        panic!("{actions:?}")
    };
    assert_eq!(decision.zones, ["pos-kelud", "nglegok"]);
    assert_eq!(state(&inbox, 1), State::Cancelled);
    let actions = inbox
        .set_volcano(&config, "kelud", lvl(1), "bpbd", t0())
        .unwrap();
    assert_eq!(actions, [Action::Stop { alert: 2 }]);
    assert_eq!(state(&inbox, 2), State::Cancelled);
    assert_eq!(state(&inbox, 3), State::Ignored);
    assert!(inbox
        .set_volcano(&config, "merapi", lvl(2), "x", t0())
        .is_err());
}

#[test]
fn pruning_forgets_ended_alerts_but_nothing_replays() {
    let config = config();
    let mut inbox = Inbox::new();
    let short = String::from_utf8(doc("nowcast.xml"))
        .unwrap()
        .replace("2099-12-06T17:00:00+07:00", "2026-12-06T17:00:00+07:00");
    let short = cap::read(short.as_bytes()).unwrap();
    inbox.receive_cap(&config, "bmkg", &short, t0());
    inbox.tick(t0() + Duration::hours(3));
    assert_eq!(state(&inbox, 1), State::Expired);
    // A tsunami bulletin carries no expiry; it ends with its final one.
    let tsunami = inatews::read(&doc("inatews.xml")).unwrap();
    let first = inbox.receive_inatews(&config, "inatews", &tsunami, t0());
    assert!(!first.is_empty());
    let live = inbox.alerts().len();
    // Nothing is old yet: nothing goes.
    assert_eq!(inbox.prune(t0()), 0);
    let later = t0() + Duration::days(100);
    assert_eq!(inbox.prune(later), 1, "only the expired nowcast ended");
    assert_eq!(inbox.alerts().len(), live - 1);
    assert!(inbox.get(1).is_none());
    // The long-expired document, seen again, is held as expired: it never
    // plays late. The tsunami bulletin is still seen: nothing twice.
    assert!(inbox.receive_cap(&config, "bmkg", &short, later).is_empty());
    assert_eq!(inbox.alerts().last().unwrap().state, State::Expired);
    assert!(inbox
        .receive_inatews(&config, "inatews", &tsunami, later)
        .is_empty());
}
