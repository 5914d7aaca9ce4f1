//! Human output of replies: aligned tables in local time, and the `--wait`
//! progress bar. Everything here is pure (a `String` out) except
//! [`ProgressPrinter`], which writes to any `Write`, so all of it is tested
//! without a terminal. `--json` output is not made here: it is the reply's
//! `result` object as is (see `docs/protocol.md`).

use std::io::{self, Write};

use chrono::DateTime;
use chrono_tz::Tz;

use super::protocol::{
    AlertsResult, EndpointHealth, LogResult, OrderResult, Progress, QueueResult, ReceiverInfo,
    ScheduleResult, SitesResult, StatusResult, ZonesResult,
};
use crate::priority::Priority;

/// An RFC 3339 time from the daemon as `YYYY-MM-DD HH:MM:SS` in `tz`; text
/// that does not parse is shown as it came.
pub fn local_time(rfc3339: &str, tz: Tz) -> String {
    match DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

fn priority(p: u8) -> String {
    match Priority(p).name() {
        Some(name) => format!("{name} ({p})"),
        None => p.to_string(),
    }
}

/// Columns padded to their widest cell (in characters), two spaces apart;
/// the last column is not padded, so lines carry no trailing spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let cols = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(cols) {
            line.push_str(cell);
            if i + 1 < cols {
                let pad = widths[i] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn join(list: &[String]) -> String {
    if list.is_empty() {
        "-".into()
    } else {
        list.join(",")
    }
}

/// `corong status`: the daemon line, a row per zone, zone errors, and the
/// next events.
pub fn status(s: &StatusResult, tz: Tz) -> String {
    let mut out = format!(
        "corong {} (pid {}), running since {} ({})\n\n",
        s.daemon.version,
        s.daemon.pid,
        local_time(&s.daemon.started_at, tz),
        tz.name()
    );
    let rows: Vec<Vec<String>> = s
        .zones
        .iter()
        .map(|z| match &z.playing {
            Some(p) => vec![
                z.name.clone(),
                z.state.clone(),
                priority(p.priority),
                p.file.clone(),
                local_time(&p.since, tz),
                p.origin.clone(),
                format!("#{}", p.job),
            ],
            None => vec![
                z.name.clone(),
                z.state.clone(),
                "-".into(),
                "(silence)".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ],
        })
        .collect();
    out.push_str(&table(
        &[
            "ZONE", "STATE", "PRIORITY", "PLAYING", "SINCE", "ORIGIN", "JOB",
        ],
        &rows,
    ));
    for z in &s.zones {
        if let Some(e) = &z.error {
            out.push_str(&format!("! {}: {e}\n", z.name));
        }
    }
    let rx: Vec<(&str, &[ReceiverInfo])> = s
        .zones
        .iter()
        .map(|z| (z.name.as_str(), z.receivers.as_slice()))
        .collect();
    if let Some(t) = receivers(&rx, tz) {
        out.push('\n');
        out.push_str(&t);
    }
    // Only failing feeds: a healthy one is not news on this screen
    // (`status --json` lists them all).
    for f in s.feeds.iter().filter(|f| f.state == "failing") {
        let since = f
            .failing_since
            .as_deref()
            .map(|t| format!(" since {}", local_time(t, tz)))
            .unwrap_or_default();
        out.push_str(&format!(
            "! feed {} ({}): failing{since}: {}\n",
            f.name,
            f.kind,
            f.error.as_deref().unwrap_or("no answer")
        ));
    }
    if let Some(n) = s.loudness_pending.filter(|n| *n > 0) {
        // Not an error: items play on time at a provisional gain meanwhile.
        out.push_str(&format!(
            "\nloudness: {n} file{} still to measure\n",
            if n == 1 { "" } else { "s" }
        ));
    }
    if let Some(b) = &s.broker {
        out.push_str(&format!(
            "\nregency broker: {} since {}\n",
            if b.connected {
                "connected"
            } else {
                "NOT REACHED"
            },
            local_time(&b.since, tz)
        ));
    }
    out.push('\n');
    if s.next_events.is_empty() {
        out.push_str("no scheduled events\n");
    } else {
        let rows: Vec<Vec<String>> = s
            .next_events
            .iter()
            .map(|e| {
                vec![
                    local_time(&e.at, tz),
                    e.what.clone(),
                    join(&e.zones),
                    priority(e.priority),
                ]
            })
            .collect();
        out.push_str(&table(&["NEXT", "WHAT", "ZONES", "PRIORITY"], &rows));
    }
    out
}

/// `corong queue`.
pub fn queue(q: &QueueResult, tz: Tz) -> String {
    if q.jobs.is_empty() {
        return "no pending announcements\n".into();
    }
    let rows: Vec<Vec<String>> = q
        .jobs
        .iter()
        .map(|j| {
            vec![
                j.id.to_string(),
                j.kind.clone(),
                j.state.to_string(),
                priority(j.priority),
                j.not_before
                    .as_deref()
                    .map(|t| local_time(t, tz))
                    .unwrap_or_else(|| "now".into()),
                format!("{}/{}", j.plays_done, j.repeat),
                join(&j.zones),
                j.origin.clone(),
                join(&j.files),
            ]
        })
        .collect();
    table(
        &[
            "ID", "KIND", "STATE", "PRIORITY", "AT", "PLAYS", "ZONES", "ORIGIN", "FILES",
        ],
        &rows,
    )
}

/// `corong log`.
pub fn log(l: &LogResult, tz: Tz) -> String {
    if l.entries.is_empty() {
        return "nothing played in that window\n".into();
    }
    let rows: Vec<Vec<String>> = l
        .entries
        .iter()
        .map(|e| {
            let how = match &e.reason {
                Some(r) => format!("{} ({r})", e.how),
                None => e.how.clone(),
            };
            vec![
                local_time(&e.started_at, tz),
                e.ended_at
                    .as_deref()
                    .map(|t| local_time(t, tz))
                    .unwrap_or_else(|| "-".into()),
                e.zone.clone(),
                format!("#{}", e.job),
                e.origin.clone(),
                e.file.clone(),
                how,
            ]
        })
        .collect();
    table(
        &["STARTED", "ENDED", "ZONE", "JOB", "ORIGIN", "FILE", "HOW"],
        &rows,
    )
}

/// `corong zones`.
/// `corong zones`: a row per zone; each endpoint that is not streaming,
/// with why; then the receivers that report back.
pub fn zones(z: &ZonesResult, tz: Tz) -> String {
    let rows: Vec<Vec<String>> = z
        .zones
        .iter()
        .map(|z| {
            let health = match &z.error {
                Some(e) => format!("{} ({e})", z.health),
                None => z.health.clone(),
            };
            vec![
                z.name.clone(),
                z.codec.clone().unwrap_or_else(|| "-".into()),
                join(&z.endpoints),
                join(&z.groups),
                health,
            ]
        })
        .collect();
    let mut out = table(&["ZONE", "CODEC", "ENDPOINTS", "GROUPS", "HEALTH"], &rows);
    for zone in &z.zones {
        out.push_str(&endpoint_problems(&zone.name, &zone.endpoint_health));
    }
    let rx: Vec<(&str, &[ReceiverInfo])> = z
        .zones
        .iter()
        .map(|z| (z.name.as_str(), z.receivers.as_slice()))
        .collect();
    if let Some(t) = receivers(&rx, tz) {
        out.push('\n');
        out.push_str(&t);
    }
    out
}

/// `! zone endpoint: health: error` for each endpoint not streaming.
fn endpoint_problems(zone: &str, endpoints: &[EndpointHealth]) -> String {
    let mut out = String::new();
    for e in endpoints.iter().filter(|e| e.health != "streaming") {
        out.push_str(&format!("! {zone} {}: {}", e.endpoint, e.health));
        if let Some(why) = &e.error {
            out.push_str(&format!(" ({why})"));
        }
        out.push('\n');
    }
    out
}

/// The receivers of every zone as a table; `None` when there are none.
fn receivers(zones: &[(&str, &[ReceiverInfo])], tz: Tz) -> Option<String> {
    let rows: Vec<Vec<String>> = zones
        .iter()
        .flat_map(|(zone, list)| {
            list.iter().map(move |r| {
                vec![
                    zone.to_string(),
                    r.cname
                        .clone()
                        .unwrap_or_else(|| format!("ssrc {:08x}", r.ssrc)),
                    r.address.clone(),
                    r.endpoint.clone().unwrap_or_else(|| "-".into()),
                    r.state.clone(),
                    r.fraction_lost
                        .map_or("-".into(), |f| format!("{:.1}%", f * 100.0)),
                    r.packets_lost.map_or("-".into(), |n| n.to_string()),
                    r.jitter_ms.map_or("-".into(), |j| format!("{j:.2} ms")),
                    format!(
                        "{} ({:.0} s ago)",
                        local_time(&r.last_heard, tz),
                        r.heard_s_ago
                    ),
                ]
            })
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    Some(table(
        &[
            "ZONE",
            "RECEIVER",
            "ADDRESS",
            "ENDPOINT",
            "STATE",
            "LOSS",
            "LOST",
            "JITTER",
            "LAST HEARD",
        ],
        &rows,
    ))
}

/// `corong schedule`: a block per schedule, its fire times in local time.
pub fn schedule(s: &ScheduleResult, tz: Tz) -> String {
    if s.schedules.is_empty() {
        return "no schedules\n".into();
    }
    let mut out = String::new();
    for (i, sch) in s.schedules.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "{}  cron \"{}\"  playlist {}  zones {}  priority {}\n",
            sch.name,
            sch.cron,
            sch.playlist,
            join(&sch.zones),
            priority(sch.priority)
        ));
        if let Some(p) = &sch.paused {
            out.push_str(&format!(
                "  PAUSED by {} since {}: these fires are skipped\n",
                p.by,
                local_time(&p.since, tz)
            ));
        }
        if !sch.except_dates.is_empty() {
            out.push_str(&format!("  not on {}\n", sch.except_dates.join(", ")));
        }
        if sch.next.is_empty() {
            out.push_str("  never fires\n");
        }
        for t in &sch.next {
            out.push_str(&format!("  {}\n", local_time(t, tz)));
        }
    }
    out
}

/// One line for `--wait`: `[#######-------------] 1/3 zones  playing  job 17`.
pub fn progress_line(p: &Progress, width: usize) -> String {
    // No zones at all counts as a full bar.
    let filled = (p.zones_done.min(p.zones_total) * width)
        .checked_div(p.zones_total)
        .unwrap_or(width);
    let mut line = format!(
        "[{}{}] {}/{} zones  {}  job {}",
        "#".repeat(filled),
        "-".repeat(width - filled),
        p.zones_done,
        p.zones_total,
        p.state,
        p.id
    );
    if let Some(r) = &p.reason {
        line.push_str(&format!(": {r}"));
    }
    line
}

/// Writes `--wait` progress: on a terminal one line redrawn with `\r`,
/// otherwise a plain line each time it changes (for logs and pipes).
pub struct ProgressPrinter<W: Write> {
    out: W,
    tty: bool,
    last: Option<String>,
}

impl<W: Write> ProgressPrinter<W> {
    /// `tty`: whether `out` is a terminal (`std::io::IsTerminal`).
    pub fn new(out: W, tty: bool) -> Self {
        ProgressPrinter {
            out,
            tty,
            last: None,
        }
    }

    pub fn update(&mut self, p: &Progress) -> io::Result<()> {
        let line = progress_line(p, 20);
        if self.last.as_deref() == Some(line.as_str()) {
            return Ok(());
        }
        if self.tty {
            // Pad over what is left of a longer previous line.
            let old = self.last.as_ref().map_or(0, |l| l.chars().count());
            let pad = old.saturating_sub(line.chars().count());
            write!(self.out, "\r{line}{}", " ".repeat(pad))?;
        } else {
            writeln!(self.out, "{line}")?;
        }
        self.out.flush()?;
        self.last = Some(line);
        Ok(())
    }

    /// End the redrawn line (on a terminal) so later output starts clean.
    pub fn finish(mut self) -> io::Result<W> {
        if self.tty && self.last.is_some() {
            writeln!(self.out)?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// `corong alerts`: one row per alert, then each pending one's words.
/// `corong sites`: one row per kiosk.
pub fn sites(s: &SitesResult, tz: Tz) -> String {
    let rows: Vec<Vec<String>> = s
        .sites
        .iter()
        .map(|site| {
            let state = match (&site.online, &site.since) {
                (true, _) => "online".to_string(),
                (false, Some(t)) => format!("offline since {}", local_time(t, tz)),
                (false, None) => "offline".to_string(),
            };
            let playing: Vec<String> = site
                .zones
                .iter()
                .filter_map(|z| Some(format!("{}: {}", z.name, z.playing.as_deref()?)))
                .collect();
            let mut unwell: Vec<String> = site
                .zones
                .iter()
                .filter_map(|z| {
                    let st = z.state.as_deref()?;
                    (st != "streaming" && st != "idle").then(|| format!("{}: {st}", z.name))
                })
                .collect();
            unwell.extend(
                site.zones
                    .iter()
                    .filter(|z| z.receivers_silent > 0)
                    .map(|z| {
                        format!(
                            "{}: {} of {} poles silent",
                            z.name, z.receivers_silent, z.receivers
                        )
                    }),
            );
            unwell.extend(
                site.feeds_failing
                    .iter()
                    .map(|f| format!("feed {} failing", f.name)),
            );
            let health = if unwell.is_empty() {
                "ok".to_string()
            } else {
                unwell.join("; ")
            };
            let name = if site.name == s.this {
                format!("{} (this)", site.name)
            } else {
                site.name.clone()
            };
            vec![
                name,
                state,
                site.zones.len().to_string(),
                health,
                site.pending_alerts.to_string(),
                if playing.is_empty() {
                    "-".into()
                } else {
                    playing.join("; ")
                },
            ]
        })
        .collect();
    let link = if s.link.connected {
        "connected"
    } else {
        "NOT REACHED"
    };
    format!(
        "broker: {link} since {}\n{}",
        local_time(&s.link.since, tz),
        table(
            &["SITE", "STATE", "ZONES", "HEALTH", "ALERTS", "PLAYING"],
            &rows
        )
    )
}

/// An order sent with `--sites`: who accepted it.
pub fn ordered(o: &OrderResult) -> String {
    let mut out = format!("order {}\n", o.order);
    for a in &o.acks {
        match (a.accepted, a.job) {
            (true, Some(job)) => out.push_str(&format!("{}: accepted, job {job}\n", a.site)),
            (true, None) => out.push_str(&format!("{}: accepted\n", a.site)),
            (false, _) => out.push_str(&format!(
                "{}: refused: {}\n",
                a.site,
                a.reason.as_deref().unwrap_or("no reason given")
            )),
        }
    }
    for s in &o.silent {
        out.push_str(&format!("{s}: no answer in time\n"));
    }
    let accepted = o.acks.iter().filter(|a| a.accepted).count();
    out.push_str(&format!("{accepted} kiosk(s) accepted\n"));
    out
}

pub fn alerts(a: &AlertsResult, tz: Tz) -> String {
    if a.alerts.is_empty() {
        return "no alerts received\n".to_string();
    }
    let rows: Vec<Vec<String>> = a
        .alerts
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.state.clone(),
                local_time(&r.received, tz),
                r.source.clone(),
                r.event.clone(),
                r.level.clone(),
                r.zones.join(","),
                r.playbook.clone().unwrap_or_else(|| "-".into()),
                r.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "ID", "STATE", "RECEIVED", "SOURCE", "EVENT", "LEVEL", "ZONES", "PLAYBOOK", "WHY",
        ],
        &rows,
    );
    for r in a.alerts.iter().filter(|r| r.state == "pending") {
        if let Some(m) = &r.message {
            out.push_str(&format!(
                "alert {} waits: `corong alerts confirm {}` plays: {m}\n",
                r.id, r.id
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::*;
    use crate::ids::JobId;

    const JAKARTA: Tz = chrono_tz::Asia::Jakarta;

    fn receiver() -> ReceiverInfo {
        ReceiverInfo {
            ssrc: 0xdead_beef,
            cname: Some("receive-7@tiang-07".into()),
            address: "10.0.0.7:5005".into(),
            endpoint: Some("rtp://10.0.0.7:5004".into()),
            state: "silent".into(),
            last_heard: "2024-05-01T23:10:00Z".into(),
            heard_s_ago: 42.4,
            reports: 9,
            fraction_lost: Some(0.05),
            packets_lost: Some(31),
            highest_seq: Some(70_000),
            jitter_ms: Some(0.4),
        }
    }

    #[test]
    fn zones_show_endpoint_health_and_receivers() {
        let z = ZonesResult {
            zones: vec![ZoneInfo {
                name: "pasar".into(),
                groups: vec!["utara".into()],
                endpoints: vec!["rtp://10.0.0.7:5004".into(), "rtp://10.0.0.8:5004".into()],
                codec: Some("pcmu".into()),
                channels: 1,
                gain_db: 0.0,
                health: "degraded".into(),
                error: Some("receiver receive-7@tiang-07 (10.0.0.7:5005) silent for 42 s".into()),
                sdp: None,
                endpoint_health: vec![
                    EndpointHealth {
                        endpoint: "rtp://10.0.0.7:5004".into(),
                        health: "silent".into(),
                        error: Some(
                            "receiver receive-7@tiang-07 (10.0.0.7:5005) silent for 42 s".into(),
                        ),
                        since: None,
                        dropped_frames: 0,
                        packets_sent: 0,
                        send_errors: 0,
                        underruns: 0,
                    },
                    EndpointHealth {
                        endpoint: "rtp://10.0.0.8:5004".into(),
                        health: "streaming".into(),
                        error: None,
                        since: None,
                        dropped_frames: 0,
                        packets_sent: 0,
                        send_errors: 0,
                        underruns: 0,
                    },
                ],
                receivers: vec![receiver()],
            }],
        };
        let out = zones(&z, JAKARTA);
        assert!(out.contains("pasar  pcmu   rtp://10.0.0.7:5004,rtp://10.0.0.8:5004  utara   degraded (receiver receive-7@tiang-07 (10.0.0.7:5005) silent for 42 s)\n"), "{out}");
        assert!(
            out.contains("! pasar rtp://10.0.0.7:5004: silent (receiver receive-7@tiang-07"),
            "{out}"
        );
        assert!(!out.contains("! pasar rtp://10.0.0.8:5004"), "{out}");
        assert!(out.contains("ZONE   RECEIVER            ADDRESS        ENDPOINT             STATE   LOSS  LOST  JITTER   LAST HEARD\n"), "{out}");
        assert!(out.contains("pasar  receive-7@tiang-07  10.0.0.7:5005  rtp://10.0.0.7:5004  silent  5.0%  31    0.40 ms  2024-05-02 06:10:00 (42 s ago)\n"), "{out}");
        // No receivers: no receiver table.
        let mut bare = z.clone();
        bare.zones[0].receivers.clear();
        assert!(!zones(&bare, JAKARTA).contains("RECEIVER"));
    }

    #[test]
    fn times_are_local() {
        assert_eq!(
            local_time("2024-05-01T23:30:00Z", JAKARTA),
            "2024-05-02 06:30:00"
        );
        assert_eq!(local_time("soon", JAKARTA), "soon");
    }

    #[test]
    fn tables_align_and_have_no_trailing_spaces() {
        let t = table(
            &["A", "BB"],
            &[vec!["xyz".into(), "1".into()], vec!["é".into(), "".into()]],
        );
        assert_eq!(t, "A    BB\nxyz  1\né\n");
    }

    #[test]
    fn status_shows_zones_errors_and_next_events() {
        let s = StatusResult {
            daemon: DaemonInfo {
                version: "0.1.0".into(),
                pid: 42,
                started_at: "2024-05-01T23:00:00Z".into(),
                timezone: "Asia/Jakarta".into(),
                fires: 0,
                fires_missed: 0,
                decode_errors: 0,
            },
            zones: vec![
                ZoneStatus {
                    name: "alun-alun".into(),
                    state: "streaming".into(),
                    playing: Some(NowPlaying {
                        job: JobId(3),
                        priority: 50,
                        priority_name: "program".into(),
                        origin: "schedule:lagu-pagi".into(),
                        file: "/srv/indonesia-raya.mp3".into(),
                        since: "2024-05-01T23:00:03Z".into(),
                    }),
                    error: None,
                    endpoint_health: vec![],
                    receivers: vec![],
                },
                ZoneStatus {
                    name: "pasar".into(),
                    state: "degraded".into(),
                    playing: None,
                    error: Some("connection refused".into()),
                    endpoint_health: vec![],
                    receivers: vec![receiver()],
                },
            ],
            next_events: vec![NextEvent {
                at: "2024-05-02T05:00:00Z".into(),
                what: "schedule:siang".into(),
                zones: vec!["all".into()],
                priority: 77,
            }],
            loudness_pending: Some(3),
            broker: None,
            feeds: vec![
                FeedStatus {
                    name: "bmkg".into(),
                    kind: "cap-rss".into(),
                    url: "https://example.invalid/rss.xml".into(),
                    state: "ok".into(),
                    last_ok: Some("2024-05-01T22:59:00Z".into()),
                    failing_since: None,
                    error: None,
                },
                FeedStatus {
                    name: "inatews".into(),
                    kind: "inatews".into(),
                    url: "https://example.invalid/warning.xml".into(),
                    state: "failing".into(),
                    last_ok: Some("2024-05-01T21:00:00Z".into()),
                    failing_since: Some("2024-05-01T21:01:00Z".into()),
                    error: Some("connection refused".into()),
                },
            ],
        };
        let out = status(&s, JAKARTA);
        assert!(
            out.contains(
                "! feed inatews (inatews): failing since 2024-05-02 04:01:00: connection refused\n"
            ),
            "{out}"
        );
        assert!(
            !out.contains("feed bmkg"),
            "a healthy feed is not news: {out}"
        );
        assert!(
            out.contains("\nloudness: 3 files still to measure\n"),
            "{out}"
        );
        let none = status(
            &StatusResult {
                loudness_pending: Some(0),
                broker: None,
                ..s.clone()
            },
            JAKARTA,
        );
        assert!(!none.contains("loudness:"), "{none}");
        assert!(
            out.starts_with(
                "corong 0.1.0 (pid 42), running since 2024-05-02 06:00:00 (Asia/Jakarta)\n"
            ),
            "{out}"
        );
        assert!(out.contains("alun-alun  streaming  program (50)  /srv/indonesia-raya.mp3  2024-05-02 06:00:03  schedule:lagu-pagi  #3\n"), "{out}");
        assert!(
            out.contains("pasar      degraded   -             (silence)"),
            "{out}"
        );
        assert!(out.contains("! pasar: connection refused\n"), "{out}");
        assert!(
            out.contains("pasar  receive-7@tiang-07  10.0.0.7:5005"),
            "{out}"
        );
        assert!(
            out.contains("2024-05-02 12:00:00  schedule:siang  all    77\n"),
            "{out}"
        );
    }

    #[test]
    fn queue_and_log_render_rows() {
        let q = QueueResult {
            jobs: vec![QueuedJob {
                id: JobId(17),
                kind: "announce".into(),
                origin: "operator:siti".into(),
                priority: 100,
                zones: vec!["utara".into()],
                files: vec!["/a.wav".into()],
                state: JobState::Queued,
                not_before: Some("2024-05-02T11:00:00Z".into()),
                repeat: 3,
                plays_done: 1,
            }],
        };
        let out = queue(&q, JAKARTA);
        assert!(out.contains("17  announce  queued  announcement (100)  2024-05-02 18:00:00  1/3    utara  operator:siti  /a.wav"), "{out}");
        assert_eq!(
            queue(&QueueResult { jobs: vec![] }, JAKARTA),
            "no pending announcements\n"
        );

        let l = LogResult {
            entries: vec![AsRunRow {
                zone: "pasar".into(),
                job: JobId(17),
                origin: "operator:siti".into(),
                file: "/a.wav".into(),
                started_at: "2024-05-02T11:00:00Z".into(),
                ended_at: None,
                how: "preempted".into(),
                reason: Some("emergency #18".into()),
            }],
        };
        let out = log(&l, JAKARTA);
        assert!(out.contains("2024-05-02 18:00:00  -      pasar  #17  operator:siti  /a.wav  preempted (emergency #18)"), "{out}");
    }

    #[test]
    fn progress_redraws_on_a_terminal_and_prints_lines_otherwise() {
        let mut p = Progress {
            id: JobId(9),
            zones_done: 1,
            zones_total: 4,
            state: JobState::Playing,
            reason: None,
        };
        assert_eq!(progress_line(&p, 8), "[##------] 1/4 zones  playing  job 9");
        let mut tty = ProgressPrinter::new(Vec::new(), true);
        let mut plain = ProgressPrinter::new(Vec::new(), false);
        for done in [1, 1, 4] {
            p.zones_done = done;
            if done == 4 {
                p.state = JobState::Done;
            }
            tty.update(&p).unwrap();
            plain.update(&p).unwrap();
        }
        let tty = String::from_utf8(tty.finish().unwrap()).unwrap();
        let plain = String::from_utf8(plain.finish().unwrap()).unwrap();
        assert_eq!(tty.matches('\r').count(), 2);
        assert!(tty.ends_with("4/4 zones  done  job 9   \n"), "{tty:?}");
        assert_eq!(plain.lines().count(), 2);
        assert!(!plain.contains('\r'));
    }
}
