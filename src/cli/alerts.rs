//! `corong alerts test FILE`: read a CAP or InaTEWS document and say which
//! zones it covers, which playbook it starts on which zones and what it
//! would say, starting nothing. It needs the config only, not a daemon.

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{json, Value};

use crate::alerts::matching::{self, Decision, Outcome, Spoken};
use crate::alerts::{self, Document};
use crate::config::{Config, FeedKind};

/// The largest file `alerts test` reads: the feeds' own bound.
const MAX_FILE: u64 = alerts::xml::MAX_DOCUMENT_BYTES as u64;

/// `corong alerts test FILE [--feed NAME] [--json]`.
pub fn test(config: &Config, file: &Path, feed: Option<&str>, json: bool) -> ExitCode {
    let bytes = match read_bounded(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("corong: {}: {e}", file.display());
            return ExitCode::from(1);
        }
    };
    let doc = match alerts::read_any(&bytes) {
        Ok(d) => d,
        Err(e) => {
            if json {
                println!(
                    "{}",
                    json!({ "file": file, "accepted": false, "error": e.0 })
                );
            }
            eprintln!("corong: {}: refused: {e}", file.display());
            return ExitCode::from(1);
        }
    };
    if let Some(name) = feed {
        if config.alerts.feed(name).is_none() {
            eprintln!("corong: no feed `{name}` in [[alerts.feeds]]");
            return ExitCode::from(2);
        }
    }
    let now: DateTime<FixedOffset> = Utc::now().fixed_offset();
    let (summary, outcome) = match &doc {
        Document::Cap(a) => {
            // Without --feed: the only CAP feed, when there is one.
            let feed = feed.or_else(|| only_feed(config, &[FeedKind::Cap, FeedKind::CapRss]));
            let summary = json!({
                "kind": "cap",
                "identifier": a.identifier,
                "sender": a.sender,
                "sent": a.sent_text,
                "status": format!("{:?}", a.status),
                "msg_type": format!("{:?}", a.msg_type),
                "scope": format!("{:?}", a.scope),
                "references": a.references.iter().map(|r| format!("{},{},{}", r.sender, r.identifier, r.sent)).collect::<Vec<_>>(),
                "feed": feed,
                "infos": a.infos.iter().map(|i| json!({
                    "language": i.language,
                    "event": i.event,
                    "severity": i.severity.as_str(),
                    "urgency": i.urgency,
                    "certainty": i.certainty,
                    "effective": i.effective.map(|t| t.to_rfc3339()),
                    "onset": i.onset.map(|t| t.to_rfc3339()),
                    "expires": i.expires.map(|t| t.to_rfc3339()),
                    "headline": i.headline,
                    "instruction": i.instruction,
                    "areas": i.areas.iter().map(|ar| json!({
                        "desc": ar.desc,
                        "polygons": ar.polygons.len(),
                        "circles": ar.circles.len(),
                        "geocodes": ar.geocodes.iter().map(|g| format!("{}={}", g.name, g.value)).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            });
            (summary, matching::match_cap(config, a, feed, now))
        }
        Document::InaTews(b) => {
            let feed = feed.or_else(|| only_feed(config, &[FeedKind::InaTews]));
            let summary = json!({
                "kind": "inatews",
                "event_id": b.event_id,
                "subject": b.subject,
                "origin_time": b.origin_time.map(|t| t.to_rfc3339()),
                "epicenter": b.epicenter.map(|p| [p.lat, p.lon]),
                "magnitude": b.magnitude,
                "area": b.area,
                "feed": feed,
                "districts": b.districts.iter().map(|d| json!({
                    "province": d.province, "district": d.district, "level": d.level.as_str(), "arrival": d.arrival,
                })).collect::<Vec<_>>(),
            });
            (summary, matching::match_inatews(config, b, feed))
        }
    };
    if json {
        let mut out = summary;
        out["accepted"] = Value::Bool(true);
        out["covered"] = json!(outcome.covered);
        out["decisions"] = outcome.decisions.iter().map(decision_json).collect();
        out["held"] = json!(outcome.held);
        out["started"] = Value::Bool(false);
        println!("{}", serde_json::to_string_pretty(&out).expect("json"));
    } else {
        print_human(&summary, &outcome);
    }
    ExitCode::SUCCESS
}

fn only_feed<'c>(config: &'c Config, kinds: &[FeedKind]) -> Option<&'c str> {
    let mut it = config
        .alerts
        .feeds
        .iter()
        .filter(|f| kinds.contains(&f.kind));
    match (it.next(), it.next()) {
        (Some(f), None) => Some(f.name.as_str()),
        _ => None,
    }
}

fn read_bounded(file: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(file)?;
    let mut bytes = Vec::new();
    // One byte over the bound is enough for the reader to refuse it.
    f.take(MAX_FILE + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn decision_json(d: &Decision) -> Value {
    let (text, file) = match &d.message {
        Spoken::Text(t) => (Some(t.clone()), None),
        Spoken::File(f) => (None, Some(f.display().to_string())),
    };
    json!({
        "playbook": d.playbook,
        "zones": d.zones,
        "text": text,
        "file": file,
        "priority": d.priority.to_string(),
        "repeat_every_s": d.repeat_every.map(|r| r.as_secs()),
        "mode": d.mode.as_str(),
        "level": d.level,
    })
}

fn print_human(summary: &Value, outcome: &Outcome) {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    if summary["kind"] == "cap" {
        println!(
            "CAP 1.2 alert {} from {}, sent {}: {} {} ({})",
            s(&summary["identifier"]),
            s(&summary["sender"]),
            s(&summary["sent"]),
            s(&summary["status"]),
            s(&summary["msg_type"]),
            s(&summary["scope"])
        );
        for r in summary["references"].as_array().into_iter().flatten() {
            println!("  refers to {}", s(r));
        }
        for i in summary["infos"].as_array().into_iter().flatten() {
            println!(
                "  [{}] {}: severity {}, urgency {}, certainty {}",
                s(&i["language"]),
                s(&i["event"]),
                s(&i["severity"]),
                s(&i["urgency"]),
                s(&i["certainty"])
            );
            for key in ["effective", "onset", "expires", "headline", "instruction"] {
                if let Some(v) = i[key].as_str() {
                    println!("    {key}: {v}");
                }
            }
            for a in i["areas"].as_array().into_iter().flatten() {
                println!(
                    "    area {}: {} polygons, {} circles, geocodes [{}]",
                    s(&a["desc"]),
                    a["polygons"],
                    a["circles"],
                    a["geocodes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(s)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
    } else {
        println!(
            "InaTEWS bulletin {} of event {}: magnitude {}, {}",
            s(&summary["subject"]),
            s(&summary["event_id"]),
            summary["magnitude"],
            s(&summary["area"])
        );
        for d in summary["districts"].as_array().into_iter().flatten() {
            println!(
                "  {} {}: {} (arrival {})",
                s(&d["province"]),
                s(&d["district"]),
                s(&d["level"]),
                s(&d["arrival"])
            );
        }
    }
    if let Some(feed) = summary["feed"].as_str() {
        println!("as if from feed `{feed}`");
    }
    println!(
        "covers zones: {}",
        if outcome.covered.is_empty() {
            "none".to_string()
        } else {
            outcome.covered.join(", ")
        }
    );
    if outcome.decisions.is_empty() {
        println!("playbook: none matches");
    }
    for d in &outcome.decisions {
        println!(
            "playbook `{}` ({}, priority {}, {}): zones {}",
            d.playbook,
            d.mode.as_str(),
            d.priority,
            d.repeat_every.map_or("once".to_string(), |r| format!(
                "every {} s until it ends",
                r.as_secs()
            )),
            if d.zones.is_empty() {
                "none".to_string()
            } else {
                d.zones.join(", ")
            }
        );
        match &d.message {
            Spoken::Text(t) => println!("  would say: {t}"),
            Spoken::File(f) => println!("  would play: {}", f.display()),
        }
    }
    if let Some(h) = &outcome.held {
        println!("held: {h}");
    }
    println!("nothing was started (a dry run)");
}
