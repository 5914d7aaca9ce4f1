//! What travels on the broker, as JSON: a kiosk's presence and state
//! (retained), an order and its acknowledgement; and the topics they travel
//! on. Everything read from the broker goes through [`parse`], which bounds
//! the size before serde sees it (`fuzz/fuzz_targets/sites_message.rs`).
//!
//! ```text
//! PREFIX/sites/NAME/online   retained  {"online":true,"at_ms":..}; the Last Will {"online":false}
//! PREFIX/sites/NAME/state    retained  {"site":..,"version":..,"at_ms":..,"zones":[..],"pending_alerts":n,"feeds_failing":[..]}
//! PREFIX/orders/all          QoS 1     an Order to every kiosk
//! PREFIX/orders/NAME         QoS 1     an Order to one kiosk
//! PREFIX/acks/NAME           QoS 1     an Ack to the kiosk NAME that sent the order
//! ```

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::control::protocol::{check_file_refs, FileRef, Request, SiteFeed, SiteZone};
use crate::ids::JobId;

/// The largest payload read (an order carries at most 4 KiB of text).
pub const MAX_PAYLOAD: usize = 16 * 1024;
/// The largest state read: a kiosk of [`MAX_ZONES`] zones at about 100
/// bytes each.
pub const MAX_STATE_PAYLOAD: usize = 256 * 1024;
/// The most zones a state lists (more are cut).
pub const MAX_ZONES: usize = 2048;

/// `PREFIX/sites/NAME/online`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub online: bool,
    /// When the kiosk said so (absent in the Last Will: the broker sends it
    /// when the kiosk is found dead, at a time it cannot know in advance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<i64>,
}

/// `PREFIX/sites/NAME/state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub site: String,
    pub version: String,
    pub at_ms: i64,
    #[serde(default)]
    pub zones: Vec<SiteZone>,
    #[serde(default)]
    pub pending_alerts: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feeds_failing: Vec<SiteFeed>,
}

/// An order: a request another kiosk carries out on its own zones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Unique: `ORIGIN-MILLIS-RANDOM`.
    pub id: String,
    /// The kiosk that sent it; acknowledgements go to `acks/ORIGIN`.
    pub origin: String,
    /// Who asked there (their user name).
    pub user: String,
    pub issued_ms: i64,
    /// Not carried out after this; absent for `emergency --stop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<i64>,
    /// `say`, `announce` or `emergency` (text, a file, or `stop`).
    pub request: Request,
    /// The files the request names by content (`sha256:HEX`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileRef>,
}

/// A kiosk's answer to an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub order: String,
    pub site: String,
    pub accepted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why a payload was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPayload {
    #[error("{0} bytes: too large")]
    TooLarge(usize),
    #[error("not JSON of the expected shape: {0}")]
    Shape(String),
    #[error("{0}")]
    Invalid(String),
}

/// Reads a payload of at most [`MAX_PAYLOAD`] bytes.
pub fn parse<T: DeserializeOwned>(payload: &[u8]) -> Result<T, BadPayload> {
    if payload.len() > MAX_PAYLOAD {
        return Err(BadPayload::TooLarge(payload.len()));
    }
    serde_json::from_slice(payload).map_err(|e| BadPayload::Shape(cut(&e.to_string())))
}

/// An order, with what it may ask checked: only `say` and a text or stop
/// `emergency`, within the control protocol's bounds; a plausible id.
pub fn parse_order(payload: &[u8]) -> Result<Order, BadPayload> {
    let order: Order = parse(payload)?;
    let ok_name = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !ok_name(&order.id) || !ok_name(&order.origin) {
        return Err(BadPayload::Invalid("bad order id or origin".into()));
    }
    if order.user.len() > 128 || order.user.chars().any(char::is_control) {
        return Err(BadPayload::Invalid(
            "user name too long or with control characters".into(),
        ));
    }
    let refs = |r: Result<(), String>| r.map_err(BadPayload::Invalid);
    match &order.request {
        Request::Announce { files, .. } => refs(check_file_refs(files.iter(), &order.files))?,
        Request::Emergency { file: Some(f), .. } => {
            refs(check_file_refs(std::iter::once(f), &order.files))?
        }
        Request::Say { .. }
        | Request::Emergency {
            file: None,
            text: Some(_),
            ..
        }
        | Request::Emergency {
            file: None,
            stop: true,
            ..
        } if order.files.is_empty() => {}
        other => {
            return Err(BadPayload::Invalid(format!(
                "`{}` is not an order a kiosk carries out",
                other.name()
            )))
        }
    }
    order
        .request
        .validate_by_content()
        .map_err(|e| BadPayload::Invalid(e.0))?;
    Ok(order)
}

/// A state, its zone list bounded.
pub fn parse_state(payload: &[u8]) -> Result<State, BadPayload> {
    if payload.len() > MAX_STATE_PAYLOAD {
        return Err(BadPayload::TooLarge(payload.len()));
    }
    let mut state: State =
        serde_json::from_slice(payload).map_err(|e| BadPayload::Shape(cut(&e.to_string())))?;
    state.zones.truncate(MAX_ZONES);
    Ok(state)
}

/// A log line never carries a whole hostile payload.
fn cut(s: &str) -> String {
    let mut end = s.len().min(200);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The topics of one regency.
#[derive(Debug, Clone)]
pub struct Topics {
    pub prefix: String,
}

/// What a topic the kiosk hears is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard<'a> {
    Online(&'a str),
    State(&'a str),
    Order,
    Ack,
}

impl Topics {
    pub fn online(&self, site: &str) -> String {
        format!("{}/sites/{site}/online", self.prefix)
    }
    pub fn state(&self, site: &str) -> String {
        format!("{}/sites/{site}/state", self.prefix)
    }
    pub fn orders(&self, site: &str) -> String {
        format!("{}/orders/{site}", self.prefix)
    }
    pub fn acks(&self, site: &str) -> String {
        format!("{}/acks/{site}", self.prefix)
    }
    /// Every kiosk's presence and state.
    pub fn all_sites(&self) -> String {
        format!("{}/sites/+/+", self.prefix)
    }

    /// Which of ours `topic` is.
    pub fn heard<'t>(&self, topic: &'t str) -> Option<Heard<'t>> {
        let rest = topic.strip_prefix(&self.prefix)?.strip_prefix('/')?;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            ["sites", name, "online"] => Some(Heard::Online(name)),
            ["sites", name, "state"] => Some(Heard::State(name)),
            ["orders", _] => Some(Heard::Order),
            ["acks", _] => Some(Heard::Ack),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say_order(expires: Option<i64>) -> Vec<u8> {
        serde_json::to_vec(&Order {
            id: "centre-1-ab".into(),
            origin: "centre".into(),
            user: "budi".into(),
            issued_ms: 1,
            expires_ms: expires,
            request: Request::Say {
                text: "halo".into(),
                voice: None,
                delivery: Default::default(),
            },
            files: vec![],
        })
        .unwrap()
    }

    #[test]
    fn orders_round_trip_and_are_checked() {
        let o = parse_order(&say_order(Some(5))).unwrap();
        assert_eq!(o.expires_ms, Some(5));
        assert!(matches!(
            parse_order(&[b' '; MAX_PAYLOAD + 1]),
            Err(BadPayload::TooLarge(_))
        ));
        assert!(matches!(parse_order(b"{}"), Err(BadPayload::Shape(_))));
        let status =
            br#"{"id":"a","origin":"b","user":"c","issued_ms":1,"request":{"cmd":"reload"}}"#;
        assert!(matches!(parse_order(status), Err(BadPayload::Invalid(_))));
        let file = br#"{"id":"a","origin":"b","user":"c","issued_ms":1,"request":{"cmd":"emergency","file":"/etc/passwd","zones":["all"]}}"#;
        assert!(matches!(parse_order(file), Err(BadPayload::Invalid(_))));
        let bad_id = br#"{"id":"a/#","origin":"b","user":"c","issued_ms":1,"request":{"cmd":"emergency","stop":true,"zones":["all"]}}"#;
        assert!(matches!(parse_order(bad_id), Err(BadPayload::Invalid(_))));
    }

    /// Files are named by content only: a path, a hash without its size
    /// and name, a name with a path in it, or refs on a text order are
    /// refused.
    #[test]
    fn an_order_names_files_by_content_only() {
        let hex = "ab".repeat(32);
        let order = |path: &str, files: &str| {
            format!(
                r#"{{"id":"a","origin":"b","user":"c","issued_ms":1,"request":{{"cmd":"announce","files":["{path}"],"zones":["all"]}},"files":{files}}}"#
            )
        };
        let good_ref = format!(r#"[{{"sha256":"{hex}","size":10,"name":"banjir.wav"}}]"#);
        let o = parse_order(order(&format!("sha256:{hex}"), &good_ref).as_bytes()).unwrap();
        assert_eq!(o.files[0].name, "banjir.wav");
        for (path, files) in [
            ("/etc/passwd".to_string(), good_ref.clone()),
            (format!("sha256:{hex}"), "[]".to_string()),
            (format!("sha256:{}", "cd".repeat(32)), good_ref.clone()),
            (format!("sha256:{}", &hex[..60]), good_ref.clone()),
            (
                format!("sha256:{hex}"),
                format!(r#"[{{"sha256":"{hex}","size":10,"name":"../x.wav"}}]"#),
            ),
        ] {
            let bytes = order(&path, &files);
            assert!(
                matches!(parse_order(bytes.as_bytes()), Err(BadPayload::Invalid(_))),
                "{bytes}"
            );
        }
        let say = format!(
            r#"{{"id":"a","origin":"b","user":"c","issued_ms":1,"request":{{"cmd":"say","text":"x","zones":["all"]}},"files":{good_ref}}}"#
        );
        assert!(parse_order(say.as_bytes()).is_err());
    }

    /// A kiosk of a thousand zones is read (its state is far over the
    /// orders' bound); past the states' own bound it is refused.
    #[test]
    fn a_large_kiosks_state_is_read_and_a_huge_one_refused() {
        let zone = |i: usize| SiteZone {
            name: format!("desa-{i:04}-tiang-utama"),
            playing: Some(format!("job {i} (schedule:pagi, program)")),
            state: Some("streaming".into()),
            receivers: 3,
            receivers_silent: 0,
        };
        let mut state = State {
            site: "wlingi".into(),
            version: "0.1.0".into(),
            at_ms: 1,
            zones: (0..1000).map(zone).collect(),
            pending_alerts: 0,
            feeds_failing: vec![],
        };
        let bytes = serde_json::to_vec(&state).unwrap();
        assert!(bytes.len() > MAX_PAYLOAD && bytes.len() < MAX_STATE_PAYLOAD);
        assert_eq!(parse_state(&bytes).unwrap(), state);
        state.zones = (0..4000).map(zone).collect();
        let bytes = serde_json::to_vec(&state).unwrap();
        assert!(matches!(parse_state(&bytes), Err(BadPayload::TooLarge(_))));
    }

    #[test]
    fn topics_are_told_apart() {
        let t = Topics {
            prefix: "corong/blitar".into(),
        };
        assert_eq!(t.heard(&t.online("a")), Some(Heard::Online("a")));
        assert_eq!(t.heard(&t.state("b")), Some(Heard::State("b")));
        assert_eq!(t.heard(&t.orders("all")), Some(Heard::Order));
        assert_eq!(t.heard(&t.acks("c")), Some(Heard::Ack));
        assert_eq!(t.heard("corong/blitarx/sites/a/online"), None);
        assert_eq!(t.heard("corong/blitar/sites/a/b/online"), None);
    }
}
