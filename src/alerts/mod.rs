//! Hazard warnings: the readers of the feeds' documents (CAP 1.2 in
//! `cap.rs`, InaTEWS bulletins in `inatews.rs`, the RSS index of a
//! `cap-rss` feed in `rss.rs`, all on the bounded XML tree of `xml.rs`),
//! polling the feeds over HTTP(S) on threads of their own (`feed.rs`),
//! the alerts' lifecycle decided with the time passed in (`inbox.rs`),
//! and which playbook an alert starts on which zones (`matching.rs`).
//!
//! Imports run one way: `feed`, `inbox` -> `matching` -> the readers ->
//! `xml`; the config and
//! the hazard vocabulary (`crate::hazard`) below them.

pub mod cap;
pub mod feed;
pub mod inatews;
pub mod inbox;
pub mod matching;
pub mod rss;
pub mod xml;

pub use xml::Refusal;

/// A warning document of either kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    Cap(cap::Alert),
    InaTews(inatews::Bulletin),
}

/// Read a document whose kind is not known beforehand (`corong alerts
/// test FILE`): an `<alert>` in CAP 1.2's namespace is CAP; an `<alert>`
/// in no namespace whose `<info>` has an `<eventid>` is InaTEWS.
pub fn read_any(bytes: &[u8]) -> Result<Document, Refusal> {
    let root = xml::parse(bytes)?;
    let inatews_shaped = root.namespace.is_none()
        && root.name == "alert"
        && root
            .child("info")
            .is_some_and(|i| i.child("eventid").is_some());
    if inatews_shaped {
        inatews::from_element(&root).map(Document::InaTews)
    } else {
        cap::from_element(&root).map(Document::Cap)
    }
}
