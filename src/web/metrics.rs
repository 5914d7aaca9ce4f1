//! `GET /metrics`: Prometheus text exposition (format 0.0.4), written by
//! hand from the same status and queue replies the control socket serves,
//! plus the engine's heartbeat counters. `promtool check metrics` accepts it
//! (tests/web.rs). No login; loopback clients only unless
//! `metrics_public = true`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::guard::refuse;
use super::App;
use crate::control::protocol::{
    EndpointHealth, QueueResult, Reply, Request, Response as Answer, StatusResult,
};
use crate::engine::LATENESS_BOUNDS;

/// A label value, escaped as the format asks.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One metric family's header.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The exposition text for a status, a queue, the engine's counters and
/// the state directory's free space.
pub fn render(
    status: &StatusResult,
    queue: Option<&QueueResult>,
    heartbeat: Option<&crate::engine::Heartbeat>,
    disk_free: Option<u64>,
) -> String {
    let mut o = String::new();
    family(
        &mut o,
        "corong_build_info",
        "gauge",
        "Build of the running daemon.",
    );
    let _ = writeln!(
        o,
        "corong_build_info{{version=\"{}\"}} 1",
        label(&status.daemon.version)
    );
    if let Some(b) = &status.broker {
        family(
            &mut o,
            "corong_regency_broker_connected",
            "gauge",
            "1 while the regency's MQTT broker is reached ([mqtt]).",
        );
        let _ = writeln!(
            o,
            "corong_regency_broker_connected {}",
            u8::from(b.connected)
        );
        family(
            &mut o,
            "corong_regency_refused_total",
            "counter",
            "Payloads from the broker refused (unreadable, over the bounds, too many orders waiting).",
        );
        let _ = writeln!(o, "corong_regency_refused_total {}", b.refused);
    }
    family(
        &mut o,
        "corong_zone_on_air",
        "gauge",
        "1 while a job plays on the zone.",
    );
    for z in &status.zones {
        let _ = writeln!(
            o,
            "corong_zone_on_air{{zone=\"{}\"}} {}",
            label(&z.name),
            u8::from(z.playing.is_some())
        );
    }
    family(
        &mut o,
        "corong_zone_priority",
        "gauge",
        "Priority of what plays on the zone (0 when nothing does).",
    );
    for z in &status.zones {
        let p = z.playing.as_ref().map_or(0, |p| p.priority);
        let _ = writeln!(o, "corong_zone_priority{{zone=\"{}\"}} {p}", label(&z.name));
    }
    family(
        &mut o,
        "corong_zone_up",
        "gauge",
        "1 while the zone's outputs stream (streaming or idle), 0 when degraded, unreachable or down.",
    );
    for z in &status.zones {
        let up = matches!(z.state.as_str(), "streaming" | "idle");
        let _ = writeln!(
            o,
            "corong_zone_up{{zone=\"{}\",state=\"{}\"}} {}",
            label(&z.name),
            label(&z.state),
            u8::from(up)
        );
    }
    let emergency = status.zones.iter().any(|z| {
        z.playing
            .as_ref()
            .is_some_and(|p| p.origin.starts_with("emergency:"))
    });
    family(
        &mut o,
        "corong_emergency_active",
        "gauge",
        "1 while an emergency is on air on any zone.",
    );
    let _ = writeln!(o, "corong_emergency_active {}", u8::from(emergency));
    if let Some(q) = queue {
        family(
            &mut o,
            "corong_queue_depth",
            "gauge",
            "Jobs accepted and not finished.",
        );
        let _ = writeln!(o, "corong_queue_depth {}", q.jobs.len());
    }
    let receivers: Vec<_> = status
        .zones
        .iter()
        .flat_map(|z| z.receivers.iter().map(move |r| (z, r)))
        .collect();
    let rlabels = |z: &crate::control::protocol::ZoneStatus,
                   r: &crate::control::protocol::ReceiverInfo| {
        format!(
            "zone=\"{}\",ssrc=\"{}\",address=\"{}\"",
            label(&z.name),
            r.ssrc,
            label(&r.address)
        )
    };
    family(
        &mut o,
        "corong_receiver_fraction_lost",
        "gauge",
        "Fraction of packets lost between a receiver's last two reports.",
    );
    for (z, r) in &receivers {
        if let Some(f) = r.fraction_lost {
            let _ = writeln!(o, "corong_receiver_fraction_lost{{{}}} {f}", rlabels(z, r));
        }
    }
    family(
        &mut o,
        "corong_receiver_jitter_seconds",
        "gauge",
        "Interarrival jitter a receiver reports.",
    );
    for (z, r) in &receivers {
        if let Some(j) = r.jitter_ms {
            let _ = writeln!(
                o,
                "corong_receiver_jitter_seconds{{{}}} {}",
                rlabels(z, r),
                j / 1000.0
            );
        }
    }
    family(
        &mut o,
        "corong_receiver_last_seen_seconds",
        "gauge",
        "Seconds since a receiver's last report.",
    );
    for (z, r) in &receivers {
        let _ = writeln!(
            o,
            "corong_receiver_last_seen_seconds{{{}}} {}",
            rlabels(z, r),
            r.heard_s_ago
        );
    }
    let icecast: Vec<_> = status
        .zones
        .iter()
        .flat_map(|z| z.endpoint_health.iter().map(move |e| (z, e)))
        .filter(|(_, e)| e.endpoint.starts_with("icecast:"))
        .collect();
    family(
        &mut o,
        "corong_icecast_connected",
        "gauge",
        "1 while a zone's Icecast source is connected to its server.",
    );
    for (z, e) in &icecast {
        let _ = writeln!(
            o,
            "corong_icecast_connected{{zone=\"{}\",url=\"{}\"}} {}",
            label(&z.name),
            label(e.endpoint.trim_start_matches("icecast:")),
            u8::from(e.health == "streaming")
        );
    }
    family(
        &mut o,
        "corong_icecast_dropped_frames_total",
        "counter",
        "Audio frames a zone's Icecast source dropped (not connected, or the server too slow).",
    );
    for (z, e) in &icecast {
        let _ = writeln!(
            o,
            "corong_icecast_dropped_frames_total{{zone=\"{}\",url=\"{}\"}} {}",
            label(&z.name),
            label(e.endpoint.trim_start_matches("icecast:")),
            e.dropped_frames
        );
    }
    if !status.feeds.is_empty() {
        family(
            &mut o,
            "corong_alert_feed_up",
            "gauge",
            "1 while a hazard feed's last poll went through, 0 while it fails (absent until its first poll).",
        );
        for f in status.feeds.iter().filter(|f| f.state != "waiting") {
            let _ = writeln!(
                o,
                "corong_alert_feed_up{{feed=\"{}\",kind=\"{}\"}} {}",
                label(&f.name),
                label(&f.kind),
                u8::from(f.state == "ok")
            );
        }
        family(
            &mut o,
            "corong_alert_feed_last_ok_timestamp_seconds",
            "gauge",
            "Unix time of a hazard feed's last poll that went through.",
        );
        for f in &status.feeds {
            let last = f
                .last_ok
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            if let Some(t) = last {
                let _ = writeln!(
                    o,
                    "corong_alert_feed_last_ok_timestamp_seconds{{feed=\"{}\",kind=\"{}\"}} {}",
                    label(&f.name),
                    label(&f.kind),
                    t.timestamp()
                );
            }
        }
    }
    outputs(&mut o, status);
    let d = &status.daemon;
    for (name, help, value) in [
        (
            "corong_schedule_fires_total",
            "Schedule fire times reached since the start.",
            d.fires,
        ),
        (
            "corong_schedule_fires_missed_total",
            "Fire times that played nothing: the schedule paused, its previous run still on air, or too old after a forward clock jump.",
            d.fires_missed,
        ),
        (
            "corong_decode_errors_total",
            "Items that could not be decoded, or were found damaged, since the start.",
            d.decode_errors,
        ),
    ] {
        family(&mut o, name, "counter", help);
        let _ = writeln!(o, "{name} {value}");
    }
    if let Some(free) = disk_free {
        family(
            &mut o,
            "corong_state_disk_free_bytes",
            "gauge",
            "Bytes free for the daemon on the filesystem of its state directory.",
        );
        let _ = writeln!(o, "corong_state_disk_free_bytes {free}");
    }
    if let Some(h) = heartbeat {
        lateness(&mut o, h);
        family(
            &mut o,
            "corong_engine_packets_total",
            "counter",
            "Packet times the engine has produced (every zone sends one packet per packet time).",
        );
        let _ = writeln!(
            o,
            "corong_engine_packets_total {}",
            h.ticks.load(Ordering::Relaxed)
        );
        family(
            &mut o,
            "corong_engine_late_resyncs_total",
            "counter",
            "Times the engine fell too far behind its deadlines and re-anchored its clock.",
        );
        let _ = writeln!(
            o,
            "corong_engine_late_resyncs_total {}",
            h.resyncs.load(Ordering::Relaxed)
        );
        family(
            &mut o,
            "corong_engine_events_dropped_total",
            "counter",
            "Engine events lost because the event ring was full.",
        );
        let _ = writeln!(
            o,
            "corong_engine_events_dropped_total {}",
            h.events_dropped.load(Ordering::Relaxed)
        );
    }
    o
}

/// A metric's value read from an endpoint's health.
type Counter = fn(&EndpointHealth) -> u64;

/// Each endpoint's packets sent, failed sends and underruns.
fn outputs(o: &mut String, status: &StatusResult) {
    let endpoints: Vec<_> = status
        .zones
        .iter()
        .flat_map(|z| z.endpoint_health.iter().map(move |e| (z, e)))
        .collect();
    let counters: [(&str, &str, Counter); 3] = [
        (
            "corong_output_packets_sent_total",
            "Packets a zone's output sent to an endpoint (RTP).",
            |e| e.packets_sent,
        ),
        (
            "corong_output_send_errors_total",
            "Sends to an endpoint that failed.",
            |e| e.send_errors,
        ),
        (
            "corong_output_underruns_total",
            "Times a zone's sound card found nothing to play.",
            |e| e.underruns,
        ),
    ];
    for (name, help, value) in counters {
        family(o, name, "counter", help);
        for (z, e) in &endpoints {
            let _ = writeln!(
                o,
                "{name}{{zone=\"{}\",endpoint=\"{}\"}} {}",
                label(&z.name),
                label(&e.endpoint),
                value(e)
            );
        }
    }
}

/// How late after its deadline the engine finished each packet time's
/// sends: a histogram (cumulative buckets, as the format wants).
fn lateness(o: &mut String, h: &crate::engine::Heartbeat) {
    let name = "corong_engine_send_lateness_seconds";
    family(
        o,
        name,
        "histogram",
        "How long after its deadline the engine had handed a packet time's packets to every output.",
    );
    let mut count = 0u64;
    for (i, bound) in LATENESS_BOUNDS.iter().enumerate() {
        count += h.lateness[i].load(Ordering::Relaxed);
        let _ = writeln!(o, "{name}_bucket{{le=\"{bound}\"}} {count}");
    }
    count += h.lateness[LATENESS_BOUNDS.len()].load(Ordering::Relaxed);
    let _ = writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {count}");
    let sum = h.lateness_sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
    let _ = writeln!(o, "{name}_sum {sum}");
    let _ = writeln!(o, "{name}_count {count}");
}

/// `GET /metrics`.
pub async fn metrics(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Response {
    if !app.config.metrics_public && !addr.ip().is_loopback() {
        return refuse(
            StatusCode::FORBIDDEN,
            "denied",
            "/metrics is served to loopback clients only (set [web] metrics_public = true)",
        );
    }
    let status = match app.ask(Request::Status, "metrics").await {
        Answer::Ok(Reply::Status(s)) => s,
        _ => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the daemon did not answer",
            )
        }
    };
    let queue = match app.ask(Request::Queue, "metrics").await {
        Answer::Ok(Reply::Queue(q)) => Some(q),
        _ => None,
    };
    let state_dir = app.state_dir.clone();
    let disk_free = tokio::task::spawn_blocking(move || crate::store::free_bytes(&state_dir))
        .await
        .ok()
        .flatten();
    let text = render(&status, queue.as_ref(), app.heartbeat.as_deref(), disk_free);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
