//! The title of what plays on a zone, for listeners (the Icecast mount's
//! title): an emergency or a hazard alert says so, a spoken text its first
//! words, anything else its file's name without the extension. Chimes and
//! the alert signal have none: the title of what they wrap stands.

use std::path::Path;

use super::Ledger;
use crate::engine::ZoneId;
use crate::ids::JobId;
use crate::store::JobKind;

/// What an emergency is called on the mount, whatever it plays.
pub const EMERGENCY_TITLE: &str = "PERINGATAN DARURAT";
/// Words of a spoken text shown as its title.
const TEXT_WORDS: usize = 8;

impl Ledger {
    /// The title of what `job` plays on `zone` now, if it has one.
    pub fn title_on(&self, job: JobId, zone: ZoneId) -> Option<String> {
        let j = self.jobs.get(&job)?;
        let item = j.current.get(&zone).map(|(item, _)| *item);
        let path = item.and_then(|i| j.items.get(&(zone, i)));
        if let Some(p) = path {
            if *p == self.wrapping.chime || *p == self.wrapping.alert {
                return None;
            }
        }
        let alert = j.origin.starts_with("alert:");
        item_title(j.kind, alert, j.text.as_deref(), path.map(|p| p.as_path()))
    }

    /// The title of item `item` of `job` on `zone` if that item is on air
    /// now: a decoder's word that it opened the item can come after the
    /// engine's that the item went on air, and only then is its file
    /// known.
    pub fn title_if_on_air(&self, job: JobId, zone: ZoneId, item: u32) -> Option<String> {
        let on_air = self.jobs.get(&job)?.current.get(&zone)?.0;
        if on_air != item {
            return None;
        }
        self.title_on(job, zone)
    }
}

/// See the module docs.
pub fn item_title(
    kind: JobKind,
    alert: bool,
    text: Option<&str>,
    path: Option<&Path>,
) -> Option<String> {
    if kind == JobKind::Emergency || alert {
        return Some(EMERGENCY_TITLE.to_string());
    }
    if let Some(t) = text.filter(|t| !t.trim().is_empty()) {
        let words: Vec<&str> = t.split_whitespace().collect();
        let mut title = words[..words.len().min(TEXT_WORDS)].join(" ");
        if words.len() > TEXT_WORDS {
            title.push_str(" ...");
        }
        return Some(title);
    }
    let stem = path?.file_stem()?.to_string_lossy().trim().to_string();
    (!stem.is_empty()).then_some(stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_by_kind() {
        let file = Some(Path::new("/media/Adzan Subuh.mp3"));
        assert_eq!(
            item_title(JobKind::Schedule, false, None, file).as_deref(),
            Some("Adzan Subuh")
        );
        assert_eq!(
            item_title(JobKind::Emergency, false, Some("banjir"), file).as_deref(),
            Some(EMERGENCY_TITLE)
        );
        assert_eq!(
            item_title(JobKind::Announcement, true, None, file).as_deref(),
            Some(EMERGENCY_TITLE)
        );
        assert_eq!(
            item_title(
                JobKind::Say,
                false,
                Some("Kerja bakti   hari Minggu pukul tujuh pagi di balai desa semua warga"),
                Some(Path::new("/tmp/tts-1.wav"))
            )
            .as_deref(),
            Some("Kerja bakti hari Minggu pukul tujuh pagi di ...")
        );
        assert_eq!(item_title(JobKind::Announcement, false, None, None), None);
    }
}
