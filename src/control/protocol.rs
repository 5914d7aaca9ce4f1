//! The control protocol: JSON lines over the control socket, version 1.
//!
//! One request per line from the client, one or more response lines from the
//! daemon. `docs/protocol.md` is the reference with examples; this file is
//! the code of it. The shapes are stable: fields may be added, never removed
//! or renamed. Readers ignore fields they do not know, so an older daemon
//! accepts a newer client's requests (and vice versa for replies).
//!
//! ```text
//! -> {"v":1,"cmd":"status"}
//! <- {"v":1,"ok":true,"result":{"type":"status","daemon":{...},"zones":[...],"next_events":[...]}}
//! -> {"v":1,"cmd":"cancel","id":99}
//! <- {"v":1,"ok":false,"code":"not_found","error":"no pending job 99"}
//! ```
//!
//! An exchange ends when the daemon has sent a line with `"ok"`; before that
//! it may send any number of `{"v":1,"progress":{...}}` lines (only for
//! `announce`/`say` with `"wait":true`).
//!
//! - `protocol/envelope.rs`: the version, the bounds, and what is wrong
//!   with a line ([`ProtocolError`], [`ErrorCode`]).
//! - `protocol/request.rs`: what a client asks ([`Request`], [`Delivery`])
//!   and the bounds a request is checked against.
//! - `protocol/reply.rs`: what the daemon answers ([`Reply`] and the
//!   result of each command).
//! - `protocol/sites.rs`: the replies of `sites` and of an order sent to
//!   other kiosks (`--sites`).
//! - `protocol/response.rs`: one response line ([`Response`]): a reply, an
//!   error or progress.
//!
//! This file only gathers them: everything is used as `protocol::Name`.

mod envelope;
mod reply;
mod request;
mod response;
mod sites;

pub use envelope::*;
pub use reply::*;
pub use request::*;
pub use response::*;
pub use sites::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::JobId;
    use crate::priority::Priority;

    fn announce() -> Request {
        Request::Announce {
            files: vec!["/srv/a.mp3".into()],
            delivery: Delivery {
                zones: vec!["utara".into()],
                priority: Some(Priority::LIVE),
                ..Delivery::default()
            },
        }
    }

    #[test]
    fn request_lines_round_trip_with_version() {
        let line = announce().to_line();
        assert!(line.contains(r#""v":1"#), "{line}");
        assert!(line.contains(r#""cmd":"announce""#), "{line}");
        assert!(line.contains(r#""priority":150"#), "{line}");
        assert_eq!(Request::from_line(line.as_bytes()).unwrap(), announce());
        for req in [
            Request::Status,
            Request::Reload,
            Request::Cancel { id: JobId(7) },
            Request::Schedule { next: 3 },
        ] {
            assert_eq!(Request::from_line(req.to_line().as_bytes()).unwrap(), req);
        }
    }

    #[test]
    fn defaults_and_priority_names_parse() {
        let r = Request::from_line(
            br#"{"v":1,"cmd":"announce","files":["/a.wav"],"zones":["all"],"priority":"emergency"}"#,
        )
        .unwrap();
        let Request::Announce { delivery, .. } = r else {
            panic!()
        };
        assert_eq!(delivery.priority, Some(Priority::EMERGENCY));
        assert!(delivery.chime);
        assert_eq!(delivery.repeat, 1);
        assert!(!delivery.wait);
        assert_eq!(
            Request::from_line(br#"{"v":1,"cmd":"schedule"}"#).unwrap(),
            Request::Schedule { next: 5 }
        );
    }

    #[test]
    fn version_is_checked_first() {
        let e = Request::from_line(br#"{"v":2,"cmd":"teleport"}"#).unwrap_err();
        assert_eq!(e, ProtocolError::UnsupportedVersion("2".into()));
        assert!(e.to_string().contains("speaks version 1"));
        assert_eq!(
            Request::from_line(br#"{"cmd":"status"}"#).unwrap_err(),
            ProtocolError::MissingVersion
        );
        assert_eq!(
            Request::from_line(b"[1]").unwrap_err(),
            ProtocolError::NotAnObject
        );
        assert_eq!(
            Request::from_line(b"\xff\xfe").unwrap_err(),
            ProtocolError::NotUtf8
        );
        assert!(matches!(
            Request::from_line(br#"{"v":1,"cmd":"announce"}"#),
            Err(ProtocolError::Json(_))
        ));
    }

    #[test]
    fn validate_enforces_bounds() {
        assert!(announce().validate().is_ok());
        let too_many = Request::Announce {
            files: (0..65).map(|i| format!("/f{i}.wav").into()).collect(),
            delivery: Delivery::default(),
        };
        assert!(too_many
            .validate()
            .unwrap_err()
            .0
            .contains("too many files"));
        let relative = Request::Announce {
            files: vec!["a.wav".into()],
            delivery: Delivery::default(),
        };
        assert!(relative.validate().is_err());
        let long = Request::Say {
            text: "a".repeat(MAX_TEXT + 1),
            voice: None,
            delivery: Delivery::default(),
        };
        assert!(long.validate().is_err());
        let both = Request::Emergency {
            file: Some("/e.wav".into()),
            text: Some("banjir".into()),
            zones: vec!["all".into()],
            stop: false,
        };
        assert!(both.validate().is_err());
        let stop = Request::Emergency {
            file: None,
            text: None,
            zones: vec!["all".into()],
            stop: true,
        };
        assert!(stop.validate().is_ok());
        assert!(Request::Skip { zones: vec![] }.validate().is_err());
        assert!(Request::Schedule { next: 0 }.validate().is_err());
        let pause = Request::SchedulePause { name: "".into() };
        assert!(pause.validate().is_err());
        let pause = Request::SchedulePause {
            name: "pagi".into(),
        };
        assert_eq!(
            Request::from_line(pause.to_line().as_bytes()).unwrap(),
            pause
        );
        assert!(pause.to_line().contains(r#""cmd":"schedule_pause""#));
        // An interval that overflowed the time arithmetic into "at once".
        let endless = Request::Announce {
            files: vec!["/a.wav".into()],
            delivery: Delivery {
                interval_s: Some(u64::MAX),
                repeat: 2,
                ..Delivery::default()
            },
        };
        let e = endless.validate().unwrap_err().0;
        assert!(e.contains("--interval must be 0..=604800"), "{e}");
        let week = Request::Announce {
            files: vec!["/a.wav".into()],
            delivery: Delivery {
                interval_s: Some(MAX_INTERVAL_S),
                repeat: 2,
                ..Delivery::default()
            },
        };
        assert!(week.validate().is_ok());
    }

    #[test]
    fn responses_have_the_documented_shape() {
        let ok = Response::Ok(Reply::Announced(AnnounceResult {
            id: JobId(17),
            zones: vec!["alun-alun".into()],
            not_before: None,
            on_air: false,
            warning: None,
        }));
        assert_eq!(
            ok.to_line(),
            r#"{"v":1,"ok":true,"result":{"type":"announced","id":17,"zones":["alun-alun"]}}"#
        );
        let err = Response::error(ErrorCode::NotFound, "no job 9\nat all");
        assert_eq!(
            err.to_line(),
            r#"{"v":1,"ok":false,"code":"not_found","error":"no job 9 at all"}"#
        );
        let p = Response::Progress(Progress {
            id: JobId(17),
            zones_done: 1,
            zones_total: 3,
            state: JobState::Playing,
            reason: None,
        });
        assert_eq!(
            p.to_line(),
            r#"{"v":1,"progress":{"id":17,"zones_done":1,"zones_total":3,"state":"playing"}}"#
        );
        for r in [ok, err, p] {
            assert_eq!(Response::from_line(&r.to_line()).unwrap(), r);
        }
    }

    #[test]
    fn unknown_codes_and_states_from_newer_daemons_parse() {
        let r = Response::from_line(r#"{"v":1,"ok":false,"code":"on_fire","error":"x","new":1}"#)
            .unwrap();
        assert_eq!(
            r,
            Response::Err {
                code: ErrorCode::Other,
                error: "x".into()
            }
        );
        let p = Response::from_line(
            r#"{"v":1,"progress":{"id":1,"zones_done":0,"zones_total":1,"state":"paused"}}"#,
        )
        .unwrap();
        assert!(matches!(
            p,
            Response::Progress(Progress {
                state: JobState::Other,
                ..
            })
        ));
    }
}
