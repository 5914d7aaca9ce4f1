//! The request bodies the web reads, parsed here and nowhere else so that
//! the fuzz target (`fuzz/fuzz_targets/web_body.rs`) runs the same code as
//! the server: the login form, the emergency's JSON and the announce
//! form's text fields. Each ends as the control protocol's [`Request`],
//! checked by its own `validate`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::control::protocol::{Delivery, Request, ALL_ZONES};
use crate::priority::Priority;

/// Longest text field of the announce form (the text to speak has its own
/// bound, checked by the request).
const MAX_FIELD: usize = 16 * 1024;
/// Zone and group names one announcement names at most.
const MAX_ZONES: usize = 256;

/// `POST /login`'s form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
}

/// The login form (`application/x-www-form-urlencoded`).
pub fn login_form(bytes: &[u8]) -> Result<LoginForm, String> {
    serde_urlencoded::from_bytes(bytes)
        .map_err(|_| "expected form fields `username` and `password`".to_string())
}

/// `POST /api/emergency` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencyBody {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Zone and group names; absent = every zone.
    #[serde(default)]
    pub zones: Option<Vec<String>>,
}

/// The emergency's JSON as the request `corong emergency` sends.
pub fn emergency(bytes: &[u8]) -> Result<Request, String> {
    let body: EmergencyBody =
        serde_json::from_slice(bytes).map_err(|e| format!("bad JSON body: {e}"))?;
    let request = Request::Emergency {
        file: body.file,
        text: body.text,
        zones: body.zones.unwrap_or_else(|| vec![ALL_ZONES.to_string()]),
        stop: false,
    };
    request.validate().map_err(|e| e.0)?;
    Ok(request)
}

/// `POST /api/cancel` body: `{"id": N}`.
pub fn cancel(bytes: &[u8]) -> Result<Request, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        id: crate::ids::JobId,
    }
    let b: Body = serde_json::from_slice(bytes).map_err(|e| format!("bad JSON body: {e}"))?;
    Ok(Request::Cancel { id: b.id })
}

/// `POST /api/skip` body: `{"zones": [..]}`; empty or absent = every zone.
pub fn skip(bytes: &[u8]) -> Result<Request, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        zones: Option<Vec<String>>,
    }
    let b: Body = if bytes.iter().all(u8::is_ascii_whitespace) {
        Body { zones: None }
    } else {
        serde_json::from_slice(bytes).map_err(|e| format!("bad JSON body: {e}"))?
    };
    let request = Request::Skip {
        zones: b
            .zones
            .filter(|z| !z.is_empty())
            .unwrap_or_else(|| vec![ALL_ZONES.to_string()]),
    };
    request.validate().map_err(|e| e.0)?;
    Ok(request)
}

/// `POST /api/schedules/pause` body: `{"name": "pagi"}`.
pub fn schedule_pause(bytes: &[u8]) -> Result<Request, String> {
    let name = schedule_name(bytes)?;
    let request = Request::SchedulePause { name };
    request.validate().map_err(|e| e.0)?;
    Ok(request)
}

/// `POST /api/schedules/resume` body: `{"name": "pagi"}`.
pub fn schedule_resume(bytes: &[u8]) -> Result<Request, String> {
    let name = schedule_name(bytes)?;
    let request = Request::ScheduleResume { name };
    request.validate().map_err(|e| e.0)?;
    Ok(request)
}

fn schedule_name(bytes: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        name: String,
    }
    let b: Body = serde_json::from_slice(bytes).map_err(|e| format!("bad JSON body: {e}"))?;
    Ok(b.name)
}

/// `POST /api/say/preview` body: `{"text": "..."}`, bounded as `say`'s.
pub fn say_preview(bytes: &[u8]) -> Result<Request, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        text: String,
        #[serde(default)]
        voice: Option<String>,
    }
    let b: Body = serde_json::from_slice(bytes).map_err(|e| format!("bad JSON body: {e}"))?;
    let request = Request::SayPreview {
        text: b.text.trim().to_string(),
        voice: b.voice,
    };
    request.validate().map_err(|e| e.0)?;
    Ok(request)
}

/// The announce form's text fields, gathered one by one as the multipart
/// body brings them (the `file` part is stored separately).
#[derive(Debug, Default)]
pub struct AnnounceFields {
    pub text: Option<String>,
    pub zones: Vec<String>,
    pub priority: Option<Priority>,
    pub at: Option<String>,
    pub repeat: Option<u32>,
    /// Minutes between plays when `repeat` > 1 (`interval_min`).
    pub interval_min: Option<u64>,
    /// `false` for `--no-chime`.
    pub chime: Option<bool>,
}

impl AnnounceFields {
    /// Take one field; an unknown name or a bad value is refused, naming
    /// the field.
    pub fn field(&mut self, name: &str, value: &str) -> Result<(), String> {
        if value.len() > MAX_FIELD {
            return Err(format!("field `{name}` is over {MAX_FIELD} bytes"));
        }
        let value = value.trim();
        match name {
            "text" => {
                if !value.is_empty() {
                    self.text = Some(value.to_string());
                }
            }
            // Checkboxes send one field per zone; a typed list may use commas.
            "zones" => {
                for z in value.split(',').map(str::trim).filter(|z| !z.is_empty()) {
                    if self.zones.len() >= MAX_ZONES {
                        return Err(format!("field `zones`: at most {MAX_ZONES} names"));
                    }
                    self.zones.push(z.to_string());
                }
            }
            "priority" => {
                if !value.is_empty() {
                    let p = value
                        .parse::<Priority>()
                        .map_err(|e| format!("field `priority`: {e}"))?;
                    self.priority = Some(p);
                }
            }
            "at" => {
                if !value.is_empty() {
                    // A browser's datetime-local gives `YYYY-MM-DDTHH:MM`.
                    self.at = Some(value.replacen('T', " ", 1));
                }
            }
            "repeat" => {
                if !value.is_empty() {
                    let n = value
                        .parse::<u32>()
                        .map_err(|_| format!("field `repeat`: not a count: {value:?}"))?;
                    self.repeat = Some(n);
                }
            }
            "interval_min" => {
                if !value.is_empty() {
                    let n = value
                        .parse::<u64>()
                        .map_err(|_| format!("field `interval_min`: not minutes: {value:?}"))?;
                    self.interval_min = Some(n);
                }
            }
            // The page sends a hidden `off` and, when the box is ticked,
            // `on` after it: the last one counts.
            "chime" => {
                self.chime = Some(match value {
                    "on" | "true" | "1" | "" => true,
                    "off" | "false" | "0" => false,
                    v => return Err(format!("field `chime`: on or off, not {v:?}")),
                })
            }
            other => return Err(format!("unknown field `{other}`")),
        }
        Ok(())
    }

    /// The request: `announce` of the stored `file`, or `say` of the text.
    /// Exactly one of them; at least one zone.
    pub fn request(self, file: Option<PathBuf>) -> Result<Request, String> {
        if self.zones.is_empty() {
            return Err("field `zones`: choose at least one zone or group".into());
        }
        let delivery = Delivery {
            zones: self.zones,
            priority: self.priority,
            at: self.at,
            repeat: self.repeat.unwrap_or(1),
            // Bounded with the socket's own check (a week at most).
            interval_s: self.interval_min.map(|m| m.saturating_mul(60)),
            chime: self.chime.unwrap_or(true),
            ..Delivery::default()
        };
        let request = match (file, self.text) {
            (Some(_), Some(_)) => return Err("send a file or a text, not both".into()),
            (None, None) => {
                return Err("send a file (field `file`) or a text (field `text`)".into())
            }
            (Some(f), None) => Request::Announce {
                files: vec![f],
                delivery,
            },
            (None, Some(text)) => Request::Say {
                text,
                voice: None,
                delivery,
            },
        };
        request.validate().map_err(|e| e.0)?;
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announce_fields_become_the_sockets_requests() {
        let mut f = AnnounceFields::default();
        f.field("zones", "alun-alun").unwrap();
        f.field("zones", "pasar, terminal").unwrap();
        f.field("priority", "live").unwrap();
        f.field("at", "2026-12-07T06:30").unwrap();
        f.field("chime", "off").unwrap();
        f.field("repeat", "3").unwrap();
        f.field("interval_min", "15").unwrap();
        let r = f.request(Some("/state/uploads/ab.wav".into())).unwrap();
        let Request::Announce { files, delivery } = r else {
            panic!("{r:?}")
        };
        assert_eq!(files, vec![PathBuf::from("/state/uploads/ab.wav")]);
        assert_eq!(delivery.zones, ["alun-alun", "pasar", "terminal"]);
        assert_eq!(delivery.priority, Some(Priority::LIVE));
        assert_eq!(delivery.at.as_deref(), Some("2026-12-07 06:30"));
        assert!(!delivery.chime);
        assert_eq!((delivery.repeat, delivery.interval_s), (3, Some(900)));
        let mut bad = AnnounceFields::default();
        assert!(bad
            .field("interval_min", "soon")
            .unwrap_err()
            .contains("interval_min"));

        let mut f = AnnounceFields::default();
        f.field("text", "Selamat pagi").unwrap();
        f.field("zones", "all").unwrap();
        assert!(matches!(f.request(None).unwrap(), Request::Say { .. }));
    }

    #[test]
    fn pause_resume_and_preview_bodies_become_the_sockets_requests() {
        assert_eq!(
            schedule_pause(br#"{"name":"pagi"}"#).unwrap(),
            Request::SchedulePause {
                name: "pagi".into()
            }
        );
        assert_eq!(
            schedule_resume(br#"{"name":"pagi"}"#).unwrap(),
            Request::ScheduleResume {
                name: "pagi".into()
            }
        );
        assert!(schedule_pause(br#"{"name":" "}"#).is_err());
        assert!(schedule_pause(br#"{"name":"pagi","all":true}"#).is_err());
        assert_eq!(
            say_preview(br#"{"text":" Selamat pagi "}"#).unwrap(),
            Request::SayPreview {
                text: "Selamat pagi".into(),
                voice: None
            }
        );
        let long = format!(r#"{{"text":"{}"}}"#, "a".repeat(4097));
        assert!(say_preview(long.as_bytes()).unwrap_err().contains("4096"));
        assert!(say_preview(br#"{"text":""}"#).is_err());
    }

    #[test]
    fn bad_fields_are_named() {
        let mut f = AnnounceFields::default();
        assert!(f
            .field("priority", "urgent!")
            .unwrap_err()
            .contains("priority"));
        assert!(f.field("path", "/etc").unwrap_err().contains("`path`"));
        assert!(f.field("repeat", "-1").unwrap_err().contains("repeat"));
        f.field("text", "x").unwrap();
        assert!(f.request(None).unwrap_err().contains("zones"));
        let mut f = AnnounceFields::default();
        f.field("zones", "a").unwrap();
        assert!(f.request(None).unwrap_err().contains("file"));
    }

    #[test]
    fn emergency_and_login_bodies() {
        assert!(matches!(
            emergency(br#"{"text":"Awas lahar"}"#).unwrap(),
            Request::Emergency { .. }
        ));
        assert!(emergency(br#"{"text":"x","path":"/"}"#).is_err());
        assert!(emergency(br#"{"file":"relative.wav"}"#).is_err());
        let l = login_form(b"username=sri&password=a%20b").unwrap();
        assert_eq!((l.username.as_str(), l.password.as_str()), ("sri", "a b"));
        assert!(login_form(b"user=sri").is_err());
    }
}
