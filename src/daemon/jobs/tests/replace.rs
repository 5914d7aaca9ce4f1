//! A job's content replaced in place (an alert's Update): the same job,
//! the old voices ended first, then the new content on its own zones.

use super::*;

fn warning(zones: &[ZoneId], alert: u64, file: &str) -> JobSpec {
    JobSpec {
        origin: Origin::Alert(alert),
        priority: Priority(200),
        repeat: 3,
        interval: Duration::from_secs(600),
        text: Some(format!("peringatan {alert}")),
        ..announcement(zones, file)
    }
}

#[test]
fn an_update_replaces_the_content_of_the_same_job_once_its_old_voices_end() {
    let mut b = bench("");
    let now = wib(15, 5, 0);
    let (id, _) = b
        .ledger
        .start_job(warning(&[PASAR, ALUN], 1, "/tts/hujan.wav"), now)
        .unwrap();
    b.ledger
        .on_feed_event(opened(PASAR, id, 1, "/tts/hujan.wav"), now);
    b.ledger.on_engine_event(started(PASAR, id, 1), now);
    let later = wib(15, 6, 0);
    let fx = b
        .ledger
        .replace(
            id,
            warning(&[PASAR], 2, "/tts/hujan-2.wav"),
            "replaced by alert 2",
            later,
        )
        .unwrap();
    // Stopped first; nothing new on air while an old voice is still there.
    assert_eq!(
        fx,
        vec![Effect::Stop {
            job: id,
            zone: None,
            reason: EndReason::Cancelled
        }]
    );
    // An old voice's next item slipping through before the stop took
    // writes nothing.
    b.ledger
        .on_feed_event(opened(ALUN, id, 1, "/tts/hujan.wav"), later);
    assert!(plays(&b.ledger.on_engine_event(started(ALUN, id, 1), later)).is_empty());
    let fx = b
        .ledger
        .on_engine_event(ended(PASAR, id, EndReason::Cancelled), later);
    assert!(plays(&fx).is_empty(), "{fx:?}");
    let fx = b
        .ledger
        .on_engine_event(ended(ALUN, id, EndReason::Cancelled), later);
    assert_eq!(
        plays(&fx),
        vec![(
            id,
            vec![PASAR],
            vec!["/sounds/chime.wav".into(), "/tts/hujan-2.wav".into()]
        )]
    );
    // One row for what was cut off, none for the slipped item.
    assert_eq!(
        rows(&b.ledger),
        vec![(
            "pasar".into(),
            "/tts/hujan.wav".into(),
            How::Cancelled,
            Some("replaced by alert 2".into())
        )]
    );
    let stored = b.ledger.store().unwrap().job(id).unwrap().unwrap();
    assert_eq!(stored.job.origin, "alert:2");
    assert_eq!(stored.job.zones, ["pasar"]);
    assert_eq!(stored.job.text.as_deref(), Some("peringatan 2"));
    assert_eq!(b.ledger.store().unwrap().queue().unwrap().len(), 1);
    // The new content goes on as a job does: its first play ends, the
    // next is due an interval later.
    b.ledger
        .on_feed_event(opened(PASAR, id, 1, "/tts/hujan-2.wav"), later);
    b.ledger.on_engine_event(started(PASAR, id, 1), later);
    let end = wib(15, 6, 30);
    let fx = b
        .ledger
        .on_engine_event(ended(PASAR, id, EndReason::Completed), end);
    assert_eq!(wakes(&fx), vec![(id, wib(15, 16, 30))]);
    assert!(rows(&b.ledger).contains(&(
        "pasar".into(),
        "/tts/hujan-2.wav".into(),
        How::Completed,
        None
    )));
}

#[test]
fn an_update_between_repeats_plays_at_once_and_the_old_wake_plays_nothing_twice() {
    let mut b = bench("");
    let (id, _) = b
        .ledger
        .start_job(warning(&[PASAR], 1, "/tts/hujan.wav"), wib(15, 5, 0))
        .unwrap();
    let fx = b
        .ledger
        .on_engine_event(ended(PASAR, id, EndReason::Completed), wib(15, 5, 30));
    assert_eq!(wakes(&fx), vec![(id, wib(15, 15, 30))]);
    let fx = b
        .ledger
        .replace(
            id,
            warning(&[PASAR, MASJID], 2, "/tts/b.wav"),
            "replaced by alert 2",
            wib(15, 7, 0),
        )
        .unwrap();
    assert_eq!(
        plays(&fx),
        vec![(
            id,
            vec![PASAR, MASJID],
            vec!["/sounds/chime.wav".into(), "/tts/b.wav".into()]
        )]
    );
    // The wake the old content set comes while the new plays.
    assert!(plays(&b.ledger.on_wake(id, wib(15, 15, 30))).is_empty());
    // Nothing was on air at the replacement: no row for it.
    assert!(rows(&b.ledger).is_empty());
}

#[test]
fn a_finished_job_cannot_be_replaced() {
    let mut b = bench("");
    let now = wib(15, 5, 0);
    let (id, _) = b
        .ledger
        .start_job(announcement(&[PASAR], "/media/a.wav"), now)
        .unwrap();
    b.ledger
        .on_engine_event(ended(PASAR, id, EndReason::Completed), now);
    let err = b
        .ledger
        .replace(id, warning(&[PASAR], 2, "/tts/b.wav"), "x", now)
        .unwrap_err();
    assert!(matches!(err, JobError::Finished(_)), "{err:?}");
}
