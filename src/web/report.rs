//! The reports: the as-run log (`/api/log`, and `/api/log.csv`, the proof
//! of play) filtered by date, zone and origin, and the schedules' next fire
//! times with the quiet hours (`/api/schedule`), and an admin's pause and
//! resume of a schedule (`/api/schedules/pause`, `/resume`). The rows are the control
//! socket's `log` reply, the same as `corong log --json`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::api::{http, json_request, require};
use super::body;
use super::guard::refuse;
use super::App;
use crate::control::protocol::{AsRunRow, Reply, Request, Response as Answer};
use crate::store::Role;

/// The most rows one report holds.
pub const MAX_ROWS: usize = 10_000;

/// `?date=YYYY-MM-DD&zone=Z&origin=O`, each optional.
#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub origin: Option<String>,
}

impl LogQuery {
    fn nonempty(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    /// The socket's `log` request: from the day's start (the daemon's
    /// time zone), or the daemon's default window without a date.
    fn request(&self) -> Result<Request, String> {
        let since = match Self::nonempty(&self.date) {
            Some(d) => {
                chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| format!("`date`: expected YYYY-MM-DD, not {d:?}"))?;
                Some(format!("{d} 00:00"))
            }
            None => None,
        };
        Ok(Request::Log {
            since,
            zone: Self::nonempty(&self.zone).map(str::to_string),
            limit: Some(MAX_ROWS),
        })
    }

    /// Whether `row` is of the day asked (its local start time's date) and
    /// its origin holds the text asked (`web:sri`, `schedule:`, ...).
    fn keeps(&self, row: &AsRunRow) -> bool {
        Self::nonempty(&self.date).is_none_or(|d| row.started_at.starts_with(d))
            && Self::nonempty(&self.origin).is_none_or(|o| row.origin.contains(o))
    }
}

async fn rows(app: &App, account: &str, q: &LogQuery) -> Result<Vec<AsRunRow>, Response> {
    let request = q
        .request()
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, "bad_request", &e))?;
    match app.ask(request, account).await {
        Answer::Ok(Reply::Log(log)) => Ok(log.entries.into_iter().filter(|r| q.keeps(r)).collect()),
        other => Err(http(other)),
    }
}

/// `GET /api/log`: as `corong log --json`, filtered. Viewer.
pub async fn log(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<LogQuery>,
) -> Response {
    let account = match require(&app, &headers, Role::Viewer).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    match rows(&app, &account.name, &q).await {
        Ok(entries) => http(Answer::Ok(Reply::Log(
            crate::control::protocol::LogResult { entries },
        ))),
        Err(r) => r,
    }
}

/// `GET /api/log.csv`: the same rows as CSV, a download. Viewer.
pub async fn log_csv(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<LogQuery>,
) -> Response {
    let account = match require(&app, &headers, Role::Viewer).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let rows = match rows(&app, &account.name, &q).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let name = match LogQuery::nonempty(&q.date) {
        Some(d) => format!("corong-log-{d}.csv"),
        None => "corong-log.csv".to_string(),
    };
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        csv(&rows),
    )
        .into_response()
}

/// The CSV columns: `corong log --json`'s fields, in its order.
pub const CSV_HEADER: &str = "zone,job,origin,file,started_at,ended_at,how,reason";

/// Rows as CSV (RFC 4180, CRLF line ends).
pub fn csv(rows: &[AsRunRow]) -> String {
    let mut out = String::with_capacity(64 * (rows.len() + 1));
    out.push_str(CSV_HEADER);
    out.push_str("\r\n");
    for r in rows {
        let cells = [
            r.zone.as_str(),
            &r.job.to_string(),
            &r.origin,
            &r.file,
            &r.started_at,
            r.ended_at.as_deref().unwrap_or(""),
            &r.how,
            r.reason.as_deref().unwrap_or(""),
        ]
        .map(cell);
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One cell: quoted when it holds a separator, a quote or a line end; a
/// leading `=`, `+`, `-` or `@` gets a `'` so a spreadsheet does not read
/// an operator's text as a formula.
fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[derive(Debug, Deserialize)]
pub struct ScheduleQuery {
    #[serde(default)]
    next: Option<usize>,
}

/// `GET /api/schedule?next=N`: as `corong schedule --json` (default 5 fire
/// times each), with `quiet_hours` (`{"from":"HH:MM","to":"HH:MM"}` or
/// null) added. Viewer.
pub async fn schedule(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<ScheduleQuery>,
) -> Response {
    let account = match require(&app, &headers, Role::Viewer).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let request = Request::Schedule {
        next: q.next.unwrap_or(5),
    };
    match app.ask(request, &account.name).await {
        Answer::Ok(reply @ Reply::Schedule(_)) => {
            let mut v = serde_json::to_value(&reply).unwrap_or_default();
            if let Some(map) = v.as_object_mut() {
                let quiet = app.quiet_hours.map(|(from, to)| {
                    serde_json::json!({
                        "from": from.format("%H:%M").to_string(),
                        "to": to.format("%H:%M").to_string(),
                    })
                });
                map.insert("quiet_hours".into(), quiet.into());
            }
            axum::Json(v).into_response()
        }
        other => http(other),
    }
}

/// `POST /api/schedules/pause` (JSON `{"name": ".."}`): as `corong
/// schedule pause NAME`. Admin.
pub async fn schedule_pause(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    bytes: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    json_request(&app, &headers, bytes, Role::Admin, body::schedule_pause).await
}

/// `POST /api/schedules/resume` (JSON `{"name": ".."}`): as `corong
/// schedule resume NAME`. Admin.
pub async fn schedule_resume(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    bytes: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    json_request(&app, &headers, bytes, Role::Admin, body::schedule_resume).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::JobId;

    fn row(origin: &str, started: &str, reason: Option<&str>) -> AsRunRow {
        AsRunRow {
            zone: "alun-alun".into(),
            job: JobId(7),
            origin: origin.into(),
            file: "/s/uploads/ab.wav".into(),
            started_at: started.into(),
            ended_at: None,
            how: "completed".into(),
            reason: reason.map(str::to_string),
        }
    }

    #[test]
    fn csv_quotes_and_defuses_cells() {
        let text = csv(&[
            row("operator:web:sri", "2026-12-06T19:00:00+07:00", None),
            row(
                "operator:web:sri",
                "2026-12-06T19:01:00+07:00",
                Some("=cmd|\"x\", y"),
            ),
        ]);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(
            lines[1],
            "alun-alun,7,operator:web:sri,/s/uploads/ab.wav,2026-12-06T19:00:00+07:00,,completed,"
        );
        assert!(
            lines[2].ends_with(",completed,\"'=cmd|\"\"x\"\", y\""),
            "{}",
            lines[2]
        );
    }

    #[test]
    fn the_query_filters_by_day_and_origin() {
        let q = LogQuery {
            date: Some("2026-12-06".into()),
            zone: None,
            origin: Some("web:".into()),
        };
        assert!(q.keeps(&row("operator:web:sri", "2026-12-06T23:59:00+07:00", None)));
        assert!(!q.keeps(&row("operator:web:sri", "2026-12-07T00:00:00+07:00", None)));
        assert!(!q.keeps(&row("schedule:pagi", "2026-12-06T06:00:00+07:00", None)));
        assert!(matches!(
            q.request().unwrap(),
            Request::Log { since: Some(s), .. } if s == "2026-12-06 00:00"
        ));
        let bad = LogQuery {
            date: Some("06/12/2026".into()),
            ..LogQuery::default()
        };
        assert!(bad.request().unwrap_err().contains("date"));
    }
}
