//! The RSS 2.0 index of a `cap-rss` feed (BMKG's nowcast): each `<item>`
//! links to one CAP document; its `<guid>` is the CAP identifier, so a
//! poll fetches only the documents it has not seen.

use super::cap::clip;
use super::xml::{self, Refusal};

/// Most items one index may list (BMKG's lists tens).
pub const MAX_ITEMS: usize = 1_000;

/// One `<item>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// `<link>`: the CAP document, an http(s) URL.
    pub link: String,
    /// `<guid>`, when given (the CAP identifier).
    pub guid: Option<String>,
    pub title: Option<String>,
    pub pub_date: Option<String>,
}

/// Read an RSS 2.0 index.
pub fn read(bytes: &[u8]) -> Result<Vec<Item>, Refusal> {
    let root = xml::parse(bytes)?;
    if root.name != "rss" {
        return Err(Refusal::new(format!(
            "line {}: the root is <{}>: an RSS index's root is <rss>",
            root.line, root.name
        )));
    }
    let channel = root
        .child("channel")
        .ok_or_else(|| Refusal::new(format!("line {}: rss/channel is missing", root.line)))?;
    let mut items = Vec::new();
    for (n, item) in channel.all("item").enumerate() {
        let path = format!("rss/channel/item[{}]", n + 1);
        if n >= MAX_ITEMS {
            return Err(Refusal::new(format!(
                "line {}: {path}: more than {MAX_ITEMS} items",
                item.line
            )));
        }
        let link = item
            .text_of("link")
            .ok_or_else(|| Refusal::new(format!("line {}: {path}/link is missing", item.line)))?;
        if !(link.starts_with("https://") || link.starts_with("http://")) {
            return Err(Refusal::new(format!(
                "line {}: {path}/link: `{}` is not an http(s) URL",
                item.child("link").map_or(item.line, |l| l.line),
                clip(link)
            )));
        }
        items.push(Item {
            link: link.to_string(),
            guid: item.text_of("guid").map(str::to_string),
            title: item.text_of("title").map(str::to_string),
            pub_date: item.text_of("pubDate").map(str::to_string),
        });
    }
    Ok(items)
}
