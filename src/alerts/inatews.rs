//! The InaTEWS bulletin reader: BMKG's earthquake and tsunami warning file
//! is CAP-shaped (`<alert><info>`) but not CAP: its own children, no
//! namespace, coordinates as **lon,lat**, dates `dd-mm-yy` with times
//! `HH:MM:SS WIB`, and one `<wzarea>` per district under warning with its
//! level (AWAS, SIAGA, WASPADA). A later bulletin (PD-2, ...) of the same
//! `eventid` replaces the earlier; one that names no district under
//! warning ends it.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone};

use super::cap::clip;
use super::xml::{self, Element, Refusal};
use crate::hazard::geo::Point;
use crate::hazard::TsunamiLevel;

/// A most districts one bulletin may name (the real ones name tens).
pub const MAX_DISTRICTS: usize = 2_000;

/// One bulletin.
#[derive(Debug, Clone, PartialEq)]
pub struct Bulletin {
    /// `eventid`: the earthquake the bulletins are about.
    pub event_id: String,
    /// `subject`: the bulletin's code, `PD-1`, `PD-2`, ...
    pub subject: String,
    /// `date` and `time` of the earthquake, with the offset of the zone
    /// name it carries (WIB +07:00, WITA +08:00, WIT +09:00).
    pub origin_time: Option<DateTime<FixedOffset>>,
    /// `point/coordinates`, turned from lon,lat into a point.
    pub epicenter: Option<Point>,
    pub magnitude: Option<f64>,
    pub depth: Option<String>,
    /// `area`: free text ("... BaratDaya KAB-BLITAR-JATIM").
    pub area: Option<String>,
    pub potential: Option<String>,
    pub instruction: Option<String>,
    /// The districts under warning, in document order.
    pub districts: Vec<District>,
}

impl Bulletin {
    /// The highest level of any district, `None` when none is under
    /// warning (a final bulletin).
    pub fn highest_level(&self) -> Option<TsunamiLevel> {
        self.districts.iter().map(|d| d.level).max()
    }
}

/// One `<wzarea>`.
#[derive(Debug, Clone, PartialEq)]
pub struct District {
    pub province: String,
    pub district: String,
    pub level: TsunamiLevel,
    /// The estimated arrival, as written (`date` `time`).
    pub arrival: Option<String>,
}

/// Read an InaTEWS warning file.
pub fn read(bytes: &[u8]) -> Result<Bulletin, Refusal> {
    let root = xml::parse(bytes)?;
    from_element(&root)
}

/// Read an already parsed InaTEWS `<alert>`.
pub fn from_element(root: &Element) -> Result<Bulletin, Refusal> {
    if root.name != "alert" {
        return Err(Refusal::new(format!(
            "line {}: the root is <{}>: an InaTEWS bulletin's root is <alert>",
            root.line, root.name
        )));
    }
    let info = root
        .child("info")
        .ok_or_else(|| Refusal::new(format!("line {}: alert/info is missing", root.line)))?;
    let required = |name: &str| {
        info.text_of(name).ok_or_else(|| {
            Refusal::new(format!("line {}: alert/info/{name} is missing", info.line))
        })
    };
    let event_id = required("eventid")?.to_string();
    let subject = info.text_of("subject").unwrap_or("").to_string();
    let origin_time = match (info.child("date"), info.child("time")) {
        (Some(d), Some(t)) => Some(date_time(d, t, "alert/info")?),
        _ => None,
    };
    let epicenter = match info.child("point").and_then(|p| p.child("coordinates")) {
        Some(c) => Some(lon_lat(&c.text).ok_or_else(|| {
            Refusal::new(format!(
                "line {}: alert/info/point/coordinates: `{}` is not longitude,latitude in range",
                c.line,
                clip(c.text.trim())
            ))
        })?),
        None => None,
    };
    let magnitude = match info.child("magnitude") {
        Some(m) => Some(
            m.text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    Refusal::new(format!(
                        "line {}: alert/info/magnitude: `{}` is not a number",
                        m.line,
                        clip(m.text.trim())
                    ))
                })?,
        ),
        None => None,
    };
    let mut districts = Vec::new();
    for (n, wz) in info.all("wzarea").enumerate() {
        let path = format!("alert/info/wzarea[{}]", n + 1);
        if n >= MAX_DISTRICTS {
            return Err(Refusal::new(format!(
                "line {}: {path}: more than {MAX_DISTRICTS} districts",
                wz.line
            )));
        }
        let field = |name: &str| {
            wz.text_of(name)
                .ok_or_else(|| Refusal::new(format!("line {}: {path}/{name} is missing", wz.line)))
        };
        let level_text = field("level")?;
        let level = TsunamiLevel::parse(level_text).ok_or_else(|| {
            Refusal::new(format!(
                "line {}: {path}/level: `{}` is not one of AWAS, SIAGA, WASPADA",
                wz.line,
                clip(level_text)
            ))
        })?;
        let arrival = match (wz.text_of("date"), wz.text_of("time")) {
            (Some(d), Some(t)) => Some(format!("{d} {t}")),
            (None, Some(t)) => Some(t.to_string()),
            _ => None,
        };
        districts.push(District {
            province: field("province")?.to_string(),
            district: field("district")?.to_string(),
            level,
            arrival,
        });
    }
    Ok(Bulletin {
        event_id,
        subject,
        origin_time,
        epicenter,
        magnitude,
        depth: info.text_of("depth").map(str::to_string),
        area: info.text_of("area").map(str::to_string),
        potential: info.text_of("potential").map(str::to_string),
        instruction: info.text_of("instruction").map(str::to_string),
        districts,
    })
}

/// `lon,lat` (InaTEWS's order, the reverse of CAP's).
fn lon_lat(text: &str) -> Option<Point> {
    let (lon, lat) = text.trim().split_once(',')?;
    Point::new(lat.trim().parse().ok()?, lon.trim().parse().ok()?)
}

/// `dd-mm-yy` and `HH:MM:SS WIB`.
fn date_time(d: &Element, t: &Element, path: &str) -> Result<DateTime<FixedOffset>, Refusal> {
    let date = NaiveDate::parse_from_str(d.text.trim(), "%d-%m-%y").map_err(|_| {
        Refusal::new(format!(
            "line {}: {path}/date: `{}` is not a date dd-mm-yy",
            d.line,
            clip(d.text.trim())
        ))
    })?;
    let text = t.text.trim();
    let (clock, zone) = text.split_once(' ').unwrap_or((text, "WIB"));
    let hours = match zone.trim() {
        "WIB" => 7,
        "WITA" => 8,
        "WIT" => 9,
        _ => -1,
    };
    let time = NaiveTime::parse_from_str(clock, "%H:%M:%S").ok();
    let offset = FixedOffset::east_opt(hours * 3600).filter(|_| hours > 0);
    match (time, offset) {
        (Some(time), Some(offset)) => offset
            .from_local_datetime(&date.and_time(time))
            .single()
            .ok_or_else(|| Refusal::new(format!("line {}: {path}/time: not a time", t.line))),
        _ => Err(Refusal::new(format!(
            "line {}: {path}/time: `{}` is not `HH:MM:SS WIB` (or WITA, WIT)",
            t.line,
            clip(text)
        ))),
    }
}
