//! The CAP 1.2 reader (OASIS Common Alerting Protocol): the parts of an
//! `<alert>` corong acts on, checked against the spec's rules (required
//! fields, enumerations, times with an offset, polygons closed and in
//! range). A refusal names the field as a path
//! (`alert/info[1]/area[2]/polygon[3]`) and the line.

use chrono::{DateTime, FixedOffset};

use super::xml::{self, Element, Refusal};
use crate::hazard::geo::{Circle, Point, Polygon};
use crate::hazard::Severity;

/// CAP 1.2's namespace: an `<alert>` in any other is not CAP 1.2.
pub const CAP_NAMESPACE: &str = "urn:oasis:names:tc:emergency:cap:1.2";

/// `<status>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Actual,
    Exercise,
    System,
    Test,
    Draft,
}

/// `<msgType>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgType {
    Alert,
    Update,
    Cancel,
    Ack,
    Error,
}

/// `<scope>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Public,
    Restricted,
    Private,
}

/// One entry of `<references>`: the message an Update or Cancel refers to.
/// `sent` is kept as written: identity compares the text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    pub sender: String,
    pub identifier: String,
    pub sent: String,
}

/// A CAP 1.2 `<alert>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub identifier: String,
    pub sender: String,
    pub sent: DateTime<FixedOffset>,
    /// `sent` as written, part of the alert's identity.
    pub sent_text: String,
    pub status: Status,
    pub msg_type: MsgType,
    pub scope: Scope,
    pub references: Vec<Reference>,
    pub infos: Vec<Info>,
}

impl Alert {
    /// CAP's identity of a message: (sender, identifier, sent).
    pub fn identity(&self) -> Reference {
        Reference {
            sender: self.sender.clone(),
            identifier: self.identifier.clone(),
            sent: self.sent_text.clone(),
        }
    }
}

/// An `<info>` block (one per language).
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    /// Default `en-US`, as the spec says.
    pub language: String,
    pub categories: Vec<String>,
    pub event: String,
    pub urgency: String,
    pub severity: Severity,
    pub certainty: String,
    pub effective: Option<DateTime<FixedOffset>>,
    pub onset: Option<DateTime<FixedOffset>>,
    pub expires: Option<DateTime<FixedOffset>>,
    pub sender_name: Option<String>,
    pub headline: Option<String>,
    pub description: Option<String>,
    pub instruction: Option<String>,
    pub areas: Vec<Area>,
}

/// An `<area>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    pub desc: String,
    pub polygons: Vec<Polygon>,
    pub circles: Vec<Circle>,
    pub geocodes: Vec<Geocode>,
}

/// A `<geocode>`: `valueName` and `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geocode {
    pub name: String,
    pub value: String,
}

const URGENCIES: [&str; 5] = ["Immediate", "Expected", "Future", "Past", "Unknown"];
const CERTAINTIES: [&str; 5] = ["Observed", "Likely", "Possible", "Unlikely", "Unknown"];
const CATEGORIES: [&str; 12] = [
    "Geo",
    "Met",
    "Safety",
    "Security",
    "Rescue",
    "Fire",
    "Health",
    "Env",
    "Transport",
    "Infra",
    "CBRNE",
    "Other",
];

/// Read a CAP 1.2 document.
pub fn read(bytes: &[u8]) -> Result<Alert, Refusal> {
    let root = xml::parse(bytes)?;
    from_element(&root)
}

/// Read an already parsed `<alert>`.
pub fn from_element(root: &Element) -> Result<Alert, Refusal> {
    if root.name != "alert" {
        return Err(Refusal::new(format!(
            "line {}: the root is <{}>: a CAP document's root is <alert>",
            root.line, root.name
        )));
    }
    if root.namespace.as_deref() != Some(CAP_NAMESPACE) {
        return Err(Refusal::new(format!(
            "line {}: <alert> is in the namespace `{}`: CAP 1.2's is `{CAP_NAMESPACE}`",
            root.line,
            root.namespace.as_deref().unwrap_or("(none)")
        )));
    }
    let f = Fields {
        el: root,
        path: "alert".into(),
    };
    let identifier = f.name_like("identifier")?;
    let sender = f.name_like("sender")?;
    let sent_text = f.required("sent")?.to_string();
    let sent = f.time("sent")?.expect("required above");
    let status = match f.required("status")? {
        "Actual" => Status::Actual,
        "Exercise" => Status::Exercise,
        "System" => Status::System,
        "Test" => Status::Test,
        "Draft" => Status::Draft,
        other => return Err(f.bad("status", other, "Actual, Exercise, System, Test or Draft")),
    };
    let msg_type = match f.required("msgType")? {
        "Alert" => MsgType::Alert,
        "Update" => MsgType::Update,
        "Cancel" => MsgType::Cancel,
        "Ack" => MsgType::Ack,
        "Error" => MsgType::Error,
        other => return Err(f.bad("msgType", other, "Alert, Update, Cancel, Ack or Error")),
    };
    let scope = match f.required("scope")? {
        "Public" => Scope::Public,
        "Restricted" => Scope::Restricted,
        "Private" => Scope::Private,
        other => return Err(f.bad("scope", other, "Public, Restricted or Private")),
    };
    let mut references = Vec::new();
    if let Some(text) = root.text_of("references") {
        for triple in text.split_whitespace() {
            let parts: Vec<&str> = triple.split(',').collect();
            match parts.as_slice() {
                [s, i, t] if !s.is_empty() && !i.is_empty() && !t.is_empty() => {
                    references.push(Reference {
                        sender: s.to_string(),
                        identifier: i.to_string(),
                        sent: t.to_string(),
                    })
                }
                _ => {
                    return Err(f.bad(
                        "references",
                        triple,
                        "space-separated sender,identifier,sent triples",
                    ))
                }
            }
        }
    }
    if matches!(msg_type, MsgType::Update | MsgType::Cancel) && references.is_empty() {
        return Err(Refusal::new(format!(
            "{}alert/references: a msgType {:?} must name the messages it refers to",
            f.at("msgType"),
            msg_type
        )));
    }
    let mut infos = Vec::new();
    for (n, el) in root.all("info").enumerate() {
        infos.push(info(Fields {
            el,
            path: format!("alert/info[{}]", n + 1),
        })?);
    }
    Ok(Alert {
        identifier,
        sender,
        sent,
        sent_text,
        status,
        msg_type,
        scope,
        references,
        infos,
    })
}

fn info(f: Fields) -> Result<Info, Refusal> {
    let language = f.el.text_of("language").unwrap_or("en-US").to_string();
    let mut categories = Vec::new();
    for c in f.el.all("category") {
        let text = c.text.trim();
        if !CATEGORIES.contains(&text) {
            return Err(f.bad("category", text, "Geo, Met, Safety, ... (CAP 1.2's list)"));
        }
        categories.push(text.to_string());
    }
    if categories.is_empty() {
        return Err(f.missing("category"));
    }
    let event = f.required("event")?.to_string();
    let urgency = f.one_of("urgency", &URGENCIES)?;
    let severity_text = f.required("severity")?;
    let severity = Severity::parse(severity_text).ok_or_else(|| {
        f.bad(
            "severity",
            severity_text,
            "Extreme, Severe, Moderate, Minor or Unknown",
        )
    })?;
    let certainty = f.one_of("certainty", &CERTAINTIES)?;
    let mut areas = Vec::new();
    for (n, el) in f.el.all("area").enumerate() {
        areas.push(area(Fields {
            el,
            path: format!("{}/area[{}]", f.path, n + 1),
        })?);
    }
    Ok(Info {
        language,
        categories,
        event,
        urgency,
        severity,
        certainty,
        effective: f.time("effective")?,
        onset: f.time("onset")?,
        expires: f.time("expires")?,
        sender_name: f.el.text_of("senderName").map(str::to_string),
        headline: f.el.text_of("headline").map(str::to_string),
        description: f.el.text_of("description").map(str::to_string),
        instruction: f.el.text_of("instruction").map(str::to_string),
        areas,
    })
}

fn area(f: Fields) -> Result<Area, Refusal> {
    let desc = f.required("areaDesc")?.to_string();
    let mut polygons = Vec::new();
    for (n, el) in f.el.all("polygon").enumerate() {
        let path = format!("{}/polygon[{}]", f.path, n + 1);
        let mut points = Vec::new();
        for pair in el.text.split_whitespace() {
            points.push(lat_lon(pair).ok_or_else(|| {
                Refusal::new(format!(
                    "line {}: {path}: `{}` is not a latitude,longitude pair in range",
                    el.line,
                    clip(pair)
                ))
            })?);
        }
        let count = points.len();
        polygons.push(Polygon::new(points).ok_or_else(|| {
            Refusal::new(format!(
                "line {}: {path}: a polygon needs at least 4 points, the first equal to the last (it has {count})",
                el.line
            ))
        })?);
    }
    let mut circles = Vec::new();
    for (n, el) in f.el.all("circle").enumerate() {
        let path = format!("{}/circle[{}]", f.path, n + 1);
        let text = el.text.trim();
        let mut parts = text.split_whitespace();
        let circle = match (parts.next().and_then(lat_lon), parts.next(), parts.next()) {
            (Some(center), Some(r), None) => r
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r >= 0.0)
                .map(|radius_km| Circle { center, radius_km }),
            _ => None,
        };
        circles.push(circle.ok_or_else(|| {
            Refusal::new(format!(
                "line {}: {path}: `{}` is not `latitude,longitude radius_km`",
                el.line,
                clip(text)
            ))
        })?);
    }
    let mut geocodes = Vec::new();
    for (n, el) in f.el.all("geocode").enumerate() {
        let g = Fields {
            el,
            path: format!("{}/geocode[{}]", f.path, n + 1),
        };
        geocodes.push(Geocode {
            name: g.required("valueName")?.to_string(),
            value: g.required("value")?.to_string(),
        });
    }
    Ok(Area {
        desc,
        polygons,
        circles,
        geocodes,
    })
}

/// `lat,lon`, both in range.
fn lat_lon(pair: &str) -> Option<Point> {
    let (lat, lon) = pair.split_once(',')?;
    Point::new(lat.trim().parse().ok()?, lon.trim().parse().ok()?)
}

/// At most 60 characters of a value quoted in a refusal.
pub(super) fn clip(s: &str) -> String {
    if s.chars().count() <= 60 {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(60).collect::<String>())
    }
}

/// An element and its path, for reading fields with refusals that name them.
struct Fields<'a> {
    el: &'a Element,
    path: String,
}

impl Fields<'_> {
    /// "line N: " of child `name`, or of this element.
    fn at(&self, name: &str) -> String {
        format!(
            "line {}: ",
            self.el.child(name).map_or(self.el.line, |c| c.line)
        )
    }

    fn missing(&self, name: &str) -> Refusal {
        Refusal::new(format!(
            "line {}: {}/{name} is missing (CAP 1.2 requires it)",
            self.el.line, self.path
        ))
    }

    fn bad(&self, name: &str, value: &str, expected: &str) -> Refusal {
        Refusal::new(format!(
            "{}{}/{name}: `{}` is not one of {expected}",
            self.at(name),
            self.path,
            clip(value)
        ))
    }

    fn required(&self, name: &str) -> Result<&str, Refusal> {
        self.el.text_of(name).ok_or_else(|| self.missing(name))
    }

    fn one_of(&self, name: &str, allowed: &[&str]) -> Result<String, Refusal> {
        let v = self.required(name)?;
        if allowed.contains(&v) {
            Ok(v.to_string())
        } else {
            Err(self.bad(name, v, &allowed.join(", ")))
        }
    }

    /// `identifier` and `sender`: no spaces, commas, `<` or `&` (the spec's
    /// restricted characters), as they are joined in `references`.
    fn name_like(&self, name: &str) -> Result<String, Refusal> {
        let v = self.required(name)?;
        if v.chars().any(|c| c.is_whitespace() || ",<&".contains(c)) {
            return Err(Refusal::new(format!(
                "{}{}/{name}: `{}` has a space, comma, `<` or `&`, which CAP 1.2 forbids",
                self.at(name),
                self.path,
                clip(v)
            )));
        }
        Ok(v.to_string())
    }

    /// An optional date-time with an offset (`2026-12-06T15:00:00+07:00`).
    fn time(&self, name: &str) -> Result<Option<DateTime<FixedOffset>>, Refusal> {
        let Some(v) = self.el.text_of(name) else {
            return Ok(None);
        };
        DateTime::parse_from_rfc3339(v).map(Some).map_err(|_| {
            Refusal::new(format!(
                "{}{}/{name}: `{}` is not a date-time with an offset such as 2026-12-06T15:00:00+07:00",
                self.at(name),
                self.path,
                clip(v)
            ))
        })
    }
}
