//! The JSON endpoints, each the same request the control socket serves
//! (one set of types), the login and the server-sent events.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use futures_util::Stream;
use tokio::sync::watch;

use super::auth::{self, who};
use super::body;
use super::guard::refuse;
use super::App;
use crate::control::protocol::{ErrorCode, Request, Response as Reply};
use crate::store::{Account, Role};

/// The account of the request if it has at least `role`; else the reply
/// that refuses it (401 without a login, 403 with too small a role).
pub(crate) async fn require(
    app: &App,
    headers: &HeaderMap,
    role: Role,
) -> Result<Account, Response> {
    match who(app, headers).await {
        None => Err(refuse(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "log in first (POST /login) or send Authorization: Bearer TOKEN",
        )),
        Some(a) if a.role < role => Err(refuse(
            StatusCode::FORBIDDEN,
            "denied",
            &format!(
                "account `{}` is a {}; this needs {}",
                a.name,
                a.role.as_str(),
                role.as_str()
            ),
        )),
        Some(a) => Ok(a),
    }
}

/// A small body (login form, JSON), or the one-line reason it was not
/// read: over [`super::MAX_BODY`] is 413.
pub(crate) fn small_body(
    bytes: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<axum::body::Bytes, Response> {
    bytes.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                &format!("request body over {} bytes", super::MAX_BODY),
            )
        } else {
            refuse(e.status(), "bad_request", &e.body_text())
        }
    })
}

/// A small JSON body: as [`small_body`], and its `Content-Type` must say
/// JSON (415 otherwise), so another site's page cannot send one as a
/// "simple" form post without the browser asking first.
pub(crate) fn json_body(
    headers: &HeaderMap,
    bytes: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<axum::body::Bytes, Response> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json {
        return Err(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_request",
            "expected Content-Type: application/json",
        ));
    }
    small_body(bytes)
}

/// A daemon response as HTTP: the reply's JSON (as `--json` prints it), or
/// the error with a fitting status.
pub(crate) fn http(reply: Reply) -> Response {
    match reply {
        Reply::Ok(r) => Json(r).into_response(),
        Reply::Err { code, error } => {
            let status = match code {
                ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
                ErrorCode::NotFound => StatusCode::NOT_FOUND,
                ErrorCode::Denied => StatusCode::FORBIDDEN,
                ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            refuse(status, code.as_str(), &error)
        }
        Reply::Progress(_) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed",
            "no final reply",
        ),
    }
}

/// `POST /login`: a session cookie and a redirect to the board, or 401
/// (wrong name or password) or 429 (too many failures: rate-limited).
pub async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    bytes: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let bytes = match small_body(bytes) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let form = match body::login_form(&bytes) {
        Ok(f) => f,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, "bad_request", &e),
    };
    let name = form.username.trim().to_string();
    {
        let mut limiter = app.limiter.lock().unwrap_or_else(|e| e.into_inner());
        if !limiter.allowed(&name, addr.ip(), Instant::now()) {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many failed logins for this account or address; wait 15 minutes",
            );
        }
    }
    let accounts = app.accounts.clone();
    let lifetime = app.config.session_lifetime;
    let password = form.password;
    let login_name = name.clone();
    // argon2 is deliberately slow: off the runtime's workers.
    let result = tokio::task::spawn_blocking(move || -> Option<String> {
        let found = accounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .with_password(&login_name)
            .ok()
            .flatten();
        let (account, phc) = found?;
        if !auth::verify_password(&password, &phc) {
            return None;
        }
        let secret = auth::new_secret();
        let now = chrono::Utc::now().timestamp_millis();
        let expires = now + lifetime.as_millis() as i64;
        let mut accounts = accounts.lock().unwrap_or_else(|e| e.into_inner());
        let _ = accounts.prune_sessions(now);
        accounts
            .start_session(&auth::secret_hash(&secret), &account.name, now, expires)
            .ok()?;
        Some(secret)
    })
    .await
    .ok()
    .flatten();
    let mut limiter = app.limiter.lock().unwrap_or_else(|e| e.into_inner());
    let Some(secret) = result else {
        limiter.failed(&name, addr.ip(), Instant::now());
        tracing::warn!(account = %name, from = %addr.ip(), "web login failed");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "bad_login",
            "wrong account name or password",
        );
    };
    limiter.succeeded(&name);
    tracing::info!(account = %name, from = %addr.ip(), "web login");
    let secure = if app.tls { "; Secure" } else { "" };
    let cookie = format!(
        "{}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        auth::COOKIE,
        lifetime.as_secs()
    );
    let mut res = Redirect::to("/").into_response();
    // A 303: the browser follows with a GET.
    *res.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// `POST /logout`: ends the session.
pub async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(secret) = auth::session_cookie(&headers) {
        let accounts = app.accounts.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let mut a = accounts.lock().unwrap_or_else(|e| e.into_inner());
            a.end_session(&auth::secret_hash(&secret))
        })
        .await;
    }
    let mut res = Redirect::to("/login").into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    let expire = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        auth::COOKIE
    );
    if let Ok(v) = HeaderValue::from_str(&expire) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// `GET /api/status`: as `corong status --json`. Viewer.
pub async fn status(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let account = match require(&app, &headers, Role::Viewer).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    http(app.ask(Request::Status, &account.name).await)
}

/// `POST /api/emergency`: as `corong emergency`. Operator.
pub async fn emergency(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    bytes: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    json_request(&app, &headers, bytes, Role::Operator, body::emergency).await
}

/// A JSON request that needs at least `role`: the session and role, the
/// body's type and bounds, then `parse` (from `body.rs`) into the request
/// the daemon is asked, answered as the control socket's reply.
pub(super) async fn json_request(
    app: &App,
    headers: &HeaderMap,
    bytes: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
    role: Role,
    parse: fn(&[u8]) -> Result<Request, String>,
) -> Response {
    match json_ask(app, headers, bytes, role, parse).await {
        Ok(reply) => http(reply),
        Err(r) => r,
    }
}

/// As [`json_request`], the daemon's response left to the caller (an
/// endpoint that answers with something other than the reply's JSON).
pub(super) async fn json_ask(
    app: &App,
    headers: &HeaderMap,
    bytes: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
    role: Role,
    parse: fn(&[u8]) -> Result<Request, String>,
) -> Result<Reply, Response> {
    let account = require(app, headers, role).await?;
    let bytes = json_body(headers, bytes)?;
    match parse(&bytes) {
        Ok(request) => Ok(app.ask(request, &account.name).await),
        Err(e) => Err(refuse(StatusCode::BAD_REQUEST, "bad_request", &e)),
    }
}

/// `POST /api/emergency/stop`: as `corong emergency --stop`. Operator.
pub async fn emergency_stop(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let account = match require(&app, &headers, Role::Operator).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let request = Request::Emergency {
        file: None,
        text: None,
        zones: vec![crate::control::protocol::ALL_ZONES.to_string()],
        stop: true,
    };
    http(app.ask(request, &account.name).await)
}

/// `GET /api/events`: server-sent events, one `status` event (the status
/// reply's JSON) and one `queue` event (the queue reply's) at once and
/// after every change of either. Viewer.
pub async fn events(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(r) = require(&app, &headers, Role::Viewer).await {
        return r;
    }
    let mut status = app.status.clone();
    status.mark_changed();
    let mut queue = app.queue.clone();
    queue.mark_changed();
    let mut sites = app.sites.clone();
    sites.mark_changed();
    let all = futures_util::stream::select(
        futures_util::stream::select(stream(status, "status"), stream(queue, "queue")),
        stream(sites, "sites"),
    );
    Sse::new(all)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn stream(
    rx: watch::Receiver<Arc<String>>,
    name: &'static str,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(rx, move |mut rx| async move {
        loop {
            rx.changed().await.ok()?;
            let json = rx.borrow_and_update().clone();
            if !json.is_empty() {
                return Some((Ok(Event::default().event(name).data(json.as_str())), rx));
            }
        }
    })
}

/// Replace `out`'s JSON with `reply`'s when it differs.
fn publish(reply: Reply, out: &watch::Sender<Arc<String>>) {
    if let Reply::Ok(reply) = reply {
        if let Ok(json) = serde_json::to_string(&reply) {
            out.send_if_modified(|old| {
                let changed = **old != json;
                if changed {
                    *old = Arc::new(json);
                }
                changed
            });
        }
    }
}

/// What the hub watches and where it publishes.
pub(crate) struct Hub {
    /// The daemon's loop: a zone or the queue may have changed.
    pub changes: watch::Receiver<u64>,
    /// The regency's link (with `[mqtt]`): the other kiosks may have.
    pub sites_changes: Option<watch::Receiver<crate::control::protocol::BrokerLink>>,
    pub status: watch::Sender<Arc<String>>,
    pub queue: watch::Sender<Arc<String>>,
    pub sites: watch::Sender<Arc<String>>,
}

/// Fetches the status and the queue (and the sites, with `[mqtt]`) once
/// per change the daemon or the regency's link announces and hands them to
/// every event stream: a few requests into the loop however many browsers
/// watch.
pub(crate) async fn status_hub(app: Arc<App>, mut hub: Hub) {
    loop {
        publish(app.ask(Request::Status, "console").await, &hub.status);
        publish(app.ask(Request::Queue, "console").await, &hub.queue);
        if hub.sites_changes.is_some() {
            publish(app.ask(Request::Sites, "console").await, &hub.sites);
        }
        let sites_changed = async {
            match hub.sites_changes.as_mut() {
                Some(rx) => rx.changed().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = hub.changes.changed() => if r.is_err() { return },
            r = sites_changed => if r.is_err() { hub.sites_changes = None },
        }
    }
}

/// `GET /api/sites`: as `corong sites --json` (needs `[mqtt]`). Viewer.
pub async fn sites(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    match require(&app, &headers, Role::Viewer).await {
        Ok(a) => http(app.ask(Request::Sites, &a.name).await),
        Err(r) => r,
    }
}
