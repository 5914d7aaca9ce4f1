//! `corong schedule [--json] [--next N]`: the next fire times of every
//! schedule, for people and for scripts.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::config::{QuietHours, Schedule};
use crate::priority::Priority;

/// The next fire times of one schedule, with what it plays.
#[derive(Debug, Clone, PartialEq)]
pub struct Upcoming {
    pub name: String,
    pub playlist: String,
    pub zones: Vec<String>,
    pub priority: Priority,
    /// Local fire times, earliest first; fewer than asked if the expression
    /// stops firing.
    pub next: Vec<DateTime<Tz>>,
}

/// Most cron times examined per schedule when listing upcoming fires.
const LOOKAHEAD: usize = 100_000;

/// The next `n` fire times strictly after `from` of every schedule, in
/// config order, read in `tz`: the times it will really fire, so not those
/// on exception dates, outside its active range, or (below `emergency`)
/// inside the `quiet` hours.
pub fn upcoming(
    schedules: &[Schedule],
    tz: Tz,
    from: DateTime<Utc>,
    n: usize,
    quiet: Option<QuietHours>,
) -> Vec<Upcoming> {
    schedules
        .iter()
        .map(|s| {
            let cron = &s.cron;
            let mut next = Vec::with_capacity(n);
            let mut cursor = from.with_timezone(&tz);
            // Fire times that will not fire are not listed; the look-ahead is bounded, so a schedule that is
            // over shows no times instead of searching forever.
            let mut looked = 0;
            while next.len() < n && looked < LOOKAHEAD {
                let Some(t) = cron.next_after(cursor) else {
                    break;
                };
                looked += 1;
                let hushed =
                    s.priority < Priority::EMERGENCY && quiet.is_some_and(|q| q.contains(t.time()));
                if s.fires_on(t.date_naive()).is_ok() && !hushed {
                    next.push(t);
                }
                cursor = t;
            }
            Upcoming {
                name: s.name.clone(),
                // A text schedule shows what it says.
                playlist: match &s.text {
                    Some(t) => format!("say: {t}"),
                    None => s.playlist.clone(),
                },
                zones: s.zones.clone(),
                priority: s.priority,
                next,
            }
        })
        .collect()
}

/// Indices of `schedules` soonest next fire first (as [`upcoming`] reads
/// them), those that will not fire again last, ties and those last in
/// config order. The daemon has every playlist's files measured in this
/// order, so the next schedule's files are ready first.
pub fn soonest_first(
    schedules: &[Schedule],
    tz: Tz,
    from: DateTime<Utc>,
    quiet: Option<QuietHours>,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..schedules.len()).collect();
    let up = upcoming(schedules, tz, from, 1, quiet);
    // `None` sorts before `Some`: key on (never, time).
    order.sort_by_key(|&i| {
        let next = up[i].next.first().map(|t| t.with_timezone(&Utc));
        (next.is_none(), next)
    });
    order
}

/// The stable `corong schedule --json` shape. Scripts depend on it: add
/// fields, never rename or remove them.
///
/// ```json
/// {"schedules":[{"name":"lagu-pagi","playlist":"lagu-nasional",
///   "zones":["alun-alun","arsip"],"priority":50,
///   "next":["2026-11-23T06:00:00+07:00","2026-11-24T06:00:00+07:00"]}]}
/// ```
///
/// - `schedules`: in config order.
/// - `zones`: zone names, groups and `all` already expanded.
/// - `priority`: the number 0..=255 (50 is `program`).
/// - `next`: RFC 3339 local times with the UTC offset, whole seconds,
///   earliest first; shorter than `--next N` only if the expression stops
///   firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpcomingJson {
    pub schedules: Vec<UpcomingScheduleJson>,
}

/// One schedule in [`UpcomingJson`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpcomingScheduleJson {
    pub name: String,
    pub playlist: String,
    pub zones: Vec<String>,
    pub priority: u8,
    pub next: Vec<String>,
}

impl UpcomingJson {
    pub fn new(upcoming: &[Upcoming]) -> UpcomingJson {
        UpcomingJson {
            schedules: upcoming
                .iter()
                .map(|u| UpcomingScheduleJson {
                    name: u.name.clone(),
                    playlist: u.playlist.clone(),
                    zones: u.zones.clone(),
                    priority: u.priority.0,
                    next: u
                        .next
                        .iter()
                        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, false))
                        .collect(),
                })
                .collect(),
        }
    }
}

/// The human output of `corong schedule`: one line per fire, all schedules
/// merged in time order (ties in config order), for example
///
/// ```text
/// 2026-11-23 06:00:00 +07:00  lagu-pagi  playlist lagu-nasional  zones alun-alun,arsip  priority program
/// ```
///
/// Prints `no scheduled fires` when there are none. Not a stable format:
/// scripts use [`UpcomingJson`].
pub struct HumanUpcoming<'a>(pub &'a [Upcoming]);

impl fmt::Display for HumanUpcoming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines: Vec<(&DateTime<Tz>, usize)> = self
            .0
            .iter()
            .enumerate()
            .flat_map(|(i, u)| u.next.iter().map(move |t| (t, i)))
            .collect();
        lines.sort_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(&b.1)));
        if lines.is_empty() {
            return writeln!(f, "no scheduled fires");
        }
        let name_width = self.0.iter().map(|u| u.name.len()).max().unwrap_or(0);
        for (t, i) in lines {
            let u = &self.0[i];
            writeln!(
                f,
                "{}  {:<name_width$}  playlist {}  zones {}  priority {}",
                t.format("%Y-%m-%d %H:%M:%S %:z"),
                u.name,
                u.playlist,
                u.zones.join(","),
                u.priority,
            )?;
        }
        Ok(())
    }
}

/// [`HumanUpcoming`] as a string.
pub fn format_human(upcoming: &[Upcoming]) -> String {
    HumanUpcoming(upcoming).to_string()
}
