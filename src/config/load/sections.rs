//! The small sections: `[announcements]`, `[loudness]`, `[preemption]`
//! and `[quiet_hours]`.

use std::collections::BTreeMap;

use chrono::NaiveTime;
use toml::de::DeValue;
use toml::Spanned;

use super::loader::Loader;
use crate::config::model::{
    Announcements, Chime, LevelChimes, Loudness, PreemptMode, Preemption, QuietHours,
};
use crate::config::schema::{
    self, AnnouncementsTable, LoudnessTable, PreemptionTable, QuietHoursTable,
};
use crate::priority::Priority;

impl Loader<'_> {
    /// `[quiet_hours]`.
    pub(super) fn quiet_hours(
        &mut self,
        value: Option<&Spanned<DeValue<'_>>>,
    ) -> Option<QuietHours> {
        let raw = self
            .table::<QuietHoursTable>(value?, "[quiet_hours]")?
            .value;
        let mut time = |v: &Spanned<String>, key: &str| -> Option<NaiveTime> {
            let text = v.get_ref().trim();
            let t = NaiveTime::parse_from_str(text, "%H:%M:%S")
                .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
                .ok();
            if t.is_none() {
                self.error(
                    v.span(),
                    format!(
                        "`{key}` \"{}\": expected a local time HH:MM or HH:MM:SS, e.g. \"22:00\"",
                        v.get_ref()
                    ),
                );
            }
            t
        };
        let from = time(&raw.from, "from");
        let to = time(&raw.to, "to");
        match (from, to) {
            (Some(from), Some(to)) if from == to => {
                self.error(
                    raw.to.span(),
                    "`to` equals `from`: quiet hours would be empty",
                );
                None
            }
            (Some(from), Some(to)) => Some(QuietHours { from, to }),
            _ => None,
        }
    }

    /// `[announcements]`.
    pub(super) fn announcements(&mut self, value: Option<&Spanned<DeValue<'_>>>) -> Announcements {
        let raw = match value {
            Some(v) => self
                .table::<AnnouncementsTable>(v, "[announcements]")
                .map(|p| p.value)
                .unwrap_or_default(),
            None => AnnouncementsTable::default(),
        };
        let chime = raw
            .chime
            .as_ref()
            .map(|c| self.path_value(Some(c), "", "chime"));
        let alert = raw
            .alert
            .as_ref()
            .map(|a| self.path_value(Some(a), "", "alert"));
        let mut repeat_interval = schema::DEFAULT_REPEAT_INTERVAL_S;
        if let Some(r) = &raw.repeat_interval_s {
            match u64::try_from(*r.get_ref()) {
                Ok(v) if v <= 86_400 => repeat_interval = v,
                _ => self.error(
                    r.span(),
                    format!(
                        "`repeat_interval_s` {} is out of range: expected 0..=86400 seconds",
                        r.get_ref()
                    ),
                ),
            }
        }
        let mut tts_voice = schema::DEFAULT_TTS_VOICE.to_string();
        if let Some(v) = &raw.tts_voice {
            let name = v.get_ref().trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_+/".contains(c))
            {
                self.error(
                    v.span(),
                    format!("`tts_voice` `{name}` is not a voice name: expected an espeak-ng voice such as \"id\""),
                );
            } else {
                tts_voice = name.to_string();
            }
        }
        let mut chimes_by_level = BTreeMap::new();
        if let Some(c) = &raw.chimes {
            for (priority, level) in [
                (Priority::BACKGROUND, &c.background),
                (Priority::PROGRAM, &c.program),
                (Priority::ANNOUNCEMENT, &c.announcement),
                (Priority::LIVE, &c.live),
            ] {
                let Some(level) = level else { continue };
                let before = level.before.as_ref().map(|v| self.chime_value(v, "before"));
                let after = level.after.as_ref().map(|v| self.chime_value(v, "after"));
                chimes_by_level.insert(priority, LevelChimes { before, after });
            }
        }
        Announcements {
            chime,
            chime_after: raw.chime_after.unwrap_or(false),
            repeat_interval: std::time::Duration::from_secs(repeat_interval),
            alert,
            tts_voice,
            chimes_by_level,
        }
    }

    /// A chime setting: `"default"`, `"none"` or a media file.
    fn chime_value(&mut self, v: &Spanned<String>, key: &str) -> Chime {
        match v.get_ref().trim() {
            "default" => Chime::Default,
            "none" => Chime::None,
            "" => {
                self.error(
                    v.span(),
                    format!("`{key}` is empty: expected \"default\", \"none\" or a media file"),
                );
                Chime::None
            }
            path => Chime::File(self.resolve(path)),
        }
    }

    /// `[loudness]`.
    pub(super) fn loudness(&mut self, value: Option<&Spanned<DeValue<'_>>>) -> Loudness {
        let raw = match value {
            Some(v) => self
                .table::<LoudnessTable>(v, "[loudness]")
                .map(|p| p.value)
                .unwrap_or_default(),
            None => LoudnessTable::default(),
        };
        let mut l = Loudness::default();
        if let Some(n) = raw.normalize {
            l.normalize = n;
        }
        for (key, value, slot, range, unit) in [
            (
                "target_lufs",
                &raw.target_lufs,
                &mut l.target.lufs,
                schema::TARGET_LUFS_RANGE,
                "LUFS",
            ),
            (
                "true_peak_dbtp",
                &raw.true_peak_dbtp,
                &mut l.target.ceiling_dbtp,
                schema::TRUE_PEAK_RANGE,
                "dBTP",
            ),
            (
                "max_gain_db",
                &raw.max_gain_db,
                &mut l.target.max_gain_db,
                schema::MAX_GAIN_RANGE,
                "dB",
            ),
        ] {
            let Some(v) = value else { continue };
            let x = *v.get_ref();
            if range.contains(&x) {
                *slot = x;
            } else {
                self.error(
                    v.span(),
                    format!(
                        "`{key}` {x} is out of range: expected {}..={} {unit}",
                        range.start(),
                        range.end()
                    ),
                );
            }
        }
        if let Some(d) = &raw.dead_air_s {
            let x = *d.get_ref();
            if x == 0.0 {
                l.dead_air = None;
            } else if (0.5..=3600.0).contains(&x) {
                l.dead_air = Some(std::time::Duration::from_secs_f64(x));
            } else {
                self.error(
                    d.span(),
                    format!("`dead_air_s` {x} is out of range: expected 0.5..=3600 seconds, or 0 for off"),
                );
            }
        }
        l
    }

    /// `[preemption]`.
    pub(super) fn preemption(&mut self, value: Option<&Spanned<DeValue<'_>>>) -> Preemption {
        let raw = match value {
            Some(v) => self
                .table::<PreemptionTable>(v, "[preemption]")
                .map(|p| p.value)
                .unwrap_or_default(),
            None => PreemptionTable::default(),
        };
        let mut p = Preemption::default();
        for (key, value, slot) in [
            ("background", &raw.background, &mut p.background),
            ("program", &raw.program, &mut p.program),
            ("announcement", &raw.announcement, &mut p.announcement),
            ("live", &raw.live, &mut p.live),
        ] {
            let Some(v) = value else { continue };
            match v.get_ref().as_str() {
                "duck" => *slot = PreemptMode::Duck,
                "pause" => *slot = PreemptMode::Pause,
                "cancel" => *slot = PreemptMode::Cancel,
                other => self.error(
                    v.span(),
                    format!("`{key}` = \"{other}\": expected \"duck\", \"pause\" or \"cancel\""),
                ),
            }
        }
        if let Some(d) = &raw.duck_db {
            let db = *d.get_ref();
            if (-60.0..=0.0).contains(&db) {
                p.duck_db = db as f32;
            } else {
                self.error(
                    d.span(),
                    format!("`duck_db` {db} is out of range: expected -60..=0 dB"),
                );
            }
        }
        p
    }
}
